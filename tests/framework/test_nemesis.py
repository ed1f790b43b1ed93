"""The nemesis: schedules generated from a seed (reproducible, with the original restart loop's rules), and
the workload against a real host cluster (stand-in node processes): each fault maps onto node control, every
apply / removal is an event with its time, targets and mechanism, faults.json is written first, a fault still
in force when the window ends is left to the final heal, and a failed apply is a workload error."""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from nomos_testing.errors import NodeControlError
from nomos_testing.faults.model import Fault, FaultKind, node_overlaps
from nomos_testing.faults.schedule import (
    RESTART_GUARD_S,
    KillSchedule,
    NodeInfo,
    PartitionSchedule,
    PauseSchedule,
    RestartSchedule,
    generate,
)
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.events import EventLog, read_events
from nomos_testing.observe.report import load_report
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.runners.host.cluster import HostCluster
from nomos_testing.scenario.builder import ScenarioBuilder
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.core import new_run_id
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.topology.model import GeneratedTopology, Role
from nomos_testing.workloads.nemesis import FAULTS_FILE, Nemesis, read_faults

pytestmark = pytest.mark.timeout(120)

NODES = [NodeInfo(f"validator-{i}", Role.VALIDATOR) for i in range(4)] + \
    [NodeInfo(f"executor-{i}", Role.EXECUTOR) for i in range(2)]


# Schedules -----------------------------------------------------------------------------------------


def every_schedule() -> list:
    return [RestartSchedule(min_delay=5, max_delay=15, target_cooldown=30),
            PauseSchedule(min_delay=10, max_delay=20, duration=5),
            KillSchedule(min_delay=10, max_delay=20, duration=8, include_validators=False),
            PartitionSchedule(min_delay=10, max_delay=20, duration=10)]


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    scripted = [Fault(FaultKind.PAUSE, ("validator-1",), at=50, duration=20)]
    first = generate(scripted, every_schedule(), 42, NODES, 300)
    again = generate(scripted, every_schedule(), 42, NODES, 300)
    other = generate(scripted, every_schedule(), 43, NODES, 300)
    assert [f.to_json() for f in first] == [f.to_json() for f in again]
    assert [f.to_json() for f in first] != [f.to_json() for f in other]
    assert {f.origin for f in first} == {"scripted", "restarts", "pauses", "kills", "partitions"}
    assert all(0 <= f.at < 300 for f in first) and [f.at for f in first] == sorted(f.at for f in first)
    assert node_overlaps(first, RESTART_GUARD_S) is None  # node faults never hold one node twice at once
    # adding a schedule leaves the earlier ones' faults as they were (one generator per schedule)
    alone = generate([], every_schedule()[:1], 42, NODES, 300)
    more = generate([], every_schedule(), 42, NODES, 300)
    assert [f.to_json() for f in alone] == [f.to_json() for f in more if f.origin == "restarts"]


def test_restarts_follow_the_original_loop() -> None:
    """Uniform wait in [min, max] after the previous restart, a random target whose cooldown expired, the
    earliest cooldown awaited when every target is cooling; a sole validator is never restarted unless asked."""
    schedule = RestartSchedule(min_delay=10, max_delay=30, target_cooldown=60)
    for seed in range(20):
        faults = schedule.generate(random.Random(seed), NODES, 600, _busy())
        assert faults and all(f.kind is FaultKind.RESTART and f.duration is None for f in faults)
        last: dict[str, float] = {}
        previous = 0.0
        for fault in faults:
            (name,) = fault.targets
            assert fault.at - last.get(name, -1e9) >= 60 - 1e-6, "a target restarted within its cooldown"
            gap = fault.at - previous
            assert gap >= 10 - 1e-6
            if gap > 30 + 1e-6:  # waited: every target was cooling down, and this one's cooldown ended now
                assert abs(fault.at - (last[name] + 60)) < 1e-3
            last[name] = fault.at
            previous = fault.at
    # 6 targets, a 60 s cooldown and 10-30 s between restarts: all of them get restarted in 10 minutes
    assert {f.targets[0] for f in schedule.generate(random.Random(1), NODES, 600, _busy())} == {n.name for n in NODES}

    sole = [NodeInfo("validator-0", Role.VALIDATOR), NodeInfo("executor-0", Role.EXECUTOR)]
    assert RestartSchedule().eligible(sole) == ["executor-0"]
    assert RestartSchedule(allow_sole_validator=True).eligible(sole) == ["validator-0", "executor-0"]
    assert RestartSchedule(include_executors=False).eligible(NODES) == [f"validator-{i}" for i in range(4)]
    default = RestartSchedule()
    assert (default.min_delay, default.max_delay, default.target_cooldown) == (10, 30, 60)  # the original's


def test_random_partitions_cut_a_minority_by_default_or_the_sizes_asked() -> None:
    faults = PartitionSchedule(min_delay=5, max_delay=10, duration=10).generate(random.Random(3), NODES, 300, _busy())
    assert faults and {len(f.groups()[0]) for f in faults} <= {1, 2}
    for fault in faults:
        assert sorted(fault.groups()[0] + fault.groups()[1]) == sorted(n.name for n in NODES)
    ends = [f.at + 10 for f in faults]
    assert all(later.at >= end + 5 for later, end in zip(faults[1:], ends, strict=False))  # one at a time
    sized = PartitionSchedule(min_delay=5, max_delay=10, duration=10, sizes=(3,)).generate(
        random.Random(3), NODES, 100, _busy())
    assert {len(f.groups()[0]) for f in sized} == {3}


def _busy():  # a fresh record of which node is held when
    from nomos_testing.faults.schedule import Busy

    return Busy()


# The workload on a real host cluster -----------------------------------------------------------------


async def _cluster(topology: GeneratedTopology, run_dir: Path) -> HostCluster:
    cluster = await HostDeployer().deploy(topology, run_dir.name, run_dir)
    await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
    return cluster


def _context(plan: ScenarioPlan, topology: GeneratedTopology, cluster: HostCluster, run_dir: Path,
             events: EventLog) -> RunContext:
    assert cluster.control is not None
    cluster.control.bind_events(events)
    return RunContext(plan=plan, topology=topology, clients={}, block_feed=BlockFeed([]), events=events,
                      rng=random.Random(1), control=cluster.control, intent=cluster.intent, run_dir=run_dir)


def _plan(duration: float = 30) -> ScenarioPlan:
    return resolve_plan(ScenarioBuilder.with_node_counts(3, 0).with_run_duration(duration).with_seed(5)
                        .with_slot_duration(1.0).build(), env={})


async def test_restart_stop_and_kill_map_onto_node_control_with_events(
        use_fake_node, topology_factory: Callable[..., GeneratedTopology], runs_root: Path) -> None:
    topology = topology_factory(3)
    run_dir = runs_root / "nemesis"
    cluster = await _cluster(topology, run_dir)
    events = EventLog(run_dir / "events.jsonl")
    pids = {name: process.pid for name, process in cluster.processes.items()}
    nemesis = Nemesis(faults=[
        Fault(FaultKind.RESTART, ("validator-1",), at=0.2),
        Fault(FaultKind.STOP, ("validator-2",), at=0.4, duration=1.0),
        Fault(FaultKind.KILL, ("validator-0",), at=0.6, duration=1.0),
    ])
    try:
        ctx = _context(_plan(), topology, cluster, run_dir, events)
        await asyncio.wait_for(nemesis.start(ctx), 30)  # every fault ends: the workload returns
        assert all(cluster.processes[name].alive() for name in pids)
        assert all(cluster.processes[name].pid != pid for name, pid in pids.items())
        assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in pids.values())
        assert cluster.intent.down_on_purpose() == set() and await cluster.crashed() == {}
    finally:
        events.close()
        await cluster.teardown()

    recorded = read_faults(run_dir / FAULTS_FILE)
    assert recorded.faults == tuple(nemesis.schedule) and recorded.seed == 5 and recorded.window_s == 30
    log = read_events(run_dir / "events.jsonl")
    kinds = [(e["kind"], e.get("node") or e.get("targets")) for e in log]
    assert kinds[0] == ("nemesis.schedule", None)
    faults = [e for e in log if e["kind"].startswith("fault.")]
    assert [(e["kind"], e["fault"], e["targets"]) for e in faults] == [
        ("fault.apply", "restart", ["validator-1"]), ("fault.apply", "stop", ["validator-2"]),
        ("fault.apply", "kill", ["validator-0"]), ("fault.remove", "stop", ["validator-2"]),
        ("fault.remove", "kill", ["validator-0"])]
    for event in faults:
        assert event["mechanism"].startswith("process signals") and event["took_s"] >= 0
        assert event["at"] >= (event["planned_at"] or 0) - 0.05
    stop_apply, stop_remove = (e for e in faults if e["fault"] == "stop")
    assert 0.95 <= stop_remove["at"] - stop_apply["at"] <= 2.5  # removed after its duration
    node_events = [(e["kind"], e["node"]) for e in log if e["kind"].startswith("node.")]
    assert node_events == [("node.restart", "validator-1"), ("node.stop", "validator-2"), ("node.kill", "validator-0"),
                           ("node.start", "validator-2"), ("node.start", "validator-0")]
    done = next(e for e in log if e["kind"] == "nemesis.done")
    assert (done["applied"], done["removed"], done["failed"], done["planned"]) == (3, 2, 0, 3)
    records = nemesis.faults_applied()
    assert [(r.kind, r.removed_by) for r in records] == [("restart", None), ("stop", "nemesis"), ("kill", "nemesis")]
    assert all(r.applied_at_s is not None and r.mechanism for r in records)


async def test_a_fault_in_force_when_the_window_ends_is_left_to_the_final_heal(
        use_fake_node, topology_factory: Callable[..., GeneratedTopology], runs_root: Path) -> None:
    topology = topology_factory(2)
    run_dir = runs_root / "window"
    cluster = await _cluster(topology, run_dir)
    events = EventLog(run_dir / "events.jsonl")
    nemesis = Nemesis(faults=[Fault(FaultKind.STOP, ("validator-1",), at=0.1),            # until the final heal
                              Fault(FaultKind.KILL, ("validator-0",), at=0.2, duration=60),  # outlives the window
                              Fault(FaultKind.RESTART, ("validator-0",), at=50)])            # never reached
    try:
        ctx = _context(_plan(), topology, cluster, run_dir, events)
        task = asyncio.create_task(nemesis.start(ctx))
        await asyncio.sleep(1.5)
        task.cancel()  # the window ends
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cluster.intent.down_on_purpose() == {"validator-0", "validator-1"}
        assert [r.removed_by for r in nemesis.faults_applied()][:2] == ["teardown", "teardown"]  # no heal yet
        done = await cluster.control.restore_all()  # what the run's final heal does
        events.emit("phase.heal", actions=done)
        assert sorted(done) == ["start validator-0", "start validator-1"]
    finally:
        events.close()
        await cluster.teardown()
    records = nemesis.faults_applied()
    assert [(r.kind, r.removed_by, r.applied_at_s is not None) for r in records] == [
        ("stop", "final heal", True), ("kill", "final heal", True), ("restart", None, False)]
    log = read_events(run_dir / "events.jsonl")
    assert [e["fault"] for e in log if e["kind"] == "fault.apply"] == ["stop", "kill"]
    assert not [e for e in log if e["kind"] == "fault.remove"]


async def test_a_failed_apply_is_a_workload_error_naming_the_fault(
        use_fake_node, topology_factory: Callable[..., GeneratedTopology], runs_root: Path) -> None:
    topology = topology_factory(2)
    run_dir = runs_root / "failing"
    cluster = await _cluster(topology, run_dir)
    events = EventLog(run_dir / "events.jsonl")
    # validation would refuse these; built directly they reach node control, which refuses them
    nemesis = Nemesis(faults=[Fault(FaultKind.STOP, ("validator-1",), at=0.1, duration=0.2),
                              Fault(FaultKind.RESTART, ("validator-9",), at=1.5),
                              Fault(FaultKind.RESTART, ("validator-0",), at=20)])
    try:
        ctx = _context(_plan(), topology, cluster, run_dir, events)
        with pytest.raises(NodeControlError) as caught:
            await asyncio.wait_for(nemesis.start(ctx), 10)
    finally:
        events.close()
        await cluster.teardown()
    assert "nemesis: apply of faults[1] (restart validator-9 at 1.5 s) failed: node control: no node named " \
           "'validator-9'" in caught.value.message
    log = read_events(run_dir / "events.jsonl")
    assert [(e["kind"], e["index"]) for e in log if e["kind"].startswith("fault.")] == [
        ("fault.apply", 0), ("fault.remove", 0), ("fault.error", 1)]
    records = nemesis.faults_applied()
    assert records[1].error is not None and records[1].applied_at_s is None and records[2].applied_at_s is None


@pytest.mark.slow
async def test_a_run_with_a_nemesis_records_its_faults_in_the_report(use_fake_node, tmp_path: Path) -> None:
    """ScenarioRun end to end (stand-in nodes): faults.json, events, the final heal, report.faults."""
    plan = (ScenarioBuilder.with_node_counts(3, 0).named("nemesis").with_seed(11).with_run_duration(6)
            .with_slot_duration(1.0).with_security_param(3)
            .chaos_with(lambda c: c.restart(min_delay=1, max_delay=2, target_cooldown=3).apply()
                        .fault(at=0.5, kind="stop", node="validator-2")       # until the final heal
                        .fault(at=1, kind="kill", node="validator-1", duration=1)
                        .recovery(0.5))
            .build())
    run_dir = tmp_path / "run"
    result = await ScenarioRun(plan, HostDeployer(), run_dir, new_run_id(plan), RunConsole(force_plain=True)).run()
    assert result.exit_code == 0, result.report.verdict
    report = load_report((run_dir / "report.json").read_text())
    recorded = json.loads((run_dir / FAULTS_FILE).read_text())
    assert len(report.faults) == len(recorded["faults"]) >= 3
    by_kind = {r.kind: r for r in report.faults if r.origin == "scripted"}
    assert by_kind["stop"].removed_by == "final heal" and by_kind["kill"].removed_by == "nemesis"
    assert {r.origin for r in report.faults} == {"scripted", "restarts"}
    assert all(r.applied_at_s is not None for r in report.faults if r.at_s < 6)
    log = read_events(run_dir / "events.jsonl")
    heal = next(e for e in log if e["kind"] == "phase.heal")
    assert "start validator-2" in heal["actions"]
    assert next(e for e in log if e["kind"] == "phase.recovery")["seconds"] == 0.5
    assert report.events["fault.apply"] == len([r for r in report.faults if r.applied_at_s is not None])


@pytest.fixture
def reference_node(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOMOS_NODE_BIN", "NOMOS_EXECUTOR_BIN", "NOMOS_TESTS_KEEP_LOGS", "SLOW_TEST_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")


@pytest.mark.slow
async def test_every_other_kind_through_the_nemesis_with_real_nodes(reference_node, tmp_path: Path) -> None:
    """join, isolate, partition, delay, loss and pause from a scripted schedule on reference nodes (host
    runner, as root): each applied and removed by the nemesis, with the mechanism that did it."""
    if HostDeployer.unavailable_capabilities():
        reason = next(iter(HostDeployer.unavailable_capabilities().values()))
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(f"network faults unavailable: {reason}")
    plan = (ScenarioBuilder.topology_with(lambda t: t.validators(3).standby(1).network_full()).named("kinds")
            .with_seed(4).with_run_duration(9).with_slot_duration(0.5).with_security_param(3)
            .chaos_with(lambda c: c.fault(at=0.5, kind="join", role="validator", in_genesis=True,
                                          peers=["validator-0"])
                        .fault(at=1, kind="isolate", node="validator-0", duration=1.5)
                        .fault(at=3, kind="partition", groups=[["validator-1"]], duration=1)
                        .fault(at=4.5, kind="delay", a="validator-1", b="validator-2", ms=150, jitter_ms=10,
                               duration=1.5)
                        .fault(at=6.5, kind="loss", a="validator-0", b="validator-2", percent=50, duration=1)
                        .fault(at=6.5, kind="pause", node="validator-1", duration=1)
                        .recovery(1))
            .build())
    run_dir = tmp_path / "kinds"
    result = await ScenarioRun(plan, HostDeployer(), run_dir, new_run_id(plan), RunConsole(force_plain=True)).run()
    assert result.exit_code == 0, result.report.verdict
    faults = {f.kind: f for f in result.report.faults}
    assert list(faults) == ["join", "isolate", "partition", "delay", "loss", "pause"]
    assert faults["join"].targets == ["validator-3"] and faults["join"].removed_by is None
    for kind in ("isolate", "partition", "delay", "loss", "pause"):
        assert faults[kind].removed_by == "nemesis" and faults[kind].error is None, faults[kind]
        assert faults[kind].removed_at_s - faults[kind].applied_at_s >= faults[kind].duration_s - 0.05
    assert "iptables DROP" in faults["isolate"].mechanism and faults["isolate"].fault_id.startswith("partition-")
    assert "TCP proxy delaying" in faults["delay"].mechanism and "statistic DROP" in faults["loss"].mechanism
    assert "SIGSTOP" in faults["pause"].mechanism
    log = read_events(run_dir / "events.jsonl")
    applies = {e["fault"]: e for e in log if e["kind"] == "fault.apply"}
    assert max(e["took_s"] for kind, e in applies.items() if kind != "join") < 1.0
    assert {e["kind"] for e in log} >= {"node.join", "net.partition", "net.delay", "net.loss", "net.heal",
                                        "node.pause", "node.resume"}
    assert not [e for e in log if e["kind"] == "phase.heal"]  # the nemesis removed everything itself
    assert any(n.name == "validator-3" and n.state == "running" for n in result.report.nodes)
