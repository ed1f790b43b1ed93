"""scenarios/da.toml on the compose runner (reference nodes in containers, the KZG parameters baked into the
image) passes, as on the host runner (tests/framework/test_da_e2e.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compose.test_compose_chaos import run_on_compose
from tests.framework.test_da_e2e import check_da_report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def test_the_da_scenario_passes_on_compose(images: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "da"
    done, report = run_on_compose("scenarios/da.toml", out, "--seed", "5", "-t", "60")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert report["runner"] == "compose"
    check_da_report(out, report, {"validator-0", "validator-1", "validator-2", "executor-0", "executor-1"})
