"""Consensus liveness: the chain grew at (a fraction of) the expected rate, on every node, on one branch.

The original rule is kept — at least 5 blocks, and every node within `lag = clamp(target / 10, allowance, 5)`
of the target — and extended with what it missed: the highest height must reach `min_fraction` of the
expected blocks (the original capped its target at the observed height, so a chain 3× too slow passed),
every node's tip must be on the best node's branch within the lag, and no two nodes may hold LIBs on
conflicting branches.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.params import Param, ParamSchema

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext

MIN_BLOCKS = 5
MAX_LAG = 5
SAMPLE_ATTEMPTS = 3
SAMPLE_SPACING_S = 1.0
CONVERGENCE_INTERVALS = 4  # re-judge a failing verdict for this many block intervals
CONVERGENCE_MAX_S = 15.0


@dataclass(frozen=True)
class NodeSample:
    name: str
    height: int | None = None
    tip: str | None = None
    lib: str | None = None
    error: str | None = None


def lag_for(target: int, allowance: int) -> int:
    return max(allowance, min(target // 10, MAX_LAG))


def judge_liveness(samples: list[NodeSample], expected_blocks: float, min_fraction: float, lag_allowance: int,
                   fork_depth: Callable[[str, str], int | None],
                   on_one_branch: Callable[[str, str], bool | None]) -> Outcome:
    """The rule on figures alone; `fork_depth(a, b)` / `on_one_branch(a, b)` answer ancestry questions."""
    issues: list[str] = []
    answered = [s for s in samples if s.height is not None]
    issues += [f"{s.name}: unreachable ({s.error})" for s in samples if s.height is None]
    heights = {s.name: s.height for s in answered if s.height is not None}
    max_height = max(heights.values(), default=0)
    min_height = min(heights.values(), default=0)
    expected_int = math.ceil(expected_blocks)
    target = expected_int if 0 < expected_int <= max_height else max_height
    lag = lag_for(target, lag_allowance)
    required = min_fraction * expected_blocks
    if max_height < MIN_BLOCKS:
        issues.append(f"the network produced only {max_height} blocks, at least {MIN_BLOCKS} are needed "
                      f"(expected ≈ {expected_blocks:.1f}); run longer or use shorter slots")
    if max_height < required:
        issues.append(f"highest height {max_height} is below {min_fraction:g} × expected {expected_blocks:.1f} "
                      f"= {required:.1f}: the chain grows too slowly (is POL_PROOF_DEV_MODE=true? is the host "
                      f"overloaded?)")
    for name, height in heights.items():
        if height + lag < target:
            issues.append(f"{name}: height {height} is more than {lag} blocks behind the target {target}")
    growth_issues = len(issues)
    best = max(answered, key=lambda s: s.height or 0, default=None)
    depths: dict[str, int | None] = {}
    if best is not None and best.tip:
        for sample in answered:
            depth = fork_depth(sample.tip, best.tip) if sample.tip else None
            depths[sample.name] = depth
            if depth is None:
                issues.append(f"{sample.name}: tip {str(sample.tip)[:16]} has no known ancestry to the best tip")
            elif depth > lag:
                issues.append(f"{sample.name}: tip is on a branch that left {best.name}'s chain {depth} blocks "
                              f"back (more than the lag {lag})")
    conflicts: list[str] = []
    libs = [(s.name, s.lib) for s in answered if s.lib]
    for i, (name_a, lib_a) in enumerate(libs):
        for name_b, lib_b in libs[i + 1:]:
            if lib_a != lib_b and on_one_branch(lib_a, lib_b) is False:
                conflicts.append(f"{name_a}/{name_b}")
    if conflicts:
        issues.append("LIBs on conflicting branches: " + ", ".join(conflicts))
    figures: dict[str, Any] = {
        "expected_blocks": round(expected_blocks, 3), "target": target, "min_fraction": min_fraction,
        "required_height": round(required, 3), "min_height": min_height, "max_height": max_height, "lag": lag,
        "heights": heights, "tips": {s.name: s.tip for s in answered}, "libs": {s.name: s.lib for s in answered},
        "fork_depths": depths, "conflicting_libs": conflicts,
        "growth_ok": growth_issues == 0,  # reachability, block count, rate and lag; the rest is agreement
    }
    if issues:
        return Outcome(False, "; ".join(issues), figures)
    message = (f"{len(answered)} nodes at heights {min_height}..{max_height} (expected ≈ {expected_blocks:.1f}, "
               f"required ≥ {required:.1f}), all within {lag} of the target {target}, tips on one branch, "
               f"LIBs consistent")
    return Outcome(True, message, figures)


class ConsensusLiveness(Expectation):
    kind = "consensus_liveness"
    summary = "the chain grew at the expected rate on every node, on one branch, with consistent LIBs"
    params = ParamSchema((
        Param("min_fraction", "number", default=0.5, minimum=0, maximum=1, example=0.5,
              help="the highest height must reach this fraction of the expected blocks"),
        Param("lag_allowance", "int", default=2, minimum=0, maximum=MAX_LAG, example=2,
              help="blocks a node may trail the target (raised to target/10, at most 5)"),
    ))

    def __init__(self, min_fraction: float = 0.5, lag_allowance: int = 2) -> None:
        self.min_fraction = float(min_fraction)
        self.lag_allowance = lag_allowance

    async def evaluate(self, ctx: RunContext) -> Outcome:
        clients = ctx.running_clients()  # nodes down on purpose are not judged
        if not clients:
            return Outcome(False, "no node is meant to be running: nothing to judge")
        # With a high f several leaders often win the same slot, and short forks are normal until a slot
        # with a single leader resolves them. So a failing verdict is re-judged on fresh samples for a
        # few block intervals; a divergence that persists that long is a real failure.
        budget = min(max(CONVERGENCE_INTERVALS * ctx.block_interval, 2.0), CONVERGENCE_MAX_S)
        deadline = time.monotonic() + budget
        first = outcome = await self._judge_once(ctx, clients)
        attempts = 1
        # Growth (block count, rate, lag) is judged on the samples taken when the run ends; only the
        # agreement of tips and LIBs gets the extra time to converge.
        pause = ctx.block_interval / 2
        while not outcome.passed and first.figures["growth_ok"] and time.monotonic() + pause < deadline:
            await asyncio.sleep(pause)
            attempts += 1
            outcome = await self._judge_once(ctx, clients)
        outcome.figures["attempts"] = attempts
        outcome.figures["down_on_purpose"] = sorted(ctx.intent.down_on_purpose())
        return outcome

    async def _judge_once(self, ctx: RunContext, clients: list[NodeClient]) -> Outcome:
        samples = list(await asyncio.gather(*(_sample(client) for client in clients)))
        feed = ctx.block_feed
        by_name = {client.name: client for client in clients}
        for sample in samples:  # make sure every tip and LIB is in the feed before asking about ancestry
            for block_id in (sample.tip, sample.lib):
                if block_id and block_id not in feed.blocks:
                    await feed.walk(by_name[sample.name], block_id)
        return judge_liveness(samples, ctx.expected_blocks, self.min_fraction, self.lag_allowance,
                              feed.fork_depth, feed.on_one_branch)


async def _sample(client: NodeClient) -> NodeSample:
    error = "no answer"
    for attempt in range(SAMPLE_ATTEMPTS):
        try:
            info = await client.consensus_info()
            return NodeSample(client.name, int(info["height"]), info.get("tip"), info.get("lib"))
        except (NodeApiError, KeyError, TypeError, ValueError) as exc:
            error = str(exc)
        if attempt + 1 < SAMPLE_ATTEMPTS:
            await asyncio.sleep(SAMPLE_SPACING_S)
    return NodeSample(client.name, error=error)

