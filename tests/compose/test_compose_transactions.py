"""scenarios/transactions.toml on the compose runner (reference nodes in containers) passes, as on the host runner
(tests/framework/test_transactions_e2e.py): transfers submitted to every container through its published API
are accepted, included in every chain once, and the supply is conserved on every node. One compose CLI (the
default) is enough: the workload talks to the nodes' APIs only."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.compose.test_compose_chaos import run_on_compose

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def test_the_transactions_scenario_passes_on_compose(images: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "tx"
    done, report = run_on_compose("scenarios/transactions.toml", out, "--seed", "4", "-t", "40")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert report["runner"] == "compose"
    results = {e["name"]: e for e in report["expectations"]}
    assert set(results) == {"consensus_liveness", "tx_inclusion"}
    figures = results["tx_inclusion"]["figures"]
    assert figures["accepted"] >= 100, figures  # 4.5 / s for 40 s from 20 wallets: chained spends
    assert figures["included"] >= 0.9 * figures["accepted_before_cooldown"]
    assert figures["double_included"] == 0
    assert set(figures["nodes"]) == {"validator-0", "validator-1", "validator-2", "executor-0"}
    for node in figures["nodes"].values():
        assert node["supply"] == figures["genesis_supply"] - node["fees_burned"], node
        assert node["fees_burned"] == node["fees_in_chain"], node
    assert figures["latency"]["p95_slots"] is not None
    assert report["events"]["tx.submit"] == figures["submitted"]
    # spread over every container, through the API URL the runner published for it
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines() if line.strip()]
    per_node = Counter(e["node"] for e in events if e["kind"] == "tx.submit" and e["accepted"])
    assert set(per_node) == set(figures["nodes"]), per_node
    assert min(per_node.values()) >= figures["accepted"] // 4 - 1, per_node
