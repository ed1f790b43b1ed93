"""Liveness under partition: during each partition, the side holding most of the stake keeps producing blocks.

For each partition (`net.partition` … its `net.heal`) the window's slots are those between the two events
(slot times are estimated from the slots the nodes report in `views.jsonl`). The blocks of a side are the
blocks with a slot in the window on the chain of the side's best node: for each node of the side, its last
tip seen before the heal is walked back to the window's first slot, and the side counts the most.

A side's expected blocks are the sum over the window's slots of φ(f, α) = 1 − (1 − f)^α, the chance that
at least one of its leaders wins the slot, where α is the share of the genesis stake held by the side's
nodes meant to be running at that slot (stake of nodes stopped, killed or paused on purpose does not lead).
This is the exact per-slot leader probability of Cryptarchia (f·α is a lower bound of it). The side (or
sides, on a tie) with the most stake fails when it produced fewer than `min_fraction` × expected blocks;
the other sides are figures only. A window expecting fewer than `MIN_EXPECTED` blocks is too short to
judge, and a partition that overlaps another one is not judged (its sides are not whole networks).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.expectations.timeline import FaultTimeline, Partition
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.history import ViewHistory
from nomos_testing.params import Param, ParamSchema

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext

DEFAULT_MIN_FRACTION = 0.3
MIN_EXPECTED = 3.0


def leader_probability(active_slot_coeff: float, stake_share: float) -> float:
    """φ(f, α) = 1 − (1 − f)^α: the chance that holders of stake share α win a slot."""
    if stake_share <= 0:
        return 0.0
    return 1.0 - math.pow(1.0 - active_slot_coeff, min(stake_share, 1.0))


def chain_start(history: ViewHistory, slot_duration: float) -> float | None:
    """The chain's start time as the samples show it. A node reporting slot n at time t started it in
    (t − (n + 1) × slot duration, t − n × slot duration]: the median of those intervals' middles."""
    offsets = [s.time - (s.slot + 0.5) * slot_duration for s in history.samples if s.slot is not None]
    return float(statistics.median(offsets)) if offsets else None


def blocks_in_window(chain: BlockFeed, tip: str | None, first_slot: int, last_slot: int) -> int:
    """Blocks on `tip`'s chain with first_slot ≤ slot ≤ last_slot."""
    count, record = 0, chain.blocks.get(tip) if tip else None
    while record is not None and record.slot >= first_slot and record.height > 0:
        if record.slot <= last_slot:
            count += 1
        record = chain.blocks.get(record.parent)
    return count


@dataclass(frozen=True)
class Consensus:
    """What the rule needs of the chain's parameters and stake distribution."""

    slot_duration: float
    active_slot_coeff: float
    stake: dict[str, int]     # node -> genesis stake (0 for a node without stake)
    total_stake: int


@dataclass(frozen=True)
class SideResult:
    nodes: tuple[str, ...]
    stake: int
    stake_share: float
    expected_blocks: float
    blocks: int
    by_node: dict[str, int]
    most_stake: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes), "stake": self.stake, "stake_share": round(self.stake_share, 4),
                "expected_blocks": round(self.expected_blocks, 2), "blocks": self.blocks, "by_node": self.by_node,
                "most_stake": self.most_stake}


@dataclass(frozen=True)
class PartitionResult:
    partition: Partition
    first_slot: int
    last_slot: int
    sides: tuple[SideResult, ...]
    judged: bool
    passed: bool
    note: str = ""

    def to_json(self, timeline: FaultTimeline) -> dict[str, Any]:
        end = self.partition.end
        return {"fault": self.partition.fault, "from_s": timeline.elapsed(self.partition.start),
                "to_s": None if end is None else timeline.elapsed(end),
                "slots": [self.first_slot, self.last_slot], "sides": [s.to_json() for s in self.sides],
                "judged": self.judged, "passed": self.passed, **({"note": self.note} if self.note else {})}


def judge_partition(partition: Partition, history: ViewHistory, timeline: FaultTimeline, chain: BlockFeed,
                    consensus: Consensus, min_fraction: float, others: list[Partition]) -> PartitionResult:
    end = partition.end if partition.end is not None else (history.last_time or partition.start)
    start_time = chain_start(history, consensus.slot_duration)
    if start_time is None:
        return PartitionResult(partition, 0, 0, (), False, True, "no slot reported by any node: slots unknown")
    first_slot = math.ceil((partition.start - start_time) / consensus.slot_duration)
    last_slot = math.floor((end - start_time) / consensus.slot_duration)
    sides = []
    for group in partition.groups:
        stake = sum(consensus.stake.get(n, 0) for n in group)
        expected = 0.0
        for slot in range(first_slot, last_slot + 1):
            at = start_time + (slot + 0.5) * consensus.slot_duration
            up = sum(consensus.stake.get(n, 0) for n in group if timeline.is_up(n, at))
            expected += leader_probability(consensus.active_slot_coeff, up / consensus.total_stake)
        by_node = {}
        for node in group:
            last = history.latest(node, end)
            if last is not None and last.time >= partition.start:
                by_node[node] = blocks_in_window(chain, last.tip, first_slot, last_slot)
        sides.append(SideResult(tuple(group), stake, stake / consensus.total_stake, expected,
                                max(by_node.values(), default=0), by_node))
    most = max((s.stake for s in sides), default=0)
    sides = [SideResult(s.nodes, s.stake, s.stake_share, s.expected_blocks, s.blocks, s.by_node, s.stake == most)
             for s in sides]
    overlapping = [o.fault for o in others if o is not partition and o.start < end
                   and (o.end is None or o.end > partition.start)]
    if overlapping:
        return PartitionResult(partition, first_slot, last_slot, tuple(sides), False, True,
                               f"not judged: overlaps {', '.join(overlapping)}")
    judged_sides = [s for s in sides if s.most_stake]
    if not judged_sides or max(s.expected_blocks for s in judged_sides) < MIN_EXPECTED:
        expected = max((s.expected_blocks for s in judged_sides), default=0.0)
        return PartitionResult(partition, first_slot, last_slot, tuple(sides), False, True,
                               f"not judged: the window expects {expected:.1f} blocks, fewer than {MIN_EXPECTED:g}")
    short = [s for s in judged_sides if s.blocks < min_fraction * s.expected_blocks]
    return PartitionResult(partition, first_slot, last_slot, tuple(sides), True, not short)


class PartitionLiveness(Expectation):
    kind = "partition_liveness"
    summary = "during each partition, the side holding most of the stake keeps producing blocks"
    params = ParamSchema((
        Param("min_fraction", "number", default=DEFAULT_MIN_FRACTION, minimum=0, maximum=1, exclusive_minimum=True,
              example=0.3, help="the majority side must produce this fraction of the blocks its stake should "
                                "produce in the window"),
    ))

    def __init__(self, min_fraction: float = DEFAULT_MIN_FRACTION) -> None:
        self.min_fraction = float(min_fraction)

    async def evaluate(self, ctx: RunContext) -> Outcome:
        timeline = FaultTimeline.of_run(ctx)
        topology = ctx.topology
        stake: dict[str, int] = {n.name: n.stake for n in topology.in_genesis()}
        total = sum(stake.values())
        if total <= 0:
            return Outcome(False, "the genesis holds no stake: the rule cannot be applied")
        slot_duration = float(ctx.plan.slot_duration or topology.genesis.get("slot_duration") or 0)
        coeff = float(ctx.plan.active_slot_coeff or topology.genesis.get("active_slot_coeff") or 0)
        consensus = Consensus(slot_duration, coeff, stake, total)
        return judge_partitions(timeline, ctx.block_feed.history, ctx.block_feed, consensus, self.min_fraction)


def judge_partitions(timeline: FaultTimeline, history: ViewHistory, chain: BlockFeed, consensus: Consensus,
                     min_fraction: float) -> Outcome:
    results = [judge_partition(p, history, timeline, chain, consensus, min_fraction, timeline.partitions)
               for p in timeline.partitions]
    figures: dict[str, Any] = {"min_fraction": min_fraction, "total_stake": consensus.total_stake,
                               "partitions": [r.to_json(timeline) for r in results]}
    if not results:
        return Outcome(True, "no partition in this run: nothing to judge", figures)
    failures = []
    for result in (r for r in results if not r.passed):
        for side in (s for s in result.sides if s.most_stake and s.blocks < min_fraction * s.expected_blocks):
            failures.append(
                f"{result.partition.fault} ({timeline.when(result.partition.start)}, slots {result.first_slot}–"
                f"{result.last_slot}): the side {'+'.join(side.nodes)} holding {side.stake_share:.0%} of the stake "
                f"produced {side.blocks} block(s), fewer than {min_fraction:g} × {side.expected_blocks:.1f} expected")
    if failures:
        return Outcome(False, "; ".join(failures), figures)
    parts = []
    for result in results:
        sides = " vs ".join(f"{'+'.join(s.nodes)} {s.blocks}/{s.expected_blocks:.1f}" for s in result.sides)
        parts.append(f"{result.partition.fault}: {sides}" + (f" ({result.note})" if result.note else ""))
    return Outcome(True, "blocks per side (seen/expected): " + "; ".join(parts), figures)
