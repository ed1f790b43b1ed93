"""How host-runner leftovers are recognised without any file: marker variables in every node's environment
and a marker file in every data directory. `clean` finds nodes of a runner killed before it wrote anything."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

from nomos_testing.runners.shared.owner import owner_alive

DATA_MARKER = ".nomos-testing-run"
ENV_RUN_ID = "NOMOS_TESTING_RUN_ID"
ENV_RUN_DIR = "NOMOS_TESTING_RUN_DIR"
ENV_OWNER = "NOMOS_TESTING_OWNER"
ENV_NODE = "NOMOS_TESTING_NODE"


def marker_environment(run_id: str, run_dir: Path, owner: str, node: str) -> dict[str, str]:
    return {ENV_RUN_ID: run_id, ENV_RUN_DIR: str(run_dir), ENV_OWNER: owner, ENV_NODE: node}


def mark_data_dir(data_dir: Path, run_id: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / DATA_MARKER).write_text(run_id + "\n", encoding="utf-8")


def marked_data_dirs(run_dir: Path) -> list[Path]:
    data_root = run_dir / "data"
    if not data_root.is_dir():
        return []
    return [d for d in sorted(data_root.iterdir()) if (d / DATA_MARKER).is_file()]


def remove_data_dirs(paths: Iterable[Path]) -> list[str]:
    removed = []
    for path in paths:
        if (path / DATA_MARKER).is_file():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(str(path))
    return removed


@dataclass(frozen=True)
class MarkedProcess:
    pid: int
    started_at: float
    name: str
    run_id: str
    run_dir: Path
    owner: str

    def describe(self) -> str:
        return f"{self.run_id}/{self.name} (pid {self.pid})"


def marked_processes(run_dir: Path | None = None) -> list[MarkedProcess]:
    """Live processes whose environment marks them as nodes of a run (of `run_dir`, or of any run)."""
    wanted = str(run_dir.resolve()) if run_dir is not None else None
    found = []
    for proc in psutil.process_iter(["pid", "create_time", "name"]):
        with contextlib.suppress(psutil.Error, OSError):
            env = proc.environ()
            marked_dir = env.get(ENV_RUN_DIR)
            if not marked_dir or (wanted is not None and marked_dir != wanted):
                continue
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            name = env.get(ENV_NODE) or str(proc.info["name"])
            found.append(MarkedProcess(proc.info["pid"], proc.info["create_time"], name, env.get(ENV_RUN_ID, "?"),
                                       Path(marked_dir), env.get(ENV_OWNER, "")))
    return found


def orphaned(processes: Iterable[MarkedProcess]) -> list[MarkedProcess]:
    return [p for p in processes if not owner_alive(p.owner)]
