"""What every workload implements.

Workload kinds are plug-ins (entry point group `nomos_testing.workloads`), each with its parameters declared
once (`params`) and the node-control capabilities it needs (`requires`); see `components.Component`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from nomos_testing.components import Component

if TYPE_CHECKING:
    from nomos_testing.expectations.base import Expectation
    from nomos_testing.observe.report import FaultRecord
    from nomos_testing.scenario.context import RunContext


class Workload(Component, ABC):
    """Drives the cluster during the run window. `start` is cancelled when the window (plus the cooldown)
    ends; cancellation is the normal way a workload stops, and returning early is fine too. A workload that
    raises ends the run window at once and fails the run as a workload failure. Every operation should be
    recorded with `ctx.events.emit(...)`."""

    def recovery_s(self) -> float:
        """Seconds the network needs after the final heal (every fault removed) before it is judged."""
        return 0.0

    def expectations(self) -> list[Expectation]:
        """Checks that belong to this workload; they are judged with the plan's own expectations."""
        return []

    def faults_applied(self) -> list[FaultRecord]:
        """The faults this workload scheduled and what became of them (the report's `faults`)."""
        return []

    @abstractmethod
    async def start(self, ctx: RunContext) -> None: ...
