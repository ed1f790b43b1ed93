"""One node as a child process: spawned in its own process group with its listening sockets inherited,
stdout/stderr appended to its log file, stopped group-wide. A process started by another framework process
(a cluster left up with `up`) is adopted by pid and start time, so it can be stopped and started again."""

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
from typing import Any

from nomos_testing.runners.host.sockets import NodeSockets
from nomos_testing.runners.shared.owner import process_start_time, same_process

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


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass
class NodeProcess:
    name: str
    argv: list[str]
    config_path: Path
    data_dir: Path
    log_path: Path
    env: Mapping[str, str]            # the node's own variables (adapter, log dir, run markers)
    sockets: NodeSockets | None = None  # None: the node binds the addresses of its config itself
    handover: Mapping[str, str] = field(default_factory=dict)  # variables passing `sockets` to the node
    popen: subprocess.Popen[bytes] | None = None
    adopted_pid: int | None = None    # a process another framework process started
    started_at: float = 0.0           # process start time of the current incarnation
    exit_codes: list[int] = field(default_factory=list)

    def spawn(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        if self.sockets is not None:
            env.update(self.handover)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=self.sockets.fds() if self.sockets is not None else (), start_new_session=True,
                env=env, cwd=self.data_dir,
            )
        self.adopted_pid = None
        self.started_at = process_start_time(self.popen.pid) or time.time()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else self.adopted_pid

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.adopted_pid is not None and same_process(self.adopted_pid, self.started_at)

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def send(self, sig: signal.Signals) -> None:
        pid = self.pid
        if pid is not None and self.alive():
            signal_group(pid, sig)  # start_new_session: the pgid is the leader's pid

    def reap(self, timeout_s: float) -> None:
        """Wait (blocking, up to timeout_s) for a signalled process to be gone."""
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout_s)
            return
        deadline = time.monotonic() + timeout_s
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)

    def record(self) -> dict[str, Any]:
        return {"pid": self.pid, "pgid": self.pid, "create_time": self.started_at, "argv": list(self.argv),
                "config": str(self.config_path), "data_dir": str(self.data_dir), "log": str(self.log_path),
                "env": dict(self.env)}

    @classmethod
    def adopt(cls, name: str, record: Mapping[str, Any]) -> NodeProcess:
        """A node another framework process started, from its run-state record."""
        process = cls(name=name, argv=[str(arg) for arg in record.get("argv", [])],
                      config_path=Path(record["config"]), data_dir=Path(record["data_dir"]),
                      log_path=Path(record["log"]), env={str(k): str(v) for k, v in (record.get("env") or {}).items()})
        if record.get("pid"):
            process.adopted_pid = int(record["pid"])
            process.started_at = float(record.get("create_time") or 0.0)
        return process


async def stop_processes(processes: Iterable[NodeProcess], grace_s: float) -> None:
    """SIGTERM every group, wait up to grace_s, SIGKILL the stragglers. If interrupted while waiting
    (Ctrl-C, task cancellation) every group is SIGKILLed before the interruption propagates."""
    targets = [p for p in processes if p.alive()]
    for process in targets:
        process.send(signal.SIGTERM)
        process.send(signal.SIGCONT)  # a paused node handles its SIGTERM only once it runs again
    try:
        deadline = time.monotonic() + grace_s
        while any(p.alive() for p in targets) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        kill_now(targets)


def kill_now(processes: Iterable[NodeProcess]) -> None:
    """Synchronous last resort: SIGKILL whatever is still alive and reap it."""
    targets = list(processes)
    for process in targets:
        if process.alive():
            process.send(signal.SIGKILL)
    for process in targets:
        process.reap(timeout_s=2)
