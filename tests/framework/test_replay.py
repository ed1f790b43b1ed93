"""`nomos-testing replay RUN_DIR`: the recorded plan (same seed) with the recorded fault schedule applied as a
scripted one; a directory that is not a run is a clear error (exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nomos_testing.errors import PlanError
from nomos_testing.faults.model import Fault
from nomos_testing.faults.replay import load_recorded_plan, recorded_runner, replay_plan
from nomos_testing.scenario.builder import ScenarioBuilder
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.validate import validate_plan
from nomos_testing.workloads.nemesis import FAULTS_FILE, Nemesis, plan_nodes, write_faults

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


def chaos_plan() -> ScenarioPlan:
    return resolve_plan(
        ScenarioBuilder.topology_with(lambda t: t.validators(3).executors(1)).named("chaos").with_seed(21)
        .with_run_duration(120).with_slot_duration(0.5).with_security_param(5)
        .chaos_with(lambda c: c.restart(min_delay=5, max_delay=15, target_cooldown=20).apply()
                    .pauses(min_delay=10, max_delay=20, duration=4).apply()
                    .fault(at=30, kind="partition", groups=[["validator-0"], ["validator-1", "validator-2"]],
                           duration=10)
                    .recovery(15))
        .expect_consensus_liveness(min_fraction=0.3).build(), env={})


def recorded_run(run_dir: Path, plan: ScenarioPlan) -> list[Fault]:
    """What a run leaves: plan.json, run.json and the nemesis's faults.json."""
    run_dir.mkdir(parents=True)
    (run_dir / "plan.json").write_text(json.dumps(plan.to_json(), indent=2))
    (run_dir / "run.json").write_text(json.dumps({"run_id": "x", "runner": "compose", "mode": "run"}))
    nemesis = validate_plan(plan).workloads[0].build()
    assert isinstance(nemesis, Nemesis) and plan.seed is not None
    schedule = nemesis.build_schedule(plan.seed, plan_nodes(plan), plan.duration_s)
    write_faults(run_dir / FAULTS_FILE, schedule, plan.seed, plan.duration_s, nemesis.recovery, [])
    return schedule


def test_replay_keeps_the_plan_and_applies_the_recorded_schedule_as_scripted(tmp_path: Path) -> None:
    plan = chaos_plan()
    schedule = recorded_run(tmp_path / "run", plan)
    assert {f.origin for f in schedule} == {"scripted", "restarts", "pauses"} and len(schedule) > 8

    loaded = load_recorded_plan(tmp_path / "run")
    assert loaded.to_json() | {"sources": None} == plan.to_json() | {"sources": None}
    assert recorded_runner(tmp_path / "run") == "compose"

    replayed, recorded = replay_plan(tmp_path / "run")
    assert recorded is not None and recorded.seed == 21 and recorded.recovery_s == 15
    assert replayed.seed == plan.seed and replayed.expectations == plan.expectations
    (spec,) = replayed.workloads
    assert set(spec.params) == {"seed", "recovery", "faults"}  # the random schedules are replaced
    nemesis = validate_plan(resolve_plan(replayed, env={})).workloads[0].build()
    assert isinstance(nemesis, Nemesis) and nemesis.recovery_s() == 15
    again = nemesis.build_schedule(0, plan_nodes(replayed), replayed.duration_s)  # the seed no longer matters
    strip = [{**f.to_json(), "origin": None} for f in schedule]
    assert [{**f.to_json(), "origin": None} for f in again] == strip
    # a replay of the replay is the same again
    replayed.to_json()  # serialisable
    (tmp_path / "second").mkdir()
    (tmp_path / "second" / "plan.json").write_text(json.dumps(resolve_plan(replayed, env={}).to_json()))
    twice, _ = replay_plan(tmp_path / "second")
    assert twice.workloads == replayed.workloads


def test_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"holds no plan\.json: not the directory of a run"):
        replay_plan(tmp_path)
    with pytest.raises(PlanError, match="is not a directory"):
        replay_plan(tmp_path / "missing")
    (tmp_path / "plan.json").write_text("{not json")
    with pytest.raises(PlanError, match=r"plan\.json: cannot be read as JSON"):
        replay_plan(tmp_path)
    (tmp_path / "plan.json").write_text('{"name": "x"}')
    with pytest.raises(PlanError, match="not a plan written by nomos-testing"):
        replay_plan(tmp_path)


def test_a_damaged_faults_file_names_the_field(tmp_path: Path) -> None:
    recorded_run(tmp_path / "run", chaos_plan())
    path = tmp_path / "run" / FAULTS_FILE
    data = json.loads(path.read_text())
    data["faults"][2]["kind"] = "meteor"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError) as caught:
        replay_plan(tmp_path / "run")
    assert caught.value.message.startswith(f"{path}: faults[2].kind must be one of")


def test_the_cli_refuses_a_directory_without_a_plan_with_exit_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "nomos_testing.cli", "replay", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{tmp_path} holds no plan.json: not the directory of a run" in done.stdout + done.stderr
    assert "fix: pass the run directory of an earlier run" in done.stdout + done.stderr


@pytest.mark.slow
def test_replay_through_the_cli_meets_the_same_faults(use_fake_node, tmp_path: Path) -> None:
    scenario = tmp_path / "chaos.toml"
    scenario.write_text("""name = "replayed"
duration = 5
[topology]
validators = 3
[consensus]
slot_duration = 1
security_param = 2
[[workloads]]
kind = "nemesis"
recovery = 0.5
[workloads.restarts]
min_delay = 1
max_delay = 2
target_cooldown = 2
[[workloads.faults]]
at = 1
fault = "kill"
node = "validator-2"
duration = 1
""")
    env = {**os.environ, "NO_COLOR": "1"}
    first = tmp_path / "first"
    done = subprocess.run([sys.executable, "-m", "nomos_testing.cli", "run", str(scenario), "--out", str(first),
                           "--seed", "17"], cwd=REPO, capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    second = tmp_path / "second"
    done = subprocess.run([sys.executable, "-m", "nomos_testing.cli", "replay", str(first), "--out", str(second)],
                          cwd=REPO, capture_output=True, text=True, timeout=90, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"replaying {first} (seed 17," in done.stdout and f"new run {second} (exit 0)" in done.stdout
    before, after = (json.loads((run / FAULTS_FILE).read_text()) for run in (first, second))
    assert [{**f, "origin": None} for f in before["faults"]] == [{**f, "origin": None} for f in after["faults"]]
    assert {f["origin"] for f in before["faults"]} == {"scripted", "restarts"}
    assert json.loads((second / "plan.json").read_text())["seed"] == 17
    reports = [json.loads((run / "report.json").read_text()) for run in (first, second)]
    applied = [[(f["kind"], f["targets"]) for f in report["faults"] if f["applied_at_s"] is not None]
               for report in reports]
    assert applied[0] == applied[1] and applied[0]
