"""What workloads and expectations have in common as plug-ins: a kind name, a parameter schema declared once,
the runner capabilities they need, and construction from validated parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self

from nomos_testing.params import ParamSchema

if TYPE_CHECKING:
    from nomos_testing.scenario.plan import ScenarioPlan


class Component:
    """Base of every workload and expectation kind (see `plugins.Registries`)."""

    kind: ClassVar[str] = ""
    params: ClassVar[ParamSchema] = ParamSchema()
    # Node-control capabilities the runner must offer (e.g. "restart", "partition"); checked before deployment.
    requires: ClassVar[frozenset[str]] = frozenset()
    summary: ClassVar[str] = ""

    @classmethod
    def required_capabilities(cls, params: Mapping[str, Any]) -> frozenset[str]:
        """What this instance needs of the runner; by default `requires` (a nemesis needs what its faults do)."""
        return cls.requires

    @classmethod
    def check_plan(cls, params: Mapping[str, Any], plan: ScenarioPlan, where: str) -> None:
        """Checks of the (already schema-checked) parameters that need the plan, e.g. node names or the run's
        duration; raise PlanError naming the field (`where` is e.g. "workloads[0]"). Runs at validation."""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Build from parameters that `params` has already checked and completed with defaults."""
        return cls(**params)

    @property
    def name(self) -> str:
        """How results of this instance are named in the report (the kind, unless overridden)."""
        return self.kind
