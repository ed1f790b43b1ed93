"""Clusters that outlive the command: `up` (deploy, prove ready, detach), `down RUN_ID`, and `node RUN_ID ACTION
NAME` (node control on a cluster left up). Runs are found through the run index, wherever their directory is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nomos_testing.errors import NodeControlError, PlanError
from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.events import EventLog
from nomos_testing.plugins import Registries, default_registries
from nomos_testing.preflight import preflight_checks, require
from nomos_testing.runners.base import Deployer
from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.owner import owner_alive, owner_pid
from nomos_testing.runners.shared.state import STATE_FILE, read_state
from nomos_testing.scenario.core import RUN_FILE, PhaseClock, deployed, forget_if_gone, prepare_run_dir
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.validate import validate_plan

ENDPOINTS_FILE = "endpoints.json"
NODE_ACTIONS = ("stop", "start", "kill", "restart")


async def bring_up(plan: ScenarioPlan, deployer: Deployer, run_dir: Path, run_id: str, console: RunConsole,
                   registries: Registries | None = None) -> dict[str, Any]:
    """Deploy, wait for readiness, detach; returns what `up` prints. Tears down if readiness fails."""
    registries = registries or default_registries()
    plan = resolve_plan(plan)
    validate_plan(plan, registries, runner=deployer.name)
    if "detach" not in deployer.capabilities:
        raise PlanError(f"the {deployer.name} runner cannot leave a cluster running",
                        "use --runner host (or compose) for `up`")
    console.phase(f"preflight ({deployer.name} runner)")
    require(preflight_checks(deployer, registries.nodes.get(plan.node, "node")(), plan))
    prepare_run_dir(run_dir, plan, run_id, deployer.name, "up")
    events = EventLog(run_dir / "events.jsonl")
    try:
        async with deployed(plan, deployer, run_dir, run_id, events=events, console=console, clock=PhaseClock(),
                            registries=registries) as deployment:
            cluster = deployment.cluster
            cluster.detach()
            info = {"run_id": run_id, "run_dir": str(run_dir.resolve()), "runner": deployer.name,
                    "prometheus_url": cluster.prometheus_url, "grafana_url": cluster.extra_report.get("grafana_url"),
                    "nodes": [{"name": n.name, "role": n.role.value, "api": n.api_url, "testing_api": n.testing_url,
                               "ready_s": deployment.ready_s.get(n.name)} for n in cluster.nodes]}
            (run_dir / ENDPOINTS_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            events.emit("up.detached", nodes=[n.name for n in cluster.nodes])
        return info
    except BaseException:
        forget_if_gone(deployer, run_id)
        raise
    finally:
        events.close()


@dataclass(frozen=True)
class FoundRun:
    run_id: str
    run_dir: Path
    runner: str
    entry: index.IndexEntry | None


def find_run(run_id_or_dir: str) -> FoundRun:
    """A run by the id `up` printed (through the run index) or by its directory."""
    entry = index.find(run_id_or_dir)
    if entry is None and Path(run_id_or_dir).is_dir():
        entry = index.find_by_dir(Path(run_id_or_dir))
    if entry is not None:
        return FoundRun(entry.run_id, entry.path, entry.runner, entry)
    run_dir = Path(run_id_or_dir)
    for candidate in (run_dir, Path(".runs") / run_id_or_dir):
        state = read_state(candidate)
        if state is not None:
            return FoundRun(state.run_id, candidate, state.runner, None)
        meta = candidate / RUN_FILE
        if meta.is_file():
            data = json.loads(meta.read_text(encoding="utf-8"))
            return FoundRun(str(data.get("run_id", candidate.name)), candidate, str(data.get("runner", "host")), None)
    raise PlanError(f"no run {run_id_or_dir!r} in the run index ({index.index_dir()}) and no run directory there",
                    "pass the run_id printed by `nomos-testing up`, or the path of its run directory")


@dataclass(frozen=True)
class TornDown:
    run_dir: Path
    nodes: list[str]     # the nodes of the cluster that were still meant to run
    removed: list[str]   # everything removed: processes or containers, data, networks, volumes


async def tear_down(run_id: str, registries: Registries | None = None) -> TornDown:
    found = find_run(run_id)
    deployer: Deployer = (registries or default_registries()).runners.get(found.runner)()
    entry = found.entry or index.IndexEntry(found.run_id, str(found.run_dir.resolve()), found.runner, "up", "", 0.0,
                                            detached=True)
    state = read_state(found.run_dir)
    nodes = state.intent.running() if state is not None else []
    removed = await deployer.remove_leftovers(entry)
    _record_down(found.run_dir)
    index.unregister(found.run_id)
    return TornDown(found.run_dir, nodes, removed)


def _record_down(run_dir: Path) -> None:
    """`down` ends the run's event history like a run's teardown does: one node.stop per node."""
    try:
        info = json.loads((run_dir / ENDPOINTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # `up` never got to write its endpoints; nothing was detached
    events = EventLog(run_dir / "events.jsonl")
    try:
        for node in info.get("nodes", []):
            events.emit("node.stop", node=node.get("name"), by="down")
    finally:
        events.close()


async def control_node(run_id: str, action: str, name: str, registries: Registries | None = None) -> str:
    """Act on one node of a cluster left up with `up`; recorded in the run's events. Returns what was done."""
    if action not in NODE_ACTIONS:
        raise PlanError(f"unknown node action {action!r}", f"use one of: {', '.join(NODE_ACTIONS)}")
    found = find_run(run_id)
    state = read_state(found.run_dir)
    if state is None:
        raise NodeControlError(f"run {found.run_id} has no live cluster (no {STATE_FILE} in {found.run_dir})",
                               "start one with `nomos-testing up`")
    if not state.detached and owner_alive(state.owner):
        raise NodeControlError(f"run {found.run_id} is driven by process {owner_pid(state.owner)}, which controls "
                               "its nodes itself",
                               "use node control on clusters started with `nomos-testing up`, or from a workload")
    deployer: Deployer = (registries or default_registries()).runners.get(state.runner)()
    cluster = deployer.attach(state)
    if cluster.control is None:
        raise NodeControlError(f"the {state.runner} runner offers no node control", "use --runner host or compose")
    events = EventLog(found.run_dir / "events.jsonl")
    try:
        cluster.control.bind_events(events)
        await getattr(cluster.control, action)(name)
        events.emit("node.control", action=action, node=name, by="nomos-testing node")
    finally:
        events.close()
    return f"{action} {name} of run {found.run_id}: now {cluster.intent.of(name).value}"
