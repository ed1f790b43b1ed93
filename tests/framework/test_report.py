from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from nomos_testing.observe.report import ExpectationResult, NodeSummary, build_report, write_report


def sample_report(passed: bool = False, error: str | None = None) -> dict[str, object]:
    return build_report(
        run_id="smoke-1", runner="host", scenario="smoke", seed=5, validators=3, executors=1, passed=passed,
        verdict="x", timings={"preflight_s": 0.1, "deploy_s": 0.5, "readiness_s": 1.5, "run_s": 30, "teardown_s": 1},
        nodes=[NodeSummary("validator-0", "validator", 1.2, 27, "aa", "bb")],
        expectations=[ExpectationResult("consensus_liveness", True, "ok", {"max_height": 27}),
                      ExpectationResult("tx_inclusion", False, "too few <inclusions> & \"quotes\"", {"seen": 3})],
        error=error)


def test_report_has_the_design_keys(tmp_path: Path) -> None:
    report = sample_report()
    write_report(tmp_path, report)
    data = json.loads((tmp_path / "report.json").read_text())
    for key in ("run_id", "runner", "seed", "passed", "topology", "timings", "nodes", "expectations"):
        assert key in data
    assert data["topology"] == {"validators": 3, "executors": 1}
    assert set(data["timings"]) == {"preflight_s", "deploy_s", "readiness_s", "run_s", "teardown_s"}
    assert set(data["nodes"][0]) >= {"name", "role", "ready_s", "height", "tip", "lib"}
    assert set(data["expectations"][0]) >= {"name", "passed", "message", "figures"}


def test_junit_has_one_testcase_per_expectation(tmp_path: Path) -> None:
    write_report(tmp_path, sample_report())
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["consensus_liveness", "tx_inclusion"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message") == 'too few <inclusions> & "quotes"'


def test_junit_reports_a_setup_error_as_an_error_case(tmp_path: Path) -> None:
    report = sample_report(error="readiness timed out")
    report["expectations"] = []
    write_report(tmp_path, report)
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("errors") == "1"
    error = suite.find("testcase/error")
    assert error is not None and error.get("message") == "readiness timed out"
