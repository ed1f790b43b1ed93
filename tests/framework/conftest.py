"""Shared fixtures of the framework tests.

Host-runner tests that exercise the runner's own mechanics use a small but real node stand-in
(`fake_node.py`); tests marked for the reference node run `nomos-node` itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from nomos_testing.topology.model import GeneratedTopology
from tests.framework.support import node_processes_of, plain_topology, write_fake_node


@pytest.fixture(scope="session")
def fake_node_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_node(tmp_path_factory.mktemp("fake-node"))


@pytest.fixture
def use_fake_node(monkeypatch: pytest.MonkeyPatch, fake_node_bin: Path) -> Path:
    monkeypatch.setenv("NOMOS_NODE_BIN", str(fake_node_bin))
    monkeypatch.setenv("NOMOS_EXECUTOR_BIN", str(fake_node_bin))
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")
    monkeypatch.delenv("NOMOS_TESTS_KEEP_LOGS", raising=False)
    monkeypatch.delenv("SLOW_TEST_ENV", raising=False)
    return fake_node_bin


@pytest.fixture
def topology_factory() -> Callable[..., GeneratedTopology]:
    return plain_topology


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


@pytest.fixture
def run_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private run index (XDG_STATE_HOME) for tests that look at leftovers, `clean` or `down`."""
    state_home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))
    return state_home / "nomos-testing" / "runs"


@pytest.fixture
def processes_of() -> Callable[..., list[psutil.Process]]:
    return node_processes_of


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Pids a test registers here are SIGKILLed (by process group) at the end, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, 9)
