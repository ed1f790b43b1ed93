"""One node as a child process: spawned in its own process group with its listening sockets inherited,
stdout/stderr appended to its log file, stopped group-wide."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from nomos_testing.runners.host.sockets import NodeSockets
from nomos_testing.topology.model import NodeIdentity

TAIL_LINES = 20


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return "(no log file)"
    kept = text.splitlines()[-lines:]
    return "\n".join(kept) if kept else "(log is empty)"


def create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def same_process(pid: int, started_at: float) -> bool:
    """True when `pid` still names the process that started at `started_at` (guards against pid reuse)."""
    now = create_time(pid)
    return now is not None and abs(now - started_at) < 1e-3 and _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class NodeProcess:
    identity: NodeIdentity
    binary: Path
    config_path: Path
    data_dir: Path
    log_path: Path
    sockets: NodeSockets
    env: Mapping[str, str]
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0          # psutil create_time of the current incarnation
    stopped_on_purpose: bool = False  # a stop/kill by node control is not a crash
    exit_codes: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.identity.name

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [str(self.binary), str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=self.sockets.fds(), start_new_session=True,
                env=dict(self.env), cwd=self.data_dir,
            )
        self.started_at = create_time(self.popen.pid) or time.time()
        self.stopped_on_purpose = False

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def send(self, sig: signal.Signals) -> None:
        if self.alive() and self.popen is not None:
            signal_group(self.popen.pid, sig)  # start_new_session: the pgid is the leader's pid

    def record(self) -> dict[str, object]:
        return {
            "name": self.name, "role": self.identity.role.value, "index": self.identity.index,
            "pid": self.pid, "pgid": self.pid, "create_time": self.started_at,
            "binary": str(self.binary), "config": str(self.config_path),
            "data_dir": str(self.data_dir), "log": str(self.log_path),
        }


async def stop_processes(processes: Iterable[NodeProcess], grace_s: float) -> None:
    """SIGTERM every group, wait up to grace_s, SIGKILL the stragglers. If interrupted while waiting
    (Ctrl-C, task cancellation) every group is SIGKILLed before the interruption propagates."""
    targets = [p for p in processes if p.alive()]
    for process in targets:
        process.send(signal.SIGTERM)
    try:
        deadline = time.monotonic() + grace_s
        while any(p.alive() for p in targets) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        kill_now(targets)


def kill_now(processes: Iterable[NodeProcess]) -> None:
    """Synchronous last resort: SIGKILL whatever is still alive and reap it."""
    stragglers = [p for p in processes if p.alive()]
    for process in stragglers:
        process.send(signal.SIGKILL)
    for process in stragglers:
        if process.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=2)
