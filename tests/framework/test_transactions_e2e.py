"""scenarios/transactions.toml end to end on the host runner with real `nomos-node` processes: transfers are
accepted, included in every chain once, the supply is conserved on every node, and the report carries the
figures. With a nemesis (pause and restart) alongside, conservation and no double inclusion still hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.framework.test_chaos_scenarios import REPO, run_scenario

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def test_the_transactions_scenario_passes_on_the_host_runner(tmp_path: Path) -> None:
    done, report = run_scenario("scenarios/transactions.toml", tmp_path / "tx", "--seed", "4", "-t", "40")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    results = {e["name"]: e for e in report["expectations"]}
    assert set(results) == {"consensus_liveness", "tx_inclusion"}
    figures = results["tx_inclusion"]["figures"]
    assert figures["accepted"] >= 100, figures  # 4.5 / s for 40 s from 20 wallets: chained spends
    assert figures["included"] >= 0.9 * figures["accepted_before_cooldown"]
    assert figures["double_included"] == 0
    for node in figures["nodes"].values():
        assert node["supply"] == figures["genesis_supply"] - node["fees_burned"], node
    assert figures["latency"]["p95_slots"] is not None
    assert report["events"]["tx.submit"] == figures["submitted"]


def test_transactions_under_a_nemesis_keep_conservation_and_single_inclusion(tmp_path: Path) -> None:
    scenario = tmp_path / "tx-chaos.toml"
    text = (REPO / "scenarios" / "transactions.toml").read_text(encoding="utf-8")
    text = text.replace("duration = 90", "duration = 45")
    scenario.write_text(text + '''
[[workloads]]
kind = "nemesis"
recovery = 10

[[workloads.faults]]
at = "10s"
fault = "pause"
node = "validator-1"
duration = "6s"

[[workloads.faults]]
at = "22s"
fault = "restart"
node = "validator-2"
''', encoding="utf-8")
    done, report = run_scenario(str(scenario), tmp_path / "run", "--seed", "6")
    results = {e["name"]: e for e in report.get("expectations", [])}
    assert "tx_inclusion" in results, done.stdout[-4000:] + done.stderr[-3000:]
    figures = results["tx_inclusion"]["figures"]
    assert figures["double_included"] == 0, figures
    for name, node in figures["nodes"].items():
        assert node["supply"] == figures["genesis_supply"] - node["fees_burned"] == \
            figures["genesis_supply"] - node["fees_in_chain"], (name, node)
    assert done.returncode == 0, results
