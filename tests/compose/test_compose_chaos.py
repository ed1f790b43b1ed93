"""scenarios/chaos.toml on the compose runner (reference nodes in containers) passes, as on the host runner
(tests/framework/test_chaos_scenarios.py), its transactions judged across the reorgs. One compose CLI (the
default) is enough: the CLI's part (stop, kill, up, pause) is covered on both by the other compose tests.
chaos-long-partition.toml is run on the host only: the safety checker judges the recorded history whatever the
runner (it also failed as expected on compose when tried: exit 1, conflicting LIBs named), and the suite has a
time budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nomos_testing.runners.compose.deployer import ComposeDeployer
from tests.framework.test_chaos_scenarios import CHAOS_NEEDS, check_chaos_report, transactions_rolled_back

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def needs_fault_capabilities() -> None:
    missing = sorted(CHAOS_NEEDS - ComposeDeployer.capabilities)
    unavailable = ComposeDeployer.unavailable_capabilities()
    blocked = sorted(CHAOS_NEEDS & set(unavailable))
    if missing or blocked:
        pytest.skip(f"the compose runner cannot do {', '.join(missing + blocked)} here "
                    f"({'; '.join(f'{c}: {unavailable[c]}' for c in blocked) or 'not offered'})")


def run_on_compose(path: str, out: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    env = {**os.environ, "POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "nomos_testing.cli", "run", path, "--runner", "compose", "--out",
                           str(out), *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=560,
                          stdin=subprocess.DEVNULL)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return done, report


def test_chaos_scenario_passes_on_compose(images: dict[str, str], tmp_path: Path) -> None:
    needs_fault_capabilities()
    done, report = run_on_compose("scenarios/chaos.toml", tmp_path / "chaos", "--seed", "8")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert report["runner"] == "compose"
    check_chaos_report(report)
    assert transactions_rolled_back(tmp_path / "chaos", report) > 0

