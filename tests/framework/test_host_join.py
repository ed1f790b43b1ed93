"""Host runner: nodes join a running network of reference nodes — a standby validator whose stake is in the
genesis (it syncs, then leads blocks), and new nodes outside the genesis (they sync and lead none) — through
`NodeControl.join` and through a scenario whose workload joins them (the report lists joined and standby
nodes with their state)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from nomos_testing.errors import NodeControlError
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.events import EventLog
from nomos_testing.params import ParamSchema
from nomos_testing.plugins import Registries
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.base import NodeEndpoint
from nomos_testing.runners.host import HostDeployer
from nomos_testing.runners.shared.intent import NodeState
from nomos_testing.runners.shared.state import read_state
from nomos_testing.scenario.builder import ScenarioBuilder, scenario
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import Role
from nomos_testing.workloads.base import Workload

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

SYNC_WITHIN = 2  # blocks a joined node may trail the network


@pytest.fixture
def reference_node(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOMOS_NODE_BIN", "NOMOS_EXECUTOR_BIN", "NOMOS_TESTS_KEEP_LOGS", "SLOW_TEST_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")


async def _height(endpoint: NodeEndpoint) -> int:
    client = NodeClient(endpoint.name, endpoint.api_url, timeout_s=3.0)
    try:
        return int((await client.consensus_info())["height"])
    finally:
        await client.close()


async def grown_to(endpoint: NodeEndpoint, height: int, timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await _height(endpoint) < height:
        assert time.monotonic() < deadline, f"{endpoint.name} did not reach height {height} in {timeout_s} s"
        await asyncio.sleep(0.3)


async def synced(joined: NodeEndpoint, reference: NodeEndpoint, timeout_s: float = 40.0) -> tuple[float, int]:
    """Poll the joined node's /cryptarchia/info until its height is within SYNC_WITHIN of the reference's."""
    began = time.monotonic()
    seen = (-1, -1)
    while time.monotonic() - began < timeout_s:
        try:
            seen = (await _height(joined), await _height(reference))
            if seen[1] > 0 and seen[0] >= seen[1] - SYNC_WITHIN:
                return round(time.monotonic() - began, 2), seen[0]
        except NodeApiError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"{joined.name} did not sync in {timeout_s} s: height {seen[0]}, {reference.name} {seen[1]}")


async def leaders(endpoint: NodeEndpoint, depth: int = 200) -> list[str]:
    """The vrf_pk of the leader of each block on the node's chain, tip first (genesis excluded)."""
    client = NodeClient(endpoint.name, endpoint.api_url, timeout_s=3.0)
    try:
        found: list[str] = []
        block_id = (await client.consensus_info())["tip"]
        for _ in range(depth):
            block = await client.block(block_id)
            if block is None or not block["header"]["parent"] or int(block["header"]["height"]) == 0:
                break
            found.append(block["header"]["leader"]["vrf_pk"])
            block_id = block["header"]["parent"]
        return found
    finally:
        await client.close()


async def test_standby_and_new_nodes_join_sync_and_only_the_standby_leads(reference_node: None, runs_root: Path,
                                                                          processes_of: Any) -> None:
    plan = scenario(validators=2, executors=0, seed=21, duration=10, slot_duration=0.5, standby=1)
    topology = generate_topology(resolve_plan(plan, env={}))
    run_dir = runs_root / "join"
    cluster = await HostDeployer().deploy(topology, "join", run_dir)
    events = EventLog(run_dir / "events.jsonl")
    try:
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=60))
        control = cluster.control
        assert control is not None and "join" in control.offered() and "join" in HostDeployer.capabilities
        control.bind_events(events)
        assert cluster.intent.of("validator-2") is NodeState.STANDBY
        assert await cluster.crashed() == {} and "validator-2" not in control.names
        hub = cluster.endpoint("validator-0")
        await grown_to(hub, 8)

        began = time.monotonic()
        standby = await control.join(Role.VALIDATOR, in_genesis=True)
        standby_api_s = time.monotonic() - began
        began = time.monotonic()
        newcomer = await control.join(Role.VALIDATOR)  # not in the genesis: validator-3, no stake
        newcomer_api_s = time.monotonic() - began
        assert (standby.name, newcomer.name) == ("validator-2", "validator-3")
        block = cluster.block
        assert block is not None
        assert cluster.address("validator-2") == block.address(2) and cluster.address("validator-3") == block.address(3)
        with pytest.raises(NodeControlError, match="standby"):
            await control.join(Role.VALIDATOR, in_genesis=True)

        standby_sync_s, _ = await synced(standby, hub)
        newcomer_sync_s, height = await synced(newcomer, hub)
        assert height >= 8
        print(f"host join: API answered {standby_api_s:.2f} s / {newcomer_api_s:.2f} s after join(); synced "
              f"{standby_sync_s} s / {newcomer_sync_s} s later (height {height})")

        # the standby's stake is in the genesis: once synced it leads blocks; the newcomer has none to lead with
        assert cluster.topology is not None
        standby_pk = topology.standby[0].keys["vrf_pk"]
        newcomer_pk = cluster.topology.node("validator-3").keys["vrf_pk"]
        assert cluster.topology.node("validator-3").stake == 0
        deadline = time.monotonic() + 30
        while standby_pk not in (led := await leaders(hub)):
            assert time.monotonic() < deadline, "the standby validator led no block in 30 s"
            await asyncio.sleep(0.5)
        assert newcomer_pk not in led
        state = read_state(run_dir)
        assert state is not None
        assert {r.name for r in state.nodes} == {"validator-0", "validator-1", "validator-2", "validator-3"}
        assert state.intent.of("validator-3") is NodeState.RUNNING and await cluster.crashed() == {}
        assert len(processes_of(run_dir)) == 4
        config = json.dumps((run_dir / "configs" / "validator-3.yaml").read_text())
        assert block.address(0) in config  # it dials the hub
        joins = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        assert [(e["kind"], e["node"], e["in_genesis"]) for e in joins] == [
            ("node.join", "validator-2", True), ("node.join", "validator-3", False)]
        assert joins[0]["dials"] == ["validator-0"] and joins[0]["api_answered_s"] >= 0
    finally:
        events.close()
        await cluster.teardown()
    assert processes_of(run_dir) == []
    assert not (run_dir / "data" / "validator-3").exists()
    assert "node started" in (run_dir / "logs" / "nomos-node-3.log").read_text()


class JoinNodes(Workload):
    """Joins the first standby validator, then a new executor outside the genesis, early in the window."""

    kind: ClassVar[str] = "test_join_nodes"
    params: ClassVar[ParamSchema] = ParamSchema(())
    requires: ClassVar[frozenset[str]] = frozenset({"join"})

    async def start(self, ctx: RunContext) -> None:
        assert ctx.control is not None
        await asyncio.sleep(1.0)
        await ctx.control.join(Role.VALIDATOR, in_genesis=True)
        await ctx.control.join(Role.EXECUTOR)


async def test_a_scenario_joins_nodes_and_the_report_shows_joined_and_standby_nodes(reference_node: None,
                                                                                    runs_root: Path) -> None:
    registries = Registries()
    registries.workloads.register(JoinNodes.kind, JoinNodes)
    plan = (ScenarioBuilder.topology_with(lambda t: t.validators(2).executors(0).standby(2))
            .with_workload(JoinNodes.kind).expect_consensus_liveness()
            .with_run_duration(8).with_seed(5).with_slot_duration(0.5).with_active_slot_coeff(0.9)
            .with_security_param(5).plan())
    run_dir = runs_root / "scenario"
    result = await ScenarioRun(plan, HostDeployer(), run_dir, "join-scenario", registries=registries).run()
    report = result.report
    assert result.exit_code == 0, report.verdict
    assert [(n.name, n.role, n.state) for n in report.nodes] == [
        ("validator-0", "validator", "running"), ("validator-1", "validator", "running"),
        ("validator-2", "validator", "running"), ("executor-0", "executor", "running"),
        ("validator-3", "validator", "standby")]
    joined = {n.name: n for n in report.nodes}
    assert joined["executor-0"].height is not None and joined["validator-3"].height is None
    liveness = next(r for r in report.expectations if r.name == "consensus_liveness")
    assert liveness.figures["down_on_purpose"] == ["validator-3"]  # not judged, counted
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [(e["node"], e["in_genesis"]) for e in events if e["kind"] == "node.join"] == [
        ("validator-2", True), ("executor-0", False)]
    assert not [e for e in events if e["kind"] in ("phase.heal", "node.crashed")]  # a standby is no fault
