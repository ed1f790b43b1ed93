"""scenarios/da.toml end to end on the host runner with real `nomos-node` / `nomos-executor` processes: the
channels are inscribed, blobs dispersed at the rate through both executors are included in every chain, a
sample is fetched back from the members of every subnetwork, verified and reconstructed. (An unreachable
subnetwork: the node's process tests answer 503 dispersal_failed, tests/node/test_da_node.py; the workload's
record of it: tests/framework/test_da_workload.py.)"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.framework.test_chaos_scenarios import run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def check_da_report(out: Path, report: dict, nodes: set[str]) -> dict:
    results = {e["name"]: e for e in report["expectations"]}
    assert set(results) == {"consensus_liveness", "da_inclusion"}
    figures = results["da_inclusion"]["figures"]
    assert figures["planned_channels"] == 2 and figures["inscribed"] == 2, figures
    assert set(figures["nodes"]) == nodes
    for node in figures["nodes"].values():
        assert node["blobs"] >= node["required_blobs"] >= 1, node
    retrieval = figures["retrievability"]
    assert retrieval["sampled"] == retrieval["retrieved"] == 5, retrieval
    for blob in retrieval["blobs"].values():
        assert blob["reconstructed"] and blob["rejected"] == 0 and blob["missing"] == [], blob
        assert blob["verified"] == len(blob["served_by"]) >= 2 and blob["historic_sampling"] is True, blob
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line.strip()]
    dispersals = [e for e in events if e["kind"] == "da.disperse"]
    assert report["events"]["da.disperse"] == figures["dispersed"] == len(dispersals)
    per_executor = Counter(e["executor"] for e in dispersals if e["ok"])
    assert set(per_executor) == {"executor-0", "executor-1"}, per_executor
    return figures


def test_the_da_scenario_passes_on_the_host_runner(tmp_path: Path) -> None:
    out = tmp_path / "da"
    done, report = run_scenario("scenarios/da.toml", out, "--seed", "5", "-t", "60")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    figures = check_da_report(out, report, {"validator-0", "validator-1", "validator-2", "executor-0",
                                            "executor-1"})
    assert figures["dispersed_ok"] >= 0.9 * figures["dispersed"], figures
