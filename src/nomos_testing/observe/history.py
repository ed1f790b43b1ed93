"""What every node said, poll after poll: the per-node view history the fault expectations judge.

The block feed records one `ViewSample` per node per poll that got an answer (time, height, tip, LIB, slot)
here, in order, and appends it to `views.jsonl` in the run directory (one object per line:
`{"time", "poll", "node", "height", "slot", "tip", "lib"}`). A poll that got no answer leaves no sample: a
node's silence is the absence of samples. Subscribers (e.g. the safety checker, which judges while the run
goes on) get every sample through an unbounded queue, the ones recorded before they subscribed first.
"""

from __future__ import annotations

import asyncio
import bisect
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ViewSample:
    time: float          # unix time the answer arrived
    node: str
    height: int
    tip: str | None = None
    lib: str | None = None
    slot: int | None = None
    poll: int = 0        # the feed's poll number: samples of one poll were asked for together

    def to_json(self) -> dict[str, Any]:
        return {"time": round(self.time, 6), "poll": self.poll, "node": self.node, "height": self.height,
                "slot": self.slot, "tip": self.tip, "lib": self.lib}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ViewSample:
        slot = data.get("slot")
        return cls(time=float(data["time"]), node=str(data["node"]), height=int(data["height"]),
                   tip=data.get("tip"), lib=data.get("lib"), slot=None if slot is None else int(slot),
                   poll=int(data.get("poll", 0)))


class ViewHistory:
    """Every sample, in the order recorded (time order), and per node."""

    def __init__(self, out_path: Path | None = None) -> None:
        self.samples: list[ViewSample] = []
        self._times: list[float] = []
        self._by_node: dict[str, list[ViewSample]] = {}
        self._node_times: dict[str, list[float]] = {}
        self._subscribers: list[asyncio.Queue[ViewSample]] = []
        self._out = out_path.open("a", encoding="utf-8") if out_path is not None else None

    @classmethod
    def of(cls, samples: list[ViewSample]) -> ViewHistory:
        """A history holding `samples` (tests, and reading a finished run's `views.jsonl`)."""
        history = cls()
        for sample in samples:
            history.record(sample)
        return history

    @classmethod
    def load(cls, path: Path) -> ViewHistory:
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls.of([ViewSample.from_json(json.loads(line)) for line in lines if line.strip()])

    def record(self, sample: ViewSample) -> None:
        # Kept sorted by time even if a caller records out of order (bisect queries rely on it).
        index = bisect.bisect_right(self._times, sample.time)
        self.samples.insert(index, sample)
        self._times.insert(index, sample.time)
        node_times = self._node_times.setdefault(sample.node, [])
        node_index = bisect.bisect_right(node_times, sample.time)
        self._by_node.setdefault(sample.node, []).insert(node_index, sample)
        node_times.insert(node_index, sample.time)
        if self._out is not None and not self._out.closed:
            self._out.write(json.dumps(sample.to_json(), separators=(",", ":")) + "\n")
            self._out.flush()
        for queue in self._subscribers:
            queue.put_nowait(sample)

    def close(self) -> None:
        if self._out is not None and not self._out.closed:
            self._out.close()

    def subscribe(self, replay: bool = True) -> asyncio.Queue[ViewSample]:
        queue: asyncio.Queue[ViewSample] = asyncio.Queue()
        if replay:
            for sample in self.samples:
                queue.put_nowait(sample)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[ViewSample]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    # Queries ----------------------------------------------------------------------------------------

    def nodes(self) -> list[str]:
        return list(self._by_node)

    def of_node(self, node: str) -> list[ViewSample]:
        return list(self._by_node.get(node, ()))

    def latest(self, node: str, at: float | None = None) -> ViewSample | None:
        """The node's last sample taken at or before `at` (the last one of all without `at`)."""
        samples = self._by_node.get(node)
        if not samples:
            return None
        if at is None:
            return samples[-1]
        index = bisect.bisect_right(self._node_times[node], at)
        return samples[index - 1] if index else None

    def snapshot(self, at: float) -> dict[str, ViewSample]:
        """Each node's last sample taken at or before `at` (nodes with none are left out)."""
        out = {}
        for node in self._by_node:
            sample = self.latest(node, at)
            if sample is not None:
                out[node] = sample
        return out

    def between(self, start: float, end: float | None = None) -> Iterator[ViewSample]:
        """Samples with start ≤ time ≤ end, in time order."""
        index = bisect.bisect_left(self._times, start)
        for sample in self.samples[index:]:
            if end is not None and sample.time > end:
                return
            yield sample

    @property
    def last_time(self) -> float | None:
        return self.samples[-1].time if self.samples else None
