"""The scenario plan: what to deploy, how to drive it, what must hold, for how long. An immutable value.

A plan is pure data: building one reads no environment and consults no registry. Two separate steps
turn it into something runnable, each in one visible place:

* `scenario.resolve.resolve_plan` fills what the plan leaves open (a random seed, `CONSENSUS_*` defaults,
  `NOMOS_TESTS_READINESS_TIMEOUT`), recording where each value came from;
* `scenario.validate.validate_plan` checks every value against its schema and every workload or
  expectation against its plug-in's schema, naming the field, where it was set, and the fix.

`sources` records, per field path (`consensus.slot_duration`, `expectations[0].min_fraction`), where the
value was written (file and line, CLI flag, environment variable, Python call), so an error can point there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.params import Source
from nomos_testing.topology.model import Layout

DEFAULT_WALLET_VALUE = 100
DEFAULT_SECURITY_PARAM = 10
DEFAULT_READINESS_TIMEOUT_S = 60.0
DEFAULT_DURATION_S = 60.0
DEFAULT_NODE = "reference"


def _frozen(params: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(params or {}))


@dataclass(frozen=True)
class TopologySpec:
    validators: int = 3
    executors: int = 1
    layout: Layout = Layout.STAR
    standby: int = 0  # extra validators in the genesis, not started at deployment (join them mid-run)

    @property
    def node_count(self) -> int:
        return self.validators + self.executors


@dataclass(frozen=True)
class ComponentSpec:
    """A workload or an expectation as data: its registered `kind` and its parameters as written."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.params)}


# keyword of `with_overrides` (and of the CLI flags) -> the field path it sets
OVERRIDABLE: dict[str, str] = {
    "validators": "topology.validators", "executors": "topology.executors", "layout": "topology.layout",
    "standby": "topology.standby",
    "duration_s": "duration", "seed": "seed", "slot_duration": "consensus.slot_duration",
    "active_slot_coeff": "consensus.active_slot_coeff", "security_param": "consensus.security_param",
    "wallets": "wallets.count", "wallet_value": "wallets.value", "readiness_timeout_s": "readiness.timeout",
    "name": "name", "node": "node",
}


@dataclass(frozen=True)
class ScenarioPlan:
    name: str = "scenario"
    topology: TopologySpec = field(default_factory=TopologySpec)
    wallets: int = 0
    wallet_value: int = DEFAULT_WALLET_VALUE
    workloads: tuple[ComponentSpec, ...] = ()
    expectations: tuple[ComponentSpec, ...] = ()
    duration_s: float = DEFAULT_DURATION_S
    seed: int | None = None               # None: drawn at random by resolve_plan, recorded in plan.json
    slot_duration: float | None = None    # None: CONSENSUS_SLOT_TIME, else 2 s (resolve_plan)
    active_slot_coeff: float | None = None  # None: CONSENSUS_ACTIVE_SLOT_COEFF, else 0.9 (resolve_plan)
    security_param: int = DEFAULT_SECURITY_PARAM
    readiness_timeout_s: float = DEFAULT_READINESS_TIMEOUT_S
    node: str = DEFAULT_NODE              # the node adapter (plug-in group nomos_testing.nodes)
    sources: Mapping[str, Source] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Normalisation only (lists from callers become tuples, mappings become read-only); no validation.
        object.__setattr__(self, "workloads", tuple(self.workloads))
        object.__setattr__(self, "expectations", tuple(self.expectations))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    # Provenance ------------------------------------------------------------------------------------

    def source_of(self, field_path: str) -> Source:
        """Where the value of `field_path` came from (a plan built in Python records nothing: "the Python plan")."""
        if field_path in self.sources:
            return self.sources[field_path]
        section = field_path.split(".", 1)[0]
        return self.sources.get(section, Source("python"))

    @property
    def is_resolved(self) -> bool:
        return None not in (self.seed, self.slot_duration, self.active_slot_coeff)

    def _resolved(self) -> tuple[float, float]:
        if self.slot_duration is None or self.active_slot_coeff is None:
            raise PlanError("the plan is not resolved: slot_duration / active_slot_coeff are open",
                            "call nomos_testing.scenario.resolve.resolve_plan(plan) first")
        return self.slot_duration, self.active_slot_coeff

    # Derived timing (the original computed block_interval as slot × f: a bug; it is slot / f) ------

    @property
    def expected_blocks(self) -> float:
        slot, coeff = self._resolved()
        return self.duration_s / slot * coeff

    @property
    def block_interval(self) -> float:
        slot, coeff = self._resolved()
        return slot / coeff

    @property
    def cooldown_s(self) -> float:
        """Workloads keep running this long after the duration so late inclusions become visible
        (about k blocks). Without workloads there is nothing to wait for."""
        if not self.workloads:
            return 0.0
        return max(5, self.security_param) * self.block_interval

    @property
    def settle_s(self) -> float:
        return max(self.block_interval, 2.0)

    # Changes ---------------------------------------------------------------------------------------

    def with_overrides(self, source: Source | Mapping[str, Source] | None = None, **changes: Any) -> ScenarioPlan:
        """A new plan with some fields changed (CLI flags override the file); `None` values are ignored.
        `source` says where the new values come from (one Source, or one per keyword)."""
        changes = {key: value for key, value in changes.items() if value is not None}
        unknown = set(changes) - set(OVERRIDABLE)
        if unknown:
            raise TypeError(f"with_overrides: unknown field(s) {sorted(unknown)}; use {sorted(OVERRIDABLE)}")
        sources = dict(self.sources)
        for key in changes:
            given = source.get(key) if isinstance(source, Mapping) else source
            sources[OVERRIDABLE[key]] = given or Source("python", f"with_overrides({key}=…)")
        topo_changes = {key: changes.pop(key) for key in ("validators", "executors", "layout", "standby")
                        if key in changes}
        if "layout" in topo_changes:
            topo_changes["layout"] = parse_layout(topo_changes["layout"], sources["topology.layout"])
        if topo_changes:
            changes["topology"] = replace(self.topology, **topo_changes)
        return replace(self, sources=sources, **changes)

    # Serialisation ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The fully resolved plan (seed and timing included): enough to re-run it."""
        return {
            "name": self.name,
            "seed": self.seed,
            "duration": self.duration_s,
            "node": self.node,
            "topology": {"validators": self.topology.validators, "executors": self.topology.executors,
                         "layout": self.topology.layout.value,
                         **({"standby": self.topology.standby} if self.topology.standby else {})},
            "consensus": {"slot_duration": self.slot_duration, "active_slot_coeff": self.active_slot_coeff,
                          "security_param": self.security_param},
            "wallets": {"count": self.wallets, "value": self.wallet_value},
            "readiness": {"timeout": self.readiness_timeout_s},
            "workloads": [spec.to_json() for spec in self.workloads],
            "expectations": [spec.to_json() for spec in self.expectations],
            "derived": {"expected_blocks": round(self.expected_blocks, 3),
                        "block_interval": round(self.block_interval, 6),
                        "cooldown": round(self.cooldown_s, 3), "settle": round(self.settle_s, 3)},
            "sources": {path: source.location() for path, source in sorted(self.sources.items())},
        }


def parse_layout(value: object, source: Source | None = None) -> Layout:
    if isinstance(value, Layout):
        return value
    try:
        return Layout(str(value).lower())
    except ValueError:
        where = (source or Source("python")).location()
        expected = ", ".join(layout.value for layout in Layout)
        raise PlanError(f"{where}: topology.layout must be one of {expected}, got {value!r}",
                        f"{(source or Source('python')).how_to_set('topology.layout')} to one of {expected}") from None
