"""What a host cluster leaves on disk so that another process can find and stop it: `cluster.json` in the run
directory, a marker file in every data directory, and marker variables in every node's environment."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from nomos_testing.runners.host.process import create_time, same_process, signal_group

CLUSTER_FILE = "cluster.json"
DATA_MARKER = ".nomos-testing-run"
# Written into every node's environment so leftovers are found even if cluster.json was never written.
ENV_RUN_ID = "NOMOS_TESTING_RUN_ID"
ENV_RUN_DIR = "NOMOS_TESTING_RUN_DIR"
ENV_OWNER = "NOMOS_TESTING_OWNER"


def owner_token() -> str:
    pid = os.getpid()
    return f"{pid}:{create_time(pid)}"


def owner_alive(token: str) -> bool:
    pid_text, _, started = token.partition(":")
    try:
        return same_process(int(pid_text), float(started))
    except ValueError:
        return False


def mark_data_dir(data_dir: Path, run_id: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DATA_MARKER).write_text(run_id + "\n", encoding="utf-8")


def write_cluster_file(run_dir: Path, run_id: str, detached: bool, nodes: list[dict[str, Any]]) -> Path:
    path = run_dir / CLUSTER_FILE
    payload = {"run_id": run_id, "runner": "host", "run_dir": str(run_dir.resolve()), "detached": detached,
               "owner": owner_token(), "written_at": time.time(), "nodes": nodes}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def read_cluster_file(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / CLUSTER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class RecordedProcess:
    run_id: str
    run_dir: Path
    name: str
    pid: int
    started_at: float
    detached: bool

    def alive(self) -> bool:
        return same_process(self.pid, self.started_at)

    def describe(self) -> str:
        return f"{self.run_id}/{self.name} (pid {self.pid})"


def stop_recorded(processes: Iterable[RecordedProcess], grace_s: float = 2.0) -> list[str]:
    """Stop processes we do not own (no Popen): verify identity, SIGTERM the group, then SIGKILL."""
    targets = [p for p in processes if p.alive()]
    for process in targets:
        signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(p.alive() for p in targets) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in targets:
        if process.alive():
            signal_group(process.pid, signal.SIGKILL)
    return [p.describe() for p in targets]


def remove_data_dirs(paths: Iterable[Path]) -> list[str]:
    removed = []
    for path in paths:
        if (path / DATA_MARKER).is_file():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


def recorded_processes(run_dir: Path) -> list[RecordedProcess]:
    state = read_cluster_file(run_dir)
    if state is None:
        return []
    return [RecordedProcess(state["run_id"], run_dir, node["name"], int(node["pid"]), float(node["create_time"]),
                            bool(state.get("detached")))
            for node in state.get("nodes", []) if node.get("pid")]


def _run_is_active(run_dir: Path) -> bool:
    state = read_cluster_file(run_dir)
    return bool(state and not state.get("detached") and owner_alive(str(state.get("owner", ""))))


@dataclass(frozen=True)
class Leftovers:
    processes: list[RecordedProcess]
    data_dirs: list[Path]

    @property
    def orphans(self) -> list[RecordedProcess]:
        """Processes whose run ended without stopping them (detached `up` clusters are intentional)."""
        return [p for p in self.processes if not p.detached]


def _within(path: str, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def _marked_processes(root: Path, known: set[int]) -> list[RecordedProcess]:
    """Node processes started by a run under root whose owning framework process is gone."""
    found = []
    for proc in psutil.process_iter(["pid", "create_time"]):
        if proc.info["pid"] in known:
            continue
        with contextlib.suppress(psutil.Error, OSError):
            env = proc.environ()
            run_dir = env.get(ENV_RUN_DIR)
            if not run_dir or not _within(run_dir, root) or owner_alive(env.get(ENV_OWNER, "")):
                continue
            state = read_cluster_file(Path(run_dir)) or {}
            found.append(RecordedProcess(env.get(ENV_RUN_ID, "?"), Path(run_dir), proc.name(), proc.info["pid"],
                                         proc.info["create_time"], bool(state.get("detached"))))
    return found


def find_leftovers(runs_root: Path) -> Leftovers:
    root = runs_root.resolve()
    processes: list[RecordedProcess] = []
    data_dirs: list[Path] = []
    run_dirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    for run_dir in run_dirs:
        if _run_is_active(run_dir):
            continue
        processes += [p for p in recorded_processes(run_dir) if p.alive()]
        data_root = run_dir / "data"
        if data_root.is_dir():
            data_dirs += [d for d in sorted(data_root.iterdir()) if (d / DATA_MARKER).is_file()]
    processes += _marked_processes(root, {p.pid for p in processes})
    return Leftovers(processes, data_dirs)
