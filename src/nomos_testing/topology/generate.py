"""From a resolved plan to a `GeneratedTopology`: names and roles, the dial graph of the layout, and through the
node adapter the keys of every node and wallet and the shared genesis. Deterministic: the same plan (seed
included) gives the same topology.

Standby validators (`topology.standby`) follow the deployed validators in name (validator-<n>, …) and come last
in ordinal; their stake is in the genesis, but they dial nobody and nobody dials them until they join."""

from __future__ import annotations

from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.nodes.base import NodeAdapter, default_adapter
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.topology.model import GeneratedTopology, Layout, Role


def node_names(validators: int, executors: int) -> list[tuple[str, Role, int]]:
    return ([(f"validator-{i}", Role.VALIDATOR, i) for i in range(validators)]
            + [(f"executor-{i}", Role.EXECUTOR, i) for i in range(executors)])


def dial_graph(names: list[str], layout: Layout) -> dict[str, tuple[str, ...]]:
    """name -> the names it dials at start. Star: everyone dials node 0; chain: i dials i-1;
    full: i dials every node before it."""
    dials: dict[str, tuple[str, ...]] = {}
    for ordinal, name in enumerate(names):
        if ordinal == 0:
            dials[name] = ()
        elif layout is Layout.STAR:
            dials[name] = (names[0],)
        elif layout is Layout.CHAIN:
            dials[name] = (names[ordinal - 1],)
        else:
            dials[name] = tuple(names[:ordinal])
    return dials


DA_DEFAULTS = {"num_subnets": 2, "dispersal_factor": 2, "num_samples": 1}


def da_settings(plan: ScenarioPlan) -> dict[str, Any] | None:
    """The DA membership settings of a plan with a `da` workload (the original's defaults), else None: nodes
    of other scenarios get no DA section and need no KZG parameters."""
    return dict(DA_DEFAULTS) if any(spec.kind == "da" for spec in plan.workloads) else None


def generate_topology(plan: ScenarioPlan, adapter: NodeAdapter | None = None) -> GeneratedTopology:
    if not plan.is_resolved or plan.seed is None:
        raise PlanError("the plan is not resolved (seed or consensus values are open)",
                        "call nomos_testing.scenario.resolve.resolve_plan(plan) first")
    adapter = adapter or default_adapter()
    seed = plan.seed
    spec = plan.topology
    nodes = tuple(adapter.node_identity(seed, name, role, index, ordinal) for ordinal, (name, role, index)
                  in enumerate(node_names(spec.validators, spec.executors)))
    standby = tuple(adapter.node_identity(seed, f"validator-{index}", Role.VALIDATOR, index, ordinal)
                    for ordinal, index in enumerate(range(spec.validators, spec.validators + spec.standby),
                                                    start=spec.node_count))
    wallets = tuple(adapter.wallet(seed, index, plan.wallet_value) for index in range(plan.wallets))
    return GeneratedTopology(layout=spec.layout, nodes=nodes, wallets=wallets,
                             genesis=adapter.genesis(plan, (*nodes, *standby), wallets),
                             dials=dial_graph([n.name for n in nodes], spec.layout), node_adapter=adapter,
                             standby=standby, seed=seed, da=da_settings(plan))
