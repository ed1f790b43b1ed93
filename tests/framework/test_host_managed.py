"""detach / down / clean and the preflight checks of the host runner."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nomos_testing.errors import DeploymentError
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostDeployer

pytestmark = pytest.mark.timeout(120)


async def test_detach_then_down_stops_exactly_that_cluster(
        use_fake_node, topology_factory, runs_root: Path, processes_of, reaper) -> None:
    deployer = HostDeployer(runs_root)
    topology = topology_factory(2, 1)
    kept = await deployer.deploy(topology, "kept", runs_root / "kept")
    detached = await deployer.deploy(topology, "up1", runs_root / "up1")
    reaper.extend(p.pid for p in detached.processes.values())
    try:
        await wait_ready(detached, topology, ReadinessTimeouts(total_s=30))
        deployer.detach(detached, runs_root / "up1")
        await detached.teardown()  # a detached cluster is no longer ours to stop
        state = json.loads((runs_root / "up1" / "cluster.json").read_text())
        assert state["run_id"] == "up1" and state["detached"] is True
        assert {n["name"] for n in state["nodes"]} == {"validator-0", "validator-1", "executor-0"}
        assert all(n["pid"] == n["pgid"] and n["create_time"] > 0 for n in state["nodes"])
        assert len(processes_of(runs_root / "up1")) == 3

        stopped = deployer.down(runs_root / "up1")
        assert len(stopped) == 3
        assert processes_of(runs_root / "up1") == []
        assert not (runs_root / "up1" / "data" / "validator-0").exists()
        assert len(processes_of(runs_root / "kept")) == 3  # the other cluster is untouched
        with pytest.raises(DeploymentError, match=r"no cluster\.json"):
            deployer.down(runs_root / "up1")
    finally:
        await kept.teardown()


async def test_down_does_not_kill_a_reused_pid(use_fake_node, topology_factory, runs_root: Path, reaper) -> None:
    deployer = HostDeployer(runs_root)
    cluster = await deployer.deploy(topology_factory(1), "reuse", runs_root / "reuse")
    reaper.extend(p.pid for p in cluster.processes.values())
    deployer.detach(cluster, runs_root / "reuse")
    path = runs_root / "reuse" / "cluster.json"
    state = json.loads(path.read_text())
    time.sleep(0.05)  # a different process start time, as a reused pid would have
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    reaper.append(bystander.pid)
    real_pid = state["nodes"][0]["pid"]
    state["nodes"][0]["pid"] = state["nodes"][0]["pgid"] = bystander.pid  # as if the pid had been reused
    path.write_text(json.dumps(state))
    assert deployer.down(runs_root / "reuse") == []
    assert bystander.poll() is None
    state["nodes"][0]["pid"] = state["nodes"][0]["pgid"] = real_pid
    path.write_text(json.dumps(state))
    assert len(deployer.down(runs_root / "reuse")) == 1
    bystander.kill()
    bystander.wait()


def test_clean_finds_leftovers_of_a_runner_that_died(use_fake_node, runs_root: Path, processes_of, reaper) -> None:
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import plain_topology
        from nomos_testing.runners.host import HostDeployer
        from pathlib import Path

        async def main():
            root = Path({str(runs_root)!r})
            cluster = await HostDeployer(root).deploy(plain_topology(2), "orphan", root / "orphan")
            print(" ".join(str(p.pid) for p in cluster.processes.values()), flush=True)
            os._exit(0)  # the runner dies without any teardown

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    reaper.extend(int(pid) for pid in out.stdout.split())
    assert len(processes_of(runs_root / "orphan")) == 2

    deployer = HostDeployer(runs_root)
    check = next(c for c in deployer.preflight() if c.name == "no leftovers of earlier runs")
    assert not check.ok and "orphan/validator-0" in check.detail and "nomos-testing clean" in check.remedy

    removed = deployer.clean()
    assert sum(item.startswith("process ") for item in removed) == 2
    assert sum(item.startswith("data dir ") for item in removed) == 2
    assert processes_of(runs_root / "orphan") == []
    assert next(c for c in deployer.preflight() if c.name == "no leftovers of earlier runs").ok
    assert deployer.clean() == []


def test_clean_finds_nodes_without_cluster_file(use_fake_node, runs_root: Path, processes_of, reaper) -> None:
    """The runner was killed before cluster.json existed: the nodes' environment still marks them as ours."""
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import plain_topology
        from nomos_testing.runners.host import HostDeployer
        from pathlib import Path

        async def main():
            root = Path({str(runs_root)!r})
            cluster = await HostDeployer(root).deploy(plain_topology(1), "nofile", root / "nofile")
            (root / "nofile" / "cluster.json").unlink()
            print(cluster.processes["validator-0"].pid, flush=True)
            os._exit(0)

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    reaper.append(int(out.stdout))
    assert len(processes_of(runs_root / "nofile")) == 1
    removed = HostDeployer(runs_root).clean()
    assert any(item.startswith("process nofile/") for item in removed)
    assert processes_of(runs_root / "nofile") == []


async def test_clean_leaves_an_active_run_alone(use_fake_node, topology_factory, runs_root: Path,
                                                processes_of) -> None:
    deployer = HostDeployer(runs_root)
    cluster = await deployer.deploy(topology_factory(1), "live", runs_root / "live")
    try:
        assert deployer.clean() == []
        assert len(processes_of(runs_root / "live")) == 1
        assert next(c for c in deployer.preflight() if c.name == "no leftovers of earlier runs").ok
    finally:
        await cluster.teardown()


def test_preflight_reports_each_prerequisite(use_fake_node, runs_root: Path, monkeypatch, tmp_path) -> None:
    checks = {c.name: c for c in HostDeployer(runs_root).preflight()}
    assert checks["nomos-node binary"].ok and "NOMOS_NODE_BIN" in checks["nomos-node binary"].detail
    assert checks["POL_PROOF_DEV_MODE"].ok

    monkeypatch.delenv("POL_PROOF_DEV_MODE")
    monkeypatch.setenv("NOMOS_EXECUTOR_BIN", str(tmp_path / "missing"))
    monkeypatch.chdir(tmp_path)
    checks = {c.name: c for c in HostDeployer(runs_root).preflight()}
    pol = checks["POL_PROOF_DEV_MODE"]
    assert not pol.ok and pol.required and pol.detail.startswith("unset: ") and "slower" in pol.detail
    assert pol.remedy == "export POL_PROOF_DEV_MODE=true"
    assert not checks["nomos-executor binary"].ok and "NOMOS_EXECUTOR_BIN" in checks["nomos-executor binary"].remedy
    assert not checks["versions.env"].ok

    monkeypatch.setenv("POL_PROOF_DEV_MODE", "false")  # a deliberate choice: a warning, not a failure
    pol = next(c for c in HostDeployer(runs_root).preflight() if c.name == "POL_PROOF_DEV_MODE")
    assert not pol.ok and not pol.required and pol.detail.startswith("false: ")
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "maybe")
    pol = next(c for c in HostDeployer(runs_root).preflight() if c.name == "POL_PROOF_DEV_MODE")
    assert not pol.ok and pol.required and "not a boolean" in pol.detail


def test_binaries_found_next_to_the_interpreter(monkeypatch, runs_root: Path) -> None:
    """The venv's console scripts are found even when the venv is not on PATH."""
    monkeypatch.delenv("NOMOS_NODE_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    check = next(c for c in HostDeployer(runs_root).preflight() if c.name == "nomos-node binary")
    assert check.ok, check.detail
    assert str(Path(sys.executable).parent) in check.detail
