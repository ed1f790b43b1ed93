"""Host runner deploy/teardown with a real stand-in node process (see conftest.FAKE_NODE)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import yaml

from nomos_testing.errors import DeploymentError, PrerequisiteError, ReadinessError
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostCluster, HostDeployer
from nomos_testing.topology.model import Layout

pytestmark = pytest.mark.timeout(120)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def emit(self, kind: str, **fields: object) -> None:
        self.events.append((kind, fields))


async def test_deploy_3_plus_1_reaches_readiness_and_teardown_leaves_nothing(
        use_fake_node, topology_factory, runs_root: Path, processes_of) -> None:
    topology = topology_factory(3, 1)
    run_dir = runs_root / "r1"
    cluster = await HostDeployer().deploy(topology, "r1", run_dir)
    try:
        events = Recorder()
        ready = await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30), events)
        assert set(ready) == {"validator-0", "validator-1", "validator-2", "executor-0"}
        assert all(0 < seconds < 30 for seconds in ready.values())
        assert [kind for kind, _ in events.events].count("readiness.node_ready") == 4
        # configs written, each with the real inherited ports
        config = yaml.safe_load((run_dir / "configs" / "validator-1.yaml").read_text())
        endpoint = next(n for n in cluster.nodes if n.name == "validator-1")
        assert endpoint.api_url.endswith(config["api"]["listen"])
        assert "listen_fd" not in config["api"]  # sockets are handed over in NOMOS_LISTEN_FDS, not the file
        listen_fds = psutil.Process(cluster.processes["validator-1"].pid).environ()["NOMOS_LISTEN_FDS"]
        assert set(dict(item.split("=") for item in listen_fds.split(","))) == {"api", "testing_api", "network"}
        assert config["network"]["initial_peers"] == [
            yaml.safe_load((run_dir / "configs" / "validator-0.yaml").read_text())["network"]["advertise"]]
        assert (run_dir / "data" / "validator-1" / ".nomos-testing-run").read_text().strip() == "r1"
        pids = [p.pid for p in cluster.processes.values()]
        assert len(processes_of(run_dir)) == 4
        # each node is the leader of its own process group
        assert all(os.getpgid(pid) == pid for pid in pids)
    finally:
        began = time.monotonic()
        await cluster.teardown()
        took = time.monotonic() - began
    assert took < 3.0
    assert processes_of(run_dir, with_prometheus=True) == []
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)
    assert not (run_dir / "data" / "validator-1").exists()
    await cluster.collect_logs(run_dir / "logs")
    for name in ("nomos-node-0.log", "nomos-node-1.log", "nomos-node-2.log", "nomos-executor-0.log"):
        assert "fake node" in (run_dir / "logs" / name).read_text()
    await cluster.teardown()  # idempotent


async def test_keep_logs_keeps_data_dirs(use_fake_node, topology_factory, runs_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("NOMOS_TESTS_KEEP_LOGS", "1")
    cluster = await HostDeployer().deploy(topology_factory(1), "keep", runs_root / "keep")
    await cluster.teardown()
    assert (runs_root / "keep" / "data" / "validator-0" / ".nomos-testing-run").is_file()


async def test_crashed_node_is_reported_with_its_log_tail(
        use_fake_node, topology_factory, runs_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NODE_EXIT", "validator-1")
    topology = topology_factory(3)
    cluster = await HostDeployer().deploy(topology, "crash", runs_root / "crash")
    try:
        with pytest.raises(DeploymentError) as caught:
            await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
        message = str(caught.value)
        assert "validator-1: exited with code 3" in message
        assert "fatal: validator-1 refuses to start" in message
        assert "validator-0" not in message.split("exited during readiness")[1].split("fix:")[0].replace(
            "validator-1", "")
        crashed = await cluster.crashed()
        assert list(crashed) == ["validator-1"]
    finally:
        await cluster.teardown()


async def test_readiness_timeout_names_every_node_not_ready(
        use_fake_node, topology_factory, runs_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NODE_DEAF", "validator-2")  # never dials nor accepts peers
    topology = topology_factory(3, layout=Layout.CHAIN)  # validator-0 <- validator-1 <- validator-2
    cluster = await HostDeployer().deploy(topology, "deaf", runs_root / "deaf")
    events = Recorder()
    try:
        with pytest.raises(ReadinessError) as caught:
            await wait_ready(cluster, topology, ReadinessTimeouts(total_s=4, poll_s=0.1), events)
    finally:
        await cluster.teardown()
    message = str(caught.value)
    assert "validator-2: peers=0, expected ≥ 1" in message
    assert "validator-1: peers=1, expected ≥ 2" in message
    assert "validator-0:" not in message
    assert "2 of 3 node(s) not ready after 4 s" in message
    assert events.events[-1][0] == "readiness.timeout"


async def test_slow_test_env_doubles_the_timeout(use_fake_node, topology_factory, runs_root, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_NODE_DEAF", "validator-1")
    monkeypatch.setenv("SLOW_TEST_ENV", "true")
    topology = topology_factory(2)
    cluster = await HostDeployer().deploy(topology, "slow", runs_root / "slow")
    try:
        began = time.monotonic()
        with pytest.raises(ReadinessError, match="not ready after 3 s"):
            await wait_ready(cluster, topology, ReadinessTimeouts(total_s=1.5, poll_s=0.1))
        assert time.monotonic() - began >= 2.9
    finally:
        await cluster.teardown()


async def test_two_deployments_at_once_do_not_collide(
        use_fake_node, topology_factory, runs_root: Path, processes_of) -> None:
    topology = topology_factory(3, 1)
    deployer = HostDeployer()
    first, second = await asyncio.gather(deployer.deploy(topology, "a", runs_root / "a"),
                                         deployer.deploy(topology, "b", runs_root / "b"))
    try:
        ports_a = {n.api_url for n in first.nodes} | {n.testing_url for n in first.nodes}
        ports_b = {n.api_url for n in second.nodes} | {n.testing_url for n in second.nodes}
        assert not ports_a & ports_b
        await asyncio.gather(wait_ready(first, topology, ReadinessTimeouts(total_s=30)),
                             wait_ready(second, topology, ReadinessTimeouts(total_s=30)))
        assert len(processes_of(runs_root / "a")) == 4 and len(processes_of(runs_root / "b")) == 4
    finally:
        await asyncio.gather(first.teardown(), second.teardown())
    assert processes_of(runs_root / "a") == [] and processes_of(runs_root / "b") == []


async def test_cancelled_wait_still_tears_down(use_fake_node, topology_factory, runs_root: Path,
                                                processes_of, monkeypatch) -> None:
    """What Ctrl-C does to the lifecycle: the waiting task is cancelled, teardown runs from a finally."""
    monkeypatch.setenv("FAKE_NODE_DEAF", "validator-1")
    topology = topology_factory(2)
    cluster: HostCluster = await HostDeployer().deploy(topology, "int", runs_root / "int")

    async def run() -> None:
        try:
            await wait_ready(cluster, topology, ReadinessTimeouts(total_s=60))
        finally:
            await cluster.teardown()

    task = asyncio.create_task(run())
    await asyncio.sleep(1.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_of(runs_root / "int", with_prometheus=True) == []


async def test_missing_binary_is_a_prerequisite_error(topology_factory, runs_root: Path, monkeypatch) -> None:
    monkeypatch.setenv("NOMOS_NODE_BIN", str(runs_root / "no-such-node"))
    with pytest.raises(PrerequisiteError) as caught:
        await HostDeployer().deploy(topology_factory(1), "x", runs_root / "x")
    assert "NOMOS_NODE_BIN" in str(caught.value) and "fix:" in str(caught.value)
    assert not (runs_root / "x").exists()


def test_sigint_during_readiness_leaves_no_process(use_fake_node, runs_root: Path, processes_of, reaper) -> None:
    """Ctrl-C in a real framework process: asyncio cancels the main task, teardown runs from its finally."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from tests.framework.support import plain_topology
        from nomos_testing.readiness import ReadinessTimeouts, wait_ready
        from nomos_testing.runners.host import HostDeployer

        async def main():
            root = Path({str(runs_root)!r})
            topology = plain_topology(3)
            cluster = await HostDeployer().deploy(topology, "sigint", root / "sigint")
            try:
                print(" ".join(str(p.pid) for p in cluster.processes.values()), flush=True)
                await wait_ready(cluster, topology, ReadinessTimeouts(total_s=120))
            finally:
                await cluster.teardown()

        asyncio.run(main())
    """)
    env = dict(os.environ, FAKE_NODE_DEAF="validator-2")  # readiness never completes
    # SIGINT as a terminal delivers it: a suite started in the background (`make test &`) ignores SIGINT, which
    # the child would inherit, and Python then installs no KeyboardInterrupt handler at all.
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env,
                              cwd=Path(__file__).resolve().parents[2],
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert runner.stdout is not None
    pids = [int(pid) for pid in runner.stdout.readline().split()]
    reaper.extend(pids)
    assert len(pids) == 3
    time.sleep(1.0)
    assert len(processes_of(runs_root / "sigint")) == 3
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) != 0  # KeyboardInterrupt
    assert processes_of(runs_root / "sigint", with_prometheus=True) == []
