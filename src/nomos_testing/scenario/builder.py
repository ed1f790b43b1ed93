"""A fluent builder that reads like the original tool's DSL:

    ScenarioBuilder.topology_with(lambda t: t.network_star().validators(3).executors(1)) \\
        .wallets(50).expect_consensus_liveness().with_run_duration(timedelta(seconds=60)).build()

`build()` returns an immutable, validated `ScenarioPlan` or raises `PlanError` (never panics).
Keyword construction is `scenario(validators=3, executors=1, duration=60, ...)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.scenario.plan import DEFAULT_WALLET_VALUE, ComponentSpec, ScenarioPlan, TopologySpec, parse_layout
from nomos_testing.topology.model import Layout


@dataclass
class TopologyConfigurator:
    _validators: int = 0
    _executors: int = 0
    _layout: Layout = Layout.STAR

    def validators(self, count: int) -> TopologyConfigurator:
        self._validators = count
        return self

    def executors(self, count: int) -> TopologyConfigurator:
        self._executors = count
        return self

    def network_star(self) -> TopologyConfigurator:
        self._layout = Layout.STAR
        return self

    def network_chain(self) -> TopologyConfigurator:
        self._layout = Layout.CHAIN
        return self

    def network_full(self) -> TopologyConfigurator:
        self._layout = Layout.FULL
        return self

    def layout(self, layout: Layout | str) -> TopologyConfigurator:
        self._layout = parse_layout(layout)
        return self

    def spec(self) -> TopologySpec:
        return TopologySpec(self._validators, self._executors, self._layout)


class _EntryPoint:
    """Lets a builder method be called on the class (starting a new builder) or on an instance."""

    def __init__(self, method: Callable[..., ScenarioBuilder]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    def __get__(self, instance: ScenarioBuilder | None, owner: type[ScenarioBuilder]) -> Callable[..., Any]:
        target = instance if instance is not None else owner()
        return self._method.__get__(target, owner)


def _seconds(value: timedelta | float | int, field_name: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{field_name} must be a timedelta or seconds, got {value!r}",
                        f"pass e.g. timedelta(seconds=60) to {field_name}")
    return float(value)


class ScenarioBuilder:
    def __init__(self) -> None:
        self._topology = TopologySpec(validators=0, executors=0)
        self._fields: dict[str, Any] = {}
        self._workloads: list[ComponentSpec] = []
        self._expectations: list[ComponentSpec] = []

    @_EntryPoint
    def topology_with(self, configure: Callable[[TopologyConfigurator], TopologyConfigurator | None]
                      ) -> ScenarioBuilder:
        configurator = TopologyConfigurator(self._topology.validators, self._topology.executors,
                                            self._topology.layout)
        configure(configurator)
        self._topology = configurator.spec()
        return self

    @_EntryPoint
    def with_node_counts(self, validators: int, executors: int) -> ScenarioBuilder:
        self._topology = replace(self._topology, validators=validators, executors=executors)
        return self

    def named(self, name: str) -> ScenarioBuilder:
        self._fields["name"] = name
        return self

    def wallets(self, count: int, value: int = DEFAULT_WALLET_VALUE) -> ScenarioBuilder:
        self._fields.update(wallets=count, wallet_value=value)
        return self

    def with_workload(self, kind: str, **params: Any) -> ScenarioBuilder:
        self._workloads.append(ComponentSpec(kind, params))
        return self

    def with_expectation(self, kind: str, **params: Any) -> ScenarioBuilder:
        self._expectations.append(ComponentSpec(kind, params))
        return self

    def expect_consensus_liveness(self, min_fraction: float = 0.5, lag_allowance: int = 2) -> ScenarioBuilder:
        return self.with_expectation("consensus_liveness", min_fraction=min_fraction, lag_allowance=lag_allowance)

    def with_run_duration(self, duration: timedelta | float) -> ScenarioBuilder:
        self._fields["duration_s"] = _seconds(duration, "with_run_duration")
        return self

    def with_seed(self, seed: int) -> ScenarioBuilder:
        self._fields["seed"] = seed
        return self

    def with_slot_duration(self, slot: timedelta | float) -> ScenarioBuilder:
        self._fields["slot_duration"] = _seconds(slot, "with_slot_duration")
        return self

    def with_active_slot_coeff(self, coeff: float) -> ScenarioBuilder:
        self._fields["active_slot_coeff"] = coeff
        return self

    def with_security_param(self, k: int) -> ScenarioBuilder:
        self._fields["security_param"] = k
        return self

    def with_readiness_timeout(self, timeout: timedelta | float) -> ScenarioBuilder:
        self._fields["readiness_timeout_s"] = _seconds(timeout, "with_readiness_timeout")
        return self

    def build(self) -> ScenarioPlan:
        return ScenarioPlan(topology=self._topology, workloads=tuple(self._workloads),
                            expectations=tuple(self._expectations), **self._fields)


def scenario(*, name: str = "scenario", validators: int = 3, executors: int = 1, layout: Layout | str = "star",
             wallets: int = 0, wallet_value: int = DEFAULT_WALLET_VALUE, duration: timedelta | float = 60.0,
             seed: int | None = None, slot_duration: float | None = None, active_slot_coeff: float | None = None,
             security_param: int = 10, readiness_timeout: float = 60.0,
             expectations: tuple[str | ComponentSpec, ...] = ("consensus_liveness",),
             workloads: tuple[ComponentSpec, ...] = ()) -> ScenarioPlan:
    """Keyword construction of a validated plan; expectations by kind name or as ComponentSpec."""
    return ScenarioPlan(
        name=name, topology=TopologySpec(validators, executors, parse_layout(layout)), wallets=wallets,
        wallet_value=wallet_value, duration_s=_seconds(duration, "duration"), seed=seed,
        slot_duration=slot_duration, active_slot_coeff=active_slot_coeff, security_param=security_param,
        readiness_timeout_s=readiness_timeout, workloads=tuple(workloads),
        expectations=tuple(e if isinstance(e, ComponentSpec) else ComponentSpec(e) for e in expectations),
    )
