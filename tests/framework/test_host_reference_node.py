"""The host runner with the reference node itself (`nomos-node` / `nomos-executor` from this project)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from nomos_testing.errors import DeploymentError, ReadinessError
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.scenario.plan import ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture
def reference_node(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOMOS_NODE_BIN", "NOMOS_EXECUTOR_BIN", "NOMOS_TESTS_KEEP_LOGS", "SLOW_TEST_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")


async def _height(client: NodeClient) -> int:
    return int((await client.consensus_info())["height"])


async def test_3_plus_1_ready_restart_and_teardown(reference_node, runs_root: Path, processes_of) -> None:
    plan = ScenarioPlan(topology=TopologySpec(validators=3, executors=1), seed=7, slot_duration=1.0)
    topology = generate_topology(resolve_plan(plan, env={}))
    run_dir = runs_root / "ref"
    began = time.monotonic()
    cluster = await HostDeployer().deploy(topology, "ref", run_dir)
    clients = {n.name: NodeClient(n.name, n.api_url) for n in cluster.nodes}
    try:
        ready = await wait_ready(cluster, topology, ReadinessTimeouts(total_s=60), started_at=began)
        assert set(ready) == {"validator-0", "validator-1", "validator-2", "executor-0"}
        assert len(processes_of(run_dir)) == 4
        hub_peers = (await clients["validator-0"].network_info())["n_peers"]
        assert hub_peers >= 3

        before = await _height(clients["validator-1"])
        await cluster.control.restart("validator-1")
        # the restarted node answers on the same address, from the same data dir, and catches up
        deadline = time.monotonic() + 30
        while True:
            try:
                if await _height(clients["validator-1"]) > before:
                    break
            except NodeApiError:  # still starting
                pass
            assert time.monotonic() < deadline, "validator-1 did not catch up after its restart"
            await asyncio.sleep(0.3)
        assert await cluster.crashed() == {}
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))
        await cluster.teardown()
    assert processes_of(run_dir) == []
    await cluster.collect_logs(run_dir / "logs")
    for name in ("nomos-node-0.log", "nomos-node-1.log", "nomos-node-2.log", "nomos-executor-0.log"):
        assert (run_dir / "logs" / name).stat().st_size > 0, name
    assert not (run_dir / "data" / "validator-0").exists()


async def test_a_node_that_rejects_its_config_is_reported(reference_node, runs_root: Path) -> None:
    plan = ScenarioPlan(topology=TopologySpec(validators=2, executors=0), seed=8)
    topology = generate_topology(resolve_plan(plan, env={}))
    broken = dict(topology.genesis, active_slot_coeff=1.5)  # the node validates its config at start-up
    topology = type(topology)(layout=topology.layout, nodes=topology.nodes, wallets=topology.wallets,
                              genesis=broken, dials=topology.dials)
    cluster = await HostDeployer().deploy(topology, "bad", runs_root / "bad")
    try:
        with pytest.raises(DeploymentError) as caught:
            await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
    finally:
        await cluster.teardown()
    assert not isinstance(caught.value, ReadinessError)  # reported as a crash at once, not a timeout
    message = str(caught.value)
    assert "validator-0: exited with code 2" in message
    assert "active_slot_coeff" in message
