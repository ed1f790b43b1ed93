"""A fluent builder that reads like the original tool's DSL:

    ScenarioBuilder.topology_with(lambda t: t.network_star().validators(3).executors(1)) \\
        .wallets(50).expect_consensus_liveness().with_run_duration(timedelta(seconds=60)).build()

`build()` returns a validated `ScenarioPlan` or raises `PlanError` naming the builder call to fix (never
panics). Keyword construction is `scenario(validators=3, executors=1, duration=60, ...)`.
Environment defaults are not read here: `resolve_plan` applies them when the plan runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.faults.builder import ChaosConfigurator, plain
from nomos_testing.params import Source
from nomos_testing.plugins import Registries
from nomos_testing.scenario.plan import (
    DEFAULT_READINESS_TIMEOUT_S,
    DEFAULT_SECURITY_PARAM,
    DEFAULT_WALLET_VALUE,
    ComponentSpec,
    ScenarioPlan,
    TopologySpec,
    parse_layout,
)
from nomos_testing.scenario.validate import validate_plan
from nomos_testing.topology.model import Layout


def _call(method: str) -> Source:
    return Source("python", f"ScenarioBuilder.{method}(…)")


@dataclass
class TopologyConfigurator:
    _validators: int = 0
    _executors: int = 0
    _layout: Layout = Layout.STAR
    _sources: dict[str, Source] = field(default_factory=dict)
    _standby: int = 0

    def validators(self, count: int) -> TopologyConfigurator:
        self._validators = count
        self._sources["topology.validators"] = Source("python", "TopologyConfigurator.validators(…)")
        return self

    def executors(self, count: int) -> TopologyConfigurator:
        self._executors = count
        self._sources["topology.executors"] = Source("python", "TopologyConfigurator.executors(…)")
        return self

    def standby(self, count: int) -> TopologyConfigurator:
        """`count` extra validators in the genesis, started only when joined (`control.join(…, in_genesis=True)`)."""
        self._standby = count
        self._sources["topology.standby"] = Source("python", "TopologyConfigurator.standby(…)")
        return self

    def network_star(self) -> TopologyConfigurator:
        return self.layout(Layout.STAR)

    def network_chain(self) -> TopologyConfigurator:
        return self.layout(Layout.CHAIN)

    def network_full(self) -> TopologyConfigurator:
        return self.layout(Layout.FULL)

    def layout(self, layout: Layout | str) -> TopologyConfigurator:
        source = Source("python", "TopologyConfigurator.layout(…)")
        self._layout = parse_layout(layout, source)
        self._sources["topology.layout"] = source
        return self

    def spec(self) -> TopologySpec:
        return TopologySpec(self._validators, self._executors, self._layout, self._standby)


class TransactionsConfigurator:
    """What `ScenarioBuilder.transactions_with` hands its function, like the original's
    `transactions_with(|t| t.rate(5).users(20))`; every value is a `transactions` workload parameter."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.calls: dict[str, str] = {}

    def _set(self, name: str, value: Any, method: str) -> TransactionsConfigurator:
        self.params[name] = value
        self.calls[name] = f"TransactionsConfigurator.{method}(…)"
        return self

    def rate(self, per_block: float) -> TransactionsConfigurator:
        """Transactions per block."""
        return self._set("rate", per_block, "rate")

    def users(self, count: int) -> TransactionsConfigurator:
        """Distinct senders (the first `count` wallets)."""
        return self._set("users", count, "users")

    def per_second(self, tx_per_s: float) -> TransactionsConfigurator:
        """An open-loop rate in transactions per second (overrides `rate`)."""
        return self._set("tx_per_s", tx_per_s, "per_second")

    def fee(self, fee: int) -> TransactionsConfigurator:
        return self._set("fee", fee, "fee")

    def amount(self, amount: int) -> TransactionsConfigurator:
        return self._set("amount", amount, "amount")

    def min_share(self, share: float) -> TransactionsConfigurator:
        """The bundled tx_inclusion expectation's required share."""
        return self._set("min_share", share, "min_share")

    def seed(self, seed: int) -> TransactionsConfigurator:
        return self._set("seed", seed, "seed")


class DaConfigurator:
    """What `ScenarioBuilder.da_with` hands its function, like the original's
    `da_with(|d| d.channel_rate(1).blob_rate(2).headroom_percent(20))`; every value is a `da` workload parameter."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.calls: dict[str, str] = {}

    def _set(self, name: str, value: Any, method: str) -> DaConfigurator:
        self.params[name] = value
        self.calls[name] = f"DaConfigurator.{method}(…)"
        return self

    def channel_rate(self, channels: int) -> DaConfigurator:
        """Base number of channels (headroom_percent adds more)."""
        return self._set("channel_rate", channels, "channel_rate")

    def blob_rate(self, per_block: float) -> DaConfigurator:
        """Blobs dispersed per block (a rate: concurrent dispersals)."""
        return self._set("blob_rate", per_block, "blob_rate")

    def headroom_percent(self, percent: float) -> DaConfigurator:
        """Extra channels, in percent of channel_rate rounded up."""
        return self._set("headroom_percent", percent, "headroom_percent")

    def payload_bytes(self, low: int, high: int | None = None) -> DaConfigurator:
        """Blob payload sizes: drawn between `low` and `high` (default: exactly `low`)."""
        self._set("payload_min_bytes", low, "payload_bytes")
        return self._set("payload_max_bytes", low if high is None else high, "payload_bytes")

    def min_inscribed_share(self, share: float) -> DaConfigurator:
        return self._set("min_inscribed_share", share, "min_inscribed_share")

    def min_blob_share(self, share: float) -> DaConfigurator:
        return self._set("min_blob_share", share, "min_blob_share")

    def retrieve_sample(self, blobs: int) -> DaConfigurator:
        """Included blobs the bundled da_inclusion expectation fetches back and reconstructs."""
        return self._set("retrieve_sample", blobs, "retrieve_sample")

    def seed(self, seed: int) -> DaConfigurator:
        return self._set("seed", seed, "seed")


class _EntryPoint:
    """Lets a builder method be called on the class (starting a new builder) or on an instance."""

    def __init__(self, method: Callable[..., ScenarioBuilder]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    def __get__(self, instance: ScenarioBuilder | None, owner: type[ScenarioBuilder]) -> Callable[..., Any]:
        target = instance if instance is not None else owner()
        bound: Callable[..., Any] = self._method.__get__(target, owner)
        return bound


def _seconds(value: timedelta | float | int, call: str) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{call}: expected a timedelta or seconds, got {value!r}",
                        f"pass e.g. timedelta(seconds=60) to {call}")
    return float(value)


class ScenarioBuilder:
    def __init__(self) -> None:
        self._topology = TopologySpec(validators=0, executors=0)
        self._fields: dict[str, Any] = {}
        self._sources: dict[str, Source] = {}
        self._workloads: list[ComponentSpec] = []
        self._expectations: list[ComponentSpec] = []

    def _set(self, path: str, method: str, **values: Any) -> ScenarioBuilder:
        self._fields.update(values)
        self._sources[path] = _call(method)
        return self

    @_EntryPoint
    def topology_with(self, configure: Callable[[TopologyConfigurator], TopologyConfigurator | None]
                      ) -> ScenarioBuilder:
        configurator = TopologyConfigurator(self._topology.validators, self._topology.executors,
                                            self._topology.layout, _standby=self._topology.standby)
        configure(configurator)
        self._topology = configurator.spec()
        self._sources.update(configurator._sources)
        return self

    @_EntryPoint
    def with_node_counts(self, validators: int, executors: int) -> ScenarioBuilder:
        self._topology = replace(self._topology, validators=validators, executors=executors)
        self._sources["topology.validators"] = self._sources["topology.executors"] = _call("with_node_counts")
        return self

    def named(self, name: str) -> ScenarioBuilder:
        return self._set("name", "named", name=name)

    def wallets(self, count: int, value: int = DEFAULT_WALLET_VALUE) -> ScenarioBuilder:
        self._sources["wallets.value"] = _call("wallets")
        return self._set("wallets.count", "wallets", wallets=count, wallet_value=value)

    def with_node(self, adapter: str) -> ScenarioBuilder:
        """The node implementation to run (a node adapter plug-in; default "reference")."""
        return self._set("node", "with_node", node=adapter)

    def _component(self, section: str, method: str, kind: str, params: dict[str, Any]) -> ScenarioBuilder:
        target = self._workloads if section == "workloads" else self._expectations
        where = f"{section}[{len(target)}]"
        self._sources[where] = Source("python", f"ScenarioBuilder.{method}({kind!r}, …)")
        for name in params:
            self._sources[f"{where}.{name}"] = Source("python", f"ScenarioBuilder.{method}({kind!r}, {name}=…)")
        target.append(ComponentSpec(kind, params))
        return self

    def with_workload(self, kind: str, **params: Any) -> ScenarioBuilder:
        return self._component("workloads", "with_workload", kind, params)

    def with_expectation(self, kind: str, **params: Any) -> ScenarioBuilder:
        return self._component("expectations", "with_expectation", kind, params)

    # The nemesis (faults/builder.py): one per plan; these calls add to it -----------------------------

    def _nemesis(self, method: str) -> tuple[int, dict[str, Any]]:
        index = next((i for i, spec in enumerate(self._workloads) if spec.kind == "nemesis"), None)
        if index is None:
            index = len(self._workloads)
            self._workloads.append(ComponentSpec("nemesis"))
            self._sources[f"workloads[{index}]"] = _call(method)
        return index, {key: plain(value) for key, value in self._workloads[index].params.items()}

    def chaos_with(self, configure: Callable[[ChaosConfigurator], object]) -> ScenarioBuilder:
        """Faults, like the original's `chaos_with(|c| c.restart().min_delay(…).apply())`: random schedules
        (`c.restart()`, `c.pauses()`, `c.kills()`, `c.partitions()`, `c.delays()`, `c.losses()`), scripted
        faults (`c.fault(at=…, kind=…, …)`), `c.recovery(…)` and `c.seed(…)`."""
        index, params = self._nemesis("chaos_with")
        chaos = ChaosConfigurator(params)
        configure(chaos)
        for path, call in chaos.calls.items():
            self._sources[f"workloads[{index}].{path}"] = Source("python", call)
        self._workloads[index] = ComponentSpec("nemesis", params)
        return self

    def nemesis(self, **params: Any) -> ScenarioBuilder:
        """The nemesis's parameters as keywords, e.g. nemesis(recovery=20, restarts={"min_delay": 5})."""
        index, current = self._nemesis("nemesis")
        for name, value in params.items():
            current[name] = plain(value)
            self._sources[f"workloads[{index}].{name}"] = Source("python", f"ScenarioBuilder.nemesis({name}=…)")
        self._workloads[index] = ComponentSpec("nemesis", current)
        return self

    def fault(self, at: timedelta | float | str, kind: str, duration: timedelta | float | str | None = None,
              **params: Any) -> ScenarioBuilder:
        """One scripted fault, e.g. fault(at="20s", kind="pause", node="validator-1", duration="5s")."""
        return self.chaos_with(lambda chaos: chaos.fault(at, kind, duration, **params))

    def transactions_with(self, configure: Callable[[TransactionsConfigurator], object]) -> ScenarioBuilder:
        """The transaction workload (docs/transactions.md), e.g. `transactions_with(lambda t: t.rate(5).users(20))`;
        it needs wallets (`.wallets(n)`) and bundles the tx_inclusion expectation."""
        index = next((i for i, spec in enumerate(self._workloads) if spec.kind == "transactions"), None)
        if index is None:
            index = len(self._workloads)
            self._workloads.append(ComponentSpec("transactions"))
            self._sources[f"workloads[{index}]"] = _call("transactions_with")
        configurator = TransactionsConfigurator(dict(self._workloads[index].params))
        configure(configurator)
        for name, call in configurator.calls.items():
            self._sources[f"workloads[{index}].{name}"] = Source("python", call)
        self._workloads[index] = ComponentSpec("transactions", configurator.params)
        return self

    def da_with(self, configure: Callable[[DaConfigurator], object]) -> ScenarioBuilder:
        """The data availability workload (docs/data-availability.md), e.g.
        `da_with(lambda d: d.channel_rate(1).blob_rate(2).headroom_percent(20))`; it needs executors and bundles
        the da_inclusion expectation."""
        index = next((i for i, spec in enumerate(self._workloads) if spec.kind == "da"), None)
        if index is None:
            index = len(self._workloads)
            self._workloads.append(ComponentSpec("da"))
            self._sources[f"workloads[{index}]"] = _call("da_with")
        configurator = DaConfigurator(dict(self._workloads[index].params))
        configure(configurator)
        for name, call in configurator.calls.items():
            self._sources[f"workloads[{index}].{name}"] = Source("python", call)
        self._workloads[index] = ComponentSpec("da", configurator.params)
        return self

    def expect_consensus_liveness(self, min_fraction: float = 0.5, lag_allowance: int = 2) -> ScenarioBuilder:
        return self.with_expectation("consensus_liveness", min_fraction=min_fraction, lag_allowance=lag_allowance)

    def with_run_duration(self, duration: timedelta | float) -> ScenarioBuilder:
        return self._set("duration", "with_run_duration", duration_s=_seconds(duration, "with_run_duration"))

    def with_seed(self, seed: int) -> ScenarioBuilder:
        return self._set("seed", "with_seed", seed=seed)

    def with_slot_duration(self, slot: timedelta | float) -> ScenarioBuilder:
        return self._set("consensus.slot_duration", "with_slot_duration",
                         slot_duration=_seconds(slot, "with_slot_duration"))

    def with_active_slot_coeff(self, coeff: float) -> ScenarioBuilder:
        return self._set("consensus.active_slot_coeff", "with_active_slot_coeff", active_slot_coeff=coeff)

    def with_security_param(self, k: int) -> ScenarioBuilder:
        return self._set("consensus.security_param", "with_security_param", security_param=k)

    def with_readiness_timeout(self, timeout: timedelta | float) -> ScenarioBuilder:
        return self._set("readiness.timeout", "with_readiness_timeout",
                         readiness_timeout_s=_seconds(timeout, "with_readiness_timeout"))

    def plan(self) -> ScenarioPlan:
        """The plan as built so far, not validated."""
        sources = {"topology.validators": _call("topology_with"), **self._sources}
        return ScenarioPlan(topology=self._topology, workloads=tuple(self._workloads),
                            expectations=tuple(self._expectations), sources=sources, **self._fields)

    def build(self, registries: Registries | None = None) -> ScenarioPlan:
        plan = self.plan()
        validate_plan(plan, registries)
        return plan


def scenario(*, name: str = "scenario", validators: int = 3, executors: int = 1, layout: Layout | str = "star",
             wallets: int = 0, wallet_value: int = DEFAULT_WALLET_VALUE, duration: timedelta | float = 60.0,
             seed: int | None = None, slot_duration: float | None = None, active_slot_coeff: float | None = None,
             security_param: int = DEFAULT_SECURITY_PARAM, readiness_timeout: float = DEFAULT_READINESS_TIMEOUT_S,
             expectations: tuple[str | ComponentSpec, ...] = ("consensus_liveness",),
             workloads: tuple[ComponentSpec, ...] = (), node: str = "reference", standby: int = 0,
             registries: Registries | None = None) -> ScenarioPlan:
    """Keyword construction of a validated plan; expectations by kind name or as ComponentSpec."""
    keyword = {"name": "name", "seed": "seed", "duration": "duration", "node": "node",
               "topology.validators": "validators", "topology.executors": "executors",
               "topology.layout": "layout", "topology.standby": "standby", "consensus.slot_duration": "slot_duration",
               "consensus.active_slot_coeff": "active_slot_coeff", "consensus.security_param": "security_param",
               "wallets.count": "wallets", "wallets.value": "wallet_value", "readiness.timeout": "readiness_timeout"}
    sources = {path: Source("python", f"scenario({word}=…)") for path, word in keyword.items()}
    plan = ScenarioPlan(
        name=name, topology=TopologySpec(validators, executors, parse_layout(layout, sources["topology.layout"]),
                                         standby),
        wallets=wallets, wallet_value=wallet_value, duration_s=_seconds(duration, "scenario(duration=…)"), seed=seed,
        slot_duration=slot_duration, active_slot_coeff=active_slot_coeff, security_param=security_param,
        readiness_timeout_s=readiness_timeout, workloads=tuple(workloads), node=node, sources=sources,
        expectations=tuple(e if isinstance(e, ComponentSpec) else ComponentSpec(e) for e in expectations),
    )
    validate_plan(plan, registries)
    return plan
