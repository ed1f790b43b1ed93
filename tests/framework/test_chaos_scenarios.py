"""The shipped fault scenarios end to end on the host runner, with real `nomos-node` processes:
scenarios/chaos.toml passes (restarts, a short partition, a pause, a kill-and-start, then the fault checks),
and scenarios/chaos-long-partition.toml fails its safety expectation (exit 1) naming the conflicting LIBs.
chaos.toml on compose: tests/compose/test_compose_chaos.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nomos_testing.runners.host import HostDeployer

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
CHAOS_NEEDS = frozenset({"restart", "kill", "start", "pause", "partition"})


def needs_fault_capabilities() -> None:
    missing = sorted(CHAOS_NEEDS - HostDeployer.capabilities)
    unavailable = HostDeployer.unavailable_capabilities() if hasattr(HostDeployer, "unavailable_capabilities") else {}
    blocked = sorted(CHAOS_NEEDS & set(unavailable))
    if missing or blocked:
        pytest.skip(f"the host runner cannot do {', '.join(missing + blocked)} here "
                    f"({'; '.join(f'{c}: {unavailable[c]}' for c in blocked) or 'not offered'})")


def run_scenario(path: str, out: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = {**os.environ, "POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}
    env.pop("NOMOS_NODE_BIN", None)
    env.pop("NOMOS_EXECUTOR_BIN", None)
    done = subprocess.run([sys.executable, "-m", "nomos_testing.cli", "run", path, "--out", str(out), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return done, report


def check_chaos_report(report: dict[str, Any]) -> None:
    """What every runner's chaos run must show: each scripted fault applied and removed by the nemesis with a
    named mechanism, the random restarts applied, every fault check held, and the transactions sent all along
    judged across the reorgs: none in a chain twice, the supply conserved on every node."""
    faults = report["faults"]
    scripted = {f["kind"]: f for f in faults if f["origin"] == "scripted"}
    assert set(scripted) == {"partition", "pause", "kill"}, faults
    for fault in scripted.values():
        assert fault["applied_at_s"] is not None and fault["removed_by"] == "nemesis", fault
        assert fault["mechanism"] and fault["error"] is None, fault
    assert scripted["partition"]["fault_id"], scripted["partition"]
    restarts = [f for f in faults if f["origin"] == "restarts"]
    assert restarts and all(f["applied_at_s"] is not None for f in restarts)
    results = {e["name"]: e for e in report["expectations"]}
    assert set(results) == {"consensus_liveness", "safety", "convergence", "recovery", "partition_liveness",
                            "tx_inclusion"}
    assert all(e["passed"] for e in results.values()), results
    assert report["events"]["fault.apply"] == len(faults)
    figures = results["tx_inclusion"]["figures"]
    assert figures["accepted"] >= 300, figures  # 4.5 / s for 120 s, less what the faults refused
    assert figures["min_share"] == 0.95
    assert figures["included"] >= 0.95 * figures["accepted_before_cooldown"], figures
    assert figures["double_included"] == 0, figures
    assert set(figures["nodes"]) == {"validator-0", "validator-1", "validator-2", "executor-0"}
    for name, node in figures["nodes"].items():
        assert node["double_included"] == [], (name, node)
        assert node["supply"] == figures["genesis_supply"] - node["fees_burned"] == \
            figures["genesis_supply"] - node["fees_in_chain"], (name, node)
    assert report["events"]["tx.submit"] == figures["submitted"]


def transactions_rolled_back(run_dir: Path, report: dict[str, Any]) -> int:
    """Transactions in blocks the run saw (blocks.jsonl) that are not on the final canonical chain: what the
    reorgs took back. The judged chains held every accepted transaction once all the same."""
    blocks = {}
    for line in (run_dir / "blocks.jsonl").read_text().splitlines():
        if line.strip():
            block = json.loads(line)
            blocks[block["id"]] = block
    canonical: set[str] = set()
    for node in report["nodes"]:
        cursor = node["tip"]
        while cursor in blocks and cursor not in canonical:
            canonical.add(cursor)
            cursor = blocks[cursor]["parent"]
    return sum(int(b["tx_count"]) for b in blocks.values() if b["id"] not in canonical)


def test_chaos_scenario_passes_on_the_host_runner(tmp_path: Path) -> None:
    needs_fault_capabilities()
    done, report = run_scenario("scenarios/chaos.toml", tmp_path / "chaos", "--seed", "8")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    check_chaos_report(report)
    # validator-0's blocks of the partition carried transactions; the heal rolled them back
    assert transactions_rolled_back(tmp_path / "chaos", report) > 0
    assert (tmp_path / "chaos" / "faults.json").is_file()


def test_a_partition_longer_than_k_fails_safety_naming_the_conflicting_libs(tmp_path: Path) -> None:
    needs_fault_capabilities()
    done, report = run_scenario("scenarios/chaos-long-partition.toml", tmp_path / "long", "--seed", "3")
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-3000:]
    (safety,) = report["expectations"]
    assert safety["name"] == "safety" and not safety["passed"]
    assert "on conflicting branches" in safety["message"], safety["message"]
    halves = ({"validator-0", "validator-1"}, {"validator-2", "validator-3"})
    named = {word.rstrip("'s") for word in safety["message"].replace("'s", " ").split() if "validator-" in word}
    assert named & halves[0] and named & halves[1], safety["message"]  # one node of each side
    assert report["verdict"].startswith("FAILED: safety:")
    partition = report["faults"][0]
    assert partition["kind"] == "partition" and partition["removed_by"] == "nemesis"
