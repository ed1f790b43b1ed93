"""The run core: the phases `run`, `up` and library users share.

    async with deployed(plan, deployer, run_dir, run_id, events=events) as deployment:
        ...  # a ready cluster: deployment.cluster, deployment.topology, deployment.ready_s

`deployed` generates the topology through the node adapter, deploys, proves readiness, and on every exit
path (success, error, readiness failure, Ctrl-C / cancellation) collects logs and tears down — unless the
body detached the cluster (`up`). One Ctrl-C during teardown does not cut it short: teardown finishes, then
the cancellation is raised (or, when an error is already on its way out, recorded on the deployment).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nomos_testing import settings
from nomos_testing.errors import PlanError
from nomos_testing.nodes.base import NodeAdapter
from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.events import EventLog
from nomos_testing.observe.metrics import save_snapshot
from nomos_testing.plugins import Registries, default_registries
from nomos_testing.preflight import needs_da
from nomos_testing.readiness import ReadinessTimeouts, da_probes, default_probes, wait_ready
from nomos_testing.runners.base import Cluster, Deployer
from nomos_testing.runners.shared import index
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.tasks import finish_despite_cancellation
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import GeneratedTopology

RUN_FILE = "run.json"  # what kind of run a directory holds: runner, mode, start time


def new_run_id(plan: ScenarioPlan) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{plan.name}-{stamp}-{random.SystemRandom().getrandbits(24):06x}"


@dataclass
class PhaseClock:
    """Seconds per phase (`deploy_s`, …) and the phase a Ctrl-C arrived in."""

    timings: dict[str, float] = field(default_factory=dict)
    current: str | None = None
    interrupted_in: str | None = None

    @contextlib.contextmanager
    def phase(self, key: str) -> Iterator[None]:
        started, outer = time.monotonic(), self.current
        self.current = key
        try:
            yield
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.interrupted(key)
            raise
        finally:
            self.timings[key] = self.timings.get(key, 0.0) + time.monotonic() - started
            self.current = outer

    def interrupted(self, key: str) -> None:
        if self.interrupted_in is None:
            self.interrupted_in = key.removesuffix("_s")


class ConsoleEvents:
    """Records into the event log and shows readiness on the console as each node gets ready."""

    def __init__(self, events: EventLog, console: RunConsole) -> None:
        self.events = events
        self.console = console

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        if kind == "readiness.node_ready":
            self.console.node_ready(str(fields.get("node")), float(fields.get("ready_s") or 0.0))
        return self.events.emit(kind, **fields)


def prepare_run_dir(run_dir: Path, plan: ScenarioPlan, run_id: str, runner: str, mode: str) -> None:
    """plan.json and run.json into the run directory, and the run into the run index."""
    meta = {"run_id": run_id, "runner": runner, "mode": mode, "started": time.time()}
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "plan.json").write_text(json.dumps(plan.to_json(), indent=2) + "\n", encoding="utf-8")
        (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}",
                        "pass --out a writable directory path (it is created when missing)") from None
    try:
        index.register(run_id, run_dir, runner, mode)
    except OSError as exc:
        raise PlanError(f"cannot write the run index {index.index_dir()}: {exc.strerror or exc}",
                        "make XDG_STATE_HOME (default ~/.local/state) writable, or point it elsewhere") from None


def forget_if_gone(deployer: Deployer, run_id: str) -> None:
    """Drop the run from the index once nothing of it is left (kept data dirs keep it for `clean`)."""
    entry = index.find(run_id)
    if entry is not None and not deployer.leftovers(entry):
        index.unregister(run_id)


@dataclass
class Deployment:
    plan: ScenarioPlan
    topology: GeneratedTopology
    cluster: Cluster
    run_id: str
    run_dir: Path
    events: EventLog
    ready_s: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False  # a Ctrl-C arrived during teardown while an error was already propagating

    @property
    def adapter(self) -> NodeAdapter:
        return self.topology.adapter


def node_adapter(plan: ScenarioPlan, registries: Registries | None = None) -> NodeAdapter:
    adapter: NodeAdapter = (registries or default_registries()).nodes.get(plan.node, "node")()
    return adapter


async def wait_cluster_ready(cluster: Cluster, topology: GeneratedTopology, plan: ScenarioPlan,
                             events: EventLog | ConsoleEvents, started_at: float) -> dict[str, float]:
    timeouts = ReadinessTimeouts(total_s=plan.readiness_timeout_s)
    probes = da_probes if needs_da(plan) else default_probes  # DA: membership and the balancer too
    return await wait_ready(cluster, topology, timeouts, events, probes=probes, started_at=started_at)


@contextlib.asynccontextmanager
async def deployed(plan: ScenarioPlan, deployer: Deployer, run_dir: Path, run_id: str, *, events: EventLog,
                   console: RunConsole | None = None, clock: PhaseClock | None = None,
                   registries: Registries | None = None) -> AsyncIterator[Deployment]:
    """A deployed, ready cluster for the body; collected and torn down on every exit path (see module doc)."""
    plan = plan if plan.is_resolved else resolve_plan(plan)
    console = console or RunConsole(force_plain=True)
    clock = clock or PhaseClock()
    with clock.phase("deploy_s"):
        topology = generate_topology(plan, node_adapter(plan, registries))
        console.phase(f"deploying {plan.topology.validators} validator(s) + {plan.topology.executors} "
                      f"executor(s), {plan.topology.layout.value} layout, seed {plan.seed}")
        started_at, window_start = time.monotonic(), time.time()
        cluster = await deployer.deploy(topology, run_id, run_dir)
    deployment = Deployment(plan, topology, cluster, run_id, run_dir, events)
    try:
        for node in cluster.nodes:
            events.emit("node.start", node=node.name, role=node.role.value, api=node.api_url)
        for kind, fields in cluster.notices:
            events.emit(kind, **fields)
        if cluster.control is not None:
            cluster.control.bind_events(events)
        with clock.phase("readiness_s"):
            console.phase("waiting for readiness")
            events.emit("readiness.start", timeout_s=plan.readiness_timeout_s * settings.slow_factor())
            deployment.ready_s = await wait_cluster_ready(cluster, topology, plan, ConsoleEvents(events, console),
                                                          started_at)
            events.emit("readiness.done", ready_s=deployment.ready_s)
        yield deployment
    finally:
        if not cluster.detached:
            leaving_with_error = sys.exc_info()[1] is not None
            with clock.phase("teardown_s"):
                console.phase("tearing down")
                _, interrupted = await finish_despite_cancellation(collect_and_tear_down(cluster, run_dir, events,
                                                                                         window_start))
            if interrupted:
                clock.interrupted("teardown_s")
                events.emit("run.interrupted", phase="teardown", note="teardown finished first")
                if leaving_with_error:
                    deployment.interrupted = True
                else:
                    raise asyncio.CancelledError("interrupted during teardown")


async def collect_and_tear_down(cluster: Cluster, run_dir: Path, events: EventLog,
                                window_start: float | None = None) -> None:
    """Every step runs even if an earlier one fails; a failing step is recorded, not raised."""
    if window_start is not None:  # metrics/ over the run window, while Prometheus still runs (docs/observability.md)
        why_none = str(cluster.extra_report.get("prometheus", ""))
        await _quietly(save_snapshot(run_dir, cluster.prometheus_url, window_start, time.time(), why_none), events,
                       "metrics")
    await _quietly(cluster.collect_logs(run_dir / "logs"), events, "collect")
    await _quietly(cluster.teardown(), events, "teardown")
    final = cluster.intent.to_json()
    for node in cluster.nodes:
        events.emit("node.stop", node=node.name, state_before=final.get(node.name))


async def _quietly(awaitable: Any, events: EventLog, what: str) -> None:
    try:
        await awaitable
    except Exception as exc:
        events.emit(f"{what}.error", error=repr(exc))
