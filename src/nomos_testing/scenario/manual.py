"""`up` / `down`: a cluster that outlives the command, for manual exploration."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nomos_testing.errors import PlanError, PrerequisiteError
from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.events import EventLog
from nomos_testing.preflight import preflight_checks, require
from nomos_testing.runners.base import Deployer, ManagedDeployer
from nomos_testing.runners.registry import get_deployer
from nomos_testing.scenario.lifecycle import (
    RUN_FILE,
    ConsoleEvents,
    prepare_run_dir,
    wait_cluster_ready,
)
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.topology.generate import generate_topology

ENDPOINTS_FILE = "endpoints.json"


async def bring_up(plan: ScenarioPlan, deployer: Deployer, run_dir: Path, run_id: str,
                   console: RunConsole) -> dict[str, Any]:
    """Deploy, wait for readiness, detach; returns what `up` prints. Tears down if readiness fails."""
    if not isinstance(deployer, ManagedDeployer):
        raise PrerequisiteError(f"the {deployer.name} runner cannot leave a cluster running",
                                "use --runner host (or compose) for `up`")
    console.phase(f"preflight ({deployer.name} runner)")
    require(preflight_checks(deployer))
    prepare_run_dir(run_dir, plan, run_id, deployer.name, "up")
    events = EventLog(run_dir / "events.jsonl")
    try:
        topology = generate_topology(plan)
        console.phase(f"deploying {plan.topology.node_count} node(s), seed {plan.seed}")
        started = time.monotonic()
        cluster = await deployer.deploy(topology, run_id, run_dir)
        for node in cluster.nodes:
            events.emit("node.start", node=node.name, role=node.role.value, api=node.api_url)
        try:
            console.phase("waiting for readiness")
            ready = await wait_cluster_ready(cluster, topology, plan, ConsoleEvents(events, console), started)
        except BaseException:
            await cluster.collect_logs(run_dir / "logs")
            await cluster.teardown()
            for node in cluster.nodes:
                events.emit("node.stop", node=node.name)
            raise
        deployer.detach(cluster, run_dir)
        info = {"run_id": run_id, "run_dir": str(run_dir.resolve()), "runner": deployer.name,
                "prometheus_url": cluster.prometheus_url,
                "nodes": [{"name": n.name, "role": n.role.value, "api": n.api_url, "testing_api": n.testing_url,
                           "ready_s": ready.get(n.name)} for n in cluster.nodes]}
        (run_dir / ENDPOINTS_FILE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        events.emit("up.detached", nodes=[n.name for n in cluster.nodes])
        return info
    finally:
        events.close()


def resolve_run_dir(run_id: str, runs_root: Path = Path(".runs")) -> Path:
    for candidate in (runs_root / run_id, Path(run_id)):
        if (candidate / RUN_FILE).is_file():
            return candidate
    raise PlanError(f"no run {run_id!r} under {runs_root}/ (and {run_id!r} is not a run directory)",
                    "pass the run_id printed by `nomos-testing up`, or the path of its run directory")


def tear_down(run_id: str) -> tuple[Path, list[str]]:
    run_dir = resolve_run_dir(run_id)
    meta = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    deployer = get_deployer(str(meta.get("runner", "host")))
    if not isinstance(deployer, ManagedDeployer):
        raise PrerequisiteError(f"runner {deployer.name} cannot tear down detached clusters", None)
    stopped = deployer.down(run_dir)
    _record_down(run_dir)
    return run_dir, stopped


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
