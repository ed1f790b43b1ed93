"""What every expectation implements: capture baselines before the workloads start, judge after."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext


@dataclass(frozen=True)
class Outcome:
    passed: bool
    message: str
    figures: dict[str, Any] = field(default_factory=dict)


class Expectation(ABC):
    """One pass/fail rule. `name` appears in report.json and as the junit testcase name."""

    name: str = "expectation"

    async def start_capture(self, ctx: RunContext) -> None:  # noqa: B027 - optional hook
        """Take baselines and subscribe to the block feed; runs before any workload starts."""

    @abstractmethod
    async def evaluate(self, ctx: RunContext) -> Outcome:
        """Judge the run; called after drive, cooldown and settle."""
