"""Data availability: channels inscribed, blobs included, and included blobs retrievable
(docs/data-availability.md, "Framework").

On the canonical chain of every node meant to be running (walked from its tip):

1. inscriptions of at least `ceil(min_inscribed_share × planned channels)` channels (the original's 80 %);
2. at least `ceil(min_blob_share × blob_rate × max(blocks, 1))` blobs in the planned channels, where `blocks` is
   the number of that chain's blocks seen during the dispersal window (the original's 80 % of blob rate × blocks
   seen);
3. retrievability: for `retrieve_sample` blobs included there (seeded choice), the row commitments are fetched
   from a validator, then share j from a member of subnet j (`/test/da/membership`; validators first, an
   executor when the subnet has no running validator) for every subnet; each
   share must name the same commitments and verify against them (`nomos_da.verifier`), and the shares must
   reconstruct the original payload (compared by its Blake2b-256 hash, recorded when it was dispersed).
   A validator's `/test/da/historic-sampling` answer for each sampled blob is recorded too (not judged).

Figures: planned / inscribed channels, dispersals (ok, failed by error, latency p50/p95/max), blobs included
per node against the threshold, blocks in the window, and per sampled blob the shares fetched / verified /
rejected and whether the payload came back.

The dispersals come from the bundled `da` workload, or, used alone, from `events.jsonl` (`da.plan`,
`da.disperse`).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.expectations.tx_inclusion import percentile
from nomos_testing.nodes.base import NodeAdapter
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.block_feed import BlockFeed, BlockRecord
from nomos_testing.observe.events import read_events
from nomos_testing.params import Param, ParamSchema
from nomos_testing.topology.model import Role

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext
    from nomos_testing.workloads.da import DataAvailability


class ShareCodec(Protocol):
    """What retrievability needs of the crypto library: verify a share (JSON form) against its commitments,
    and rebuild the payload from shares."""

    def verify(self, share: Mapping[str, Any], num_columns: int | None = None) -> bool: ...

    def reconstruct(self, shares: Sequence[Mapping[str, Any]], original_size: int,
                    num_columns: int | None = None) -> bytes: ...


def default_codec() -> ShareCodec:
    """nomos_da's verifier and decoder, with the KZG parameters (NOMOS_KZGRS_PARAMS_PATH or the default path)."""
    from nomos_testing.kzg import NomosDaCodec

    return NomosDaCodec.load()


@dataclass
class DaRecords:
    """What the workload planned and did, from its events (or the workload itself)."""

    channels: list[str] = field(default_factory=list)
    blob_rate: float = 0.0
    started_at: float | None = None
    window_end: float | None = None
    dispersals: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ChainMessages:
    node: str
    tip: str
    blocks: list[BlockRecord]                                     # tip first
    inscribed: set[str] = field(default_factory=set)              # channels
    blobs: dict[str, str] = field(default_factory=dict)           # blob id -> block id


def records_from_events(events: Sequence[Mapping[str, Any]]) -> DaRecords:
    records = DaRecords()
    plan = next((e for e in events if e.get("kind") == "da.plan"), None)
    if plan is not None:
        records.channels = [str(c) for c in plan.get("channels") or []]
        records.blob_rate = float(plan.get("blob_rate") or 0.0)
        records.started_at = float(plan["time"]) if "time" in plan else None
    records.window_end = next((float(e["time"]) for e in events if e.get("kind") == "phase.cooldown"), None)
    records.dispersals = [dict(e) for e in events if e.get("kind") == "da.disperse"]
    return records


class DaInclusion(Expectation):
    kind = "da_inclusion"
    summary = ("planned channels inscribed and blob_rate × blocks blobs included (the original's 80 %), "
               "a sample of included blobs fetched back, verified and reconstructed")
    params = ParamSchema((
        Param("min_inscribed_share", "number", default=0.8, minimum=0, maximum=1, example=0.8,
              help="share of the planned channels whose inscription every chain must hold"),
        Param("min_blob_share", "number", default=0.8, minimum=0, maximum=1, example=0.8,
              help="share of blob_rate × blocks seen in the window that every chain must hold"),
        Param("retrieve_sample", "int", default=3, minimum=0, maximum=1000, example=3,
              help="included blobs fetched back from the validators, verified and reconstructed (0: none)"),
        Param("seed", "int", default=0, minimum=0, example=0, help="seed of the retrievability sample"),
    ))

    def __init__(self, min_inscribed_share: float = 0.8, min_blob_share: float = 0.8, retrieve_sample: int = 3,
                 seed: int = 0, source: DataAvailability | None = None, codec: ShareCodec | None = None) -> None:
        self.min_inscribed_share = float(min_inscribed_share)
        self.min_blob_share = float(min_blob_share)
        self.retrieve_sample = int(retrieve_sample)
        self.seed = seed
        self.source = source
        self.codec = codec

    def _records(self, ctx: RunContext) -> DaRecords:
        path = ctx.events.path
        if path is not None and path.exists():
            return records_from_events(read_events(path))
        records = DaRecords()
        if self.source is not None:
            records.channels = [c.channel_id for c in self.source.channels]
            records.blob_rate = self.source.blob_rate
            records.started_at = self.source.started_at
            records.dispersals = [{"blob_id": d.blob_id, "channel": d.channel, "executor": d.executor,
                                   "size": d.size, "sent_at": d.sent_at, "latency_ms": d.latency_s * 1000,
                                   "ok": d.ok, "error": d.error, "payload_hash": d.payload_hash}
                                  for d in self.source.dispersals]
        return records

    async def evaluate(self, ctx: RunContext) -> Outcome:
        adapter = ctx.topology.adapter
        records = self._records(ctx)
        ok = [d for d in records.dispersals if d.get("ok") and d.get("blob_id")]
        failed = Counter(str(d.get("error")) for d in records.dispersals if not d.get("ok"))
        latencies = [float(d["latency_ms"]) / 1000 for d in ok if d.get("latency_ms") is not None]
        planned = len(records.channels)
        need_inscribed = math.ceil(self.min_inscribed_share * planned)
        figures: dict[str, Any] = {
            "planned_channels": planned, "required_inscribed": need_inscribed, "blob_rate": records.blob_rate,
            "dispersed": len(records.dispersals), "dispersed_ok": len(ok), "failed": dict(sorted(failed.items())),
            "dispersal_latency_s": {"p50": _round(percentile(latencies, 0.5)),
                                    "p95": _round(percentile(latencies, 0.95)),
                                    "max": _round(max(latencies, default=None))},
            "min_inscribed_share": self.min_inscribed_share, "min_blob_share": self.min_blob_share,
        }
        issues: list[str] = []
        if not planned:
            return Outcome(False, "no da workload plan was recorded (no da.plan event): nothing to judge", figures)
        clients = ctx.running_clients()
        if not clients:
            return Outcome(False, "no node is meant to be running: nothing to judge", figures)
        if not ok:
            examples = "; ".join(dict.fromkeys(str(d.get("detail") or d.get("error")) for d in records.dispersals[:5]))
            issues.append(f"no dispersal succeeded ({len(records.dispersals)} tried"
                          + (f", e.g. {examples}" if examples else "") + ")")
        window = (records.started_at or 0.0, records.window_end or max(
            (float(d.get("sent_at", 0)) + float(d.get("latency_ms", 0)) / 1000 for d in records.dispersals),
            default=float("inf")))
        channels = set(records.channels)
        node_issues: dict[str, list[str]] = {}  # finding -> the nodes it holds for
        per_node: dict[str, Any] = {}
        chains: list[ChainMessages] = []
        for client in clients:
            try:
                chain = await chain_messages(ctx.block_feed, adapter, client, channels)
            except (NodeApiError, LookupError) as exc:
                issues.append(f"{client.name}: {exc}")
                per_node[client.name] = {"error": str(exc)}
                continue
            chains.append(chain)
            blocks = sum(1 for b in chain.blocks if b.height > 0 and window[0] <= b.seen_at <= window[1])
            need_blobs = math.ceil(self.min_blob_share * records.blob_rate * max(blocks, 1))
            per_node[client.name] = {"tip": chain.tip, "height": chain.blocks[0].height if chain.blocks else 0,
                                     "inscribed": len(chain.inscribed), "blobs": len(chain.blobs),
                                     "blocks_in_window": blocks, "required_blobs": need_blobs}
            if len(chain.inscribed) < need_inscribed:
                missing = sorted(channels - chain.inscribed)
                node_issues.setdefault(
                    f"{len(chain.inscribed)} of {planned} planned channels inscribed (≥ {need_inscribed} required); "
                    f"missing {', '.join(c[:16] for c in missing[:5])}", []).append(client.name)
            if len(chain.blobs) < need_blobs:
                node_issues.setdefault(
                    f"{len(chain.blobs)} blobs included, fewer than {need_blobs} (= ceil({self.min_blob_share:g} × "
                    f"blob rate {records.blob_rate:g} × {blocks} blocks seen in the window)); {len(ok)} of "
                    f"{len(records.dispersals)} dispersals succeeded"
                    + (f", failures: {dict(failed)}" if failed else ""), []).append(client.name)
        issues += [f"{', '.join(names)}: {text}" for text, names in node_issues.items()]  # one line per finding
        figures["nodes"] = per_node
        figures["inscribed"] = min((len(c.inscribed) for c in chains), default=0)
        figures["included"] = min((len(c.blobs) for c in chains), default=0)
        retrieval = await self._retrievability(ctx, chains, ok)
        figures["retrievability"] = retrieval
        issues += retrieval.pop("issues")
        if issues:
            from nomos_testing.preflight import da_prerequisite_problems

            causes = da_prerequisite_problems()
            figures["prerequisite_problems"] = causes
            suffix = f"; likely cause(s): {'; '.join(causes)}" if causes else ""
            return Outcome(False, "; ".join(issues) + suffix, figures)
        message = (f"{figures['inscribed']} of {planned} channels inscribed and ≥ {figures['included']} blobs "
                   f"included on {len(chains)} nodes ({len(ok)} of {len(records.dispersals)} dispersals ok, "
                   f"p95 {figures['dispersal_latency_s']['p95']} s); {retrieval['retrieved']} of "
                   f"{retrieval['sampled']} sampled blobs fetched back, verified and reconstructed")
        return Outcome(True, message, figures)

    async def _retrievability(self, ctx: RunContext, chains: list[ChainMessages],
                              dispersed: list[dict[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {"sampled": 0, "retrieved": 0, "blobs": {}, "issues": []}
        if self.retrieve_sample <= 0 or not chains:
            return result
        by_blob = {str(d["blob_id"]): d for d in dispersed if d.get("payload_hash") and d.get("size")}
        included = sorted(b for b in chains[0].blobs if b in by_blob)
        if not included:
            return result
        sample = random.Random(self.seed).sample(included, min(self.retrieve_sample, len(included)))
        result["sampled"] = len(sample)
        try:
            codec = self.codec or default_codec()
        except Exception as exc:  # the crypto library or its parameters are unavailable: say which
            result["issues"].append(f"retrievability not checked: {exc}")
            return result
        validators = [c for c in ctx.running_clients()
                      if any(n.name == c.name and n.role is Role.VALIDATOR for n in ctx.topology.nodes)]
        holders = validators + [c for c in ctx.running_clients() if c not in validators]  # validators first
        try:
            membership, peers = await _membership(holders, holders)
        except NodeApiError as exc:
            result["issues"].append(f"retrievability: membership unavailable: {exc.detail}")
            return result
        for blob_id in sample:
            outcome = await _retrieve(blob_id, by_blob[blob_id], holders, membership, peers, codec)
            outcome["historic_sampling"] = await _historic_sampling(validators, chains[0].blobs[blob_id], blob_id)
            result["blobs"][blob_id] = outcome
            if outcome["reconstructed"]:
                result["retrieved"] += 1
            else:
                result["issues"].append(f"blob {blob_id[:16]} not retrievable: {outcome['error']}")
        return result


async def _membership(askers: list[NodeClient], holders: list[NodeClient]
                      ) -> tuple[dict[int, list[str]], dict[str, NodeClient]]:
    """Subnet → member peer ids (from the first node that answers), and peer id → client of a running node."""
    error: NodeApiError | None = None
    assignations: dict[int, list[str]] = {}
    for client in askers:
        try:
            answer = await client.da_membership(0)
        except NodeApiError as exc:
            error = exc
            continue
        raw = answer.get("assignations") or {}
        assignations = {int(k): [str(p) for p in v] for k, v in raw.items() if isinstance(v, list)}
        break
    if not assignations and error is not None:
        raise error
    peers: dict[str, NodeClient] = {}
    for client in holders:
        try:
            info = await client.network_info()
        except NodeApiError:
            continue
        if isinstance(info.get("peer_id"), str):
            peers[info["peer_id"]] = client
    return assignations, peers


async def _historic_sampling(validators: list[NodeClient], block_id: str, blob_id: str) -> bool | str:
    """A validator's `/test/da/historic-sampling` answer for the blob in its block (a figure, not judged: the
    contract does not say how long a node keeps what it can sample)."""
    for client in validators:
        try:
            return await client.historic_sampling(block_id, [blob_id])
        except NodeApiError as exc:
            error = exc.detail
    return f"no answer: {error}" if validators else "no validator"


async def _retrieve(blob_id: str, dispersal: Mapping[str, Any], holders: list[NodeClient],
                    membership: dict[int, list[str]], peers: dict[str, NodeClient],
                    codec: ShareCodec) -> dict[str, Any]:
    """Commitments, then share j from the members of subnet j (validators first, executors when a subnet has
    no running validator), verified, then the payload rebuilt from the verified shares."""
    out: dict[str, Any] = {"fetched": 0, "verified": 0, "rejected": 0, "missing": [], "served_by": {},
                           "reconstructed": False, "error": None}
    commitments: list[str] | None = None
    for client in holders:
        try:
            commitments = await client.da_commitments(blob_id)
        except NodeApiError:
            continue
        if commitments is not None:
            break
    if commitments is None:
        out["error"] = "no node returned its commitments (/da/get-commitments)"
        return out
    shares: list[Mapping[str, Any]] = []
    for subnet in sorted(membership):
        members = sorted((peers[p] for p in membership[subnet] if p in peers), key=holders.index) or holders
        share = None
        for client in members:
            try:
                share = await client.da_share(blob_id, subnet)
            except NodeApiError:
                continue
            if share is None:
                continue
            out["fetched"] += 1
            if [str(c) for c in share.get("rows_commitments") or []] == [str(c) for c in commitments] \
                    and codec.verify(share, len(membership)):
                out["verified"] += 1
                out["served_by"][str(subnet)] = client.name
                shares.append(share)
                break
            out["rejected"] += 1
            share = None
        if share is None:
            out["missing"].append(subnet)
    if not shares:
        out["error"] = f"no verified share from any subnet ({out['rejected']} rejected)"
        return out
    try:
        data = codec.reconstruct(shares, int(dispersal["size"]), len(membership))
    except Exception as exc:  # not enough shares, or the library refuses them: the figures say which
        out["error"] = f"reconstruction from {len(shares)} share(s) failed: {exc}"
        return out
    from nomos_testing.workloads.da import payload_hash

    if payload_hash(data) != dispersal["payload_hash"]:
        out["error"] = f"the {len(shares)} shares reconstruct a different payload than the one dispersed"
        return out
    out["reconstructed"] = True
    return out


async def chain_messages(feed: BlockFeed, adapter: NodeAdapter, client: NodeClient,
                         channels: set[str]) -> ChainMessages:
    """The channel messages of `channels` in the node's canonical chain (tip from /cryptarchia/info)."""
    info = await client.consensus_info()
    tip = str(info.get("tip") or "")
    if not tip:
        raise LookupError(f"/cryptarchia/info names no tip: {info}")
    blocks = await feed.chain(client, tip)
    chain = ChainMessages(client.name, tip, blocks)
    for record in reversed(blocks):
        for tx in adapter.block_transactions(record.block):
            for message in adapter.channel_messages(tx):
                if message.channel not in channels:
                    continue
                if message.kind == "inscribe":
                    chain.inscribed.add(message.channel)
                elif message.blob_id:
                    chain.blobs.setdefault(message.blob_id, record.id)
    return chain


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
