"""Failure triage (observe/triage.py): every category from a real error object or report, with its facts and a
next step, and the console summary showing it."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from nomos_testing.errors import DeploymentError, InternalError, NodeCrashedError, PlanError, ReadinessError
from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.report import ExpectationResult, RunReport, WorkloadResult
from nomos_testing.observe.triage import CATEGORIES, triage
from nomos_testing.preflight import require
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.base import Check
from nomos_testing.scenario.builder import scenario
from tests.framework.test_readiness_probes import FakeHttpNode, ServerCluster
from tests.framework.test_report import sample_report

pytestmark = pytest.mark.timeout(60)


def errored(error: str) -> RunReport:
    return sample_report(error=error).model_copy(update={"expectations": [], "exit_code": 2})


def test_a_passing_run_has_no_triage() -> None:
    report = sample_report(passed=True).model_copy(
        update={"expectations": [ExpectationResult(name="x", passed=True, message="ok")]})
    assert triage(report) is None


async def test_readiness_timeout_names_node_probe_and_what_was_seen(topology_factory) -> None:
    node = FakeHttpNode("validator-0")
    node.sock.close()
    node.sock = socket.socket()
    node.sock.bind(("127.0.0.1", 0))  # bound, never listening: connection refused
    try:
        with pytest.raises(ReadinessError) as caught:
            await wait_ready(ServerCluster([node]), topology_factory(1), ReadinessTimeouts(total_s=0.6, poll_s=0.1))
    finally:
        await node.stop()
    result = triage(errored(str(caught.value)), caught.value)
    assert result is not None and result.category == "readiness_timeout"
    assert result.details["not_ready"] == [{"node": "validator-0", "probe": "http",
                                            "seen": "http=no answer, expected GET /cryptarchia/info → 200",
                                            "last_error": "connection refused"}]
    assert "validator-0 (probe http" in result.summary
    assert "never answered its API" in result.next_step and "SLOW_TEST_ENV" in result.next_step


async def test_a_node_that_exits_during_readiness_is_node_crashed_with_exit_code_and_log_tail(topology_factory
                                                                                               ) -> None:
    node = FakeHttpNode("validator-0")
    await node.start()
    cluster = ServerCluster([node])
    cluster.gone["validator-0"] = "exited with code 3; last lines of x.log:\nstarting\nconfig error: bad genesis"
    try:
        with pytest.raises(NodeCrashedError) as caught:
            await wait_ready(cluster, topology_factory(1), ReadinessTimeouts(total_s=10))
    finally:
        await node.stop()
    result = triage(errored(str(caught.value)), caught.value)
    assert result is not None and result.category == "node_crashed"
    (crashed,) = result.details["nodes"]
    assert crashed["node"] == "validator-0" and crashed["exit_code"] == 3
    assert crashed["log_tail"].endswith("config error: bad genesis")
    assert "validator-0 (exit code 3)" in result.summary


def test_a_missing_prerequisite_points_at_doctor() -> None:
    with pytest.raises(Exception) as caught:
        require([Check("POL_PROOF_DEV_MODE", False, "unset", "export POL_PROOF_DEV_MODE=true")])
    result = triage(errored(str(caught.value)), caught.value)
    assert result is not None and result.category == "prerequisite_missing"
    assert "nomos-testing doctor --runner host" in result.next_step
    assert "export POL_PROOF_DEV_MODE=true" in result.next_step


def test_invalid_input_carries_the_remedy() -> None:
    with pytest.raises(PlanError) as caught:
        scenario(duration=1e300, seed=1)
    result = triage(errored(str(caught.value)), caught.value)
    assert result is not None and result.category == "invalid_input"
    assert result.next_step == caught.value.remedy


def test_deployment_failed_and_internal_error() -> None:
    deployment = DeploymentError("could not start the nodes of run r: no such file", "build the node")
    result = triage(errored(str(deployment)), deployment)
    assert result is not None and result.category == "deployment_failed"
    assert result.next_step.startswith("build the node") and result.details["error_type"] == "DeploymentError"
    internal = InternalError("KeyError: 'x'", "this is a framework bug; see events.jsonl")
    result = triage(errored(str(internal)), internal)
    assert result is not None and result.category == "internal_error"


def test_a_crash_during_the_window_outranks_the_expectations_it_failed() -> None:
    report = sample_report(exit_code=1)
    result = triage(report, None, {"validator-1": "exited with code -9; last lines of l:\nkilled"})
    assert result is not None and result.category == "node_crashed"
    assert result.details["during"] == "during the run window"
    assert result.details["nodes"][0]["exit_code"] == -9


def test_a_failed_workload() -> None:
    report = sample_report(workloads=[WorkloadResult(name="transactions", passed=False,
                                                     error="NodeControlError('gone')", ended_window_at_s=12.5)])
    result = triage(report)
    assert result is not None and result.category == "workload_failed"
    assert "transactions" in result.summary and "12.5 s" in result.next_step
    assert result.details["workloads"][0]["error"] == "NodeControlError('gone')"


def test_a_failed_expectation_carries_the_figures_that_decided_it() -> None:
    report = sample_report(run_dir="/runs/smoke-1", plan={"name": "smoke", "sources": {"name": "s.toml:1"}})
    result = triage(report)
    assert result is not None and result.category == "expectation_failed"
    assert result.details["expectations"] == [{"name": "tx_inclusion", "message": 'too few <inclusions> & "quotes"',
                                               "figures": {"seen": 3}}]
    assert "tx.submit events" in result.next_step
    assert "nomos-testing replay /runs/smoke-1 --runner host" in result.next_step


def test_interrupted() -> None:
    report = sample_report(interrupted=True, interrupted_during="run", exit_code=130).model_copy(
        update={"expectations": []})
    result = triage(report)
    assert result is not None and result.category == "interrupted" and result.details["phase"] == "run"


def test_every_category_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "report.md").read_text(encoding="utf-8")
    for category in CATEGORIES:
        assert f"`{category}`" in text, f"docs/report.md does not describe the triage category {category}"


def test_the_console_summary_shows_the_category_and_the_next_step(tmp_path: Path) -> None:
    report = sample_report()
    report.triage = triage(report, None, {"validator-0": "exited with code 1; last lines of l:\nboom [red]x[/]"})
    out = io.StringIO()
    RunConsole(out, force_plain=True).summary(report, tmp_path)
    text = out.getvalue()
    assert "triage: node crashed" in text and "next step: read the log tail" in text
    assert "boom [red]x[/]" in text  # log lines are shown as they are, never as markup
