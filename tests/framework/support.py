"""Helpers the framework tests share (importable: `from tests.framework.support import …`)."""

from __future__ import annotations

import asyncio
import contextlib
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil

from nomos_testing.nodes.client import NodeApiError
from nomos_testing.topology.model import GeneratedTopology, Layout, NodeIdentity, Role

FAKE_NODE = Path(__file__).with_name("fake_node.py")


def write_fake_node(folder: Path) -> Path:
    """An executable that runs the fake node with this interpreter (the runner needs one path to exec)."""
    path = folder / "fake-node"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_NODE}" "$@"\n', encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def dials_for(layout: Layout, names: list[str]) -> dict[str, tuple[str, ...]]:
    if layout is Layout.STAR:
        return {name: (names[0],) for name in names[1:]}
    if layout is Layout.CHAIN:
        return {names[i]: (names[i - 1],) for i in range(1, len(names))}
    return {names[i]: tuple(names[:i]) for i in range(1, len(names))}


def plain_topology(validators: int, executors: int = 0, layout: Layout = Layout.STAR,
                   slot_duration: float = 1.0) -> GeneratedTopology:
    """A topology for the fake node, which ignores keys: identities are fixed placeholders."""
    nodes = []
    for ordinal in range(validators + executors):
        role = Role.VALIDATOR if ordinal < validators else Role.EXECUTOR
        index = ordinal if role is Role.VALIDATOR else ordinal - validators
        nodes.append(NodeIdentity(name=f"{role.value}-{index}", role=role, index=index, ordinal=ordinal, stake=1000,
                                  keys={"key_seed": f"{ordinal:064x}", "signing_pk": "00" * 32, "vrf_pk": "00" * 48}))
    genesis = {"slot_duration": slot_duration, "active_slot_coeff": 0.9, "security_param": 10,
               "stake_notes": [], "wallet_notes": []}
    return GeneratedTopology(layout=layout, nodes=tuple(nodes), wallets=(), genesis=genesis,
                             dials=dials_for(layout, [n.name for n in nodes]))


def node_processes_of(run_dir: Path, with_prometheus: bool = False) -> list[psutil.Process]:
    """Live processes whose environment says they belong to run_dir (how `clean` finds them too): the nodes,
    and with_prometheus the host runner's Prometheus too (marked the same way, runners/host/prometheus.py)."""
    found = []
    for proc in psutil.process_iter():
        try:
            env = proc.environ()
            if env.get("NOMOS_TESTING_RUN_DIR") == str(run_dir.resolve()) \
                    and (with_prometheus or env.get("NOMOS_TESTING_NODE") != "prometheus") \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float, what: str, every_s: float = 0.2) -> None:
    """Poll `predicate` until it holds (a node API error counts as not yet); fail naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(NodeApiError):
            if await predicate():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        await asyncio.sleep(every_s)
