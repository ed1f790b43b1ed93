"""Validation: a plan, checked against its own field schemas and its plug-ins' schemas (and, when a runner is
named, against that runner's capabilities). Errors name where the value was set, the field and the fix.

Validation is a step, not a property of the plan value: it takes the plan and the registries explicitly, so
its outcome depends on nothing global (no import order, no environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nomos_testing.components import Component
from nomos_testing.errors import PlanError, PrerequisiteError
from nomos_testing.params import check_value, field_error
from nomos_testing.plugins import Registries, Registry, default_registries
from nomos_testing.scenario.fields import MAX_NODES, NAME_CHARACTERS, PLAN_FIELDS
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan

# Fields a plan may leave open until `resolve_plan` fills them.
RESOLVED_LATER = {"seed", "consensus.slot_duration", "consensus.active_slot_coeff"}


@dataclass(frozen=True)
class CheckedComponent:
    """One workload or expectation of a plan: its plug-in class and its parameters with defaults filled in."""

    field_path: str              # "workloads[0]"
    kind: str
    plugin: type[Component]
    params: Mapping[str, Any]

    def build(self) -> Any:
        return self.plugin.from_params(self.params)


@dataclass(frozen=True)
class CheckedPlan:
    plan: ScenarioPlan
    workloads: tuple[CheckedComponent, ...]
    expectations: tuple[CheckedComponent, ...]


def validate_plan(plan: ScenarioPlan, registries: Registries | None = None, runner: str | None = None) -> CheckedPlan:
    registries = registries or default_registries()
    _check_fields(plan)
    _check_cross_fields(plan)
    if plan.node not in registries.nodes:
        source = plan.source_of("node")
        raise PlanError(f"{source.location()}: node: unknown node adapter {plan.node!r}",
                        f"{source.how_to_set('node')} to one of: {', '.join(registries.nodes.names()) or 'none'}")
    workloads = _check_components(plan, "workloads", plan.workloads, registries.workloads)
    expectations = _check_components(plan, "expectations", plan.expectations, registries.expectations)
    if runner is not None:
        check_capabilities(runner, (*workloads, *expectations), registries)
    return CheckedPlan(plan, workloads, expectations)


def _check_fields(plan: ScenarioPlan) -> None:
    for plan_field in PLAN_FIELDS:
        value = plan_field.read(plan)
        if value is None and plan_field.path in RESOLVED_LATER:
            continue
        check_value(plan_field.param, value, plan_field.path, plan.source_of(plan_field.path))
    bad = next((char for char in plan.name if not (char.isalnum() or char in "-_.")), None)
    if bad is not None:
        source = plan.source_of("name")
        raise PlanError(f"{source.location()}: name {plan.name!r} contains {bad!r}",
                        f"{source.how_to_set('name')} using {NAME_CHARACTERS} only (it names the run directory)")


def _check_cross_fields(plan: ScenarioPlan) -> None:
    topology = plan.topology
    source = plan.source_of("topology.validators")
    if topology.node_count == 0:
        raise PlanError(f"{source.location()}: topology has no node (validators = 0 and executors = 0)",
                        "set topology.validators (or topology.executors) to at least 1")
    if topology.node_count > MAX_NODES:
        raise PlanError(f"{source.location()}: topology has {topology.node_count} nodes, more than the {MAX_NODES} "
                        "supported", f"use at most {MAX_NODES} validators + executors")
    if topology.node_count + topology.standby > MAX_NODES:
        standby_source = plan.source_of("topology.standby")
        raise PlanError(f"{standby_source.location()}: topology has {topology.node_count} nodes and "
                        f"{topology.standby} standby, more than the {MAX_NODES} supported",
                        f"use at most {MAX_NODES} validators + executors + standby")
    if plan.slot_duration is not None and plan.duration_s < 2 * plan.slot_duration:
        slot_source = plan.source_of("consensus.slot_duration")
        why = f"2 slots of {plan.slot_duration:g} s ({slot_source.location()})"
        raise field_error("duration", f"got {plan.duration_s:g}, shorter than {why}", f"at least "
                          f"{2 * plan.slot_duration:g} (seconds)", plan.source_of("duration"))


def _check_components(plan: ScenarioPlan, section: str, specs: tuple[ComponentSpec, ...],
                      registry: Registry[Any]) -> tuple[CheckedComponent, ...]:
    checked = []
    for index, spec in enumerate(specs):
        where = f"{section}[{index}]"
        kind_source = plan.source_of(f"{where}.kind") if f"{where}.kind" in plan.sources else plan.source_of(where)
        if spec.kind not in registry:
            known = ", ".join(registry.names()) or f"none are installed (entry point group {registry.group})"
            raise PlanError(f"{kind_source.location()}: {where}.kind: unknown {registry.noun} {spec.kind!r}",
                            f"use one of: {known}")
        plugin = registry.get(spec.kind, f"{where}.kind")
        sources = {name: plan.source_of(f"{where}.{name}") for name in spec.params}
        # nested values (`workloads[0].faults[2].groups`) by their path relative to the component
        sources |= {path[len(where) + 1:]: source for path, source in plan.sources.items()
                    if path.startswith(f"{where}.")}
        params = plugin.params.resolve(spec.params, f"{where} ({spec.kind})", sources, fallback=kind_source)
        plugin.check_plan(params, plan, where)
        checked.append(CheckedComponent(where, spec.kind, plugin, params))
    return tuple(checked)


def check_capabilities(runner: str, components: tuple[CheckedComponent, ...], registries: Registries) -> None:
    """A component needing node-control capabilities the runner lacks (or cannot offer on this machine, e.g.
    network faults without root) stops the run before deployment, naming the runners that have them."""
    deployer = registries.runners.get(runner)
    offered = frozenset(getattr(deployer, "capabilities", frozenset()))
    unavailable: dict[str, str] = dict(getattr(deployer, "unavailable_capabilities", lambda: {})())
    for component in components:
        needed = component.plugin.required_capabilities(component.params)
        missing = sorted(needed - offered)
        if missing:
            having = [name for name in registries.runners.names() if _offers(registries.runners, name, needed)]
            section = component.field_path.split("[")[0][:-1]
            raise PlanError(f"{component.field_path} ({component.kind}) needs {', '.join(missing)}, which the "
                            f"{runner} runner cannot do",
                            f"use --runner {' or --runner '.join(having)}" if having
                            else f"no installed runner offers it; remove that {section}")
        blocked = sorted(needed & set(unavailable))
        if blocked:
            reasons = "; ".join(f"{cap}: {unavailable[cap]}" for cap in blocked)
            raise PrerequisiteError(f"{component.field_path} ({component.kind}) needs {', '.join(blocked)}, which the "
                                    f"{runner} runner cannot offer on this machine ({reasons})",
                                    "run `nomos-testing doctor` for the remedy")


def _offers(runners: Registry[Any], name: str, needed: frozenset[str]) -> bool:
    try:
        return needed <= frozenset(getattr(runners.get(name), "capabilities", frozenset()))
    except Exception:  # a broken runner plug-in offers nothing
        return False
