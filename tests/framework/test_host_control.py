"""HostNodeControl against real (stand-in) node processes: same sockets, same data dir, events recorded."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from nomos_testing.errors import NodeControlError
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.runners.host.control import HostNodeControl

pytestmark = pytest.mark.timeout(120)


class Recorder:
    def __init__(self) -> None:
        self.kinds: list[tuple[str, str]] = []

    def emit(self, kind: str, **fields: object) -> None:
        self.kinds.append((kind, str(fields.get("node"))))


async def test_restart_stop_start_kill(use_fake_node, topology_factory, runs_root: Path) -> None:
    topology = topology_factory(3)
    cluster = await HostDeployer().deploy(topology, "ctl", runs_root / "ctl")
    events = Recorder()
    try:
        control = cluster.control
        assert isinstance(control, HostNodeControl)
        control.bind_events(events)
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
        endpoint = next(n for n in cluster.nodes if n.name == "validator-1")
        old_pid = cluster.processes["validator-1"].pid

        await control.restart("validator-1")
        new_pid = cluster.processes["validator-1"].pid
        assert new_pid != old_pid
        assert not psutil.pid_exists(old_pid)  # stopped and reaped
        # same address: the reserved socket was inherited again; readiness holds again, no crash reported
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
        assert next(n for n in cluster.nodes if n.name == "validator-1").api_url == endpoint.api_url
        assert await cluster.crashed() == {}

        await control.stop("validator-2")
        assert control.state_of("validator-2").value == "stopped" and not cluster.processes["validator-2"].alive()
        assert await cluster.crashed() == {}  # stopped on purpose is not a crash
        client = NodeClient("validator-2", next(n.api_url for n in cluster.nodes if n.name == "validator-2"),
                            timeout_s=1.0)
        try:
            with pytest.raises(NodeApiError):  # the socket is held, but nobody answers
                await client.consensus_info()
        finally:
            await client.close()
        await control.start("validator-2")
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))

        await control.kill("validator-0")
        assert control.state_of("validator-0").value == "killed" and not cluster.processes["validator-0"].alive()
        assert await cluster.crashed() == {}  # killed on purpose is not a crash either
        with pytest.raises(NodeControlError, match="no node named 'validator-9'"):
            await control.stop("validator-9")
        with pytest.raises(NodeControlError, match="already running"):
            await control.start("validator-1")
    finally:
        await cluster.teardown()
    assert events.kinds == [("node.restart", "validator-1"), ("node.stop", "validator-2"),
                            ("node.start", "validator-2"), ("node.kill", "validator-0")]
    log = (runs_root / "ctl" / "logs" / "nomos-node-1.log").read_text()
    assert log.count("fake node validator-1 starting") == 2  # appended, not overwritten


async def test_restarted_node_keeps_its_data_dir(use_fake_node, topology_factory, runs_root: Path) -> None:
    cluster = await HostDeployer().deploy(topology_factory(1), "dd", runs_root / "dd")
    try:
        before = psutil.Process(cluster.processes["validator-0"].pid).cwd()
        (Path(before) / "store.sqlite").write_text("chain")
        await cluster.control.restart("validator-0")
        after = psutil.Process(cluster.processes["validator-0"].pid).cwd()
        assert after == before and (Path(after) / "store.sqlite").read_text() == "chain"
    finally:
        await cluster.teardown()
