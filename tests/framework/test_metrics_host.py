"""Metrics on the host runner, for real: the real `nomos-node` processes, Debian's real `prometheus` binary,
the real `nomos-testing` CLI. One run (module fixture) carries every metric verdict — a pass, a threshold
failure, a PromQL syntax error, an empty result — plus a node that joins mid-run; the tests read what it left:
report.json, metrics/ (docs/observability.md), prometheus/, logs/, and what is still running."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "nomos_testing.cli"]
SNAPSHOT_NAMES = {"height", "lib", "peers", "blocks_imported", "reorgs", "mempool_pending", "transactions_included",
                  "da_shares_stored", "da_shares_verified", "cpu", "memory"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("prometheus") is None,
                                 reason="no `prometheus` binary (apt-get install prometheus)")]

SCENARIO = """
name = "metrics-host"
duration = 10
[topology]
validators = 2
executors = 0
layout = "star"
[consensus]
slot_duration = 1.0
security_param = 5     # the workload's cooldown is about k blocks

[[workloads]]
kind = "nemesis"
recovery = "0s"
[[workloads.faults]]
at = "2s"
fault = "join"
role = "validator"

[[expectations]]
kind = "metric"
name = "height"
query = "consensus_tip_height"
op = ">"
threshold = 0

[[expectations]]
kind = "metric"
name = "peers-min"
query = "network_peers"
op = ">="
threshold = 0
over = "min"

[[expectations]]
kind = "metric"
name = "too-high"
query = "max by (node) (consensus_tip_height)"
op = ">"
threshold = 1e9
over = "max"

[[expectations]]
kind = "metric"
name = "syntax"
query = "consensus_tip_height{"
op = ">"
threshold = 0

[[expectations]]
kind = "metric"
name = "empty"
query = "no_such_metric_anywhere"
op = "<"
threshold = 1
"""


def env(**extra: str) -> dict[str, str]:
    values = {**os.environ, "POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}
    for name in ("NOMOS_NODE_BIN", "NOMOS_EXECUTOR_BIN", "NOMOS_HOST_PROMETHEUS", "NOMOS_TESTS_KEEP_LOGS"):
        values.pop(name, None)
    return values | extra


def cli(*args: str | Path, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *map(str, args)], cwd=REPO, env=env(**extra_env), capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL)


def processes_in(run_dir: Path) -> list[psutil.Process]:
    """Anything still running whose command line names the run directory (nodes, Prometheus)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if any(str(run_dir) in part for part in process.info["cmdline"] or []) and process.pid != os.getpid():
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


class Run:
    def __init__(self, out: Path, result: subprocess.CompletedProcess[str], took_s: float) -> None:
        self.out, self.result, self.took_s = out, result, took_s
        self.report: dict[str, Any] = json.loads((out / "report.json").read_text())

    def expectation(self, name: str) -> dict[str, Any]:
        return next(e for e in self.report["expectations"] if e["name"] == f"metric:{name}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("metrics-host")
    scenario = folder / "scenario.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    started = time.monotonic()
    result = cli("run", scenario, "--out", folder / "run", "--seed", "7")
    return Run(folder / "run", result, time.monotonic() - started)


def test_metric_verdicts_pass_and_fail_as_they_should(run: Run) -> None:
    assert run.result.returncode == 1, run.result.stdout + run.result.stderr
    height = run.expectation("height")
    assert height["passed"], height
    assert set(height["figures"]["series"]) == {"validator-0", "validator-1", "validator-2"}
    assert all(value > 0 for value in height["figures"]["series"].values())
    assert {k: height["figures"][k] for k in ("query", "op", "threshold", "over")} == \
        {"query": "consensus_tip_height", "op": ">", "threshold": 0, "over": "instant"}
    assert run.expectation("peers-min")["passed"]
    assert run.expectation("peers-min")["figures"]["window_s"] > 5

    too_high = run.expectation("too-high")
    assert not too_high["passed"]
    assert too_high["figures"]["failing"] == sorted(too_high["figures"]["series"])
    assert "3 of 3 series fail max by (node) (consensus_tip_height) > 1e+09 (max)" in too_high["message"]

    syntax = run.expectation("syntax")
    assert not syntax["passed"]
    assert "consensus_tip_height{" in syntax["message"] and "bad_data" in syntax["message"]
    assert "parse error" in syntax["figures"]["error"]

    empty = run.expectation("empty")
    assert not empty["passed"] and "returned no series" in empty["message"]
    assert "no_such_metric_anywhere" in empty["message"]
    assert "FAILED" in run.result.stdout


def test_prometheus_scraped_every_node_and_the_snapshot_keeps_the_series(run: Run) -> None:
    assert run.report["prometheus_url"].startswith("http://127.0.0.1:")
    assert run.report["cluster"]["prometheus_url"] == run.report["prometheus_url"]
    config = (run.out / "prometheus" / "prometheus.yml").read_text()
    assert "validator-2" in config  # rewritten when the node joined, then SIGHUP
    assert (run.out / "logs" / "prometheus.log").stat().st_size > 0
    events = [json.loads(line) for line in (run.out / "events.jsonl").read_text().splitlines()]
    assert [e["url"] for e in events if e["kind"] == "prometheus.started"] == [run.report["prometheus_url"]]

    meta = json.loads((run.out / "metrics" / "meta.json").read_text())
    assert meta["format"] == 1 and meta["source"] == "prometheus" and meta["errors"] == {}
    assert meta["prometheus_url"] == run.report["prometheus_url"]
    assert set(meta["series"]) == SNAPSHOT_NAMES and meta["step_s"] >= 1
    assert 10 < meta["end"] - meta["start"] < 60
    lines = [json.loads(line) for line in (run.out / "metrics" / "series.jsonl").read_text().splitlines()]
    assert {(line["name"], line["node"]) for line in lines} == \
        {(name, node) for name in SNAPSHOT_NAMES for node in ("validator-0", "validator-1", "validator-2")}
    for line in lines:
        assert set(line) == {"name", "node", "labels", "points"}
        assert "node" not in line["labels"] and line["labels"]["role"] == "validator"
        assert all(meta["start"] <= t <= meta["end"] + 1 and isinstance(v, float) for t, v in line["points"])
    heights = {line["node"]: line["points"] for line in lines if line["name"] == "height"}
    assert len(heights["validator-0"]) >= 5 and heights["validator-0"][-1][1] >= 5
    assert heights["validator-2"], "the node that joined mid-run was scraped"
    cpu = [v for line in lines if line["name"] == "cpu" for _, v in line["points"]]
    memory = [v for line in lines if line["name"] == "memory" for _, v in line["points"]]
    assert cpu and all(0 <= v < 4 for v in cpu) and max(cpu) > 0
    assert memory and all(10e6 < v < 2e9 for v in memory)


def test_prometheus_is_stopped_and_its_data_removed(run: Run) -> None:
    deadline = time.monotonic() + 5
    while (left := processes_in(run.out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [p.cmdline() for p in left]
    assert not (run.out / "prometheus" / "data").exists()  # metrics/ keeps what the report needs


def test_a_metric_expectation_without_prometheus_stops_before_deployment(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    for extra in ({"NOMOS_HOST_PROMETHEUS": "false"}, {"PATH": str(Path(sys.executable).parent)}):
        result = cli("run", scenario, "--out", tmp_path / "run", **extra)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "expectations[0] (metric) needs prometheus" in result.stdout, result.stdout
        assert not (tmp_path / "run" / "report.json").exists() or \
            json.loads((tmp_path / "run" / "report.json").read_text())["nodes"] == []
    assert "apt-get install prometheus" in result.stdout


def test_doctor_lists_prometheus_as_optional_with_the_install_command() -> None:
    found = cli("doctor", "--runner", "host")
    assert "ok  Prometheus (optional):" in found.stdout, found.stdout
    missing = cli("doctor", "--runner", "host", PATH=str(Path(sys.executable).parent))
    assert "warning  Prometheus (optional): no `prometheus` binary on PATH" in missing.stdout, missing.stdout
    assert "fix: apt-get install prometheus" in missing.stdout
    assert missing.returncode == found.returncode  # optional: never what makes doctor fail


def test_clean_stops_the_prometheus_of_a_cluster_left_up(tmp_path: Path) -> None:
    state = {"XDG_STATE_HOME": str(tmp_path / "state")}  # a private run index: `clean` sees this run only
    out = tmp_path / "up"
    up = cli("up", "--validators", "1", "--executors", "0", "--out", out, **state)
    assert up.returncode == 0, up.stdout + up.stderr
    shown = json.loads(up.stdout)
    assert shown["prometheus_url"].startswith("http://127.0.0.1:")
    prometheus = [p for p in processes_in(out) if "--config.file" in " ".join(p.cmdline())]
    assert len(prometheus) == 1 and prometheus[0].environ()["NOMOS_TESTING_NODE"] == "prometheus"
    listed = cli("clean", "--dry-run", **state)
    assert f"{shown['run_id']}/prometheus" in listed.stdout, listed.stdout
    cleaned = cli("clean", **state)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    deadline = time.monotonic() + 5
    while (left := processes_in(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, [p.cmdline() for p in left]


def test_a_host_run_without_prometheus_works_and_says_why(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text('name = "no-prometheus"\nduration = 2\n[topology]\nvalidators = 1\n[consensus]\n'
                        'slot_duration = 1.0\n', encoding="utf-8")
    result = cli("run", scenario, "--out", tmp_path / "run", NOMOS_HOST_PROMETHEUS="false")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    why = "no Prometheus: NOMOS_HOST_PROMETHEUS is false"
    assert report["prometheus_url"] is None and report["cluster"]["prometheus"] == why
    meta = json.loads((tmp_path / "run" / "metrics" / "meta.json").read_text())
    assert meta["source"] is None and meta["prometheus_url"] is None and meta["series"] == {}
    assert meta["errors"] == {"prometheus": why}
    assert (tmp_path / "run" / "metrics" / "series.jsonl").read_text() == ""
    assert not (tmp_path / "run" / "prometheus").exists()
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [e["reason"] for e in events if e["kind"] == "prometheus.skipped"] == ["NOMOS_HOST_PROMETHEUS is false"]
