"""End to end through the real `nomos-testing` CLI with real `nomos-node` / `nomos-executor` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from xml.etree import ElementTree as ET

import psutil
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "nomos_testing.cli"]
RUN_TIMEOUT_S = 150
# The host runner's Prometheus when Debian's `prometheus` is installed (CI installs it; docs/observability.md)
PROMETHEUS_LOG = ["prometheus.log"] if shutil.which("prometheus") else []
PROMETHEUS_URL = ["prometheus_url"] if shutil.which("prometheus") else []

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def env(**extra: str) -> dict[str, str]:
    values = dict(os.environ)
    values.update({"POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"})
    values.pop("NOMOS_NODE_BIN", None)
    values.pop("NOMOS_EXECUTOR_BIN", None)
    values.update(extra)
    return values


def scenario_file(tmp_path: Path, *, duration: float = 10, slot: float = 1.0, validators: int = 2, executors: int = 1,
                  extra: str = "") -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(f"""
name = "e2e"
duration = {duration}
[topology]
validators = {validators}
executors = {executors}
layout = "star"
[consensus]
slot_duration = {slot}
{extra}
[[expectations]]
kind = "consensus_liveness"
""", encoding="utf-8")
    return path


def cli(*args: str | Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], cwd=REPO, env=env(**extra_env), capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)


def node_processes(marker: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(str(marker) in part for part in process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return [p for p in found if p.pid != os.getpid()]


def assert_no_node_left(marker: Path) -> None:
    deadline = time.monotonic() + 5
    while (left := node_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"node processes left behind: {[p.cmdline() for p in left]}"


def test_smoke_run_passes_and_writes_the_run_directory(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli("run", scenario_file(tmp_path), "--out", out, "--seed", "42")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("plan.json", "report.json", "junit.xml", "events.jsonl", "blocks.jsonl", "run.json"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "configs").iterdir()) == ["executor-0.yaml", "validator-0.yaml",
                                                                    "validator-1.yaml"]
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["nomos-executor-0.log", "nomos-node-0.log",
                                                                 "nomos-node-1.log", *PROMETHEUS_LOG]
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] is True and report["seed"] == 42 and report["runner"] == "host"
    assert all(node["ready_s"] is not None and node["height"] >= 5 for node in report["nodes"])
    liveness = report["expectations"][0]
    assert liveness["name"] == "consensus_liveness" and liveness["passed"]
    assert {"expected_blocks", "min_height", "max_height", "lag", "tips", "libs"} <= set(liveness["figures"])
    assert report["block_feed"]["blocks"] >= 5 and report["block_feed"]["gaps"] == 0
    assert json.loads((out / "plan.json").read_text())["seed"] == 42
    kinds = {json.loads(line)["kind"] for line in (out / "events.jsonl").read_text().splitlines()}
    assert {"node.start", "readiness.node_ready", "expectation", "node.stop"} <= kinds
    assert ET.parse(out / "junit.xml").getroot().get("failures") == "0"
    assert "PASSED" in result.stdout and str(out) in result.stdout
    assert_no_node_left(out)


def test_too_short_run_fails_with_exit_1_and_a_clear_message(tmp_path: Path) -> None:
    # 2 slots of 3 s: at most 4 blocks can exist when liveness is judged, fewer than the 5 required.
    out = tmp_path / "run"
    result = cli("run", scenario_file(tmp_path, duration=6, slot=3), "--out", out)
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] is False
    assert "at least 5 are needed" in report["expectations"][0]["message"]
    assert "FAILED" in result.stdout and "run longer" in result.stdout
    assert_no_node_left(out)


def test_missing_node_binary_exits_2_with_a_remedy(tmp_path: Path) -> None:
    result = cli("run", scenario_file(tmp_path), "--out", tmp_path / "run", NOMOS_NODE_BIN="/nonexistent")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "/nonexistent" in result.stdout and "fix:" in result.stdout
    doctor = cli("doctor", NOMOS_NODE_BIN="/nonexistent")
    assert doctor.returncode == 2 and "missing" in doctor.stdout and "/nonexistent" in doctor.stdout


def test_doctor_passes_and_reports_pol_dev_mode() -> None:
    assert cli("doctor").returncode == 0
    unset = subprocess.run([*CLI, "doctor"], cwd=REPO, capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in env().items() if k != "POL_PROOF_DEV_MODE"})
    assert unset.returncode == 2
    assert "POL_PROOF_DEV_MODE" in unset.stdout and "slower" in unset.stdout
    assert "export POL_PROOF_DEV_MODE=true" in unset.stdout


def test_malformed_scenario_file_exits_2_naming_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[topology]\nvalidators = 2\nexecutors = "one"\n', encoding="utf-8")
    result = cli("run", bad)
    assert result.returncode == 2
    assert f"{bad}:4: topology.executors" in result.stdout and "integer" in result.stdout
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[topology\n', encoding="utf-8")
    result = cli("run", broken)
    assert result.returncode == 2 and "line 2" in result.stdout


def test_impossible_topology_exits_2(tmp_path: Path) -> None:
    result = cli("run", scenario_file(tmp_path), "-v", "0", "-e", "0")
    assert result.returncode == 2 and "no node" in result.stdout and "fix:" in result.stdout
    result = cli("run", scenario_file(tmp_path), "--runner", "k8s")
    # no cluster can run here: the k8s runner's preflight stops the run before anything is created
    assert result.returncode == 2 and "doctor --runner k8s" in result.stdout, result.stdout


def test_readiness_timeout_names_the_nodes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli("run", scenario_file(tmp_path, extra="[readiness]\ntimeout = 0.3\n"), "--out", out)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not ready after" in result.stdout and "validator-0" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["passed"] is False and "not ready" in report["error"]
    assert_no_node_left(out)


def test_sigint_mid_run_exits_130_and_leaves_no_process(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # A shell's background jobs inherit SIGINT ignored; give the CLI the default disposition a terminal has.
    process = subprocess.Popen([*CLI, "run", str(scenario_file(tmp_path, duration=60)), "--out", str(out)],
                               cwd=REPO, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "running for" in line:
            break
    assert node_processes(out), "".join(seen)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 130, "".join(seen) + rest
    assert_no_node_left(out)
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True


def test_up_then_down(tmp_path: Path) -> None:
    out = tmp_path / "up"
    result = cli("up", scenario_file(tmp_path), "--out", out)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        info = json.loads(result.stdout)
        assert set(info) == {"run_id", "run_dir", "nodes", *PROMETHEUS_URL}
        assert [n["name"] for n in info["nodes"]] == ["validator-0", "validator-1", "executor-0"]
        for node in info["nodes"]:
            assert set(node) >= {"name", "role", "api", "testing_api"}
            with urllib.request.urlopen(node["api"] + "/cryptarchia/info", timeout=5) as answer:
                assert answer.status == 200
        assert len(node_processes(out)) >= 3
    finally:
        down = cli("down", out)
    assert down.returncode == 0, down.stdout + down.stderr
    assert_no_node_left(out)
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    names = ["validator-0", "validator-1", "executor-0"]
    assert [e["node"] for e in events if e["kind"] == "node.start"] == names
    assert sorted(e["node"] for e in events if e["kind"] == "node.stop") == sorted(names)
    again = cli("down", tmp_path / "nothing-here")
    assert again.returncode == 2 and "fix:" in again.stdout


def test_two_runs_at_the_same_time_both_pass(tmp_path: Path) -> None:
    scenario = scenario_file(tmp_path, validators=2, executors=0)
    runs = [subprocess.Popen([*CLI, "run", str(scenario), "--out", str(tmp_path / f"run{i}")], cwd=REPO, env=env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    outputs = [run.communicate(timeout=RUN_TIMEOUT_S)[0] for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output
    listens = [{yaml.safe_load(config.read_text())["api"]["listen"]
                for config in (tmp_path / f"run{i}" / "configs").iterdir()} for i in range(2)]
    assert len(listens[0]) == len(listens[1]) == 2 and listens[0].isdisjoint(listens[1])
    assert_no_node_left(tmp_path)


def test_clean_stops_a_cluster_left_up(tmp_path: Path) -> None:
    runs_root = REPO / ".runs"
    result = cli("up", scenario_file(tmp_path, validators=1, executors=0))
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = Path(json.loads(result.stdout)["run_dir"])
    try:
        assert run_dir.parent == runs_root.resolve() and node_processes(run_dir)
        cleaned = cli("clean")
        assert cleaned.returncode == 0 and "removed" in cleaned.stdout
        assert_no_node_left(run_dir)
    finally:
        cli("down", run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
