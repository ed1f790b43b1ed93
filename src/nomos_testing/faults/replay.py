"""`nomos-testing replay RUN_DIR`: the plan of an earlier run (its `plan.json`, seed included) with its
recorded fault schedule (`faults.json`) applied as a scripted schedule, so the new run meets the same faults
at the same moments whatever generated them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.params import Source
from nomos_testing.scenario.plan import OVERRIDABLE, ComponentSpec, ScenarioPlan, TopologySpec, parse_layout
from nomos_testing.workloads.nemesis import FAULTS_FILE, RecordedSchedule, read_faults

PLAN_FILE = "plan.json"
RUN_FILE = "run.json"
NEMESIS = "nemesis"


def recorded_runner(run_dir: Path) -> str | None:
    """The runner the earlier run used (run.json), when recorded."""
    try:
        data = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    runner = data.get("runner") if isinstance(data, dict) else None
    return runner if isinstance(runner, str) else None


def load_recorded_plan(run_dir: Path) -> ScenarioPlan:
    """The resolved plan an earlier run recorded; every value's source is that plan.json."""
    path = run_dir / PLAN_FILE
    if not run_dir.is_dir():
        raise PlanError(f"{run_dir} is not a directory", "pass the run directory of an earlier run, e.g. "
                        ".runs/<run-id> (`nomos-testing run` prints it)")
    if not path.is_file():
        raise PlanError(f"{run_dir} holds no {PLAN_FILE}: not the directory of a run",
                        "pass the run directory of an earlier run, e.g. .runs/<run-id>")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlanError(f"{path}: cannot be read as JSON: {exc}", "pass a run directory whose plan.json "
                        "`nomos-testing run` wrote") from None
    try:
        return _plan_of(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path}: not a plan written by nomos-testing ({type(exc).__name__}: {exc})",
                        "pass a run directory whose plan.json `nomos-testing run` wrote") from None


def _plan_of(data: dict[str, Any], path: Path) -> ScenarioPlan:
    source = Source("file", str(path))
    topology = dict(data["topology"])
    topology["layout"] = parse_layout(topology.get("layout", "star"), source)
    consensus, wallets, readiness = data["consensus"], data["wallets"], data["readiness"]
    sources = {field: source for field in OVERRIDABLE.values()}
    workloads = tuple(_component(item) for item in data.get("workloads", []))
    expectations = tuple(_component(item) for item in data.get("expectations", []))
    for section, items in (("workloads", workloads), ("expectations", expectations)):
        sources.update({f"{section}[{i}]": source for i in range(len(items))})
    return ScenarioPlan(
        name=data["name"], seed=data["seed"], duration_s=float(data["duration"]), node=data.get("node", "reference"),
        topology=TopologySpec(**topology), slot_duration=consensus["slot_duration"],
        active_slot_coeff=consensus["active_slot_coeff"], security_param=consensus["security_param"],
        wallets=wallets["count"], wallet_value=wallets["value"], readiness_timeout_s=readiness["timeout"],
        workloads=workloads, expectations=expectations, sources=sources)


def _component(item: dict[str, Any]) -> ComponentSpec:
    return ComponentSpec(str(item["kind"]), {key: value for key, value in item.items() if key != "kind"})


def replay_plan(run_dir: Path) -> tuple[ScenarioPlan, RecordedSchedule | None]:
    """The earlier run's plan, its nemesis replaced by the recorded schedule (when faults.json exists)."""
    plan = load_recorded_plan(run_dir)
    faults_path = run_dir / FAULTS_FILE
    if not faults_path.exists():
        return plan, None
    recorded = read_faults(faults_path)
    index = next((i for i, spec in enumerate(plan.workloads) if spec.kind == NEMESIS), None)
    if index is None:
        raise PlanError(f"{faults_path}: a fault schedule, but {run_dir / PLAN_FILE} has no nemesis workload",
                        f"remove {faults_path} to replay the plan alone")
    scripted = ComponentSpec(NEMESIS, {"seed": recorded.seed, "recovery": recorded.recovery_s,
                                       "faults": [fault.to_table() for fault in recorded.faults]})
    workloads = tuple(scripted if i == index else spec for i, spec in enumerate(plan.workloads))
    sources = dict(plan.sources)
    sources[f"workloads[{index}]"] = Source("file", str(faults_path))
    return replace(plan, workloads=workloads, sources=sources), recorded
