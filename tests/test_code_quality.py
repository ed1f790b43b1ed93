"""Lint and types are part of the suite (CI runs only `make test`): ruff on the whole tree, mypy (strict, see
pyproject.toml) on src/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.timeout(300)
@pytest.mark.parametrize("command", [["ruff", "check", "."], ["mypy"]], ids=["ruff", "mypy"])
def test_static_checks_pass(command: list[str]) -> None:
    done = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True,
                          timeout=280)
    assert done.returncode == 0, f"`{' '.join(command)}` found problems:\n{done.stdout[-4000:]}{done.stderr[-2000:]}"
