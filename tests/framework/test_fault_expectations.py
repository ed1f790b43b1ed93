"""The fault expectations on synthetic histories: a block tree in a real BlockFeed, view samples, events."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from nomos_testing.expectations.convergence import Convergence, judge_convergence, measure
from nomos_testing.expectations.partition_liveness import (
    Consensus,
    PartitionLiveness,
    judge_partitions,
    leader_probability,
)
from nomos_testing.expectations.recovery import NodeRecovery, judge_recovery, measure_recovery
from nomos_testing.expectations.safety import Safety, SafetyChecker, judge_safety
from nomos_testing.expectations.timeline import FaultTimeline
from nomos_testing.observe.block_feed import BlockFeed, BlockRecord
from nomos_testing.observe.events import EventLog, read_events
from nomos_testing.observe.history import ViewHistory, ViewSample
from nomos_testing.plugins import default_registries
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.plan import ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from tests.framework.support import plain_topology

T0 = 1_700_000_000.0  # the synthetic run starts here (unix time)
NODES = ["v0", "v1", "v2"]


# A block tree ---------------------------------------------------------------------------------------

def add_chain(feed: BlockFeed, prefix: str, parent: str, first_height: int, count: int,
              slot_of: Any = None) -> list[str]:
    """`count` blocks named prefix+height on top of `parent`; block at height h has slot `slot_of(h)` (= h)."""
    ids = []
    for height in range(first_height, first_height + count):
        block_id = f"{prefix}{height}"
        slot = slot_of(height) if slot_of else height
        feed.blocks[block_id] = BlockRecord(block_id, parent, height, slot, 0, "v0", T0, {})
        feed.children.setdefault(parent, set()).add(block_id)
        ids.append(block_id)
        parent = block_id
    return ids


def tree() -> BlockFeed:
    """g0 ← c1..c5 (common) ← a6..a40 (branch a) and ← b6..b40 (branch b)."""
    feed = BlockFeed([])
    feed.blocks["g0"] = BlockRecord("g0", "", 0, 0, 0, "v0", T0, {})
    add_chain(feed, "c", "g0", 1, 5)
    add_chain(feed, "a", "c5", 6, 35)
    add_chain(feed, "b", "c5", 6, 35)
    return feed


def s(at: float, node: str, tip: str, lib: str = "g0", poll: int = 0, slot: int | None = None) -> ViewSample:
    height = 0 if tip == "g0" else int(tip[1:])
    return ViewSample(T0 + at, node, height, tip, lib, slot if slot is not None else int(at), poll or int(at * 10))


def ev(at: float, kind: str, **fields: Any) -> dict[str, Any]:
    return {"time": T0 + at, "elapsed_s": at, "kind": kind, **fields}


def timeline(*events: dict[str, Any]) -> FaultTimeline:
    return FaultTimeline([ev(0, "run.start"), ev(1, "readiness.done"), *events], T0)


# Safety ---------------------------------------------------------------------------------------------

def test_safety_passes_when_libs_stay_on_one_chain_with_figures() -> None:
    feed = tree()
    checker = SafetyChecker(feed)
    for at, (lib0, lib1, lib2) in enumerate([("g0", "g0", "g0"), ("c2", "c1", "c2"), ("a8", "c5", "a7"),
                                             ("a9", "a9", "a8")]):
        for node, lib in zip(NODES, (lib0, lib1, lib2), strict=True):
            checker.observe(s(at, node, "a10", lib))
    outcome = judge_safety(checker, timeline())
    assert outcome.passed, outcome.message
    assert outcome.figures["checks"] == 12  # every sample brought its node a LIB different from its last
    assert outcome.figures["violations"] == 0 and outcome.figures["pairs_compared"] > 0
    assert outcome.figures["lib_heads"] == {"v0": ["a9"], "v1": ["a9"], "v2": ["a8"]}  # one head per node
    assert "12 LIB observations on 3 nodes" in outcome.message


def test_conflicting_libs_name_nodes_branches_fork_point_and_time() -> None:
    feed = tree()
    checker = SafetyChecker(feed)
    history = [s(2, "v0", "a12", "c3"), s(2, "v1", "b12", "c3"), s(2, "v2", "b12", "c3"),
               s(5, "v0", "a20", "a8"), s(5, "v1", "b20", "c5"), s(6, "v2", "b21", "b7"),
               s(7, "v1", "b22", "b9")]
    found = [v for sample in history for v in checker.observe(sample)]
    # v2's b7 conflicts with v0's a8 (at +6 s); v1's b9 conflicts with v0's a8 (at +7 s); v1/v2 agree
    assert [(v.a.node, v.b.node) for v in found] == [("v2", "v0"), ("v1", "v0")]
    first = found[0]
    assert (first.a.lib, first.height_a, first.b.lib, first.height_b) == ("b7", 7, "a8", 8)
    assert (first.fork_id, first.fork_height, first.time) == ("c5", 5, T0 + 6)
    outcome = judge_safety(checker, timeline())
    assert not outcome.passed
    assert ("v2's LIB b7 (height 7) and v0's LIB a8 (height 8) are on conflicting branches, forked after block "
            "c5 (height 5); first seen 22:13:26.000Z (+6.0 s)") in outcome.message
    assert outcome.message.startswith("LIBs on conflicting branches: 2 pair(s) of nodes (v0/v2, v0/v1), "
                                      "2 conflicting comparison(s); first: v2's LIB b7")
    assert outcome.figures["node_pairs_in_conflict"] == [["v0", "v2"], ["v0", "v1"]]
    assert outcome.figures["conflicts"][0] == {
        "node_a": "v2", "lib_a": "b7", "height_a": 7, "node_b": "v0", "lib_b": "a8", "height_b": 8,
        "fork_id": "c5", "fork_height": 5, "time": T0 + 6, "elapsed_s": 6.0}


def test_a_node_whose_own_lib_moves_to_a_conflicting_branch_is_a_violation() -> None:
    checker = SafetyChecker(tree())
    checker.observe(s(1, "v0", "a12", "a8"))
    found = checker.observe(s(3, "v0", "b14", "b9"))
    assert len(found) == 1 and found[0].a.node == found[0].b.node == "v0"
    outcome = judge_safety(checker, timeline())
    assert not outcome.passed
    assert "v0's LIB moved to a conflicting branch: b9 (height 9) after a8 (height 8), forked after block c5" \
        in outcome.message


def test_unknown_ancestry_is_decided_once_the_blocks_arrive() -> None:
    feed = tree()
    checker = SafetyChecker(feed)
    checker.observe(s(1, "v0", "a12", "a8"))
    checker.observe(s(2, "v1", "x9", "x8"))  # x8 is not in the feed yet
    assert checker.violations == [] and checker.missing_blocks() == {"v1": {"x8"}}
    assert "1 pair(s) undecided" in judge_safety(checker).message
    add_chain(feed, "x", "c5", 6, 4)  # x6..x9: another branch from c5
    found = checker.retry_undecided()
    assert [(v.a.lib, v.b.lib, v.fork_id) for v in found] == [("x8", "a8", "c5")]
    assert not judge_safety(checker).passed


def test_no_lib_reported_is_not_a_pass() -> None:
    outcome = judge_safety(SafetyChecker(tree()))
    assert not outcome.passed and "no node reported a LIB" in outcome.message


# A run context over a synthetic history (the expectations' evaluate) ---------------------------------

def context(tmp_path: Path, feed: BlockFeed, events: list[dict[str, Any]], nodes: list[str] = NODES,
            slot_duration: float = 1.0, started: float = T0) -> RunContext:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in [ev(0, "run.start"), ev(1, "readiness.done"), *events]))
    log = EventLog(path)
    log.started = started
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=len(nodes), executors=0), seed=1,
                                     slot_duration=slot_duration, active_slot_coeff=0.9), env={})
    topology = plain_topology(len(nodes))
    names = {f"validator-{i}": n for i, n in enumerate(nodes)}
    topology = type(topology)(layout=topology.layout, wallets=(), genesis=topology.genesis, dials={},
                              nodes=tuple(type(n)(names[n.name], n.role, n.index, n.ordinal, n.stake, n.keys)
                                          for n in topology.nodes))
    return RunContext(plan=plan, topology=topology, clients=dict.fromkeys(nodes), block_feed=feed,  # type: ignore[arg-type]
                      events=log, rng=random.Random(1))


async def test_safety_expectation_judges_samples_as_they_arrive_and_records_the_violation(tmp_path: Path) -> None:
    feed = tree()
    ctx = context(tmp_path, feed, [])
    feed.history.record(s(2, "v0", "a12", "c3"))  # recorded before the capture: replayed
    safety = default_registries().expectations.get("safety", "expectation")()
    assert isinstance(safety, Safety)
    await safety.start_capture(ctx)
    for sample in (s(3, "v1", "a12", "c4"), s(5, "v0", "a20", "a8"), s(6, "v2", "b21", "b7"),
                   s(7, "v2", "b22", "b8")):
        feed.history.record(sample)
    outcome = await safety.evaluate(ctx)
    ctx.events.close()
    assert not outcome.passed and "v2's LIB b7 (height 7) and v0's LIB a8 (height 8)" in outcome.message
    assert outcome.figures["violations"] == 2 and outcome.figures["node_pairs_in_conflict"] == [["v0", "v2"]]
    recorded = [e for e in read_events(tmp_path / "events.jsonl") if e["kind"] == "safety.violation"]
    assert len(recorded) == 1 and (recorded[0]["node_a"], recorded[0]["lib_b"]) == ("v2", "a8")  # once per pair


# Convergence ----------------------------------------------------------------------------------------

def partition_history(converge_at: float | None, stop_v2: bool = False) -> ViewHistory:
    """Polls every second: all on c-chain until 5, v0 on branch a and v1/v2 on b from 6 (partitioned 5–20),
    and from `converge_at` v0 follows branch b too."""
    samples = []
    for second in range(0, 40):
        height = min(5, second) if second < 6 else min(second, 40)
        for node in NODES:
            if stop_v2 and node == "v2" and second >= 15:
                continue
            on_b = node != "v0" or (converge_at is not None and second >= converge_at)
            tip = "g0" if height == 0 else (f"c{height}" if height <= 5 else f"{'b' if on_b else 'a'}{height}")
            samples.append(s(second + 0.05 * NODES.index(node), node, tip, poll=second + 1))
    return ViewHistory.of(samples)


PARTITION_EVENTS = (ev(5, "net.partition", fault="partition-1", groups=[["v0"], ["v1", "v2"]]),
                    ev(20, "net.heal", fault="partition-1", fault_kind="partition"),
                    ev(20.2, "phase.heal", actions=["heal partition-1"]))


def running(names: list[str], tl: FaultTimeline):
    return lambda at: [n for n in names if tl.is_up(n, at)]


def test_convergence_after_a_heal_is_timed() -> None:
    tl = timeline(*PARTITION_EVENTS)
    history, feed = partition_history(converge_at=24), tree()
    final = measure(history, tl, running(NODES, tl), tl.removals()[-1], feed, 2, False)
    assert final.status == "converged" and final.seconds == pytest.approx(24.1 - 20.2, abs=0.01)
    earlier = [measure(history, tl, running(NODES, tl), e, feed, 2) for e in tl.removals()[:-1]]
    outcome = judge_convergence(final, earlier, tl, within=30)
    assert outcome.passed and "tips on one branch 3.9 s after phase.heal at" in outcome.message
    assert [e["event"] for e in outcome.figures["after_each_removal"]] == ["net.heal partition-1", "phase.heal"]
    assert outcome.figures["after_each_removal"][0]["seconds"] == pytest.approx(4.1, abs=0.01)
    assert outcome.figures["seconds_to_converge"] == pytest.approx(3.9, abs=0.01)
    slow = judge_convergence(final, earlier, tl, within=2)
    assert not slow.passed and "only 3.9 s after phase.heal" in slow.message and "more than 2 s" in slow.message


def test_no_convergence_names_the_node_off_the_branch() -> None:
    tl = timeline(*PARTITION_EVENTS)
    final = measure(partition_history(converge_at=None), tl, running(NODES, tl), tl.removals()[-1], tree(), 2, False)
    outcome = judge_convergence(final, [], tl, within=30)
    assert not outcome.passed
    assert "did not converge within 30 s after phase.heal" in outcome.message
    assert "v0: tip is on a branch that left v1's more than 2 blocks back" in outcome.message


def test_convergence_ignores_a_node_down_on_purpose_and_waits_for_a_restarted_one() -> None:
    tl = timeline(*PARTITION_EVENTS, ev(14.5, "node.stop", node="v2"))
    history = partition_history(converge_at=24, stop_v2=True)
    final = measure(history, tl, running(NODES, tl), tl.removals()[-1], tree(), 2, False)
    assert final.status == "converged", final.problems  # v2 is stopped: not judged
    started = timeline(*PARTITION_EVENTS, ev(14.5, "node.stop", node="v2"), ev(30, "node.start", node="v2"))
    final = measure(history, started, running(NODES, started), started.removals()[-1], tree(), 2, False)
    assert final.status == "not converged" and "v2: no answer since the removal" in final.problems


def test_an_earlier_removal_interrupted_by_the_next_fault() -> None:
    tl = timeline(ev(3, "node.pause", node="v1"), ev(4, "node.resume", node="v1"),
                  ev(4.5, "net.partition", fault="partition-1", groups=[["v0"], ["v1", "v2"]]))
    history = ViewHistory.of([s(3.2, "v0", "c3"), s(3.2, "v2", "c3"), s(4.2, "v0", "c4"), s(4.3, "v2", "c4")])
    measured = measure(history, tl, running(NODES, tl), tl.removals()[0], tree(), 2)
    assert measured.status == "interrupted by net.partition partition-1 after 0.5 s"
    assert "v1: no answer since the start" in measured.problems


async def test_convergence_expectation_on_a_run_context(tmp_path: Path) -> None:
    feed = tree()
    for sample in partition_history(converge_at=24).samples:
        feed.history.record(sample)
    ctx = context(tmp_path, feed, list(PARTITION_EVENTS))
    outcome = await Convergence(within=10).evaluate(ctx)
    assert outcome.passed, outcome.message
    assert outcome.figures["live_polls"] == 0 and outcome.figures["within_s"] == 10


async def test_convergence_samples_live_until_within_when_the_history_ends_early(tmp_path: Path) -> None:
    feed = tree()
    now = time.time()
    for node, tip in (("v0", "a12"), ("v1", "b12"), ("v2", "b12")):
        feed.history.record(ViewSample(now - 0.5, node, 12, tip, "g0", 12, 1))
    ctx = context(tmp_path, feed, [{"time": now - 1, "kind": "net.heal", "fault": "partition-1"}], started=now - 10)
    began = time.monotonic()
    outcome = await Convergence(within=1.5).evaluate(ctx)
    assert not outcome.passed and "v0: tip is on a branch that left v1's" in outcome.message
    assert "after net.heal partition-1 at" in outcome.message and "(+9.0 s)" in outcome.message
    assert 0.3 < time.monotonic() - began < 3 and outcome.figures["live_polls"] >= 1


# Recovery -------------------------------------------------------------------------------------------

def climbing(node_heights: dict[str, Any], until: int = 60) -> ViewHistory:
    """Samples every second; node_heights maps a node to a function second -> height (None: no answer)."""
    samples = []
    for second in range(until):
        for node, height_at in node_heights.items():
            height = height_at(second)
            if height is not None:
                samples.append(ViewSample(T0 + second + 0.01, node, height, f"b{height}", "g0", second, second + 1))
    return ViewHistory.of(samples)


def test_a_restarted_node_that_catches_up_recovers_with_its_time() -> None:
    tl = timeline(ev(0.5, "node.start", node="v1"),  # the deployment's: before readiness.done, not judged
                  ev(30, "node.restart", node="v1", took_s=2.0))
    history = climbing({"v0": lambda t: t, "v2": lambda t: t,
                        "v1": lambda t: t if t < 28 else (None if t < 31 else min(t, 20 + 4 * (t - 31)))})
    results = [measure_recovery(history, tl, NODES, e, 30, 2) for e in tl.recoveries()]
    assert [(r.node, r.status) for r in results] == [("v1", "recovered")]
    # at t=34: v1 at 32, the others at 34: within the tolerance of 2
    assert results[0].seconds == pytest.approx(4.01)
    outcome = judge_recovery(results, tl, 30, 2)
    assert outcome.passed and "1 node recoveries within 30 s, slowest v1 in 4.0 s" in outcome.message
    assert outcome.figures["per_node"] == {"v1": {"events": 1, "recovered": 1, "max_seconds": 4.01}}
    assert not tl.is_up("v1", T0 + 29) and tl.is_up("v1", T0 + 30)  # a restart is down for its took_s


def test_a_node_that_does_not_catch_up_fails_with_its_gap() -> None:
    tl = timeline(ev(10, "node.resume", node="v2"))
    history = climbing({"v0": lambda t: t, "v1": lambda t: t, "v2": lambda t: min(t, 5)})
    result = measure_recovery(history, tl, NODES, tl.recoveries()[0], 20, 2)
    assert (result.status, result.height, result.network_height, result.gap) == ("not recovered", 5, 30, 25)
    outcome = judge_recovery([result], tl, 20, 2)
    assert not outcome.passed
    assert "v2 not at the network height 20 s after node.resume v2 at" in outcome.message
    assert "(height 5, 25 below the network's 30; tolerance 2)" in outcome.message
    assert outcome.figures["per_event"][0] == {"node": "v2", "event": "node.resume", "at_s": 10.0,
                                                    "status": "not recovered", "seconds": None, "height": 5,
                                                    "network_height": 30, "gap": 25}


def test_recovery_is_not_judged_when_the_node_goes_down_again_and_ignores_cut_off_nodes() -> None:
    tl = timeline(ev(10, "node.start", node="v2"), ev(12, "node.kill", node="v2"))
    history = climbing({"v0": lambda t: t, "v1": lambda t: t, "v2": lambda t: 3})
    result = measure_recovery(history, tl, NODES, tl.recoveries()[0], 20, 2)
    assert result.status == "interrupted" and judge_recovery([result], tl, 20, 2).passed
    # v2 is isolated with v1 from v0 (which races ahead): the network height it must reach is v1's
    cut = timeline(ev(5, "net.partition", fault="partition-1", groups=[["v0"], ["v1", "v2"]]),
                   ev(10, "node.start", node="v2"))
    history = climbing({"v0": lambda t: 3 * t, "v1": lambda t: t, "v2": lambda t: t if t >= 12 else None})
    result = measure_recovery(history, cut, NODES, cut.recoveries()[0], 20, 2)
    assert result.status == "recovered" and result.network_height == 12


def test_recovery_clock_starts_when_the_node_can_reach_a_peer() -> None:
    # v2 restarts at 10 while isolated until 25; it catches up at 30: 20 s after the event, 5 s after the heal
    isolated = timeline(ev(5, "net.partition", fault="partition-1", groups=[["v2"], ["v0", "v1"]]),
                        ev(10, "node.start", node="v2"),
                        ev(25, "net.heal", fault="partition-1", fault_kind="partition"))
    history = climbing({"v0": lambda t: t, "v1": lambda t: t, "v2": lambda t: 5 if t < 30 else t})
    result = measure_recovery(history, isolated, NODES, isolated.recoveries()[0], 10, 2)
    assert result.status == "recovered" and result.seconds == pytest.approx(20, abs=0.1)
    stuck = climbing({"v0": lambda t: t, "v1": lambda t: t, "v2": lambda t: 5}, until=60)
    result = measure_recovery(stuck, isolated, NODES, isolated.recoveries()[0], 10, 2)
    assert result.status == "not recovered" and result.gap == 30  # at 35.01: v2 at 5, the others at 35
    assert "the clock started 15.0 s after the event" in result.note
    forever = timeline(ev(5, "net.partition", fault="partition-1", groups=[["v2"], ["v0", "v1"]]),
                       ev(10, "node.start", node="v2"))
    result = measure_recovery(stuck, forever, NODES, forever.recoveries()[0], 10, 2)
    assert result.status == "interrupted" and "cut off from every running node until the history ends" in result.note


async def test_recovery_expectation_without_recoveries_passes(tmp_path: Path) -> None:
    outcome = await NodeRecovery().evaluate(context(tmp_path, tree(), []))
    assert outcome.passed and "nothing to judge" in outcome.message


# Partition liveness ---------------------------------------------------------------------------------

CONSENSUS = Consensus(slot_duration=1.0, active_slot_coeff=0.9, stake=dict.fromkeys(NODES, 1000), total_stake=3000)


def partition_feed(majority_blocks: int, minority_blocks: int) -> tuple[BlockFeed, ViewHistory]:
    """Partition over slots 10..40: the majority side (v1, v2) extends c5 with `majority_blocks` blocks in
    the window, the minority (v0) with `minority_blocks`."""
    feed = BlockFeed([])
    feed.blocks["g0"] = BlockRecord("g0", "", 0, 0, 0, "v0", T0, {})
    add_chain(feed, "c", "g0", 1, 5)  # slots 1..5: before the window
    maj = add_chain(feed, "b", "c5", 6, majority_blocks, slot_of=lambda h: 10 + (h - 6))
    mino = add_chain(feed, "a", "c5", 6, minority_blocks, slot_of=lambda h: 12 + 3 * (h - 6))
    samples = [ViewSample(T0 + 39.5, "v0", 5 + minority_blocks, mino[-1], "g0", 39, 1),
               ViewSample(T0 + 39.5, "v1", 5 + majority_blocks, maj[-1], "g0", 39, 1),
               ViewSample(T0 + 39.5, "v2", 4 + majority_blocks, maj[-2], "g0", 39, 1)]
    return feed, ViewHistory.of(samples)


PARTITION = (ev(10, "net.partition", fault="partition-1", groups=[["v0"], ["v1", "v2"]]),
             ev(40, "net.heal", fault="partition-1", fault_kind="partition"))


def test_leader_probability_is_phi() -> None:
    assert leader_probability(0.9, 1.0) == pytest.approx(0.9)
    assert leader_probability(0.9, 2 / 3) == pytest.approx(1 - 0.1 ** (2 / 3))
    assert leader_probability(0.9, 0) == 0.0


def test_majority_side_producing_passes_with_blocks_per_side() -> None:
    feed, history = partition_feed(majority_blocks=20, minority_blocks=8)
    outcome = judge_partitions(timeline(*PARTITION), history, feed, CONSENSUS, 0.3)
    assert outcome.passed, outcome.message
    (partition,) = outcome.figures["partitions"]
    assert partition["slots"] == [10, 40] and partition["judged"]
    minority, majority = partition["sides"]
    assert (majority["nodes"], majority["blocks"], majority["stake"], majority["most_stake"]) == \
        (["v1", "v2"], 20, 2000, True)
    assert majority["by_node"] == {"v1": 20, "v2": 19}
    assert majority["expected_blocks"] == pytest.approx(31 * leader_probability(0.9, 2 / 3), abs=0.01)
    assert (minority["blocks"], minority["stake_share"], minority["most_stake"]) == (8, 0.3333, False)
    assert "partition-1: v0 8/16.6 vs v1+v2 20/24.3" in outcome.message


def test_majority_side_stalling_fails() -> None:
    feed, history = partition_feed(majority_blocks=5, minority_blocks=9)
    outcome = judge_partitions(timeline(*PARTITION), history, feed, CONSENSUS, 0.3)
    assert not outcome.passed
    assert ("the side v1+v2 holding 67% of the stake produced 5 block(s), fewer than 0.3 × 24.3 expected"
            in outcome.message)


def test_stake_of_a_stopped_node_does_not_count_and_short_windows_are_not_judged() -> None:
    feed, history = partition_feed(majority_blocks=7, minority_blocks=3)
    stopped = timeline(*PARTITION, ev(10.2, "node.stop", node="v2"))
    outcome = judge_partitions(stopped, history, feed, CONSENSUS, 0.3)
    assert outcome.passed, outcome.message  # v1 alone: 31 × φ(0.9, 1/3) = 16.6 expected, 7 ≥ 0.3 × 16.6
    assert outcome.figures["partitions"][0]["sides"][1]["expected_blocks"] == pytest.approx(16.6, abs=0.05)
    short = timeline(ev(10, "net.partition", fault="partition-1", groups=[["v0"], ["v1", "v2"]]),
                     ev(12, "net.heal", fault="partition-1", fault_kind="partition"))
    outcome = judge_partitions(short, history, feed, CONSENSUS, 0.3)
    assert outcome.passed and "not judged: the window expects 2.4 blocks" in outcome.message


async def test_partition_liveness_without_partitions_and_with_stake_from_the_topology(tmp_path: Path) -> None:
    feed, history = partition_feed(majority_blocks=4, minority_blocks=3)
    for sample in history.samples:
        feed.history.record(sample)
    assert (await PartitionLiveness().evaluate(context(tmp_path, feed, []))).message == \
        "no partition in this run: nothing to judge"
    outcome = await PartitionLiveness().evaluate(context(tmp_path, feed, list(PARTITION)))
    assert not outcome.passed and "v1+v2 holding 67% of the stake produced 4 block(s)" in outcome.message
    assert outcome.figures["total_stake"] == 3000


# The view history -----------------------------------------------------------------------------------

def test_view_history_is_written_as_jsonl_and_read_back(tmp_path: Path) -> None:
    history = ViewHistory(tmp_path / "views.jsonl")
    history.record(s(2, "v1", "c2", "g0", poll=2))
    history.record(s(1, "v0", "c1", "g0", poll=1))  # out of order: kept in time order
    history.close()
    lines = [json.loads(line) for line in (tmp_path / "views.jsonl").read_text().splitlines()]
    assert lines[0] == {"time": T0 + 2, "poll": 2, "node": "v1", "height": 2, "slot": 2, "tip": "c2", "lib": "g0"}
    loaded = ViewHistory.load(tmp_path / "views.jsonl")
    assert [x.node for x in loaded.samples] == ["v0", "v1"]
    assert loaded.latest("v1", T0 + 1.5) is None and loaded.latest("v1") == s(2, "v1", "c2", "g0", poll=2)


# The documented example ------------------------------------------------------------------------------

def test_documented_example_validates_and_shows_the_defaults() -> None:
    from nomos_testing.scenario.files import parse_scenario

    docs = (Path(__file__).parents[2] / "docs" / "scenarios.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Fault expectations"):]
    example = section[section.index("```toml\n") + 8:section.index("```\n", section.index("```toml\n") + 8)]
    plan = parse_scenario('name = "faults"\n[topology]\nvalidators = 3\n' + example)
    registry = default_registries().expectations
    kinds = [spec.kind for spec in plan.expectations]
    assert kinds == ["safety", "convergence", "recovery", "partition_liveness"]
    for spec in plan.expectations:  # the example shows every parameter with its default
        schema = registry.get(spec.kind, "expectation").params
        assert dict(spec.params) == {param.name: param.default for param in schema}, spec.kind
