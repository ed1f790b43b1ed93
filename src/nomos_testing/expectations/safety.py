"""Safety: no two nodes ever hold LIBs on conflicting branches — judged on every LIB the block feed sees,
while the run goes on, not only at the end.

Every new LIB a node reports is compared with every LIB reported so far, its own earlier ones included (a
node whose own LIB moves to a conflicting branch broke finality as well). Two LIBs agree when one is an
ancestor of (or equal to) the other. Comparing with each node's *LIB heads* is enough — the LIBs it
reported that are no ancestor of another LIB it reported — because a LIB that agrees with a head agrees
with every ancestor of that head too (both are on the head's chain, or the head is on the LIB's); with
a node's LIBs on one chain that is one comparison per node. A pair whose ancestry is not known yet (a
block not fetched) is kept and decided once the blocks are there.

A violation names both nodes, both LIBs (ids, heights), the fork point and when it was first seen; it is
recorded at once in `events.jsonl` as `safety.violation` (the first per pair of nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.expectations.timeline import FaultTimeline
from nomos_testing.nodes.client import NodeApiError
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.history import ViewSample
from nomos_testing.tasks import cancel_and_wait

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext

SHOWN_IN_MESSAGE = 3
KEPT_IN_FIGURES = 20


def short(block_id: str | None) -> str:
    return (block_id or "?")[:12]


@dataclass(frozen=True)
class LibSeen:
    node: str
    lib: str
    time: float


@dataclass(frozen=True)
class Violation:
    a: LibSeen
    b: LibSeen
    height_a: int | None
    height_b: int | None
    fork_id: str | None
    fork_height: int | None
    time: float  # when both LIBs had been seen: the moment the conflict became visible

    @property
    def nodes(self) -> tuple[str, str]:
        first, second = sorted((self.a.node, self.b.node))
        return first, second

    def describe(self, timeline: FaultTimeline | None = None) -> str:
        when = timeline.when(self.time) if timeline is not None else f"{self.time:.3f}"
        fork = (f"forked after block {short(self.fork_id)} (height {self.fork_height})" if self.fork_id is not None
                else "fork point unknown (blocks missing)")
        if self.a.node == self.b.node:
            return (f"{self.a.node}'s LIB moved to a conflicting branch: {short(self.a.lib)} (height {self.height_a}) "
                    f"after {short(self.b.lib)} (height {self.height_b}), {fork}; first seen {when}")
        return (f"{self.a.node}'s LIB {short(self.a.lib)} (height {self.height_a}) and {self.b.node}'s LIB "
                f"{short(self.b.lib)} (height {self.height_b}) are on conflicting branches, {fork}; first seen {when}")

    def to_json(self, timeline: FaultTimeline | None = None) -> dict[str, Any]:
        return {"node_a": self.a.node, "lib_a": self.a.lib, "height_a": self.height_a,
                "node_b": self.b.node, "lib_b": self.b.lib, "height_b": self.height_b,
                "fork_id": self.fork_id, "fork_height": self.fork_height, "time": round(self.time, 6),
                **({"elapsed_s": timeline.elapsed(self.time)} if timeline is not None else {})}


@dataclass
class SafetyChecker:
    """The rule, fed one sample at a time in time order; ancestry questions go to the block feed."""

    chain: BlockFeed
    heads: dict[str, list[LibSeen]] = field(default_factory=dict)
    last: dict[str, str] = field(default_factory=dict)
    undecided: list[tuple[LibSeen, LibSeen]] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    checks: int = 0   # LIB observations judged (a node reporting a LIB it did not report just before)
    pairs: int = 0    # LIB pairs compared

    def observe(self, sample: ViewSample) -> list[Violation]:
        if not sample.lib or self.last.get(sample.node) == sample.lib:
            return []
        self.last[sample.node] = sample.lib
        self.checks += 1
        seen = LibSeen(sample.node, sample.lib, sample.time)
        found: list[Violation] = []
        own = self.heads.setdefault(sample.node, [])
        covered = False
        for head in list(own):
            if head.lib == seen.lib:
                covered = True
                continue
            verdict = self._compare(seen, head)
            if verdict is None:
                continue
            if verdict is False:
                found.append(self._violation(seen, head))
            elif self._height(head.lib) <= self._height(seen.lib):
                own.remove(head)  # an ancestor of the new LIB: the new one stands for it
            else:
                covered = True  # the new LIB is an ancestor of an earlier one (a LIB going back)
        for node, heads in self.heads.items():
            if node == sample.node:
                continue
            for head in heads:
                if head.lib != seen.lib and self._compare(seen, head) is False:
                    found.append(self._violation(seen, head))
        if not covered:
            own.append(seen)
        self.violations += found
        return found

    def retry_undecided(self) -> list[Violation]:
        """Decide the pairs whose blocks were missing (call after fetching them)."""
        pending, self.undecided = self.undecided, []
        found = []
        for seen, other in pending:
            verdict = self._compare(seen, other, count=False)
            if verdict is False:
                found.append(self._violation(seen, other))
        self.violations += found
        return found

    def missing_blocks(self) -> dict[str, set[str]]:
        """node -> LIB ids of undecided pairs the feed does not hold (what to fetch, from whom)."""
        out: dict[str, set[str]] = {}
        for pair in self.undecided:
            for seen in pair:
                if seen.lib not in self.chain.blocks:
                    out.setdefault(seen.node, set()).add(seen.lib)
        return out

    def _compare(self, seen: LibSeen, other: LibSeen, count: bool = True) -> bool | None:
        if count:
            self.pairs += 1
        verdict = self.chain.on_one_branch(seen.lib, other.lib)
        if verdict is None:
            self.undecided.append((seen, other))
        return verdict

    def _height(self, block_id: str) -> int:
        record = self.chain.blocks.get(block_id)
        return record.height if record is not None else -1

    def _violation(self, seen: LibSeen, other: LibSeen) -> Violation:
        depth = self.chain.fork_depth(seen.lib, other.lib)
        height_a = self.chain.blocks[seen.lib].height if seen.lib in self.chain.blocks else None
        height_b = self.chain.blocks[other.lib].height if other.lib in self.chain.blocks else None
        fork_height = height_a - depth if depth is not None and height_a is not None else None
        fork_id = self.chain.ancestor_at(seen.lib, fork_height) if fork_height is not None else None
        return Violation(seen, other, height_a, height_b, fork_id, fork_height, max(seen.time, other.time))


class Safety(Expectation):
    kind = "safety"
    summary = "no two nodes ever hold LIBs on conflicting branches (checked on every LIB the feed sees)"

    def __init__(self) -> None:
        self._checker: SafetyChecker | None = None
        self._queue: asyncio.Queue[ViewSample] | None = None
        self._task: asyncio.Task[None] | None = None
        self._announced: set[tuple[str, str]] = set()
        self.walk_errors = 0

    async def start_capture(self, ctx: RunContext) -> None:
        feed = ctx.block_feed
        self._checker = SafetyChecker(feed)
        self._queue = feed.history.subscribe(replay=True)
        self._task = asyncio.create_task(self._follow(ctx, self._queue), name="safety-checker")

    async def _follow(self, ctx: RunContext, queue: asyncio.Queue[ViewSample]) -> None:
        while True:
            sample = await queue.get()
            try:
                await self._take(ctx, sample)
            except Exception:  # never leave queue.join() waiting; the sample is counted as not fetched
                self.walk_errors += 1
            finally:
                queue.task_done()

    async def _take(self, ctx: RunContext, sample: ViewSample) -> None:
        assert self._checker is not None
        if sample.lib and sample.lib not in ctx.block_feed.blocks:
            await self._fetch(ctx, sample.node, sample.lib)
        for violation in self._checker.observe(sample):
            if violation.nodes not in self._announced:  # the first per pair goes to the history at once
                self._announced.add(violation.nodes)
                ctx.events.emit("safety.violation", **violation.to_json())

    async def _fetch(self, ctx: RunContext, node: str, block_id: str) -> None:
        client = ctx.clients.get(node)
        if client is None:
            return
        try:
            await ctx.block_feed.walk(client, block_id)
        except NodeApiError:
            self.walk_errors += 1

    async def evaluate(self, ctx: RunContext) -> Outcome:
        if self._checker is None:  # not captured (an expectation built after the run): judge the history
            self._checker = SafetyChecker(ctx.block_feed)
            for sample in list(ctx.block_feed.history.samples):
                await self._take(ctx, sample)
        else:
            await self._drain(ctx)
        checker = self._checker
        for node, missing in checker.missing_blocks().items():
            for block_id in missing:
                await self._fetch(ctx, node, block_id)
        checker.retry_undecided()
        return judge_safety(checker, FaultTimeline.of_run(ctx), self.walk_errors)

    async def _drain(self, ctx: RunContext) -> None:
        """Stop following the feed and judge every sample recorded so far."""
        queue, task = self._queue, self._task
        if queue is None or task is None:
            return
        ctx.block_feed.history.unsubscribe(queue)
        if not task.done():
            await queue.join()
        await cancel_and_wait(task)
        while not queue.empty():  # only when the follower died: judge what it left
            with contextlib.suppress(asyncio.QueueEmpty):
                await self._take(ctx, queue.get_nowait())


def judge_safety(checker: SafetyChecker, timeline: FaultTimeline | None = None, walk_errors: int = 0) -> Outcome:
    first_per_pair: dict[tuple[str, str], Violation] = {}
    for violation in sorted(checker.violations, key=lambda v: v.time):
        first_per_pair.setdefault(violation.nodes, violation)
    conflicts = list(first_per_pair.values())
    figures: dict[str, Any] = {
        "checks": checker.checks, "pairs_compared": checker.pairs, "violations": len(checker.violations),
        "node_pairs_in_conflict": [list(pair) for pair in first_per_pair],
        "conflicts": [v.to_json(timeline) for v in conflicts[:KEPT_IN_FIGURES]],
        "undecided_pairs": len(checker.undecided), "walk_errors": walk_errors,
        "lib_heads": {node: [short(h.lib) for h in heads] for node, heads in checker.heads.items()},
    }
    if conflicts:
        pairs = ", ".join("/".join(pair) for pair in list(first_per_pair)[:SHOWN_IN_MESSAGE])
        more = f" and {len(conflicts) - SHOWN_IN_MESSAGE} more" if len(conflicts) > SHOWN_IN_MESSAGE else ""
        return Outcome(False, f"LIBs on conflicting branches: {len(conflicts)} pair(s) of nodes ({pairs}{more}), "
                              f"{len(checker.violations)} conflicting comparison(s); first: "
                              f"{conflicts[0].describe(timeline)}", figures)
    if checker.checks == 0:
        return Outcome(False, "no node reported a LIB: nothing was checked (did the block feed reach the nodes?)",
                       figures)
    undecided = (f"; {len(checker.undecided)} pair(s) undecided (blocks the nodes no longer serve)"
                 if checker.undecided else "")
    return Outcome(True, f"{checker.checks} LIB observations on {len(checker.heads)} nodes, {checker.pairs} pairs "
                         f"compared, none on conflicting branches{undecided}", figures)
