"""Plug-ins come from entry points: a third-party distribution adds a workload and an expectation by installing
itself; its parameter schema drives validation and errors; runner capabilities are checked before deployment;
a workload that raises ends the run window at once and is reported as a workload failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nomos_testing.errors import PlanError, PrerequisiteError
from nomos_testing.observe.console import RunConsole
from nomos_testing.plugins import Registries, Registry
from nomos_testing.runners.host import HostDeployer
from nomos_testing.scenario.builder import ScenarioBuilder
from nomos_testing.scenario.core import new_run_id
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.scenario.validate import validate_plan
from tests.framework.plugin_dist import install_demo_plugin

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = install_demo_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_a_distribution_adds_kinds_by_installing_itself(demo_site: Path) -> None:
    registries = Registries()
    assert "height_sampler" in registries.workloads.names()
    assert "events_recorded" in registries.expectations.names()
    assert "consensus_liveness" in registries.expectations.names()  # the project's own, the same way
    assert registries.workloads.provider("height_sampler").startswith("nomos-demo-plugin 0.1")
    plan = (ScenarioBuilder.with_node_counts(1, 0).with_run_duration(10).with_slot_duration(1.0)
            .with_workload("height_sampler", every_s=0.2).with_expectation("events_recorded", event="x")
            .build(registries))
    checked = validate_plan(plan, registries)
    assert dict(checked.workloads[0].params) == {"every_s": 0.2, "fail_after_s": 0}


@pytest.mark.parametrize(("params", "message", "fix"), [
    ({"every_s": 0}, "workloads[0] (height_sampler).every_s must be a number in [0.05, 60], got 0",
     "pass ScenarioBuilder.with_workload('height_sampler', every_s=…) to a number in [0.05, 60], e.g. 0.5"),
    ({"every": 1}, "workloads[0] (height_sampler).every: unknown parameter", "use one of: every_s, fail_after_s"),
])
def test_the_plugin_schema_names_the_field_and_the_fix(demo_site: Path, params: dict[str, object], message: str,
                                                       fix: str) -> None:
    registries = Registries()
    with pytest.raises(PlanError) as caught:
        (ScenarioBuilder.with_node_counts(1, 0).with_run_duration(10)
         .with_workload("height_sampler", **params).build(registries))
    assert message in caught.value.message
    assert caught.value.remedy is not None and fix in caught.value.remedy


def test_a_broken_plugin_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "broken-site"
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nomos_testing.workloads]\nbroken = no_such_module:Thing\n")
    monkeypatch.syspath_prepend(str(site))
    registry: Registry[object] = Registries().workloads
    with pytest.raises(PrerequisiteError) as caught:
        registry.get("broken")
    assert "broken-plugin 1.0" in caught.value.message and "ModuleNotFoundError" in caught.value.message
    assert isinstance(registry.load_all()["broken"], PrerequisiteError)


def test_a_capability_the_runner_lacks_stops_the_plan_before_deployment(demo_site: Path) -> None:
    from nomos_demo_plugin import HeightSampler  # type: ignore[import-not-found]

    class Partitioner(HeightSampler):  # type: ignore[misc]
        kind = "partitioner"
        requires = frozenset({"partition"})

    class ProcessesOnly(HostDeployer):  # a third-party runner that offers no network faults
        name = "processes-only"
        capabilities = frozenset({"stop", "start", "kill", "restart"})

    registries = Registries()
    registries.workloads.register("partitioner", Partitioner)
    registries.runners.register("processes-only", ProcessesOnly)
    plan = ScenarioBuilder.with_node_counts(2, 0).with_run_duration(10).with_workload("partitioner").build(registries)
    with pytest.raises(PlanError) as caught:
        validate_plan(plan, registries, runner="processes-only")
    assert "workloads[0] (partitioner) needs partition, which the processes-only runner cannot do" \
        in caught.value.message
    assert caught.value.remedy == "use --runner compose or --runner host or --runner k8s"


async def test_a_workload_that_raises_ends_the_run_window_at_once(demo_site: Path, use_fake_node, tmp_path: Path,
                                                                  processes_of) -> None:
    registries = Registries()
    plan = (ScenarioBuilder.with_node_counts(2, 0).named("boom").with_seed(3).with_run_duration(60)
            .with_slot_duration(1.0).with_workload("height_sampler", every_s=0.2, fail_after_s=1.0)
            .expect_consensus_liveness().build(registries))
    run_dir = tmp_path / "boom"
    began = time.monotonic()
    result = await ScenarioRun(plan, HostDeployer(), run_dir, new_run_id(plan), RunConsole(force_plain=True),
                               registries).run()
    took = time.monotonic() - began
    assert took < 20, f"the 60 s window should have ended when the workload failed (took {took:.1f} s)"
    assert result.exit_code == 1
    report = json.loads((run_dir / "report.json").read_text())
    assert report["workloads"] == [{"name": "height_sampler", "passed": False, "error": report["workloads"][0]["error"],
                                    "ended_window_at_s": report["workloads"][0]["ended_window_at_s"]}]
    assert "gave up after 1 s" in report["workloads"][0]["error"] and report["workloads"][0]["ended_window_at_s"] < 5
    assert report["expectations"] == [] and report["passed"] is False
    assert report["verdict"].startswith("FAILED: workload height_sampler")
    assert "workload:height_sampler" in (run_dir / "junit.xml").read_text()
    assert processes_of(run_dir) == []


@pytest.mark.slow
def test_a_scenario_file_runs_plugin_kinds_through_the_cli(demo_site: Path, use_fake_node, tmp_path: Path) -> None:
    scenario = tmp_path / "plugins.toml"
    scenario.write_text('name = "plugins"\nduration = 3\n[topology]\nvalidators = 2\n[consensus]\nslot_duration = 1\n'
                        '[[workloads]]\nkind = "height_sampler"\nevery_s = 0.3\n'
                        '[[expectations]]\nkind = "events_recorded"\nevent = "workload.height_sample"\nminimum = 4\n')
    env = {**os.environ, "PYTHONPATH": str(demo_site), "NO_COLOR": "1"}
    listed = subprocess.run([sys.executable, "-m", "nomos_testing.cli", "plugins"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert "height_sampler: samples node heights" in listed.stdout and "nomos-demo-plugin 0.1" in listed.stdout
    assert "every_s: a number in [0.05, 60] (default 0.5)" in listed.stdout
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "nomos_testing.cli", "run", str(scenario), "--out", str(out)],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["workloads"] == [{"name": "height_sampler", "passed": True, "error": None,
                                    "ended_window_at_s": None}]
    assert report["expectations"][0]["name"] == "events_recorded" and report["expectations"][0]["passed"]
