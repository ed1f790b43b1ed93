"""Transaction inclusion and conservation (docs/transactions.md).

Of the transactions accepted (`tx.submit` with accepted = true) before the cooldown, at least `min_share` must
be in the canonical chain of every node meant to be running; no transaction may be in one chain twice; and
on every such node the ledger conserves value: the sum of its unspent notes (`GET /mantle/status` "supply")
equals the genesis supply minus the fees of the transactions in its chain — checked against the genesis the
framework generated and the fees the framework reads from that same chain (the chain is walked from the tip
the status answer names, so the two agree on one ledger state).

Figures: submitted, accepted, refused by reason, included, double inclusions, and the inclusion latency
(submit → the first block of a judged chain carrying it, as the block feed saw it) p50 / p95 / max in
seconds and in slots.

The submissions come from the bundled `transactions` workload, or, used alone, from `events.jsonl`.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.nodes.base import NodeAdapter
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.block_feed import BlockFeed, BlockRecord
from nomos_testing.observe.events import read_events
from nomos_testing.params import Param, ParamSchema

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext
    from nomos_testing.workloads.transactions import Transactions

STATUS_ATTEMPTS = 3
_NodeState = tuple[dict[str, Any] | None, "ChainView | None", str | None]


@dataclass(frozen=True)
class Accepted:
    tx_hash: str
    sent_at: float


@dataclass
class ChainView:
    """One node's canonical chain at the tip its ledger is at, as the judge sees it."""

    node: str
    tip: str
    blocks: list[BlockRecord]          # tip first
    tx_blocks: dict[str, list[BlockRecord]]  # tx hash -> blocks of this chain carrying it
    fees: int


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (share in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def submissions_from_events(events: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], float | None]:
    """The `tx.submit` events and when the cooldown began (None: it did not)."""
    cooldown = next((float(e["time"]) for e in events if e.get("kind") == "phase.cooldown"), None)
    return [e for e in events if e.get("kind") == "tx.submit"], cooldown


class TxInclusion(Expectation):
    kind = "tx_inclusion"
    summary = ("accepted transactions are in every node's canonical chain, once; the ledger conserves value; "
               "inclusion latency")
    params = ParamSchema((
        Param("min_share", "number", default=0.9, minimum=0, maximum=1, example=0.9,
              help="share of the transactions accepted before the cooldown that every chain must hold"),
    ))

    def __init__(self, min_share: float = 0.9, source: Transactions | None = None) -> None:
        self.min_share = float(min_share)
        self.source = source

    def _submissions(self, ctx: RunContext) -> tuple[list[dict[str, Any]], float | None]:
        path = ctx.events.path
        if path is not None and path.exists():
            return submissions_from_events(read_events(path))
        if self.source is not None:
            return ([{"tx": s.tx_hash, "node": s.node, "sent_at": s.sent_at, "accepted": s.accepted,
                      "reason": s.reason} for s in self.source.submissions], None)
        return [], None

    async def evaluate(self, ctx: RunContext) -> Outcome:
        adapter = ctx.topology.adapter
        submissions, cooldown = self._submissions(ctx)
        refused = Counter(str(s.get("reason")) for s in submissions if not s.get("accepted"))
        accepted: dict[str, Accepted] = {}
        for s in submissions:
            if s.get("accepted") and (cooldown is None or float(s["sent_at"]) < cooldown):
                accepted.setdefault(str(s["tx"]), Accepted(str(s["tx"]), float(s["sent_at"])))
        clients = ctx.running_clients()
        genesis_supply = genesis_supply_of(ctx.topology.genesis)
        issues: list[str] = []
        figures: dict[str, Any] = {
            "submitted": len(submissions), "accepted": sum(1 for s in submissions if s.get("accepted")),
            "accepted_before_cooldown": len(accepted), "refused": dict(sorted(refused.items())),
            "min_share": self.min_share, "genesis_supply": genesis_supply,
        }
        if not clients:
            return Outcome(False, "no node is meant to be running: nothing to judge", figures)
        if not submissions:
            issues.append("no transaction was submitted")
        elif not accepted:
            issues.append(f"no transaction was accepted before the cooldown (refused: {dict(refused)})")
        views: list[ChainView] = []
        per_node: dict[str, dict[str, Any]] = {}
        hashes: dict[str, list[tuple[str, int]]] = {}  # block id -> (tx hash, fee) of its transactions
        for client in clients:
            status, view, error = await self._node_state(ctx.block_feed, adapter, client, hashes)
            if error is not None or status is None or view is None:
                issues.append(f"{client.name}: {error}")
                per_node[client.name] = {"error": error}
                continue
            views.append(view)
            per_node[client.name] = self._judge_node(view, status, accepted, genesis_supply, issues)
        figures["nodes"] = per_node
        included = [n["included"] for n in per_node.values() if "included" in n]
        figures["included"] = min(included, default=0)
        figures["double_included"] = sum(len(n.get("double_included", [])) for n in per_node.values())
        figures["latency"] = self._latency(views, accepted, ctx)
        if issues:
            return Outcome(False, "; ".join(issues), figures)
        latency = figures["latency"]
        message = (f"{figures['included']} of {len(accepted)} accepted transactions in every chain "
                   f"(≥ {self.min_share:g} required) on {len(views)} nodes, none twice, supply conserved "
                   f"({genesis_supply} − fees); latency p50 {latency['p50_s']} s / p95 {latency['p95_s']} s "
                   f"(p95 {latency['p95_slots']} slots)")
        return Outcome(True, message, figures)

    def _judge_node(self, view: ChainView, status: dict[str, Any], accepted: dict[str, Accepted],
                    genesis_supply: int, issues: list[str]) -> dict[str, Any]:
        name = view.node
        included = sum(1 for tx in accepted if tx in view.tx_blocks)
        twice = sorted(tx for tx, blocks in view.tx_blocks.items() if len(blocks) > 1)
        share = included / len(accepted) if accepted else 1.0
        supply, reported_genesis, burned = (status.get(key) for key in ("supply", "genesis_supply", "fees_burned"))
        out = {"tip": view.tip, "height": view.blocks[0].height if view.blocks else 0, "included": included,
               "share": round(share, 4), "double_included": twice[:10], "supply": supply,
               "fees_burned": burned, "fees_in_chain": view.fees, "pending": status.get("pending")}
        if accepted and share < self.min_share:
            missing = [tx[:16] for tx in accepted if tx not in view.tx_blocks][:5]
            issues.append(f"{name}: {included} of {len(accepted)} accepted transactions in its chain "
                          f"({share:.1%} < {self.min_share:.0%}); missing e.g. {', '.join(missing)}")
        if twice:
            issues.append(f"{name}: {len(twice)} transactions included twice in its chain, e.g. {twice[0][:16]}")
        if not all(isinstance(v, int) for v in (supply, reported_genesis, burned)):
            issues.append(f"{name}: /mantle/status lacks supply / genesis_supply / fees_burned: {status}")
            return out
        assert isinstance(supply, int) and isinstance(reported_genesis, int) and isinstance(burned, int)
        if reported_genesis != genesis_supply:
            issues.append(f"{name}: genesis supply {reported_genesis} differs from the generated genesis "
                          f"({genesis_supply})")
        if burned != view.fees:
            issues.append(f"{name}: fees burned {burned} differ from the fees of the transactions in its chain "
                          f"({view.fees}) at tip {view.tip[:16]}")
        if supply != genesis_supply - view.fees:
            issues.append(f"{name}: supply {supply} ≠ genesis {genesis_supply} − fees {view.fees} "
                          f"= {genesis_supply - view.fees}: value was created or destroyed")
        return out

    async def _node_state(self, feed: BlockFeed, adapter: NodeAdapter, client: NodeClient,
                          hashes: dict[str, list[tuple[str, int]]]) -> _NodeState:
        error = "no answer"
        for attempt in range(STATUS_ATTEMPTS):
            try:
                status = await client.mantle_status()
                tip = str(status.get("tip") or "")
                if not tip:
                    return None, None, f"/mantle/status names no tip: {status}"
                view = await chain_view(feed, adapter, client, tip, hashes)
                return status, view, None
            except NodeApiError as exc:
                error = f"/mantle/status: {exc.detail}"
            except LookupError as exc:
                error = str(exc)
            if attempt + 1 < STATUS_ATTEMPTS:
                await asyncio.sleep(1.0)
        return None, None, error

    def _latency(self, views: list[ChainView], accepted: dict[str, Accepted], ctx: RunContext) -> dict[str, Any]:
        slot = ctx.plan.slot_duration or 1.0
        records = [r for r in ctx.block_feed.blocks.values() if r.height > 0]
        # The chain's start time, from the blocks: a block is seen after its slot began (by up to a poll).
        start = min((r.seen_at - r.slot * slot for r in records), default=0.0)
        seconds: list[float] = []
        slots: list[float] = []
        for tx in accepted.values():
            blocks = [b for view in views for b in view.tx_blocks.get(tx.tx_hash, [])]
            if not blocks:
                continue
            first = min(blocks, key=lambda b: b.seen_at)
            seconds.append(max(0.0, first.seen_at - tx.sent_at))
            slots.append(max(0.0, first.slot - (tx.sent_at - start) / slot))

        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 3)

        return {"count": len(seconds), "p50_s": rounded(percentile(seconds, 0.5)),
                "p95_s": rounded(percentile(seconds, 0.95)), "max_s": rounded(max(seconds, default=None)),
                "p50_slots": rounded(percentile(slots, 0.5)), "p95_slots": rounded(percentile(slots, 0.95)),
                "max_slots": rounded(max(slots, default=None))}


async def chain_view(feed: BlockFeed, adapter: NodeAdapter, client: NodeClient, tip: str,
                     hashes: dict[str, list[tuple[str, int]]] | None = None) -> ChainView:
    """The chain from `tip` to genesis, fetching from `client` what the feed has not seen. `hashes` caches
    each block's (tx hash, fee) pairs across calls."""
    hashes = {} if hashes is None else hashes
    blocks = await feed.chain(client, tip)
    tx_blocks: dict[str, list[BlockRecord]] = {}
    fees = 0
    for record in blocks:
        if record.id not in hashes:
            hashes[record.id] = [(adapter.tx_hash(tx), adapter.tx_fee(tx))
                                 for tx in adapter.block_transactions(record.block)]
        for tx_hash, fee in hashes[record.id]:
            tx_blocks.setdefault(tx_hash, []).append(record)
            fees += fee
    return ChainView(client.name, tip, blocks, tx_blocks, fees)


def genesis_supply_of(genesis: Mapping[str, Any]) -> int:
    """The value of every genesis note: the wallets' and the validators' stake notes (both are ledger notes of
    the reference node, docs/consensus.md "Stake and epochs")."""
    notes = [*(genesis.get("wallet_notes") or []), *(genesis.get("stake_notes") or [])]
    return sum(int(n["value"]) for n in notes)
