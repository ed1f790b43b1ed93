"""Prometheus metrics of one node, in the node's own registry (served on the base API's /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "NodeMetrics"]


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_cpu_seconds_total, process_resident_memory_bytes, …: the run report plots CPU and memory per node
        ProcessCollector(registry=r)
        self.tip_height = Gauge("consensus_tip_height", "Height of the local tip", registry=r)
        self.lib_height = Gauge("consensus_lib_height", "Height of the last immutable block", registry=r)
        self.current_slot = Gauge("consensus_current_slot", "Current slot of the slot clock", registry=r)
        self.current_epoch = Gauge("consensus_current_epoch", "Current epoch", registry=r)
        self.blocks_produced = Counter("consensus_blocks_produced", "Blocks this node produced", registry=r)
        self.blocks_imported = Counter("consensus_blocks_imported", "Blocks accepted into the chain", registry=r)
        # The original tool queries this exact (un-suffixed) name; a gauge mirrors the imported counter.
        self.processed_blocks = Gauge("consensus_processed_blocks", "Blocks processed (mirror of imported)",
                                      registry=r)
        self.blocks_rejected = Counter("consensus_blocks_rejected", "Blocks rejected, by reason", ["reason"],
                                       registry=r)
        self.reorgs = Counter("consensus_reorgs", "Tip switches to another branch", registry=r)
        self.reorg_depth = Histogram("consensus_reorg_depth", "Blocks rolled back per reorg",
                                     buckets=(1, 2, 3, 5, 8, 13, 21, 34), registry=r)
        self.orphans = Counter("consensus_orphans", "Blocks received whose parent was unknown", registry=r)
        self.peers = Gauge("network_peers", "Authenticated peer connections (both directions)", registry=r)
        self.mempool_pending = Gauge("mempool_pending", "Transactions waiting in the mempool", registry=r)
        self.mempool_added = Counter("mempool_added", "Transactions admitted to the mempool, by source",
                                     ["source"], registry=r)
        self.mempool_rejected = Counter("mempool_rejected", "Transactions refused, by reason and source",
                                        ["reason", "source"], registry=r)
        self.mempool_dropped = Counter("mempool_dropped", "Pending or rolled-back transactions not kept after the "
                                       "chain moved (invalid there, or no room), by reason", ["reason"], registry=r)
        self.mempool_returned = Counter("mempool_returned", "Transactions of rolled-back blocks back in the pool",
                                        registry=r)
        self.transactions_included = Counter("transactions_included", "Transactions newly in the canonical chain",
                                             registry=r)
        self.da_shares_received = Counter("da_shares_received", "DA shares received (from executors and replicas)",
                                          registry=r)
        self.da_shares_verified = Counter("da_shares_verified", "DA shares that verified and were stored",
                                          registry=r)
        self.da_shares_rejected = Counter("da_shares_rejected", "DA shares refused, by reason (malformed, "
                                          "wrong_subnet, invalid)", ["reason"], registry=r)
        self.da_shares_stored = Gauge("da_shares_stored", "DA shares held by this node", registry=r)
        self.da_sampling = Counter("da_sampling", "Blob sampling outcomes (success, failure)", ["result"],
                                   registry=r)
        self.da_dispersal_seconds = Histogram("da_dispersal_seconds", "Executor: encode, send and acknowledgements "
                                              "of one successful dispersal", buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5,
                                                                                       10, 30, 60), registry=r)
        self.da_dispersals = Counter("da_dispersals", "Executor: dispersals by result (success, failure)",
                                     ["result"], registry=r)
        self.http_requests = Counter("http_requests", "HTTP requests by route template and status",
                                     ["path", "status"], registry=r)

    def block_imported(self) -> None:
        self.blocks_imported.inc()
        self.processed_blocks.inc()

    def reorg(self, depth: int) -> None:
        self.reorgs.inc()
        self.reorg_depth.observe(depth)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
