"""The nemesis: a workload that applies a schedule of faults through node control (docs/faults.md).

The schedule is built when the run window opens, from the scripted faults (`[[workloads.faults]]`) and the
random schedules (`[workloads.restarts]`, `partitions`, `pauses`, `kills`, `stops`, `delays`, `losses`),
generated from the seed (default: the plan's), and written to the run directory as `faults.json` before the
first fault. Each fault is applied at its start (`at`, seconds from the window start) and removed after its
duration; one still in force when the window ends is removed by the run's final heal. Every apply and
removal is a `fault.apply` / `fault.remove` event; a failed one is a workload error (it ends the window).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nomos_testing.errors import NodeControlError, PlanError
from nomos_testing.faults.model import (
    FAULT_TABLES,
    LASTING_KINDS,
    Fault,
    FaultKind,
    capabilities_of,
    node_overlaps,
)
from nomos_testing.faults.schedule import RANDOM_SCHEDULES, NodeInfo, RandomSchedule, generate
from nomos_testing.observe.events import EventLog
from nomos_testing.observe.report import FaultRecord
from nomos_testing.params import Param, ParamSchema, Source, field_error
from nomos_testing.runners.shared.control import NodeControl
from nomos_testing.scenario.fields import MAX_SEED
from nomos_testing.tasks import cancel_and_wait, finish_despite_cancellation
from nomos_testing.topology.generate import node_names
from nomos_testing.topology.model import Role
from nomos_testing.workloads.base import Workload

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext
    from nomos_testing.scenario.plan import ScenarioPlan

FAULTS_FILE = "faults.json"
FAULTS_FILE_VERSION = 1
DEFAULT_RECOVERY_S = 20.0


@dataclass
class _Applied:
    """What became of one fault of the schedule (the report's FaultRecord, filled as the run goes)."""

    index: int
    fault: Fault
    targets: list[str]
    applied_at: float | None = None
    removed_at: float | None = None
    mechanism: str | None = None
    fault_id: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def record(self, healed: bool) -> FaultRecord:
        """`healed`: the run's final heal happened (else whatever was in force went with the teardown)."""
        in_force = self.applied_at is not None and self.removed_at is None and self.fault.kind in LASTING_KINDS
        left_to = "final heal" if healed else "teardown"
        removed_by = "nemesis" if self.removed_at is not None else left_to if in_force else None
        return FaultRecord(index=self.index, kind=self.fault.kind.value, targets=self.targets,
                           params=self.fault.to_json()["params"], origin=self.fault.origin, at_s=self.fault.at,
                           duration_s=self.fault.duration, applied_at_s=self.applied_at,
                           removed_at_s=self.removed_at, removed_by=removed_by, mechanism=self.mechanism,
                           fault_id=self.fault_id, error=self.error)


class Nemesis(Workload):
    kind = "nemesis"
    summary = "applies a schedule of faults (scripted, or random from a seed) through node control"
    params = ParamSchema((
        Param("seed", "int", default=None, minimum=0, maximum=MAX_SEED, example=7,
              help="seed of the random schedules (default: the plan's seed)"),
        Param("recovery", "duration", default=DEFAULT_RECOVERY_S, minimum=0, maximum=3600, example="20s",
              help="seconds after the final heal before expectations are judged"),
        FAULT_TABLES,
        *(Param(name, "table", default=None, schema=schedule.schema,
                help=(schedule.__doc__ or "").strip().splitlines()[0]) for name, schedule in RANDOM_SCHEDULES.items()),
    ))

    def __init__(self, seed: int | None = None, recovery: float = DEFAULT_RECOVERY_S,
                 faults: Sequence[Fault | Mapping[str, Any]] = (),
                 schedules: Sequence[RandomSchedule] = ()) -> None:
        self.seed = seed
        self.recovery = float(recovery)
        self.scripted = [f if isinstance(f, Fault) else Fault.from_table(f, f"faults[{i}]")
                         for i, f in enumerate(faults)]
        self.schedules = list(schedules)
        self.schedule: list[Fault] = []
        self.applied: list[_Applied] = []
        self._events: EventLog | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Nemesis:
        schedules = [RANDOM_SCHEDULES[name].from_params(params[name]) for name in RANDOM_SCHEDULES
                     if params.get(name) is not None]
        return cls(params.get("seed"), params.get("recovery", DEFAULT_RECOVERY_S), params.get("faults") or (),
                   schedules)

    @classmethod
    def required_capabilities(cls, params: Mapping[str, Any]) -> frozenset[str]:
        kinds = {FaultKind(table["fault"]) for table in params.get("faults") or ()}
        kinds |= {RANDOM_SCHEDULES[name].kind for name in RANDOM_SCHEDULES if params.get(name) is not None}
        return capabilities_of(Fault(kind, ()) for kind in kinds)

    @classmethod
    def check_plan(cls, params: Mapping[str, Any], plan: ScenarioPlan, where: str) -> None:
        """Checks that need the plan: node names exist, faults start inside the run window, node faults do not
        overlap on one node, random schedules have a node to act on; one nemesis per plan."""
        shown = f"{where} ({cls.kind})"
        nemeses = [i for i, spec in enumerate(plan.workloads) if spec.kind == cls.kind]
        if len(nemeses) > 1 and where == f"workloads[{nemeses[1]}]":
            raise PlanError(f"{plan.source_of(where).location()}: {where}: a second nemesis workload",
                            f"put every fault into workloads[{nemeses[0]}] (one nemesis per plan: its schedule "
                            "is recorded in faults.json)")

        def source(relative: str) -> Source:
            path = f"{where}.{relative}" if relative else where
            while path not in plan.sources and path != where:
                cut = max(path.rfind("."), path.rfind("["))
                path = path[:cut]
            return plan.source_of(path)

        nodes = plan_nodes(plan)
        names = {node.name for node in nodes}
        faults = []
        for i, table in enumerate(params.get("faults") or ()):
            fault = Fault.from_table(table, f"{shown}.faults[{i}]", source(f"faults[{i}]"))
            _check_names(fault, table, names, f"{shown}.faults[{i}]", f"faults[{i}]", source)
            if fault.at >= plan.duration_s:
                raise field_error(f"{shown}.faults[{i}].at", f"got {fault.at:g}", f"less than the run's duration "
                                  f"({plan.duration_s:g} s, {plan.source_of('duration').location()})",
                                  source(f"faults[{i}].at"))
            faults.append(fault)
        overlap = node_overlaps(faults)
        if overlap is not None:
            first, second = (faults[i] for i in overlap)
            shared = ", ".join(sorted(set(first.targets) & set(second.targets)))
            raise PlanError(f"{source(f'faults[{overlap[1]}]').location()}: {shown}.faults[{overlap[1]}] "
                            f"({second.describe()}) acts on {shared} while faults[{overlap[0]}] "
                            f"({first.describe()}) holds it",
                            "start it after the other one ends (at ≥ its at + duration), or pick another node")
        for name, schedule_type in RANDOM_SCHEDULES.items():
            if params.get(name) is None:
                continue
            schedule = schedule_type.from_params(params[name])
            sources = {key: source(f"{name}.{key}") for key in params[name]} | {"": source(name)}
            schedule.check(nodes, f"{shown}.{name}", sources)

    def recovery_s(self) -> float:
        return self.recovery

    def faults_applied(self) -> list[FaultRecord]:
        healed = self._events is not None and self._events.counts().get("phase.heal", 0) > 0
        return [applied.record(healed) for applied in self.applied]

    def build_schedule(self, seed: int, nodes: Sequence[NodeInfo], window_s: float) -> list[Fault]:
        seed = self.seed if self.seed is not None else seed
        return generate(self.scripted, self.schedules, seed, nodes, window_s)

    # The run ---------------------------------------------------------------------------------------

    async def start(self, ctx: RunContext) -> None:
        control = ctx.control
        if control is None:
            raise NodeControlError("nemesis: this runner offers no node control", "use --runner host or compose")
        started = time.monotonic()
        self._events = ctx.events
        seed = self.seed if self.seed is not None else (ctx.plan.seed or 0)
        nodes = [NodeInfo(node.name, node.role) for node in ctx.topology.nodes]
        self.schedule = self.build_schedule(seed, nodes, ctx.plan.duration_s)
        self.applied = [_Applied(i, fault, list(fault.targets)) for i, fault in enumerate(self.schedule)]
        path = _run_dir(ctx)
        if path is not None:
            write_faults(path / FAULTS_FILE, self.schedule, seed, ctx.plan.duration_s, self.recovery,
                         [node.name for node in nodes])
        ctx.events.emit("nemesis.schedule", faults=len(self.schedule), seed=seed, file=FAULTS_FILE,
                        kinds=sorted({fault.kind.value for fault in self.schedule}))
        tasks = [asyncio.create_task(self._run_one(ctx, control, applied, started), name=f"fault-{applied.index}")
                 for applied in self.applied]
        try:
            if tasks:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                for task in done:
                    error = task.exception()
                    if error is not None:
                        raise error
        finally:
            for task in tasks:
                await cancel_and_wait(task)
            ctx.events.emit("nemesis.done", applied=sum(a.applied_at is not None for a in self.applied),
                            removed=sum(a.removed_at is not None for a in self.applied),
                            failed=sum(a.error is not None for a in self.applied), planned=len(self.applied))

    async def _run_one(self, ctx: RunContext, control: NodeControl, applied: _Applied, started: float) -> None:
        fault = applied.fault
        await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
        await self._step(ctx, applied, started, "fault.apply", self._apply(control, applied))
        if fault.kind not in LASTING_KINDS or fault.duration is None:
            return
        await asyncio.sleep(fault.duration)
        await self._step(ctx, applied, started, "fault.remove", self._remove(control, applied))

    async def _step(self, ctx: RunContext, applied: _Applied, started: float, event: str,
                    action: Coroutine[Any, Any, None]) -> None:
        """Apply or remove one fault; it finishes even when the window ends meanwhile (a half-applied
        fault would escape the final heal), then the cancellation goes on."""
        fault = applied.fault
        began = time.monotonic()
        try:
            _, interrupted = await finish_despite_cancellation(action)
        except NodeControlError as exc:
            applied.error = exc.message
            ctx.events.emit("fault.error", fault=fault.kind.value, index=applied.index, targets=applied.targets,
                            step=event.split(".")[1], error=exc.message)
            raise NodeControlError(f"nemesis: {event.split('.')[1]} of faults[{applied.index}] "
                                   f"({fault.describe()}) failed: {exc.message}", exc.remedy) from exc
        now = round(time.monotonic() - started, 3)
        if event == "fault.apply":
            applied.applied_at = now
        else:
            applied.removed_at = now
        ctx.events.emit(event, fault=fault.kind.value, index=applied.index, targets=applied.targets, at=now,
                        planned_at=fault.at if event == "fault.apply" else None, mechanism=applied.mechanism,
                        took_s=round(time.monotonic() - began, 4), id=applied.fault_id,
                        **({"params": fault.to_json()["params"]} if event == "fault.apply" else {}),
                        **applied.extra)
        if interrupted:
            raise asyncio.CancelledError

    async def _apply(self, control: NodeControl, applied: _Applied) -> None:
        fault = applied.fault
        params = fault.params
        node = fault.targets[0] if fault.targets else ""
        applied.mechanism = control.mechanism
        if fault.kind is FaultKind.RESTART:
            await control.restart(node)
        elif fault.kind is FaultKind.STOP:
            await control.stop(node)
        elif fault.kind is FaultKind.KILL:
            await control.kill(node)
        elif fault.kind is FaultKind.PAUSE:
            await control.pause(node)
        elif fault.kind is FaultKind.JOIN:
            endpoint = await control.join(Role(params.get("role", "validator")), list(params.get("peers") or ())
                                          or None, bool(params.get("in_genesis", False)))
            applied.targets = [endpoint.name]
        else:
            if fault.kind is FaultKind.PARTITION:
                fault_id = await control.partition(fault.groups())
            elif fault.kind is FaultKind.ISOLATE:
                fault_id = await control.isolate(node)
            elif fault.kind is FaultKind.DELAY:
                fault_id = await control.delay(fault.targets[0], fault.targets[1], float(params["ms"]),
                                               float(params.get("jitter_ms", 0.0)))
            else:
                fault_id = await control.loss(fault.targets[0], fault.targets[1], float(params["percent"]))
            applied.fault_id = fault_id
            in_force = control.intent.network.get(fault_id)
            applied.mechanism = in_force.mechanism if in_force is not None else None

    async def _remove(self, control: NodeControl, applied: _Applied) -> None:
        fault = applied.fault
        if fault.kind in (FaultKind.STOP, FaultKind.KILL):
            await control.start(fault.targets[0])
        elif fault.kind is FaultKind.PAUSE:
            await control.resume(fault.targets[0])
        elif applied.fault_id is not None:
            await control.heal(applied.fault_id)


# Helpers -------------------------------------------------------------------------------------------


def plan_nodes(plan: ScenarioPlan) -> list[NodeInfo]:
    """The nodes the plan deploys, as the topology names them (validator-0…, executor-0…)."""
    return [NodeInfo(name, role) for name, role, _ in node_names(plan.topology.validators, plan.topology.executors)]


def _check_names(fault: Fault, table: Mapping[str, Any], names: set[str], shown: str, relative: str,
                 source: Callable[[str], Source]) -> None:
    known = ", ".join(sorted(names))
    paths: list[tuple[str, Any]] = []
    if fault.kind is FaultKind.PARTITION:
        paths = [(f"groups[{i}][{j}]", name) for i, group in enumerate(table["groups"]) for j, name in enumerate(group)]
    elif fault.kind is FaultKind.JOIN:
        paths = [(f"peers[{i}]", name) for i, name in enumerate(table.get("peers") or ())]
    else:
        paths = [(key, table[key]) for key in ("node", "a", "b") if key in table]
    for path, name in paths:
        if name not in names:
            raise field_error(f"{shown}.{path}", f"got {name!r}", f"a node of the topology ({known})",
                              source(f"{relative}.{path}"))


def _run_dir(ctx: RunContext) -> Path | None:
    run_dir: Path | None = getattr(ctx, "run_dir", None)
    if run_dir is None and ctx.events.path is not None:
        run_dir = ctx.events.path.parent
    return run_dir


def write_faults(path: Path, schedule: Sequence[Fault], seed: int, window_s: float, recovery_s: float,
                 nodes: Sequence[str]) -> None:
    data = {"version": FAULTS_FILE_VERSION, "seed": seed, "window_s": window_s, "recovery_s": recovery_s,
            "nodes": list(nodes), "faults": [fault.to_json() for fault in schedule]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class RecordedSchedule:
    seed: int
    window_s: float
    recovery_s: float
    faults: tuple[Fault, ...]


def read_faults(path: Path) -> RecordedSchedule:
    """A recorded schedule (faults.json), every fault checked; errors name the file and the field."""
    source = Source("file", str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: cannot be read as JSON: {exc}", "pass a run directory whose faults.json the "
                        "nemesis wrote (or remove the file to replay the plan's own schedules)") from None
    if not isinstance(data, dict) or not isinstance(data.get("faults"), list):
        raise PlanError(f"{path}: faults: missing", 'a faults.json holds {"faults": [...], "seed": …}')
    seed = Param("seed", "int", minimum=0, maximum=MAX_SEED).check(data.get("seed", 0), "seed", fallback=source)
    window = Param("window_s", "number", minimum=0).check(data.get("window_s", 0), "window_s", fallback=source)
    recovery = Nemesis.params.get("recovery")
    assert recovery is not None
    recovery_s = recovery.check(data.get("recovery_s", DEFAULT_RECOVERY_S), "recovery_s", fallback=source)
    faults = tuple(Fault.from_json(item, f"faults[{i}]", source) for i, item in enumerate(data["faults"]))
    return RecordedSchedule(seed, window, recovery_s, faults)

