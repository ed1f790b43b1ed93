"""What every expectation implements: capture baselines before the workloads start, judge after.

Expectation kinds are plug-ins (entry point group `nomos_testing.expectations`); each declares its parameters
once as a `ParamSchema` (`params`), and the node-control capabilities it needs (`requires`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nomos_testing.components import Component

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext


@dataclass(frozen=True)
class Outcome:
    passed: bool
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


class Expectation(Component, ABC):
    """One pass/fail rule. `name` appears in report.json and as the junit testcase name."""

    async def start_capture(self, ctx: RunContext) -> None:
        """Take baselines and subscribe to the block feed; runs before any workload starts."""

    @abstractmethod
    async def evaluate(self, ctx: RunContext) -> Outcome:
        """Judge the run; called after drive, cooldown and settle."""
