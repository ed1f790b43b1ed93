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


def test_the_framework_never_imports_the_node() -> None:
    """The framework talks to nodes only through adapters (files, processes, HTTP): importing every module of
    nomos_testing loads nothing of nomos_node."""
    script = ("import importlib, pkgutil, sys, nomos_testing\n"
              "for module in pkgutil.walk_packages(nomos_testing.__path__, 'nomos_testing.'):\n"
              "    if not module.name.endswith('__main__'):\n"
              "        importlib.import_module(module.name)\n"
              "print(sorted(name for name in sys.modules if name.split('.')[0] == 'nomos_node'))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"nomos_testing imported {done.stdout.strip()}"
