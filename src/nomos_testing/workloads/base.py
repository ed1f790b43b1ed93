"""What every workload implements, and the registry of workload kinds.

Real workloads (transactions, data availability, chaos) come in later issues; they subclass
`Workload` and call `register_workload` so plans and scenario files can name them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from nomos_testing.errors import PlanError

if TYPE_CHECKING:
    from nomos_testing.expectations.base import Expectation
    from nomos_testing.scenario.context import RunContext


class Workload(ABC):
    """Drives the cluster during the run window. `start` is cancelled when the window (plus the
    cooldown) ends; cancellation is the normal way a workload stops. Every operation should be
    recorded with `ctx.events.emit(...)`."""

    name: str = "workload"

    def expectations(self) -> list[Expectation]:
        """Checks that belong to this workload; they are judged with the plan's own expectations."""
        return []

    @abstractmethod
    async def start(self, ctx: RunContext) -> None: ...


WorkloadFactory = Callable[[Mapping[str, Any]], Workload]

_FACTORIES: dict[str, WorkloadFactory] = {}


def register_workload(kind: str, factory: WorkloadFactory) -> None:
    _FACTORIES[kind] = factory


def known_workloads() -> list[str]:
    return sorted(_FACTORIES)


def build_workload(spec: Any, field_name: str = "workload") -> Workload:
    factory = _FACTORIES.get(spec.kind)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES)) or "none are available yet"
        raise PlanError(f"{field_name}: unknown workload kind {spec.kind!r}", f"use one of: {known}")
    try:
        return factory(spec.params)
    except PlanError as exc:
        raise PlanError(f"{field_name} ({spec.kind}): {exc.message}", exc.remedy) from None
