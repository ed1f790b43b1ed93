"""The compose runner end to end with the reference node in containers: the smoke scenario, Prometheus,
node control, crash reporting, log collection, teardown, preserve and clean."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import yaml

from nomos_testing.errors import DeploymentError
from nomos_testing.nodes.client import NodeClient
from nomos_testing.observe.events import EventLog, read_events
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.compose.cluster import ComposeCluster
from nomos_testing.runners.compose.compose_cli import ComposeCli
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.compose.stack import StackSpec
from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.cleanup import clean_index
from nomos_testing.runners.shared.state import read_state
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.manual import tear_down
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.topology.model import GeneratedTopology
from tests.compose.compose_helpers import leftovers, make_topology

REPO = Path(__file__).resolve().parents[2]
READY = ReadinessTimeouts(total_s=60.0)


async def _deploy(topology: GeneratedTopology, run_id: str, run_dir: Path) -> ComposeCluster:
    cluster = await ComposeDeployer().deploy(topology, run_id, run_dir)
    await wait_ready(cluster, topology, READY)
    return cluster


async def _height(url: str) -> int:
    client = NodeClient("n", url)
    try:
        return int((await client.consensus_info())["height"])
    finally:
        await client.close()


async def _prometheus_heights(prometheus_url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(
            f"{prometheus_url}/api/v1/query", params={"query": "consensus_tip_height"}) as response:
        body = await response.json()
    assert body["status"] == "success", body
    return {sample["metric"]["job"]: float(sample["value"][1]) for sample in body["data"]["result"]}


def test_smoke_scenario_passes_on_compose(images: dict[str, str], compose_cli: ComposeCli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = {**os.environ, "POL_PROOF_DEV_MODE": "true"}
    env.pop("NOMOS_GRAFANA_IMAGE", None)  # no Grafana: the run says so once (tests/compose/test_compose_grafana.py)
    done = subprocess.run([str(Path(sys.executable).with_name("nomos-testing")), "run", "scenarios/smoke.toml",
                           "--runner", "compose", "-t", "8", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["runner"] == "compose" and report["passed"] is True
    assert report["cluster"]["compose_cli"] == f"{compose_cli.display()} {compose_cli.version}"  # the chosen one
    assert report["cluster"]["prometheus_url"].startswith("http://127.0.0.1:")
    assert "prometheus http://127.0.0.1:" in done.stderr  # the console shows where Prometheus is
    assert done.stderr.count("Grafana skipped: NOMOS_GRAFANA_IMAGE is not set") == 1
    assert report["cluster"]["grafana_url"] is None
    grafana_events = [e for e in read_events(out / "events.jsonl") if e["kind"].startswith("grafana.")]
    assert [(e["kind"], e["reason"]) for e in grafana_events] == [("grafana.skipped", "NOMOS_GRAFANA_IMAGE is not set")]
    for name in ("nomos-node-0.log", "nomos-node-1.log", "nomos-node-2.log", "nomos-executor-0.log"):
        assert "node started" in (out / "logs" / name).read_text(), f"{name} lacks the node's stdout"
    assert (out / "compose.yaml").is_file() and (out / "configs" / "executor-0.yaml").is_file()
    assert leftovers(report["run_id"]) == {}


def test_up_prints_prometheus_and_down_removes_the_stack(images: dict[str, str], compose_cli: ComposeCli,
                                                          tmp_path: Path) -> None:
    cli = str(Path(sys.executable).with_name("nomos-testing"))
    env = {**os.environ, "POL_PROOF_DEV_MODE": "true"}
    up = subprocess.run([cli, "up", "scenarios/smoke.toml", "--runner", "compose", "-v", "1", "-e", "0",
                         "--out", str(tmp_path / "up")], cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=240, check=False)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    shown = json.loads(up.stdout)
    try:
        assert shown["prometheus_url"].startswith("http://127.0.0.1:")
        assert [node["name"] for node in shown["nodes"]] == ["validator-0"]
        assert leftovers(shown["run_id"]) != {}
        state = read_state(Path(shown["run_dir"]))
        assert state is not None and state.runner_state["compose_cli"] == list(compose_cli.argv)
    finally:
        down = subprocess.run([cli, "down", shown["run_dir"]], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert leftovers(shown["run_id"]) == {}


async def test_prometheus_control_logs_and_teardown(images: dict[str, str], compose_cli: ComposeCli, tmp_path: Path,
                                                    unique_run_id: str) -> None:
    topology = make_topology(validators=3)
    cluster = await _deploy(topology, unique_run_id, tmp_path)
    try:
        assert cluster.prometheus_url is not None
        heights: dict[str, float] = {}
        for _ in range(40):  # scrape interval 2 s: every node shows up within a few scrapes
            heights = await _prometheus_heights(cluster.prometheus_url)
            if set(heights) == {n.name for n in topology.nodes}:
                break
            await asyncio.sleep(0.5)
        assert set(heights) == {"validator-0", "validator-1", "validator-2"}, heights

        # restart through compose: same URL, data and config survive, the node comes back and catches up
        victim = next(n for n in cluster.nodes if n.name == "validator-1")
        before = await _height(victim.api_url)
        assert cluster.control is not None
        events = EventLog(tmp_path / "events.jsonl")
        cluster.control.bind_events(events)
        await cluster.control.restart("validator-1")
        assert await cluster.crashed() == {}
        await wait_ready(cluster, topology, READY)
        assert await _height(victim.api_url) >= before
        await cluster.control.stop("validator-2")
        assert await cluster.crashed() == {}, "a node stopped on purpose is not a crash"
        await cluster.control.start("validator-2")
        await wait_ready(cluster, topology, READY)
        events.close()
        recorded = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        assert [(e["kind"], e["node"]) for e in recorded] == [
            ("node.restart", "validator-1"), ("node.stop", "validator-2"), ("node.start", "validator-2")]

        await cluster.collect_logs(tmp_path / "logs")
        logs = {p.name: p.read_text() for p in (tmp_path / "logs").iterdir() if p.is_file()}
        assert {"nomos-node-0.log", "nomos-node-1.log", "nomos-node-2.log", "prometheus.log"} <= set(logs)
        assert logs["nomos-node-1.log"].count("node started") == 2  # both lives of the restarted node
    finally:
        await cluster.teardown()
    assert leftovers(unique_run_id) == {}
    await cluster.teardown()  # idempotent


class _BrokenNodeDeployer(ComposeDeployer):
    """Writes an invalid config for validator-1, so that node exits at start (config error, exit 2)."""

    def write_stack(self, topology: GeneratedTopology, spec: StackSpec, run_dir: Path) -> Path:
        compose_file = super().write_stack(topology, spec, run_dir)
        config_file = run_dir / "configs" / "validator-1.yaml"
        config = yaml.safe_load(config_file.read_text())
        config["genesis"]["active_slot_coeff"] = 1.5
        config_file.write_text(yaml.safe_dump(config))
        return compose_file


async def test_node_that_exits_is_reported_with_its_log_tail(images: dict[str, str], compose_cli: ComposeCli,
                                                             tmp_path: Path, unique_run_id: str) -> None:
    plan = scenario(name="broken", validators=2, executors=0, seed=3, duration=5, slot_duration=1.0)
    result = await ScenarioRun(plan, _BrokenNodeDeployer(), tmp_path, unique_run_id).run()
    assert result.exit_code == 2
    error = result.report.error or ""
    assert "validator-1" in error and "active_slot_coeff" in error, error  # the node's own words, from its log
    assert re.search(r"\b1 (container|node)\(s\) exited", error), error  # only the broken node
    assert "active_slot_coeff" in (tmp_path / "logs" / "nomos-node-1.log").read_text()
    assert leftovers(unique_run_id) == {}


async def test_container_dying_during_readiness_is_reported(images: dict[str, str], compose_cli: ComposeCli,
                                                            tmp_path: Path, unique_run_id: str) -> None:
    topology = make_topology(validators=2)
    cluster = await ComposeDeployer().deploy(topology, unique_run_id, tmp_path)
    try:
        victim = next(c for c in await cluster.project.containers() if c.service == "validator-1")
        # v2's `up -d` returns sooner than v1's: wait for the node's first log line, so there is a tail to report
        for _ in range(100):
            if "node started" in await cluster.project.logs(victim.container_id):
                break
            await asyncio.sleep(0.1)
        subprocess.run(["docker", "kill", victim.container_id], check=True, capture_output=True, timeout=60)
        with pytest.raises(DeploymentError) as failure:
            await wait_ready(cluster, topology, READY)
        message = str(failure.value)
        assert "validator-1: container exited with code 137" in message, message
        assert "node started" in message  # the tail of the node's own log
        assert message.startswith("1 node(s) exited during readiness"), message
    finally:
        await cluster.teardown()
    assert leftovers(unique_run_id) == {}


async def test_preserve_keeps_the_stack_until_down(images: dict[str, str], compose_cli: ComposeCli, tmp_path: Path,
                                                   unique_run_id: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COMPOSE_RUNNER_PRESERVE", "1")
    topology = make_topology(validators=1)
    cluster = await _deploy(topology, unique_run_id, tmp_path)
    await cluster.teardown()
    kept = leftovers(unique_run_id)
    assert set(kept) == {"container", "network", "volume"} and len(kept["container"]) == 2, kept
    message = capsys.readouterr().err
    assert "COMPOSE_RUNNER_PRESERVE=1" in message and f"nomos-testing down {unique_run_id}" in message
    assert await _height(cluster.nodes[0].api_url) >= 0  # still serving
    torn_down = await tear_down(str(tmp_path))  # `nomos-testing down <run dir>`: the same CLI removes it
    assert torn_down.removed and torn_down.nodes == ["validator-0"] and leftovers(unique_run_id) == {}


_DEPLOY_AND_EXIT = """
import asyncio, sys
from pathlib import Path
from tests.compose.compose_helpers import make_topology
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.shared import index
index.register(sys.argv[1], Path(sys.argv[2]), "compose", "run")
asyncio.run(ComposeDeployer().deploy(make_topology(validators=1), sys.argv[1], Path(sys.argv[2])))
"""


async def test_clean_removes_abandoned_runs_only(images: dict[str, str], compose_cli: ComposeCli, tmp_path: Path,
                                                 unique_run_id: str) -> None:
    # a run whose framework process died without teardown (deploys, then exits)
    abandoned = unique_run_id + "-gone"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _DEPLOY_AND_EXIT, abandoned, str(tmp_path / "gone")], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    # a run this (live) process is still driving
    index.register(unique_run_id, tmp_path / "live", "compose", "run")
    live = await ComposeDeployer().deploy(make_topology(validators=1), unique_run_id, tmp_path / "live")
    try:
        assert leftovers(abandoned)
        leftover_check = next(c for c in ComposeDeployer().preflight() if c.name == "no leftovers of earlier runs")
        assert not leftover_check.ok and abandoned in leftover_check.detail
        removed, notes = await clean_index()
        assert not any(abandoned in note for note in notes), notes
        assert any(r.item == f"compose project nomos-{abandoned}" for r in removed), removed
        assert leftovers(abandoned) == {}
        await ComposeDeployer().sweep()  # `clean --all`, by label: the live run's owner is this process
        assert set(leftovers(unique_run_id)) == {"container", "network", "volume"}, "clean hit a live run"
    finally:
        await live.teardown()
        index.unregister(unique_run_id)
    assert leftovers(unique_run_id) == {}


def test_doctor_checks_pass(images: dict[str, str], compose_cli: ComposeCli) -> None:
    checks = {check.name: check for check in ComposeDeployer().preflight()}
    for name in ("Docker daemon reachable", "compose CLI", "node image", "Prometheus image", "free disk",
                 "compose runner settings"):
        assert checks[name].ok, checks[name]
    assert checks["Grafana (optional)"].required is False  # listed, never a reason for exit 2
    assert checks["compose CLI"].detail.startswith(f"{compose_cli.display()} {compose_cli.version}")
