"""The immutable scenario plan: what to deploy, how to drive it, what must hold, for how long.

Every construction path (builder, TOML file, keyword construction, CLI overrides via `with_overrides`)
ends in `ScenarioPlan.__post_init__`, so a plan that exists is valid: bad input raises one `PlanError`
naming the field and the fix before any process starts.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from nomos_testing import settings
from nomos_testing.errors import PlanError
from nomos_testing.topology.model import Layout

MAX_NODES = 128  # each node holds three listening sockets and a Python process; beyond this a host runs out
MAX_SEED = 2**64 - 1
MAX_WALLETS = 10_000  # genesis notes in every node's config; 10 000 take ~0.3 s to derive, 10^8 exhaust memory
MIN_SLOT_DURATION_S = 0.001
MAX_DURATION_S = 7 * 24 * 3600.0  # a week: anything longer is a typo (1e300 would run forever)
DEFAULT_SLOT_DURATION_S = 2.0
DEFAULT_ACTIVE_SLOT_COEFF = 0.9
DEFAULT_SECURITY_PARAM = 10
DEFAULT_READINESS_TIMEOUT_S = 60.0
DEFAULT_WALLET_VALUE = 100


def _frozen(params: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(params or {}))


@dataclass(frozen=True)
class TopologySpec:
    validators: int = 3
    executors: int = 1
    layout: Layout = Layout.STAR

    @property
    def node_count(self) -> int:
        return self.validators + self.executors


@dataclass(frozen=True)
class ComponentSpec:
    """A workload or an expectation as data: its registered `kind` and its parameters."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **dict(self.params)}


def _require_int(name: str, value: object, minimum: int, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(f"{name} must be a whole number, got {value!r}", fix)
    if value < minimum:
        raise PlanError(f"{name} must be ≥ {minimum}, got {value}", fix)
    return value


def _require_number(name: str, value: object, fix: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PlanError(f"{name} must be a number, got {value!r}", fix)
    return float(value)


@dataclass(frozen=True)
class ScenarioPlan:
    name: str = "scenario"
    topology: TopologySpec = field(default_factory=TopologySpec)
    wallets: int = 0
    wallet_value: int = DEFAULT_WALLET_VALUE
    workloads: tuple[ComponentSpec, ...] = ()
    expectations: tuple[ComponentSpec, ...] = ()
    duration_s: float = 60.0
    seed: int | None = None  # None: a random seed is drawn and recorded in the plan
    slot_duration: float | None = None  # None: CONSENSUS_SLOT_TIME, else 2 s
    active_slot_coeff: float | None = None  # None: CONSENSUS_ACTIVE_SLOT_COEFF, else 0.9
    security_param: int = DEFAULT_SECURITY_PARAM
    readiness_timeout_s: float = DEFAULT_READINESS_TIMEOUT_S

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: resolve defaults once, here
        if self.seed is None:
            set_(self, "seed", secrets.randbits(63))
        if self.slot_duration is None:
            set_(self, "slot_duration", settings.number("CONSENSUS_SLOT_TIME", DEFAULT_SLOT_DURATION_S))
        if self.active_slot_coeff is None:
            set_(self, "active_slot_coeff",
                 settings.number("CONSENSUS_ACTIVE_SLOT_COEFF", DEFAULT_ACTIVE_SLOT_COEFF))
        if isinstance(self.topology.layout, str) and not isinstance(self.topology.layout, Layout):
            set_(self, "topology", replace(self.topology, layout=parse_layout(self.topology.layout)))
        set_(self, "workloads", tuple(self.workloads))
        set_(self, "expectations", tuple(self.expectations))
        self._validate()

    def _validate(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise PlanError(f"name must be a non-empty string, got {self.name!r}", 'set name = "my-scenario"')
        for char in self.name:
            if not (char.isalnum() or char in "-_."):
                raise PlanError(f"name {self.name!r} contains {char!r}",
                                "use letters, digits, '-', '_' or '.' only (it names the run directory)")
        topo = self.topology
        validators = _require_int("topology.validators", topo.validators, 0, "set validators to 0 or more")
        executors = _require_int("topology.executors", topo.executors, 0, "set executors to 0 or more")
        if validators + executors == 0:
            raise PlanError("topology has no node (validators = 0 and executors = 0)",
                            "set validators (or executors) to at least 1")
        if validators + executors > MAX_NODES:
            raise PlanError(f"topology has {validators + executors} nodes, more than the {MAX_NODES} supported",
                            f"use at most {MAX_NODES} validators + executors")
        if not isinstance(topo.layout, Layout):
            raise PlanError(f"topology.layout {topo.layout!r} is unknown", _layout_fix())
        wallets = _require_int("wallets", self.wallets, 0, "set wallets to 0 (none) or a positive count")
        if wallets > MAX_WALLETS:
            raise PlanError(f"wallets must be ≤ {MAX_WALLETS}, got {wallets}",
                            f"use at most {MAX_WALLETS} wallets")
        _require_int("wallet_value", self.wallet_value, 1, "set the value of each wallet note to at least 1")
        seed = _require_int("seed", self.seed, 0, "use a seed between 0 and 2^64-1")
        if seed > MAX_SEED:
            raise PlanError(f"seed must be < 2^64, got {seed}", "use a seed between 0 and 2^64-1")
        slot = _require_number("slot_duration", self.slot_duration, "set slot_duration in seconds, e.g. 1.0")
        if slot < MIN_SLOT_DURATION_S:
            raise PlanError(f"slot_duration must be ≥ {MIN_SLOT_DURATION_S} s (the node config contract, "
                            f"docs/node-config.md), got {slot}", "set slot_duration to e.g. 1.0")
        coeff = _require_number("active_slot_coeff", self.active_slot_coeff, "set active_slot_coeff, e.g. 0.9")
        if not 0 < coeff < 1:
            raise PlanError(f"active_slot_coeff must be in (0, 1), got {coeff}", "set active_slot_coeff to e.g. 0.9")
        _require_int("security_param", self.security_param, 1, "set security_param (k) to e.g. 10")
        duration = _require_number("duration", self.duration_s, "set the run duration in seconds, e.g. 60")
        if duration > MAX_DURATION_S:
            raise PlanError(f"duration must be ≤ {MAX_DURATION_S:g} s (a week), got {duration:g}",
                            "set the run duration in seconds, e.g. 60")
        if duration < 2 * slot:
            raise PlanError(f"duration {duration:g} s is shorter than 2 slots ({2 * slot:g} s)",
                            f"set the duration to at least {2 * slot:g} s (2 × slot_duration)")
        timeout = _require_number("readiness_timeout", self.readiness_timeout_s, "set it in seconds, e.g. 60")
        if timeout <= 0:
            raise PlanError(f"readiness_timeout must be > 0 seconds, got {timeout}", "set it to e.g. 60")
        # Components validate their own parameters; imported here to keep the plan free of import cycles.
        from nomos_testing.expectations.registry import build_expectation
        from nomos_testing.workloads.base import build_workload

        for index, spec in enumerate(self.workloads):
            build_workload(spec, f"workloads[{index}]")
        for index, spec in enumerate(self.expectations):
            build_expectation(spec, f"expectations[{index}]")

    # Derived timing (the original computed block_interval as slot × f: a bug; it is slot / f).
    @property
    def expected_blocks(self) -> float:
        return self.duration_s / self.slot_duration * self.active_slot_coeff  # type: ignore[operator]

    @property
    def block_interval(self) -> float:
        return self.slot_duration / self.active_slot_coeff  # type: ignore[operator]

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

    @property
    def readiness_timeout_effective_s(self) -> float:
        return self.readiness_timeout_s * settings.slow_factor()

    def with_overrides(self, **changes: Any) -> ScenarioPlan:
        """A new plan with some fields changed (CLI flags override the file); validated again."""
        changes = {key: value for key, value in changes.items() if value is not None}
        topo_changes = {key: changes.pop(key) for key in ("validators", "executors", "layout") if key in changes}
        if topo_changes:
            if "layout" in topo_changes:
                topo_changes["layout"] = parse_layout(topo_changes["layout"])
            changes["topology"] = replace(self.topology, **topo_changes)
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The fully resolved plan (seed and timing included): enough to re-run it."""
        return {
            "name": self.name,
            "seed": self.seed,
            "duration": self.duration_s,
            "topology": {"validators": self.topology.validators, "executors": self.topology.executors,
                         "layout": self.topology.layout.value},
            "consensus": {"slot_duration": self.slot_duration, "active_slot_coeff": self.active_slot_coeff,
                          "security_param": self.security_param},
            "wallets": {"count": self.wallets, "value": self.wallet_value},
            "readiness": {"timeout": self.readiness_timeout_s},
            "workloads": [spec.to_json() for spec in self.workloads],
            "expectations": [spec.to_json() for spec in self.expectations],
            "derived": {"expected_blocks": round(self.expected_blocks, 3),
                        "block_interval": round(self.block_interval, 6),
                        "cooldown": round(self.cooldown_s, 3), "settle": round(self.settle_s, 3)},
        }


def _layout_fix() -> str:
    return "use one of: " + ", ".join(layout.value for layout in Layout)


def parse_layout(value: object) -> Layout:
    if isinstance(value, Layout):
        return value
    try:
        return Layout(str(value).lower())
    except ValueError:
        raise PlanError(f"topology.layout {value!r} is unknown", _layout_fix()) from None
