"""The typed report: report.json keeps the contract keys (docs/report.md), its JSON Schema file is generated
from the model and current, JUnit reads the model, reporters are plug-ins and a broken one costs nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from nomos_testing.observe.report import (
    ExpectationResult,
    NodeSummary,
    RunReport,
    Timings,
    TopologyCounts,
    WorkloadResult,
    json_schema,
    load_report,
)
from nomos_testing.observe.reporters import Reporter, ReportTarget, junit_xml, publish
from nomos_testing.plugins import Registries

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "docs" / "report.schema.json"


def sample_report(passed: bool = False, error: str | None = None, **extra: object) -> RunReport:
    return RunReport(
        run_id="smoke-1", runner="host", scenario="smoke", seed=5, passed=passed, verdict="x", error=error,
        topology=TopologyCounts(validators=3, executors=1),
        timings=Timings.of({"preflight_s": 0.1, "deploy_s": 0.5, "readiness_s": 1.5, "run_s": 30, "teardown_s": 1}),
        nodes=[NodeSummary(name="validator-0", role="validator", ready_s=1.2, height=27, tip="aa", lib="bb")],
        expectations=[ExpectationResult(name="consensus_liveness", passed=True, message="ok",
                                        figures={"max_height": 27}),
                      ExpectationResult(name="tx_inclusion", passed=False, message='too few <inclusions> & "quotes"',
                                        figures={"seen": 3})], **extra)  # type: ignore[arg-type]


def write(tmp_path: Path, report: RunReport) -> None:
    publish(report, ReportTarget(tmp_path), only=["json", "junit"])


def test_report_has_the_design_keys_in_their_order(tmp_path: Path) -> None:
    write(tmp_path, sample_report())
    data = json.loads((tmp_path / "report.json").read_text())
    design = ["run_id", "runner", "scenario", "seed", "passed", "verdict", "error", "interrupted", "topology",
              "timings", "nodes", "expectations", "run_dir", "plan", "prometheus_url", "block_feed", "events",
              "cluster"]
    assert list(data)[:len(design)] == design  # the keys of the first version keep their place; new ones follow
    assert data["topology"] == {"validators": 3, "executors": 1}
    assert set(data["timings"]) == {"preflight_s", "deploy_s", "readiness_s", "run_s", "teardown_s"}
    assert set(data["nodes"][0]) >= {"name", "role", "ready_s", "height", "tip", "lib"}
    assert set(data["expectations"][0]) >= {"name", "passed", "message", "figures"}
    assert load_report((tmp_path / "report.json").read_text()) == sample_report()


def test_the_schema_file_is_generated_from_the_model_and_current() -> None:
    """docs/report.schema.json is `python -m nomos_testing.observe.report`; regenerate it when the model changes."""
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), (
        "docs/report.schema.json is stale: run `.venv/bin/python -m nomos_testing.observe.report > "
        "docs/report.schema.json`")


def test_reports_validate_against_the_schema_and_a_wrong_one_does_not(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    write(tmp_path, sample_report(workloads=[WorkloadResult(name="tx", passed=False, error="boom")]))
    jsonschema.validate(json.loads((tmp_path / "report.json").read_text()), schema)
    broken = json.loads((tmp_path / "report.json").read_text())
    broken["passed"] = "yes"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_junit_has_one_testcase_per_expectation(tmp_path: Path) -> None:
    write(tmp_path, sample_report())
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["consensus_liveness", "tx_inclusion"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == 'too few <inclusions> & "quotes"'


def test_junit_reports_a_setup_error_and_a_failed_workload_as_error_cases() -> None:
    report = sample_report(error="readiness timed out").model_copy(update={"expectations": []})
    suite = ET.fromstring(junit_xml(report).split("?>", 1)[1])
    assert suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and error.get("message") == "readiness timed out"
    with_workload = sample_report(workloads=[WorkloadResult(name="tx", passed=False, error="RuntimeError('x')")])
    suite = ET.fromstring(junit_xml(with_workload).split("?>", 1)[1])
    assert [c.get("name") for c in suite.findall("testcase")][-1] == "workload:tx"
    assert suite.get("errors") == "1" and suite.get("tests") == "3"


class _Broken(Reporter):
    name = "broken"
    order = 15

    def publish(self, report: RunReport, target: ReportTarget) -> list[Path]:
        raise OSError("disk full")


class _Html(Reporter):
    name: ClassVar[str] = "html"

    def publish(self, report: RunReport, target: ReportTarget) -> list[Path]:
        assert target.run_dir is not None
        path = target.run_dir / "report.html"
        path.write_text(f"<h1>{report.verdict}</h1>")
        return [path]


def test_reporters_are_plugins_and_a_broken_one_costs_nothing_else(tmp_path: Path) -> None:
    registries = Registries()
    registries.reporters.register("broken", _Broken)
    registries.reporters.register("html", _Html)
    published = publish(sample_report(), ReportTarget(tmp_path), registries)
    assert published.failures == {"broken": "OSError: disk full"}
    assert {p.name for p in published.files} == {"report.json", "junit.xml", "report.html"}
    assert set(registries.reporters.names()) >= {"json", "junit", "console", "broken", "html"}
