"""The running node: wires config, keys, chain, storage, network, sync, block production, APIs and metrics.

Block production: a slot ticker asks the chain for leadership every slot; a won slot's proof of leadership is
computed in a worker process (the expensive PoL unless POL_PROOF_DEV_MODE) so the event loop stays
responsive; the block is built on the tip with the mempool's transactions valid there, imported locally and
gossiped. Transactions come from the API and from gossip; whenever the canonical ledger moves, the mempool
follows it (included ones leave, rolled-back ones return, the rest are judged again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any

from nomos_node.api import ApiServer, build_base_app, build_testing_app
from nomos_node.api.view import DaUnavailable, UnknownBlock
from nomos_node.codec import strip_0x
from nomos_node.config import NetworkConfig, NodeConfig
from nomos_node.consensus.block import Block, BlockFormatError
from nomos_node.consensus.chain import Chain, ImportResult, UnknownBlockError
from nomos_node.consensus.clock import EpochSchedule
from nomos_node.consensus.pol import DEFAULT_POL_DIFFICULTY_BITS
from nomos_node.consensus.prover import ProofWorker
from nomos_node.crypto.keys import NodeKeys
from nomos_node.da.service import TEST_SIGNER_PK, DaService, DaStartError, blob_ids, blob_transaction
from nomos_node.ledger import Transaction, TxError
from nomos_node.ledger.mempool import Added, Mempool
from nomos_node.logs import event
from nomos_node.metrics import NodeMetrics
from nomos_node.network import NetworkService
from nomos_node.network.chain_source import ChainSyncSource
from nomos_node.network.identity import LocalIdentity
from nomos_node.network.sync import ChainSync, ImportOutcome
from nomos_node.storage import BlockStore, StoreError

log = logging.getLogger("nomos_node.node")
consensus_log = logging.getLogger("nomos_node.consensus")
mempool_log = logging.getLogger("nomos_node.mempool")

BLOCKS_TOPIC = "/cryptarchia/proto"
TRANSACTIONS_TOPIC = "/mempool/tx"
_TRUE = {"1", "true", "yes"}


class NodeStartError(Exception):
    """The node could not start (a listener could not bind, the data directory is unusable, …)."""


def pol_dev_mode(environ: dict[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get("POL_PROOF_DEV_MODE", "")
    return value.strip().lower() in _TRUE


def pol_difficulty_bits(environ: dict[str, str] | None = None) -> int:
    """NOMOS_POL_DIFFICULTY_BITS lowers (or raises) the PoL cost, for tests; every node of a network needs the same."""
    value = (os.environ if environ is None else environ).get("NOMOS_POL_DIFFICULTY_BITS", "")
    if not value.strip():
        return DEFAULT_POL_DIFFICULTY_BITS
    if not value.strip().isdigit() or not 0 <= int(value) <= 64:
        raise NodeStartError(f"NOMOS_POL_DIFFICULTY_BITS: expected an integer in 0..64, got {value!r}")
    return int(value)


def _advertise(net: NetworkConfig) -> str | None:
    """The address to announce to peers; None: the listener's own address, once bound. That is the case for port
    0, and for an inherited socket (listen_fd, NOMOS_LISTEN_FDS) when advertise is left at its default, the
    config's listen address, which the node then does not bind itself."""
    defaulted = net.advertise == net.listen
    return None if net.advertise.port == 0 or (net.listen_fd is not None and defaulted) else str(net.advertise)


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.keys = NodeKeys.from_seed(config.node.key_seed)
        self.metrics = NodeMetrics()
        self.dev_mode = pol_dev_mode()
        self.pol_bits = pol_difficulty_bits()
        self.schedule = EpochSchedule.from_genesis(config.genesis)
        try:
            self.store = BlockStore.open(config.storage.data_dir)
            self.chain = Chain(config.genesis, config.consensus, self.store, self.dev_mode,
                               pol_difficulty_bits=self.pol_bits)
        except StoreError as exc:
            raise NodeStartError(str(exc)) from exc
        net = config.network
        self.network = NetworkService(
            LocalIdentity.from_keys(self.keys),
            self.chain.genesis_id,
            str(net.listen),
            listen_fd=net.listen_fd,
            advertise=_advertise(net),
            initial_peers=[str(peer) for peer in net.initial_peers],
            on_peers_changed=self.metrics.peers.set,
            on_peer_connected=self._on_peer_connected,
        )
        self.sync = ChainSync(self.network, ChainSyncSource(self.chain), self._import_from_peer)
        self.network.register_topic(BLOCKS_TOPIC, self._on_block_gossip)
        self.mempool = Mempool(self.chain.ledger, config.mempool.max_pending)
        self.network.register_topic(TRANSACTIONS_TOPIC, self._on_transaction_gossip)
        try:
            self.da = None if config.da is None else DaService(config.da, self.network, config.node.role,
                                                               self.metrics)
        except DaStartError as exc:
            self.store.close()
            raise NodeStartError(str(exc)) from exc
        self.api = ApiServer(build_base_app(self), config.api.listen.host, config.api.listen.port,
                             config.api.listen_fd)
        self.testing_api = ApiServer(build_testing_app(self), config.testing_api.listen.host,
                                     config.testing_api.listen.port, config.testing_api.listen_fd)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Future[None]] = set()
        self.prover = ProofWorker(self.pol_bits)

    # -- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.chain.height > 0:
            event(log, logging.INFO, "resumed from disk", height=self.chain.height, tip=self.chain.tip.id,
                  lib=self.chain.lib.id, blocks=len(self.chain))
        try:
            await self.network.start()
            await self.api.start()
            await self.testing_api.start()
        except OSError as exc:
            raise NodeStartError(f"cannot listen: {exc.strerror or exc}") from exc
        if self.da is not None:
            self.da.start()
        self._update_chain_metrics()
        event(log, logging.INFO, "node started", role=self.config.node.role, index=self.config.node.index,
              peer_id=self.keys.peer_id, genesis=self.chain.genesis_id,
              p2p=",".join(self.network.listen_addresses), api=self.api.bound, testing_api=self.testing_api.bound,
              pol_dev_mode=self.dev_mode)
        self._tasks = [asyncio.ensure_future(self._slot_loop()), asyncio.ensure_future(self._sync_loop())]

    async def stop(self) -> None:
        for task in (*self._tasks, *self._background):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._background, return_exceptions=True)
        self.prover.close()
        if self.da is not None:
            await self.da.stop()
        await self.sync.stop()
        await self.network.stop()
        await self.api.stop()
        await self.testing_api.stop()
        self.chain.record_activity()
        self.store.close()
        event(log, logging.INFO, "node stopped", height=self.chain.height, tip=self.chain.tip.id)

    # -- NodeView (HTTP API) ----------------------------------------------------------------------------------
    def consensus_info(self) -> dict[str, Any]:
        return self.chain.info()

    def header_ids(self, from_id: str | None, to_id: str | None) -> list[str]:
        try:
            return self.chain.headers(from_id, to_id)
        except UnknownBlockError as exc:
            raise UnknownBlock(exc.args[0]) from exc

    def block_json(self, block_id: str) -> dict[str, Any] | None:
        block = self.chain.get_block(block_id)
        return None if block is None else block.to_json()

    # -- transactions (HTTP API and gossip) ---------------------------------------------------------------------
    async def submit_transaction(self, document: Any) -> Added:
        added = self._admit(document, source="api")
        if added.is_new:
            await self.network.publish(TRANSACTIONS_TOPIC, added.tx.gossip_id, document)
        return added

    async def _on_transaction_gossip(self, payload: Any, peer_id: str) -> bool:
        try:
            return self._admit(payload, source="gossip").is_new
        except TxError:
            return False  # counted; a transaction another node took may be invalid here (e.g. spent meanwhile)

    def _admit(self, document: Any, source: str) -> Added:
        try:
            added = self.mempool.add(document, now=time.time())
        except TxError as exc:
            self.metrics.mempool_rejected.labels(reason=str(exc.reason), source=source).inc()
            if source == "api":
                event(mempool_log, logging.DEBUG, "transaction refused", reason=exc.reason, detail=exc.detail)
            raise
        if added.is_new:
            self.metrics.mempool_added.labels(source=source).inc()
            self.metrics.mempool_pending.set(len(self.mempool))
            if self.da is not None:
                self.da.schedule_sampling(added.tx)
        return added

    def transaction_status(self, tx_hash: str) -> str | dict[str, Any]:
        return self.mempool.status(tx_hash)

    def mantle_status(self) -> dict[str, Any]:
        ledger = self.chain.ledger
        return {"pending": len(self.mempool), "ledger_height": ledger.height, "tip": ledger.cursor,
                "supply": ledger.supply, "genesis_supply": ledger.genesis_supply, "fees_burned": ledger.fees_burned,
                "unspent_notes": ledger.unspent_count}

    def mantle_metrics(self) -> dict[str, Any]:
        return {"pending_items": len(self.mempool), "last_item_timestamp": self.mempool.last_added_at}

    def notes_of(self, pk: str, limit: int) -> list[dict[str, Any]]:
        return [{"note_id": nid, "value": note.value, "pk": note.pk}
                for nid, note in self.chain.ledger.notes_of(pk, limit)]

    def channel_state(self, channel: str) -> dict[str, Any] | None:
        state = self.chain.ledger.channel(channel)
        if state is None:
            return None
        return {"last_msg_id": state.last_msg_id, "owner": state.owner, "messages": state.messages}

    # -- data availability (HTTP API) ------------------------------------------------------------------------
    def da_membership(self) -> dict[str, Any]:
        return {"assignations": {}, "addressbook": {}} if self.da is None else self.da.membership_json()

    def da_balancer_stats(self) -> dict[str, dict[str, int]]:
        return {} if self.da is None else self.da.balancer_stats()

    def _packable(self, tx: Transaction) -> bool:
        """A leader packs a channel_blob op only once it sampled the blob (a node without DA never does)."""
        if not tx.ops:
            return True
        return self.da.admissible(tx) if self.da is not None else not blob_ids(tx)

    async def disperse_data(self, channel: str, parent: str, signer: str, data: bytes) -> dict[str, Any]:
        """Executor: disperse ``data``, then submit its channel_blob transaction (raises DaUnavailable,
        DispersalError, TxError)."""
        if self.config.node.role != "executor":
            raise DaUnavailable(403, "not_executor", "only an executor disperses data; this node is a validator")
        if self.da is None:
            raise DaUnavailable(503, "da_not_configured", "this executor has no `da` config section")
        if signer != TEST_SIGNER_PK:
            raise DaUnavailable(400, "bad_signer", f"signer: this executor signs channel ops with the test key "
                                f"{TEST_SIGNER_PK}, got {signer}")
        encoded = await self.da.disperse(data)
        blob_id = encoded.blob_id.hex()
        tx = blob_transaction(channel, parent, signer, blob_id, len(data))
        added = await self.submit_transaction(tx)
        return {"blob_id": blob_id, "tx_hash": added.tx.hash}

    async def da_historic_sampling(self, block_id: str, blobs: list[str]) -> bool:
        block = self.chain.get_block(block_id)
        if block is None:
            raise UnknownBlock(block_id)
        if self.da is None:
            return False
        carried = {strip_0x(str(op.get("blob", ""))).lower() for tx in block.transactions
                   for op in (tx.get("ops") or []) if isinstance(op, dict)}
        return all(blob in carried for blob in blobs) and await self.da.historic_sampling(blobs)

    def da_commitments(self, blob_id: str) -> list[str] | None:
        return None if self.da is None else self.da.commitments(blob_id)

    def da_share(self, blob_id: str, share_idx: int) -> dict[str, Any] | None:
        return None if self.da is None else self.da.share_json(blob_id, share_idx)

    def _follow_ledger(self) -> None:
        """The mempool follows the canonical ledger's moves since the last call."""
        moves = self.chain.take_ledger_moves()
        if not moves:
            return
        result = self.mempool.revalidate(moves)
        self.metrics.transactions_included.inc(result.included)
        self.metrics.mempool_returned.inc(result.returned)
        for reason, count in result.dropped.items():
            self.metrics.mempool_dropped.labels(reason=reason).inc(count)
        self.metrics.mempool_pending.set(len(self.mempool))
        if result.returned or result.dropped:
            event(mempool_log, logging.INFO, "mempool revalidated", returned=result.returned,
                  dropped=sum(result.dropped.values()), pending=len(self.mempool))
        if result.returned_txs and self.da is not None:
            for tx in result.returned_txs:
                self.da.schedule_sampling(tx)
        if result.returned_txs:
            task = asyncio.ensure_future(self._regossip(result.returned_txs, self.chain.tip.id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _regossip(self, transactions: tuple[Transaction, ...], tip_id: str) -> None:
        """Offer transactions a reorg rolled back to the peers again, so any leader can include them (not only this
        node). A fresh message id: peers have seen the first one; those that still hold it answer 'pending'."""
        for tx in transactions:
            await self.network.publish(TRANSACTIONS_TOPIC, f"{tx.gossip_id}/{tip_id[:16]}", tx.document)

    # -- blocks from peers ----------------------------------------------------------------------------------
    async def _on_block_gossip(self, payload: Any, peer_id: str) -> bool:
        result = self._import_json(payload, peer_id, source="gossip")
        if result is not None and result.status == "orphan":
            # The peer relayed it, so it holds the orphan's branch: fetch exactly that branch from it.
            self.sync.request_sync(peer_id, "orphan", target=result.block_id)
        return result is not None and result.imported

    async def _import_from_peer(self, document: dict[str, Any], peer_id: str) -> ImportOutcome:
        result = self._import_json(document, peer_id, source="sync")
        return "rejected" if result is None else result.status

    def _import_json(self, document: Any, peer_id: str, source: str) -> ImportResult | None:
        try:
            block = Block.from_json(document)
        except BlockFormatError as exc:
            self.metrics.blocks_rejected.labels(reason="bad_format").inc()
            event(consensus_log, logging.WARNING, "block rejected", reason="bad_format", error=exc, source=source,
                  peer=peer_id)
            return None
        return self._import(block, source=source, peer=peer_id)

    def _import(self, block: Block, source: str, peer: str) -> ImportResult:
        result = self.chain.import_block(block)
        if result.imported:
            for imported in (block, *(self.chain.get_block(r.block_id) for r in result.connected if r.imported)):
                if imported is not None:
                    self.metrics.block_imported()
                    event(consensus_log, logging.INFO, "block imported", id=imported.id, height=imported.height,
                          slot=imported.slot, source=source, peer=peer)
            if result.reorg_depth:
                self.metrics.reorg(result.reorg_depth)
                event(consensus_log, logging.INFO, "reorg", depth=result.reorg_depth, tip=self.chain.tip.id,
                      height=self.chain.height)
            self._update_chain_metrics()
            self._follow_ledger()
        elif result.status == "orphan":
            self.metrics.orphans.inc()
            event(consensus_log, logging.INFO, "orphan block", id=block.id, height=block.height, slot=block.slot,
                  missing_parent=result.missing_parent, source=source, peer=peer)
        elif result.status == "rejected":
            reason = str(result.reason)
            self.metrics.blocks_rejected.labels(reason=reason).inc()
            # A block the chain already remembered as rejected was logged when it was first refused.
            event(consensus_log, logging.DEBUG if result.remembered else logging.WARNING, "block rejected",
                  id=block.id, reason=reason, slot=block.slot, source=source, peer=peer, detail=result.detail)
        return result

    def _on_peer_connected(self, peer_id: str) -> None:
        self.sync.request_sync(peer_id, "connected")

    def _update_chain_metrics(self) -> None:
        self.metrics.tip_height.set(self.chain.height)
        self.metrics.lib_height.set(self.chain.lib.height)

    # -- loops ----------------------------------------------------------------------------------------------
    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.consensus.sync_interval)
            self.sync.request_sync_all("periodic")

    async def _slot_loop(self) -> None:
        last_slot: int | None = None
        while True:
            slot = self.chain.current_slot()
            if last_slot is not None and slot <= last_slot:
                await asyncio.sleep(self.chain.clock.seconds_until(last_slot + 1) + 0.002)
                continue
            last_slot = slot
            self.metrics.current_slot.set(max(slot, 0))
            self.metrics.current_epoch.set(self.schedule.epoch_of(max(slot, 0)))
            if self.chain.tick():
                event(consensus_log, logging.INFO, "mode switched", mode=self.chain.mode, slot=slot)
                self._update_chain_metrics()
            if slot >= 1:
                try:
                    await self._try_produce(slot)
                except Exception:
                    consensus_log.exception("block production failed slot=%s", slot)
            # Yield every slot: when slots are shorter than one pass of this loop it never sleeps, and without
            # this the API, the network and the SIGTERM handler would starve.
            await asyncio.sleep(0)

    async def _try_produce(self, slot: int) -> None:
        ticket = self.chain.leadership(slot, self.keys)
        if ticket is None:
            return
        started = time.perf_counter()
        proof = "" if self.dev_mode else await self.prover.prove(ticket)
        proof_ms = (time.perf_counter() - started) * 1000
        if self.chain.current_slot() != slot:
            event(consensus_log, logging.INFO, "slot missed while proving", slot=slot, proof_ms=f"{proof_ms:.0f}")
            return
        if self.chain.tip.id != ticket.parent_id:
            # The tip moved while proving. The PoL binds (vrf output, slot), so it stays valid on the new tip
            # whenever the VRF output there is the same (same epoch nonce).
            retry = self.chain.leadership(slot, self.keys)
            if retry is not None and retry.vrf_output == ticket.vrf_output:
                ticket = retry
        transactions = self.chain.pack_transactions(ticket.parent_id, self.mempool.candidates(),
                                                    self.config.mempool.max_block_transactions, self._packable)
        block = self.chain.build_block(ticket, proof, self.keys, [tx.document for tx in transactions])
        result = self.chain.import_block(block)
        if not result.imported:
            event(consensus_log, logging.WARNING, "own block not imported", slot=slot, status=result.status,
                  reason=result.reason)
            return
        self.metrics.blocks_produced.inc()
        event(consensus_log, logging.INFO, "block produced", id=block.id, height=block.height, slot=slot,
              parent=block.parent, transactions=len(transactions), proof_ms=f"{proof_ms:.1f}")
        self.metrics.block_imported()
        if result.reorg_depth:
            self.metrics.reorg(result.reorg_depth)
        self._update_chain_metrics()
        self._follow_ledger()
        await self.network.publish(BLOCKS_TOPIC, block.id, block.to_json())


async def run_until_signalled(node: Node) -> int:
    """Start the node, run until SIGTERM/SIGINT, stop cleanly. Returns the exit code (0)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await node.start()
    await stop.wait()
    event(log, logging.INFO, "shutdown requested")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(node.stop(), 10)
    return 0
