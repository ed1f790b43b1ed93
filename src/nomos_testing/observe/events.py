"""The event history of a run: `events.jsonl`, one JSON object per line, written as things happen.

Safe from several threads and from many asyncio tasks at once (a lock guards each whole line), and
flushed per line so a crashed run still leaves its history on disk.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Protocol


class EventSink(Protocol):
    """Anything that records events like `EventLog.emit` (the run's log, or a test's recorder)."""

    def emit(self, kind: str, **fields: Any) -> Any: ...


def record_event(sink: EventSink | None, kind: str, **fields: Any) -> None:
    """Record into `sink` when there is one (node control and readiness work without a history too)."""
    if sink is not None:
        sink.emit(kind, **fields)


class EventLog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.started = time.time()
        self._monotonic_start = time.monotonic()
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._file = path.open("a", encoding="utf-8") if path is not None else None

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Record one event. `kind` is dotted: `readiness.node_ready`, `node.start`, `workload.tx`, …"""
        with self._lock:  # stamped under the lock: the file is in time order
            event = {"time": round(time.time(), 6),
                     "elapsed_s": round(time.monotonic() - self._monotonic_start, 6),
                     "kind": kind, **fields}
            line = json.dumps(event, default=str, separators=(",", ":"))
            self._counts[kind] = self._counts.get(kind, 0) + 1
            if self._file is not None and not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()
        return event

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()


def read_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
