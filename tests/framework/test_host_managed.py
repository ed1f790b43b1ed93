"""detach / down / node control from another process / clean (run index and --all) and the preflight checks
of the host runner, against real stand-in node processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nomos_testing.errors import NodeControlError, PlanError
from nomos_testing.observe.events import read_events
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.cleanup import clean_index, sweep_all
from nomos_testing.runners.shared.state import STATE_FILE, read_state
from nomos_testing.scenario.manual import control_node, tear_down

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


async def deploy_detached(topology, run_dir: Path, run_id: str, reaper: list[int]):  # type: ignore[no-untyped-def]
    index.register(run_id, run_dir, "host", "up")
    cluster = await HostDeployer().deploy(topology, run_id, run_dir)
    reaper.extend(p.pid for p in cluster.processes.values() if p.pid)
    await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
    cluster.detach()
    return cluster


async def test_detach_then_down_stops_exactly_that_cluster(
        use_fake_node, run_index, topology_factory, tmp_path: Path, processes_of, reaper) -> None:
    topology = topology_factory(2, 1)
    kept = await HostDeployer().deploy(topology, "kept", tmp_path / "kept")
    try:
        detached = await deploy_detached(topology, tmp_path / "anywhere" / "up1", "up1", reaper)
        await detached.teardown()  # a detached cluster is no longer ours to stop
        state = json.loads((tmp_path / "anywhere" / "up1" / STATE_FILE).read_text())
        assert state["run_id"] == "up1" and state["runner"] == "host" and state["detached"] is True
        assert {n["name"] for n in state["nodes"]} == {"validator-0", "validator-1", "executor-0"}
        assert all(n["state"] == "running" for n in state["nodes"])
        assert all(n["runner"]["pid"] == n["runner"]["pgid"] and n["runner"]["create_time"] > 0
                   for n in state["nodes"])
        assert index.find("up1") is not None and index.find("up1").detached  # type: ignore[union-attr]
        assert len(processes_of(tmp_path / "anywhere" / "up1")) == 3

        done = await tear_down("up1")  # found through the index, wherever the run directory is
        run_dir = done.run_dir
        assert run_dir == (tmp_path / "anywhere" / "up1").resolve()
        assert done.nodes == ["validator-0", "validator-1", "executor-0"]
        assert sum(item.startswith("process ") for item in done.removed) == 3
        assert processes_of(tmp_path / "anywhere" / "up1") == []
        assert not (run_dir / "data" / "validator-0").exists() and not (run_dir / STATE_FILE).exists()
        assert len(processes_of(tmp_path / "kept")) == 3  # the other cluster is untouched
        assert index.find("up1") is None
        with pytest.raises(PlanError, match="no run 'up1'"):
            await tear_down("up1")
    finally:
        await kept.teardown()


async def test_down_does_not_kill_a_reused_pid(use_fake_node, run_index, topology_factory, tmp_path: Path,
                                               reaper) -> None:
    await deploy_detached(topology_factory(1), tmp_path / "reuse", "reuse", reaper)
    path = tmp_path / "reuse" / STATE_FILE
    state = json.loads(path.read_text())
    time.sleep(0.05)  # a different process start time, as a reused pid would have
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    reaper.append(bystander.pid)
    record = state["nodes"][0]["runner"]
    real_pid = record["pid"]
    record["pid"] = record["pgid"] = bystander.pid  # as if the pid had been reused
    path.write_text(json.dumps(state))
    stopped = (await tear_down(str(tmp_path / "reuse"))).removed
    assert not any(str(bystander.pid) in item for item in stopped)
    assert bystander.poll() is None
    # the real node is still found by the marker in its environment
    assert any(str(real_pid) in item for item in stopped)
    bystander.kill()
    bystander.wait()


async def test_node_command_controls_a_cluster_left_up(use_fake_node, run_index, topology_factory, tmp_path: Path,
                                                       reaper) -> None:
    """Issue: configs in the run directory carried `listen_fd`, so a node of an `up` cluster could not be started
    again by hand. Now the runner hands sockets over in the environment, and `nomos-testing node` restarts it."""
    run_dir = tmp_path / "ctl"
    topology = topology_factory(2)
    cluster = await deploy_detached(topology, run_dir, "ctl", reaper)
    config = (run_dir / "configs" / "validator-1.yaml").read_text()
    assert "listen_fd" not in config and "fd" not in config.split("genesis")[0]
    old_pid = cluster.processes["validator-1"].pid
    assert "now stopped" in await control_node("ctl", "stop", "validator-1")
    state = json.loads((run_dir / STATE_FILE).read_text())
    assert {n["name"]: n["state"] for n in state["nodes"]} == {"validator-0": "running", "validator-1": "stopped"}
    assert "now running" in await control_node("ctl", "start", "validator-1")
    assert "now running" in await control_node("ctl", "restart", "validator-1")
    state = json.loads((run_dir / STATE_FILE).read_text())
    new_pid = next(n["runner"]["pid"] for n in state["nodes"] if n["name"] == "validator-1")
    reaper.append(new_pid)
    assert new_pid != old_pid
    # the restarted node bound the address of its config itself and serves there again
    recorded = read_state(run_dir)
    assert recorded is not None
    attached = HostDeployer().attach(recorded)
    await wait_ready(attached, topology, ReadinessTimeouts(total_s=30))
    kinds = [(e["kind"], e.get("node")) for e in read_events(run_dir / "events.jsonl")]
    assert ("node.stop", "validator-1") in kinds and ("node.start", "validator-1") in kinds
    assert ("node.restart", "validator-1") in kinds
    with pytest.raises(NodeControlError, match="no node named 'validator-9'"):
        await control_node("ctl", "stop", "validator-9")
    with pytest.raises(NodeControlError, match="already running"):
        await control_node("ctl", "start", "validator-0")
    await tear_down("ctl")


async def test_node_command_refuses_a_run_driven_by_a_live_process(use_fake_node, run_index, topology_factory,
                                                                   tmp_path: Path) -> None:
    index.register("live", tmp_path / "live", "host", "run")
    cluster = await HostDeployer().deploy(topology_factory(1), "live", tmp_path / "live")
    try:
        with pytest.raises(NodeControlError, match=r"driven by process \d+"):
            await control_node("live", "stop", "validator-0")
    finally:
        await cluster.teardown()


def _die_after_deploy(tmp_path: Path, run_id: str, nodes: int, register: bool, drop_state: bool) -> list[int]:
    """A framework process deploys and dies without any teardown (kill -9 of the runner)."""
    script = textwrap.dedent(f"""
        import asyncio, os
        from pathlib import Path
        from nomos_testing.runners.host import HostDeployer
        from nomos_testing.runners.shared import index
        from tests.framework.support import plain_topology

        async def main():
            run_dir = Path({str(tmp_path / run_id)!r})
            if {register!r}:
                index.register({run_id!r}, run_dir, "host", "run")
            cluster = await HostDeployer().deploy(plain_topology({nodes}), {run_id!r}, run_dir)
            if {drop_state!r}:
                (run_dir / "run-state.json").unlink()
            print(" ".join(str(p.pid) for p in cluster.processes.values()), flush=True)
            os._exit(0)

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True,
                         cwd=REPO)
    return [int(pid) for pid in out.stdout.split()]


async def test_clean_finds_leftovers_of_a_runner_that_died(use_fake_node, run_index, tmp_path: Path, processes_of,
                                                           reaper) -> None:
    reaper.extend(_die_after_deploy(tmp_path, "orphan", 2, register=True, drop_state=False))
    assert len(processes_of(tmp_path / "orphan")) == 2

    check = next(c for c in HostDeployer().preflight() if c.name == "no leftovers of earlier runs")
    assert not check.ok and "orphan/validator-0" in check.detail and "nomos-testing clean" in check.remedy

    removed, _ = await clean_index()
    assert sum(r.item.startswith("process ") for r in removed) == 2
    assert sum(r.item.startswith("data dir ") for r in removed) == 2
    assert processes_of(tmp_path / "orphan") == []
    assert next(c for c in HostDeployer().preflight() if c.name == "no leftovers of earlier runs").ok
    assert await clean_index() == ([], [])


async def test_clean_finds_nodes_without_a_state_file(use_fake_node, run_index, tmp_path: Path, processes_of,
                                                      reaper) -> None:
    """The runner was killed before run-state.json existed: the nodes' environment still marks them as ours."""
    reaper.extend(_die_after_deploy(tmp_path, "nofile", 1, register=True, drop_state=True))
    assert len(processes_of(tmp_path / "nofile")) == 1
    removed, _ = await clean_index()
    assert any(r.item.startswith("process nofile/") for r in removed)
    assert processes_of(tmp_path / "nofile") == []


async def test_clean_all_sweeps_runs_the_index_does_not_know(use_fake_node, run_index, tmp_path: Path,
                                                             processes_of, reaper) -> None:
    reaper.extend(_die_after_deploy(tmp_path, "stranger", 1, register=False, drop_state=False))
    assert await clean_index() == ([], [])  # not this user's index: plain `clean` leaves it
    assert len(processes_of(tmp_path / "stranger")) == 1
    would, _ = await sweep_all(dry_run=True)
    assert any("stranger/" in r.item for r in would)
    assert len(processes_of(tmp_path / "stranger")) == 1  # a dry run touches nothing
    removed, _ = await sweep_all()
    assert any("stranger/" in r.item for r in removed)
    assert processes_of(tmp_path / "stranger") == []


async def test_clean_leaves_an_active_run_alone(use_fake_node, run_index, topology_factory, tmp_path: Path,
                                                processes_of) -> None:
    index.register("live", tmp_path / "live", "host", "run")
    cluster = await HostDeployer().deploy(topology_factory(1), "live", tmp_path / "live")
    try:
        removed, notes = await clean_index()
        assert removed == [] and any("still in progress" in note for note in notes)
        assert (await sweep_all())[0] == []
        assert len(processes_of(tmp_path / "live")) == 1
        assert next(c for c in HostDeployer().preflight() if c.name == "no leftovers of earlier runs").ok
    finally:
        await cluster.teardown()


def test_preflight_reports_each_prerequisite(use_fake_node, run_index, monkeypatch, tmp_path) -> None:
    from nomos_testing.preflight import preflight_checks

    checks = {c.name: c for c in preflight_checks(HostDeployer())}
    assert checks["nomos-node binary"].ok and "NOMOS_NODE_BIN" in checks["nomos-node binary"].detail
    assert checks["POL_PROOF_DEV_MODE"].ok and checks["plug-ins"].ok

    monkeypatch.delenv("POL_PROOF_DEV_MODE")
    monkeypatch.setenv("NOMOS_EXECUTOR_BIN", str(tmp_path / "missing"))
    monkeypatch.chdir(tmp_path)
    checks = {c.name: c for c in preflight_checks(HostDeployer())}
    pol = checks["POL_PROOF_DEV_MODE"]
    assert not pol.ok and pol.required and pol.detail.startswith("unset: ") and "slower" in pol.detail
    assert pol.remedy == "export POL_PROOF_DEV_MODE=true"
    assert not checks["nomos-executor binary"].ok and "NOMOS_EXECUTOR_BIN" in checks["nomos-executor binary"].remedy
    assert not checks["versions.env"].ok

    monkeypatch.setenv("POL_PROOF_DEV_MODE", "false")  # a deliberate choice: a warning, not a failure
    pol = next(c for c in preflight_checks(HostDeployer()) if c.name == "POL_PROOF_DEV_MODE")
    assert not pol.ok and not pol.required and pol.detail.startswith("false: ")
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "maybe")
    pol = next(c for c in preflight_checks(HostDeployer()) if c.name == "POL_PROOF_DEV_MODE")
    assert not pol.ok and pol.required and "not a boolean" in pol.detail


def test_binaries_found_next_to_the_interpreter(monkeypatch) -> None:
    """The venv's console scripts are found even when the venv is not on PATH."""
    monkeypatch.delenv("NOMOS_NODE_BIN", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    check = next(c for c in HostDeployer().preflight() if c.name == "nomos-node binary")
    assert check.ok, check.detail
    assert str(Path(sys.executable).parent) in check.detail


async def test_a_run_that_fails_to_deploy_leaves_no_index_entry(use_fake_node, run_index, tmp_path: Path,
                                                                monkeypatch) -> None:
    from nomos_testing.observe.console import RunConsole
    from nomos_testing.scenario.builder import scenario
    from nomos_testing.scenario.run import ScenarioRun

    monkeypatch.setenv("FAKE_NODE_EXIT", "all")  # every node exits at start: deployment fails
    plan = scenario(name="broken", validators=1, executors=0, duration=10, slot_duration=1.0)
    result = await ScenarioRun(plan, HostDeployer(), tmp_path / "broken", "broken-1",
                               RunConsole(force_plain=True)).run()
    assert result.exit_code == 2 and result.report.error
    assert index.entries() == []
