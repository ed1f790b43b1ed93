"""The fault expectations on real reference nodes (host runner): node control acts, the block feed records,
the expectations judge the recorded history.

Stop / start / restart, two validators that never dial each other (a network split from genesis: conflicting
LIBs without any fault mechanism), and isolation through the host runner's network faults (root and
iptables; skipped with the reason where the runner cannot offer `partition`, which fails under CI=true).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.expectations.convergence import Convergence
from nomos_testing.expectations.partition_liveness import PartitionLiveness
from nomos_testing.expectations.recovery import NodeRecovery
from nomos_testing.expectations.safety import Safety
from nomos_testing.nodes.client import NodeClient
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.events import EventLog, read_events
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.plan import ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import GeneratedTopology, Layout

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture
def reference_node(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOMOS_NODE_BIN", "NOMOS_EXECUTOR_BIN", "NOMOS_TESTS_KEEP_LOGS", "SLOW_TEST_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")


@asynccontextmanager
async def running(plan: ScenarioPlan, run_dir: Path,
                  topology: GeneratedTopology | None = None) -> AsyncIterator[RunContext]:
    """A deployed, ready cluster with an event log, a block feed every 0.25 s and a run context."""
    topology = topology or generate_topology(plan)
    run_dir.mkdir(parents=True)
    events = EventLog(run_dir / "events.jsonl")
    events.emit("run.start", run_id=run_dir.name)
    cluster = await HostDeployer().deploy(topology, run_dir.name, run_dir)
    clients = {n.name: NodeClient(n.name, n.api_url, timeout_s=2.0) for n in cluster.nodes}
    feed = BlockFeed(list(clients.values()), run_dir / "blocks.jsonl", 0.25, events)
    try:
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=60))
        events.emit("readiness.done")
        assert cluster.control is not None
        cluster.control.bind_events(events)
        await feed.start()
        yield RunContext(plan=plan, topology=topology, clients=clients, block_feed=feed, events=events,
                         rng=random.Random(plan.seed), control=cluster.control, intent=cluster.intent)
    finally:
        await feed.stop()
        await asyncio.gather(*(c.close() for c in clients.values()))
        await cluster.teardown()
        events.close()


async def judge(ctx: RunContext, expectations: list[Expectation]) -> dict[str, Outcome]:
    return {e.name: await e.evaluate(ctx) for e in expectations}


async def wait_for(condition, timeout_s: float, what: str) -> float:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout_s, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)
    return time.monotonic() - began


async def test_stop_start_and_restart_recover_converge_and_stay_safe(reference_node, runs_root: Path) -> None:
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=3, executors=0, layout=Layout.FULL), seed=11,
                                     slot_duration=0.5, active_slot_coeff=0.9, security_param=5), env={})
    run_dir = runs_root / "faults"
    async with running(plan, run_dir) as ctx:
        control, feed = ctx.control, ctx.block_feed
        assert control is not None
        expectations: list[Expectation] = [Safety(), Convergence(within=20), NodeRecovery(within=20, tolerance=2),
                                           PartitionLiveness()]
        for expectation in expectations:
            await expectation.start_capture(ctx)
        await wait_for(lambda: (feed.views["validator-0"].height or 0) >= 8, 30, "8 blocks")
        await control.stop("validator-2")   # validator-2 dials validator-0 and -1: it reconnects at start
        await asyncio.sleep(3)
        await control.start("validator-2")
        await control.restart("validator-1")
        # recovered and converged: every node within 2 blocks of the best, tips on one chain
        await wait_for(lambda: max(v.height or 0 for v in feed.views.values())
                       - min(v.height or 0 for v in feed.views.values()) <= 1, 30, "the nodes to catch up")
        await asyncio.sleep(1)
        outcomes = await judge(ctx, expectations)
        assert ctx.intent.down_on_purpose() == set()

    for name, outcome in outcomes.items():
        assert outcome.passed, f"{name}: {outcome.message}"
    safety, convergence, recovery = outcomes["safety"], outcomes["convergence"], outcomes["recovery"]
    assert safety.figures["checks"] >= 3 and safety.figures["violations"] == 0
    events = [e["event"] for e in convergence.figures["after_each_removal"]]
    assert events == ["node.start validator-2", "node.restart validator-1"]
    assert convergence.figures["seconds_to_converge"] is not None
    assert convergence.figures["seconds_to_converge"] < 20
    per_event = {(e["node"], e["event"]): e for e in recovery.figures["per_event"]}
    assert set(per_event) == {("validator-2", "node.start"), ("validator-1", "node.restart")}
    assert all(e["status"] == "recovered" and e["seconds"] < 20 for e in per_event.values())
    assert outcomes["partition_liveness"].message == "no partition in this run: nothing to judge"
    views = [json.loads(line) for line in (run_dir / "views.jsonl").read_text().splitlines()]
    assert {v["node"] for v in views} == {"validator-0", "validator-1", "validator-2"}
    assert set(views[0]) == {"time", "poll", "node", "height", "slot", "tip", "lib"}
    # while validator-2 was stopped the feed has no samples of it
    stopped = next(e for e in read_events(run_dir / "events.jsonl") if e["kind"] == "node.stop")
    started = next(e for e in read_events(run_dir / "events.jsonl") if e["kind"] == "node.start" and "mechanism" in e)
    assert not [v for v in views if v["node"] == "validator-2" and stopped["time"] + 0.5 < v["time"] < started["time"]]


async def test_a_split_network_is_seen_by_safety_and_convergence(reference_node, runs_root: Path) -> None:
    """Two validators that never dial each other: each builds its own chain and finalises it (k = 2), so their
    LIBs are on conflicting branches from genesis on, and the tips never converge."""
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=2, executors=0), seed=12, slot_duration=0.5,
                                     active_slot_coeff=0.9, security_param=2), env={})
    split = dataclasses.replace(generate_topology(plan), dials={})
    run_dir = runs_root / "split"
    async with running(plan, run_dir, split) as ctx:
        safety = Safety()
        await safety.start_capture(ctx)
        views = ctx.block_feed.views
        await wait_for(lambda: all((v.height or 0) >= 5 for v in views.values()), 40, "both nodes at height 5")
        # judged while the run goes: the violation is in the event history before evaluation
        await wait_for(lambda: any(e["kind"] == "safety.violation" for e in read_events(run_dir / "events.jsonl")),
                       10, "the safety.violation event")
        # lag 0: right after readiness both chains are short, and a lag of 2 would call them converged
        outcomes = await judge(ctx, [safety, Convergence(within=2, lag_allowance=0)])

    safety_outcome, convergence = outcomes["safety"], outcomes["convergence"]
    assert not safety_outcome.passed
    assert "validator-0" in safety_outcome.message and "validator-1" in safety_outcome.message
    assert "are on conflicting branches" in safety_outcome.message and "first seen" in safety_outcome.message
    conflict = safety_outcome.figures["conflicts"][0]
    assert {conflict["node_a"], conflict["node_b"]} == {"validator-0", "validator-1"}
    assert conflict["fork_height"] == 0 and conflict["height_a"] >= 1 and conflict["height_b"] >= 1
    assert conflict["lib_a"] != conflict["lib_b"]
    assert not convergence.passed and "did not converge within 2 s after the start of the run" in convergence.message
    assert "tip is on a branch that left" in convergence.message


async def test_isolation_shorter_than_k_is_safe_and_judged_per_side(reference_node, runs_root: Path) -> None:
    """validator-2 (1/3 of the stake) isolated for 8 s with k = 30: the majority keeps producing, nobody's LIB
    leaves the common chain, the tips converge after the heal and validator-2 catches up."""
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=3, executors=0, layout=Layout.FULL), seed=13,
                                     slot_duration=0.5, active_slot_coeff=0.9, security_param=30), env={})
    run_dir = runs_root / "isolate"
    async with running(plan, run_dir) as ctx:
        control = ctx.control
        assert control is not None
        if "partition" not in control.offered():
            pytest.skip("the host runner offers no partition here (needs root and iptables: `nomos-testing doctor`)")
        expectations: list[Expectation] = [Safety(), Convergence(within=20), NodeRecovery(within=20),
                                           PartitionLiveness(min_fraction=0.3)]
        for expectation in expectations:
            await expectation.start_capture(ctx)
        await asyncio.sleep(2)
        fault = await control.isolate("validator-2")
        await asyncio.sleep(8)
        await control.heal(fault)
        views = ctx.block_feed.views
        await wait_for(lambda: len({v.tip for v in views.values()}) == 1, 30, "one tip after the heal")
        outcomes = await judge(ctx, expectations)

    for name, outcome in outcomes.items():
        assert outcome.passed, f"{name}: {outcome.message}"
    (partition,) = outcomes["partition_liveness"].figures["partitions"]
    minority, majority = partition["sides"]
    assert partition["judged"] and minority["nodes"] == ["validator-2"] and majority["most_stake"]
    assert majority["blocks"] >= 0.3 * majority["expected_blocks"] and minority["blocks"] >= 1
    assert outcomes["convergence"].figures["after_each_removal"][-1]["event"] == "net.heal " + fault


async def test_isolation_longer_than_k_fails_safety(reference_node, runs_root: Path) -> None:
    """The same isolation with k = 2: both sides finalise their own branch, and safety names them."""
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=3, executors=0, layout=Layout.FULL), seed=14,
                                     slot_duration=0.5, active_slot_coeff=0.9, security_param=2), env={})
    run_dir = runs_root / "long-isolate"
    async with running(plan, run_dir) as ctx:
        control = ctx.control
        assert control is not None
        if "partition" not in control.offered():
            pytest.skip("the host runner offers no partition here (needs root and iptables: `nomos-testing doctor`)")
        safety = Safety()
        await safety.start_capture(ctx)
        await asyncio.sleep(1)
        fault = await control.isolate("validator-2")
        await wait_for(lambda: any(e["kind"] == "safety.violation" for e in read_events(run_dir / "events.jsonl")),
                       30, "the safety.violation event while isolated")
        await control.heal(fault)
        outcome = await safety.evaluate(ctx)

    assert not outcome.passed and "are on conflicting branches" in outcome.message
    pairs = outcome.figures["node_pairs_in_conflict"]
    assert pairs and all("validator-2" in pair for pair in pairs)  # the two majority nodes agree
    conflict = outcome.figures["conflicts"][0]
    assert conflict["fork_height"] is not None and conflict["height_a"] > conflict["fork_height"]
