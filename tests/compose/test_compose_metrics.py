"""Metric expectations and the metrics snapshot on the compose runner, for real: the reference node in
containers, the stack's Prometheus, the `nomos-testing` CLI. One run with a passing and a failing metric
expectation (docs/scenarios.md, `metric`; docs/observability.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nomos_testing.runners.compose.project import labelled_runs

REPO = Path(__file__).resolve().parents[2]

SCENARIO = """
name = "metrics-compose"
duration = 8
[topology]
validators = 2
executors = 0
layout = "star"
[consensus]
slot_duration = 1.0

[[expectations]]
kind = "metric"
name = "height"
query = "consensus_tip_height"
op = ">"
threshold = 0

[[expectations]]
kind = "metric"
name = "memory-tiny"
query = "process_resident_memory_bytes"
op = "<"
threshold = 1000
over = "max"
"""


def test_metric_expectations_and_the_snapshot_on_compose(images: dict[str, str], tmp_path: Path) -> None:
    scenario, out = tmp_path / "metrics.toml", tmp_path / "run"
    scenario.write_text(SCENARIO, encoding="utf-8")
    env = {**os.environ, "POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}
    env.pop("NOMOS_GRAFANA_IMAGE", None)
    done = subprocess.run([str(Path(sys.executable).with_name("nomos-testing")), "run", str(scenario),
                           "--runner", "compose", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    results = {e["name"]: e for e in report["expectations"]}
    height = results["metric:height"]
    assert height["passed"], height
    assert set(height["figures"]["series"]) == {"validator-0", "validator-1"}
    memory = results["metric:memory-tiny"]
    assert not memory["passed"] and memory["figures"]["failing"] == ["validator-0", "validator-1"]
    assert all(value > 10e6 for value in memory["figures"]["series"].values())  # the node's process collector
    assert "2 of 2 series fail process_resident_memory_bytes < 1000 (max)" in memory["message"]

    assert report["prometheus_url"] == report["cluster"]["prometheus_url"]
    meta = json.loads((out / "metrics" / "meta.json").read_text())
    assert meta["source"] == "prometheus" and meta["errors"] == {}
    assert meta["prometheus_url"] == report["prometheus_url"]
    lines = [json.loads(line) for line in (out / "metrics" / "series.jsonl").read_text().splitlines()]
    assert {(line["name"], line["node"]) for line in lines} == \
        {(name, node) for name in meta["series"] for node in ("validator-0", "validator-1")}
    assert all(line["points"] for line in lines if line["name"] in ("height", "memory", "cpu"))
    assert report["run_id"] not in labelled_runs()
