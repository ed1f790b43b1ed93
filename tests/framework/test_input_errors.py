"""Bad input (environment variables, --out, huge counts) stops a command with exit 2, a message naming the
field and a fix, before anything starts, and never with a traceback. In-process: no node is started."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from nomos_testing import settings
from nomos_testing.cli import app
from nomos_testing.errors import PlanError
from nomos_testing.nodes.client import NodeApiError
from nomos_testing.nodes.reference import image as reference_image
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.report import ExpectationResult, RunReport, TopologyCounts
from nomos_testing.observe.reporters import junit_xml
from nomos_testing.preflight import framework_checks
from nomos_testing.runners.compose import deployer as compose_deployer
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from tests.framework.test_plan import OUT_OF_RANGE_ENVIRONMENT

REPO = Path(__file__).resolve().parents[2]
MAX_WALLETS = 10_000
A_WEEK_S = 7 * 24 * 3600.0
GOOD_ENV = {"POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}


def invoke(*args: str, **env: str) -> Any:
    return CliRunner().invoke(app, list(args), env={**GOOD_ENV, **env}, catch_exceptions=False)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in settings.VARIABLES:
        monkeypatch.delenv(variable.name, raising=False)
    monkeypatch.chdir(REPO)


@pytest.mark.parametrize(("name", "value", "fix"), [
    ("SLOW_TEST_ENV", "maybe", "1/true/yes"),
    ("NOMOS_TESTS_KEEP_LOGS", "maybe", "1/true/yes"),        # was read only at teardown: the run passed
    ("CONSENSUS_SLOT_TIME", "abc", "a number"),            # was ignored when the file sets slot_duration
    ("NOMOS_TESTS_READINESS_TIMEOUT", "nan", "a number"),
    ("TEST_FRAMEWORK_PROMETHEUS_PORT", "high", "whole number"),
    ("NOMOS_COMPOSE_CLI", "v3", "auto, v2, v1"),               # was caught only by the compose runner
])
def test_run_with_a_junk_variable_exits_2_before_anything_starts(tmp_path: Path, name: str, value: str,
                                                                 fix: str) -> None:
    out = tmp_path / "run"
    result = invoke("run", "scenarios/smoke.toml", "-v", "1", "-e", "0", "-t", "4", "--out", str(out),
                    **{name: value})
    assert result.exit_code == 2, result.output
    assert f"{name}={value!r}" in result.output and "fix:" in result.output and fix in result.output
    assert "Traceback" not in result.output
    assert not out.exists(), "nothing may start (no run directory, no node) on malformed input"


def test_up_with_a_junk_variable_exits_2(tmp_path: Path) -> None:
    result = invoke("up", "-v", "1", "-e", "0", "--out", str(tmp_path / "up"), SLOW_TEST_ENV="maybe")
    assert result.exit_code == 2 and "SLOW_TEST_ENV" in result.output and "fix:" in result.output
    assert not (tmp_path / "up").exists()


def test_doctor_reports_a_junk_variable_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOMOS_TESTS_KEEP_LOGS", "maybe")
    check = next(c for c in framework_checks() if c.name == "environment variables")
    assert not check.ok and check.required and "NOMOS_TESTS_KEEP_LOGS" in check.detail and "1/true/yes" in check.remedy
    result = invoke("doctor", NOMOS_TESTS_KEEP_LOGS="maybe")
    assert result.exit_code == 2 and "NOMOS_TESTS_KEEP_LOGS='maybe'" in result.output


def test_settings_problems_cover_every_typed_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.problems() == []
    junk = {"bool": "maybe", "int": "1.5", "float": "inf", "choice": "v3"}
    typed = [v for v in settings.VARIABLES if v.kind in junk]
    for variable in typed:
        monkeypatch.setenv(variable.name, junk[variable.kind])
    named = " ".join(exc.message for exc in settings.problems())
    assert all(variable.name in named for variable in typed)
    with pytest.raises(PlanError, match="SLOW_TEST_ENV"):
        settings.validate()
    monkeypatch.setenv("SLOW_TEST_ENV", "YES")
    assert "SLOW_TEST_ENV" not in " ".join(exc.message for exc in settings.problems())


def test_compose_deploy_reads_its_settings_before_starting_anything(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    # A malformed COMPOSE_RUNNER_PRESERVE used to raise after `compose up`, stranding the started stack.
    monkeypatch.setenv("COMPOSE_RUNNER_PRESERVE", "maybe")
    monkeypatch.setattr(compose_deployer, "daemon_status", lambda: (True, "test"))
    monkeypatch.setattr(compose_deployer, "find_compose", lambda: object())

    def must_not_run() -> str:
        raise AssertionError("an image was built / a stack started before the settings were read")

    monkeypatch.setattr(reference_image, "ensure_node_image", must_not_run)
    plan = resolve_plan(scenario(validators=1, executors=0, duration=10, seed=1, slot_duration=1.0), env={})
    topology = generate_topology(plan)
    with pytest.raises(PlanError, match="COMPOSE_RUNNER_PRESERVE"):
        asyncio.run(compose_deployer.ComposeDeployer().deploy(topology, "r", tmp_path))


@pytest.mark.parametrize("command", ["run", "up"])
def test_out_pointing_at_a_file_exits_2_naming_the_flag(tmp_path: Path, command: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me\n")
    for out in (a_file, a_file / "below"):
        result = invoke(command, "-v", "1", "-e", "0", "--out", str(out))
        assert result.exit_code == 2, result.output
        assert "--out" in result.output and "not a directory" in result.output and "fix:" in result.output
    assert a_file.read_text() == "keep me\n"


def test_huge_counts_and_durations_are_plan_errors() -> None:
    with pytest.raises(PlanError, match=r"wallets.count must be an integer in \[0, 10000\], got 100000000"):
        scenario(wallets=100_000_000, seed=1)
    scenario(wallets=MAX_WALLETS, seed=1, duration=10, slot_duration=1.0)
    with pytest.raises(PlanError, match=r"duration must be a number in \(0, 604800\]"):
        scenario(duration=1e300, seed=1)
    scenario(duration=A_WEEK_S, seed=1)
    result = invoke("run", "-t", "1e12")
    assert result.exit_code == 2 and "flag --duration: duration must be a number" in result.output
    assert "fix: pass --duration" in result.output


def test_junit_counts_the_run_case_and_stays_valid_xml_with_control_characters() -> None:
    report = RunReport(
        run_id="r", runner="host", scenario="s", seed=1, topology=TopologyCounts(validators=1, executors=0),
        passed=False, verdict="x", error="node exited:\n\x1b[31mERROR\x1b[0m bad config\x00",
        expectations=[ExpectationResult(name="consensus_liveness", passed=False, message="tip \x1b[1mx\x1b[0m",
                                        figures={"a": "\x07"})])
    suite = ET.fromstring(junit_xml(report).split("?>", 1)[1])
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["consensus_liveness", "run"]
    assert suite.get("tests") == str(len(cases))
    error = suite.find("testcase/error")
    assert error is not None and "bad config" in str(error.get("message"))


class _Client:
    def __init__(self, name: str, info: Any) -> None:
        self.name = name
        self.info = info

    async def consensus_info(self) -> Any:
        if isinstance(self.info, Exception):
            raise self.info
        return self.info

    async def block(self, block_id: str) -> dict[str, Any] | None:
        return {"header": {"id": block_id, "parent": "0" * 64, "height": 0, "slot": 0}, "transactions": []}


async def test_block_feed_survives_a_malformed_answer_and_counts_it(tmp_path: Path) -> None:
    good = _Client("validator-0", {"height": 0, "tip": "g", "lib": "g", "slot": 0})
    bad = _Client("validator-1", ["not", "an", "object"])
    down = _Client("validator-2", NodeApiError("u", "connection refused"))
    feed = BlockFeed([good, bad, down], tmp_path / "blocks.jsonl", poll_interval_s=0.01)  # type: ignore[list-item]
    await feed.start()
    await asyncio.sleep(0.05)
    assert feed._task is not None and not feed._task.done(), "the feed stopped following the nodes"
    await feed.stop()
    stats = feed.stats()
    assert "g" in feed.blocks and stats["per_node"]["validator-1"]["errors"] >= 2
    assert re.search("malformed", stats["per_node"]["validator-1"]["last_error"])
    assert stats["per_node"]["validator-2"]["errors"] >= 2


@pytest.mark.parametrize(("name", "value", "field"), OUT_OF_RANGE_ENVIRONMENT)
@pytest.mark.parametrize("command", ["run", "up"])
def test_an_out_of_range_variable_is_blamed_on_the_variable_before_anything_starts(
        tmp_path: Path, command: str, name: str, value: str, field: str) -> None:
    """Issue: these were reported as `scenario.toml: slot_duration must be …` (the file was innocent), and a
    readiness timeout of 0 was refused only after the nodes were deployed."""
    scenario_file = tmp_path / "open.toml"
    scenario_file.write_text('name = "open"\nduration = 10\n[topology]\nvalidators = 1\n')
    out = tmp_path / "run"
    result = invoke(command, str(scenario_file), "--out", str(out), **{name: value})
    assert result.exit_code == 2, result.output
    assert f"environment variable {name}={value!r}: {field} must be" in result.output
    assert f"fix: set {name} (or unset it) to" in result.output
    assert "open.toml" not in result.output.split("fix:")[0]
    assert not out.exists(), "nothing may start on out-of-range input"
