"""Recovery: a node that node control restarted, started, resumed or joined reaches the network height within
`within` seconds.

For each such event (`node.restart`, `node.start`, `node.resume`, `node.join` after the deployment), the
node has recovered at the first poll (`views.jsonl`) at which its height is at least the *network height*
minus `tolerance` blocks. The network height moves: it is the highest height, at that poll, of the other
nodes meant to be running that the node can reach (a partition in force hides the other side). A node
that goes down again on purpose before recovering is not judged for that event ("interrupted"). When the
recorded history ends before the deadline, the expectation keeps polling until the node recovers or the
deadline passes.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.expectations.timeline import FaultTimeline, describe_event
from nomos_testing.observe.history import ViewHistory
from nomos_testing.params import Param, ParamSchema

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext

DEFAULT_WITHIN_S = 30.0
DEFAULT_TOLERANCE = 2


@dataclass(frozen=True)
class Recovery:
    node: str
    event: dict[str, Any]
    status: str                 # recovered | not recovered | interrupted (| pending while being judged)
    seconds: float | None = None
    gap: int | None = None      # blocks below the network height at the last poll judged (not recovered)
    height: int | None = None
    network_height: int | None = None
    note: str = ""
    deadline: float | None = None  # for a pending judgement: when its time is up

    @property
    def failed(self) -> bool:
        return self.status == "not recovered"

    def to_json(self, timeline: FaultTimeline) -> dict[str, Any]:
        out: dict[str, Any] = {"node": self.node, "event": self.event["kind"],
                               "at_s": timeline.elapsed(float(self.event["time"])), "status": self.status,
                               "seconds": None if self.seconds is None else round(self.seconds, 3)}
        if self.status != "recovered":
            out.update(height=self.height, network_height=self.network_height, gap=self.gap)
        if self.note:
            out["note"] = self.note
        return out


def measure_recovery(history: ViewHistory, timeline: FaultTimeline, names: list[str], event: dict[str, Any],
                     within: float, tolerance: int) -> Recovery:
    node, since = str(event["node"]), float(event["time"])
    latest = history.snapshot(since)
    height: int | None = None
    network: int | None = None
    clock: float | None = None  # when the node could first reach a running peer: its `within` starts then
    for sample in history.between(since):
        at = sample.time
        if clock is not None and at > clock + within:
            break
        latest[sample.node] = sample
        if not timeline.is_up(node, at):
            return Recovery(node, event, "interrupted", note=f"down again on purpose {at - since:.1f} s later")
        cut_off = timeline.cut_off(node, at)
        others = [latest[n].height for n in names
                  if n != node and n in latest and n not in cut_off and timeline.is_up(n, at)]
        if not others:
            continue  # cut off from every running node (a partition in force): not judged meanwhile
        clock = at if clock is None else clock
        mine = latest.get(node)
        if mine is None or mine.time < since:
            continue  # no answer since it came back
        height, network = mine.height, max(others)
        if height >= network - tolerance:
            return Recovery(node, event, "recovered", at - since, height=height, network_height=network)
    if clock is None:
        return Recovery(node, event, "interrupted", note="cut off from every running node until the history ends")
    deadline = clock + within
    if history.last_time is None or history.last_time < deadline:
        gap = None if height is None or network is None else network - height
        return Recovery(node, event, "pending", gap=gap, height=height, network_height=network, deadline=deadline)
    gap = None if height is None or network is None else network - height
    note = "" if height is not None else "no answer from it since the event"
    waited = f"the clock started {clock - since:.1f} s after the event, when a peer was reachable"
    return Recovery(node, event, "not recovered", gap=gap, height=height, network_height=network,
                    note=", ".join(x for x in (note, waited if clock - since > 1.0 else "") if x), deadline=deadline)


class NodeRecovery(Expectation):
    kind = "recovery"
    summary = "a restarted, started, resumed or joined node reaches the network height within `within` s"
    params = ParamSchema((
        Param("within", "number", default=DEFAULT_WITHIN_S, minimum=0, exclusive_minimum=True, maximum=3600,
              example=30, unit="s", help="seconds after the event for the node to reach the network height"),
        Param("tolerance", "int", default=DEFAULT_TOLERANCE, minimum=0, maximum=10, example=2,
              help="blocks below the network height that still count as recovered"),
    ))

    def __init__(self, within: float = DEFAULT_WITHIN_S, tolerance: int = DEFAULT_TOLERANCE) -> None:
        self.within = float(within)
        self.tolerance = tolerance

    async def evaluate(self, ctx: RunContext) -> Outcome:
        feed, timeline = ctx.block_feed, FaultTimeline.of_run(ctx)
        names = list(ctx.clients)
        events = timeline.recoveries()

        def judge_all() -> list[Recovery]:
            return [measure_recovery(feed.history, timeline, names, e, self.within, self.tolerance) for e in events]

        results = judge_all()
        live_polls = 0
        while pending := [r for r in results if r.status == "pending"]:
            # the history ends before some deadline: poll until each pending node recovers or its time is up
            if time.time() >= max(r.deadline or 0.0 for r in pending):
                break
            await asyncio.sleep(feed.poll_interval_s)
            await feed.poll_once()
            live_polls += 1
            results = judge_all()
        results = [r if r.status != "pending" else Recovery(r.node, r.event, "not recovered", gap=r.gap,
                                                              height=r.height, network_height=r.network_height,
                                                              note=r.note) for r in results]
        return judge_recovery(results, timeline, self.within, self.tolerance, live_polls)


def judge_recovery(results: list[Recovery], timeline: FaultTimeline, within: float, tolerance: int,
                   live_polls: int = 0) -> Outcome:
    per_node: dict[str, dict[str, Any]] = {}
    for result in results:
        entry = per_node.setdefault(result.node, {"events": 0, "recovered": 0, "max_seconds": None})
        entry["events"] += 1
        if result.status == "recovered" and result.seconds is not None:
            entry["recovered"] += 1
            entry["max_seconds"] = round(max(entry["max_seconds"] or 0.0, result.seconds), 3)
    figures: dict[str, Any] = {"within_s": within, "tolerance": tolerance, "per_event": [r.to_json(timeline)
                                                                                        for r in results],
                               "per_node": per_node, "live_polls": live_polls}
    if not results:
        return Outcome(True, "no node was restarted, started, resumed or joined: nothing to judge", figures)
    failed = [r for r in results if r.failed]
    if failed:
        parts = []
        for r in failed:
            behind = (f"height {r.height}, {r.gap} below the network's {r.network_height}" if r.gap is not None
                      else r.note)
            parts.append(f"{r.node} not at the network height {within:g} s after {describe_event(r.event)} at "
                         f"{timeline.when(float(r.event['time']))} ({behind}; tolerance {tolerance})")
        return Outcome(False, "; ".join(parts), figures)
    recovered = [r for r in results if r.status == "recovered"]
    slowest = max(recovered, key=lambda r: r.seconds or 0.0, default=None)
    tail = (f", slowest {slowest.node} in {slowest.seconds:.1f} s"
            if slowest is not None and slowest.seconds is not None else "")
    skipped = len(results) - len(recovered)
    note = f" ({skipped} not judged: down again, or cut off, before recovering)" if skipped else ""
    return Outcome(True, f"{len(recovered)} node recoveries within {within:g} s{tail}{note}", figures)
