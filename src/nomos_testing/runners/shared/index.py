"""The run index: one small file per live run under the user's state directory, so that `down RUN_ID`,
`node RUN_ID …`, `clean` and `doctor` find every run wherever its directory is (`--out` anywhere).

Location: `$XDG_STATE_HOME/nomos-testing/runs/<run id>.json` (`~/.local/state/…` when unset). An entry is
written when a run directory is prepared, marked detached by `up`, and removed when the run's cluster is
gone (the end of `run`, `down`, `clean`). A run killed outright leaves its entry: that is how `clean` finds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from nomos_testing import settings
from nomos_testing.runners.shared.owner import owner_alive, owner_token


def index_dir() -> Path:
    base = settings.raw("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nomos-testing" / "runs"


@dataclass(frozen=True)
class IndexEntry:
    run_id: str
    run_dir: str        # absolute
    runner: str
    mode: str           # "run" | "up"
    owner: str          # the framework process driving it (see owner.py)
    started: float
    detached: bool = False

    @property
    def path(self) -> Path:
        return Path(self.run_dir)

    def owner_alive(self) -> bool:
        return owner_alive(self.owner)

    def abandoned(self) -> bool:
        """Nobody drives it any more: its process is gone (finished badly, killed) or it was left up on purpose."""
        return self.detached or not self.owner_alive()


def _file(run_id: str) -> Path:
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in run_id)
    return index_dir() / f"{safe}.json"


def register(run_id: str, run_dir: Path, runner: str, mode: str) -> IndexEntry:
    entry = IndexEntry(run_id, str(run_dir.resolve()), runner, mode, owner_token(), time.time())
    _write(entry)
    return entry


def _write(entry: IndexEntry) -> None:
    folder = index_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = _file(entry.run_id)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(entry), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def mark_detached(run_id: str) -> None:
    entry = find(run_id)
    if entry is not None:
        _write(IndexEntry(**{**asdict(entry), "detached": True}))


def unregister(run_id: str) -> None:
    with contextlib.suppress(OSError):
        _file(run_id).unlink()


def find(run_id: str) -> IndexEntry | None:
    try:
        return IndexEntry(**json.loads(_file(run_id).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def entries() -> list[IndexEntry]:
    found = []
    folder = index_dir()
    if not folder.is_dir():
        return []
    for path in sorted(folder.glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError):
            found.append(IndexEntry(**json.loads(path.read_text(encoding="utf-8"))))
    return found


def find_by_dir(run_dir: Path) -> IndexEntry | None:
    wanted = str(run_dir.resolve())
    return next((entry for entry in entries() if entry.run_dir == wanted), None)
