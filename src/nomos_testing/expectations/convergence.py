"""Convergence: after the last fault is removed, every running node's tip is on one branch within `within` s.

A moment is *converged* when every node meant to be running then has answered since the fault removal, and
each one's tip is at most `lag_allowance` blocks behind the best tip (the highest; on a tie, the one most
nodes hold) and at most
`lag_allowance` blocks off its branch (a competing block or two at the head is normal while several leaders
win the same slot). Moments are the block feed's polls (`views.jsonl`); who is meant to run comes from the
events. While a partition is in force, convergence is not expected.

The verdict is on the last removal (the final heal, or the last heal / resume / start / restart / join; the
start of the run when there was none): the first converged poll must come within `within` s of it. When
the recorded history ends before that and has not converged yet, the expectation keeps polling (at most
until `within` s after the removal). Every earlier removal gets a figure too: seconds until converged, or
why it was not measured (the next fault came first, a partition was still in force).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.expectations.timeline import FaultTimeline, describe_event
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.history import ViewHistory, ViewSample
from nomos_testing.params import Param, ParamSchema

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext

DEFAULT_WITHIN_S = 30.0


@dataclass(frozen=True)
class Moment:
    """One poll of the feed judged: converged or not, and why not."""

    time: float
    converged: bool
    problems: tuple[str, ...] = ()
    partitioned: bool = False


def judge_moment(latest: dict[str, ViewSample], nodes: list[str], since: float, chain: BlockFeed,
                 lag: int) -> tuple[bool, list[str]]:
    """Whether the nodes' latest samples (taken since `since`) agree: see the module doc."""
    problems: list[str] = []
    fresh = {n: latest[n] for n in nodes if n in latest and latest[n].time >= since}
    problems += [f"{n}: no answer since {'the removal' if n in latest else 'the start'}" for n in nodes
                 if n not in fresh]
    if not fresh:
        return False, problems or ["no node meant to be running"]
    holders: dict[str | None, int] = {}
    for sample in fresh.values():
        holders[sample.tip] = holders.get(sample.tip, 0) + 1
    best = max(fresh.values(), key=lambda s: (s.height, holders[s.tip]))  # on a tie, the tip most nodes hold
    for node, sample in sorted(fresh.items()):
        found = []
        behind = best.height - sample.height
        if behind > lag:
            found.append(f"height {sample.height} is {behind} behind {best.node}'s {best.height}")
        off = off_branch(chain, sample.tip, best.tip, lag) if sample.tip and best.tip else None
        if off is None:
            found.append(f"tip {(sample.tip or '?')[:12]} has no known ancestry to {best.node}'s tip")
        elif off:
            found.append(f"tip is on a branch that left {best.node}'s more than {lag} blocks back")
        if found:
            problems.append(f"{node}: " + ", ".join(found))
    return not problems, problems


def off_branch(chain: BlockFeed, tip: str, best: str, lag: int) -> bool | None:
    """Whether `tip` left `best`'s chain more than `lag` blocks below itself; None when not known."""
    record, best_record = chain.blocks.get(tip), chain.blocks.get(best)
    if record is None or best_record is None:
        return None
    height = max(0, record.height - lag)
    if height > best_record.height:
        return None
    mine, theirs = chain.ancestor_at(tip, height), chain.ancestor_at(best, height)
    if mine is None or theirs is None:
        return None
    return mine != theirs


def moments(history: ViewHistory, timeline: FaultTimeline, nodes: Callable[[float], list[str]], since: float,
            until: float | None, chain: BlockFeed, lag: int) -> list[Moment]:
    """Every poll from `since` to `until` judged, in order (a poll's samples are judged together)."""
    latest = history.snapshot(since)
    out: list[Moment] = []
    pending: list[ViewSample] = list(history.between(since, until))
    for index, sample in enumerate(pending):
        latest[sample.node] = sample
        following = pending[index + 1] if index + 1 < len(pending) else None
        if following is not None and following.poll == sample.poll and sample.poll:
            continue  # the rest of this poll first
        at = sample.time
        if timeline.partitioned_at(at):
            out.append(Moment(at, False, ("a partition is in force",), partitioned=True))
            continue
        ok, problems = judge_moment(latest, nodes(at), since, chain, lag)
        out.append(Moment(at, ok, tuple(problems)))
    return out


@dataclass
class Measured:
    event: dict[str, Any]
    seconds: float | None
    status: str          # converged | not converged | interrupted | partitioned
    problems: tuple[str, ...] = ()

    def to_json(self, timeline: FaultTimeline) -> dict[str, Any]:
        return {"event": describe_event(self.event), "at_s": timeline.elapsed(float(self.event["time"])),
                "seconds": None if self.seconds is None else round(self.seconds, 3), "status": self.status,
                **({"problems": list(self.problems)} if self.problems else {})}


def measure(history: ViewHistory, timeline: FaultTimeline, nodes: Callable[[float], list[str]], event: dict[str, Any],
            chain: BlockFeed, lag: int, stop_at_next_fault: bool = True) -> Measured:
    since = float(event["time"])
    next_fault = timeline.next_fault(since) if stop_at_next_fault else None
    until = float(next_fault["time"]) if next_fault is not None else None
    judged = moments(history, timeline, nodes, since, until, chain, lag)
    for moment in judged:
        if moment.converged:
            return Measured(event, moment.time - since, "converged")
    last = judged[-1] if judged else None
    if last is not None and last.partitioned and not any(not m.partitioned for m in judged):
        return Measured(event, None, "partitioned", last.problems)
    if next_fault is not None:
        return Measured(event, None, f"interrupted by {describe_event(next_fault)} after "
                                     f"{float(next_fault['time']) - since:.1f} s", last.problems if last else ())
    return Measured(event, None, "not converged", last.problems if last else ("no poll since",))


class Convergence(Expectation):
    kind = "convergence"
    summary = "after the last fault is removed, every running node's tip is on one branch within `within` s"
    params = ParamSchema((
        Param("within", "number", default=DEFAULT_WITHIN_S, minimum=0, exclusive_minimum=True, maximum=3600,
              example=30, unit="s", help="seconds after the last heal / resume / start for the tips to agree"),
        Param("lag_allowance", "int", default=2, minimum=0, maximum=5, example=2,
              help="blocks a tip may trail the best tip, or sit off its branch, and still count as converged"),
    ))

    def __init__(self, within: float = DEFAULT_WITHIN_S, lag_allowance: int = 2) -> None:
        self.within = float(within)
        self.lag_allowance = lag_allowance

    async def evaluate(self, ctx: RunContext) -> Outcome:
        feed, timeline = ctx.block_feed, FaultTimeline.of_run(ctx)
        names = list(ctx.clients)

        def running(at: float) -> list[str]:
            return [n for n in names if timeline.is_up(n, at)]

        removals = timeline.removals()
        began = timeline.deployed_at or (feed.history.samples[0].time if feed.history.samples else time.time())
        final_event: dict[str, Any] = removals[-1] if removals else {"kind": "run.start", "time": began}
        earlier = [measure(feed.history, timeline, running, e, feed, self.lag_allowance) for e in removals[:-1]]
        deadline = float(final_event["time"]) + self.within
        final = measure(feed.history, timeline, running, final_event, feed, self.lag_allowance, False)
        polled = 0
        while final.status != "converged" and time.time() < deadline:
            # the recorded history ends before the deadline: look further, live
            await asyncio.sleep(min(feed.poll_interval_s, max(0.0, deadline - time.time())))
            await feed.poll_once()
            polled += 1
            final = measure(feed.history, timeline, running, final_event, feed, self.lag_allowance, False)
        return judge_convergence(final, earlier, timeline, self.within, polled, sorted(ctx.intent.down_on_purpose()))


def judge_convergence(final: Measured, earlier: list[Measured], timeline: FaultTimeline, within: float,
                      live_polls: int = 0, down_on_purpose: list[str] | None = None) -> Outcome:
    figures: dict[str, Any] = {
        "within_s": within, "final": final.to_json(timeline),
        "seconds_to_converge": None if final.seconds is None else round(final.seconds, 3),
        "after_each_removal": [m.to_json(timeline) for m in earlier] + [final.to_json(timeline)],
        "live_polls": live_polls, "down_on_purpose": down_on_purpose or [],
    }
    what = (describe_event(final.event) if final.event["kind"] != "run.start" else "the start of the run")
    at = timeline.when(float(final.event["time"]))
    if final.seconds is not None and final.seconds <= within:
        return Outcome(True, f"tips on one branch {final.seconds:.1f} s after {what} at {at} (within {within:g} s)",
                       figures)
    if final.seconds is not None:
        return Outcome(False, f"tips on one branch only {final.seconds:.1f} s after {what} at {at}, "
                              f"more than {within:g} s", figures)
    return Outcome(False, f"the running nodes did not converge within {within:g} s after {what} at {at}: "
                          + "; ".join(final.problems), figures)
