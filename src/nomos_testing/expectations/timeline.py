"""The fault history of a run, read back from its events (`events.jsonl`): which node was meant to be up when,
which partitions were in force when, and when faults were removed.

The fault expectations (safety, convergence, recovery, partition_liveness) are functions of this timeline and
of the block feed's view history (`observe/history.py`); both are recorded as the run goes, so a checker can
be re-run on a finished run directory.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nomos_testing.observe.events import read_events

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext

UP_EVENTS = frozenset({"node.start", "node.restart", "node.resume", "node.join"})
DOWN_EVENTS = frozenset({"node.stop", "node.kill", "node.pause"})
NETWORK_FAULT_EVENTS = frozenset({"net.partition", "net.delay", "net.loss"})
FAULT_EVENTS = DOWN_EVENTS | NETWORK_FAULT_EVENTS
# A fault removed: after each, the nodes are expected to converge again.
REMOVAL_EVENTS = frozenset({"net.heal", "phase.heal"}) | UP_EVENTS
# The deployment's own starts come before this event; they are not fault removals.
DEPLOYED_EVENT = "readiness.done"


@dataclass(frozen=True)
class Partition:
    fault: str
    groups: tuple[tuple[str, ...], ...]
    start: float
    end: float | None  # None: never healed in the recorded history

    def side_of(self, node: str) -> tuple[str, ...] | None:
        return next((group for group in self.groups if node in group), None)

    def covers(self, at: float) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


class FaultTimeline:
    """Events in time order, with the questions the fault expectations ask of them."""

    def __init__(self, events: Iterable[dict[str, Any]], run_start: float | None = None) -> None:
        self.events = sorted((e for e in events if "time" in e and "kind" in e), key=lambda e: float(e["time"]))
        starts = [float(e["time"]) for e in self.events if e["kind"] == "run.start"]
        self.run_start = run_start if run_start is not None else (
            starts[0] if starts else (float(self.events[0]["time"]) if self.events else 0.0))
        deployed = [float(e["time"]) for e in self.events if e["kind"] == DEPLOYED_EVENT]
        self.deployed_at: float | None = deployed[0] if deployed else None
        self._transitions = self._node_transitions()
        self._joined = frozenset(str(e["node"]) for e in self.events if e["kind"] == "node.join" and "node" in e)
        self.partitions = self._partitions()

    @classmethod
    def of_run(cls, ctx: RunContext) -> FaultTimeline:
        """The timeline of the run `ctx` describes, read from its `events.jsonl` as written so far."""
        path = ctx.events.path
        events = read_events(path) if path is not None and path.exists() else []
        return cls(events, ctx.events.started)

    @classmethod
    def load(cls, path: Path) -> FaultTimeline:
        return cls(read_events(path))

    # Nodes -------------------------------------------------------------------------------------------

    def _after_deployment(self, event: dict[str, Any]) -> bool:
        return self.deployed_at is None or float(event["time"]) >= self.deployed_at

    def _node_transitions(self) -> dict[str, list[tuple[float, bool]]]:
        """node -> [(time, meant up?)] in time order. A restart is down for `took_s` before its event."""
        out: dict[str, list[tuple[float, bool]]] = {}
        for event in self.events:
            node, kind, at = event.get("node"), event["kind"], float(event["time"])
            if not isinstance(node, str):
                continue
            changes = out.setdefault(node, [])
            if kind == "node.restart":
                changes.append((at - float(event.get("took_s") or 0.0), False))
                changes.append((at, True))
            elif kind in UP_EVENTS:
                changes.append((at, True))
            elif kind in DOWN_EVENTS and (kind != "node.stop" or "state_before" not in event):
                changes.append((at, False))  # (the run core's teardown records node.stop with state_before)
        for changes in out.values():
            changes.sort(key=lambda change: change[0])
        return out

    def joined(self) -> frozenset[str]:
        return self._joined

    def is_up(self, node: str, at: float) -> bool:
        """Whether `node` was meant to be running at `at`: deployed nodes are, until node control says
        otherwise; a joined node is from its join on."""
        state = node not in self._joined
        for when, up in self._transitions.get(node, ()):
            if when > at:
                break
            state = up
        return state

    def down_periods(self, node: str, until: float) -> list[tuple[float, float]]:
        periods: list[tuple[float, float]] = []
        down_since: float | None = None
        for when, up in self._transitions.get(node, ()):
            if not up and down_since is None:
                down_since = when
            elif up and down_since is not None:
                periods.append((down_since, when))
                down_since = None
        if down_since is not None:
            periods.append((down_since, until))
        return periods

    def recoveries(self) -> list[dict[str, Any]]:
        """Node control bringing a node (back) up: start / restart / resume / join after the deployment."""
        return [e for e in self.events if e["kind"] in UP_EVENTS and isinstance(e.get("node"), str)
                and self._after_deployment(e)]

    # Faults ------------------------------------------------------------------------------------------

    def _partitions(self) -> list[Partition]:
        healed: dict[str, float] = {}
        for event in self.events:
            if event["kind"] == "net.heal" and event.get("fault_kind", "partition") == "partition":
                healed.setdefault(str(event.get("fault")), float(event["time"]))
        out = []
        for event in self.events:
            if event["kind"] != "net.partition":
                continue
            fault = str(event.get("fault"))
            groups = tuple(tuple(str(n) for n in group) for group in event.get("groups") or ())
            out.append(Partition(fault, groups, float(event["time"]), healed.get(fault)))
        return out

    def partitioned_at(self, at: float) -> list[Partition]:
        return [p for p in self.partitions if p.covers(at)]

    def cut_off(self, node: str, at: float) -> set[str]:
        """Nodes `node` could not reach at `at` because of a partition in force."""
        out: set[str] = set()
        for partition in self.partitioned_at(at):
            side = partition.side_of(node)
            if side is not None:
                out |= {n for group in partition.groups if group != side for n in group}
        return out

    def removals(self) -> list[dict[str, Any]]:
        """Fault removals after the deployment (heal, resume, start, restart, join, the final phase.heal)."""
        return [e for e in self.events if e["kind"] in REMOVAL_EVENTS and self._after_deployment(e)]

    def next_fault(self, after: float) -> dict[str, Any] | None:
        """The first fault applied strictly after `after`."""
        return next((e for e in self.events if e["kind"] in FAULT_EVENTS and float(e["time"]) > after
                     and self._after_deployment(e)), None)

    # Presentation ------------------------------------------------------------------------------------

    def elapsed(self, at: float) -> float:
        return round(at - self.run_start, 3)

    def when(self, at: float) -> str:
        """'14:03:07.215Z (+45.2 s)': wall clock (UTC) and seconds into the run."""
        clock = datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%H:%M:%S.%f")[:-3]
        return f"{clock}Z (+{at - self.run_start:.1f} s)"


def describe_event(event: dict[str, Any]) -> str:
    """'net.heal partition-1', 'node.restart validator-2', 'phase.heal'."""
    subject = event.get("node") or event.get("fault") or ""
    return f"{event['kind']} {subject}".strip()
