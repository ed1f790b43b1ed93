"""Faults as data: the `Fault` value and its two written forms, durations, the nemesis's parameter schema
(scenario file, builder) and its errors, which name the field, where it was written, and the fix; the
capabilities a nemesis needs are checked before deployment."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from nomos_testing.errors import PlanError
from nomos_testing.faults.model import CAPABILITIES, Fault, FaultKind
from nomos_testing.params import Source, parse_duration
from nomos_testing.plugins import Registries
from nomos_testing.runners.shared.control import BASIC_CAPABILITIES
from nomos_testing.scenario.builder import ScenarioBuilder
from nomos_testing.scenario.files import parse_scenario, read_scenario
from nomos_testing.scenario.validate import validate_plan
from nomos_testing.workloads.nemesis import Nemesis

HEAD = """name = "chaos"
duration = 60
[topology]
validators = 3
executors = 1
[[workloads]]
kind = "nemesis"
recovery = 20
"""

ONE_OF_EACH = [
    Fault(FaultKind.RESTART, ("validator-1",), at=5),
    Fault(FaultKind.STOP, ("validator-2",), at=6, duration=3),
    Fault(FaultKind.KILL, ("executor-0",), at=7),
    Fault(FaultKind.PAUSE, ("validator-0",), at=8.5, duration=2),
    Fault(FaultKind.PARTITION, ("validator-0", "validator-1", "validator-2"),
          {"groups": [["validator-0"], ["validator-1", "validator-2"]]}, at=20, duration=15),
    Fault(FaultKind.ISOLATE, ("validator-2",), at=40, duration=1.5),
    Fault(FaultKind.DELAY, ("validator-0", "validator-1"), {"ms": 200.0, "jitter_ms": 20.0}, at=1, duration=4,
          origin="delays"),
    Fault(FaultKind.LOSS, ("validator-0", "executor-0"), {"percent": 30.0}, at=2),
    Fault(FaultKind.JOIN, (), {"role": "validator", "peers": ["validator-0"], "in_genesis": True}, at=30),
]


def scenario(text: str, tmp_path: Path) -> Path:
    path = tmp_path / "chaos.toml"
    path.write_text(HEAD + text, encoding="utf-8")
    return path


def error_of(text: str, tmp_path: Path) -> PlanError:
    path = scenario(text, tmp_path)
    with pytest.raises(PlanError) as caught:
        parse_scenario(path.read_text(), path)
    return caught.value


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# The value and its forms ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ONE_OF_EACH, ids=lambda f: f.kind.value)
def test_every_kind_round_trips_through_json_and_the_scenario_form(fault: Fault) -> None:
    text = json.dumps(fault.to_json())
    assert Fault.from_json(json.loads(text)) == fault
    table = fault.to_table()
    checked = Nemesis.params.resolve({"faults": [table]}, "w")["faults"][0]
    assert Fault.from_table(checked, origin=fault.origin) == fault


def test_each_kind_declares_the_capabilities_it_needs() -> None:
    assert set(CAPABILITIES) == set(FaultKind)
    assert CAPABILITIES[FaultKind.KILL] == {"kill", "start"} and CAPABILITIES[FaultKind.ISOLATE] == {"partition"}
    assert Fault(FaultKind.STOP, ("validator-0",)).capabilities() == {"stop", "start"}


def test_describe_and_end() -> None:
    partition = ONE_OF_EACH[4]
    assert partition.describe() == "partition [validator-0] | [validator-1, validator-2] at 20 s for 15 s"
    assert partition.end == 35
    assert ONE_OF_EACH[7].describe() == "loss validator-0 <-> executor-0 30 % at 2 s until the final heal"
    assert ONE_OF_EACH[7].end is None and ONE_OF_EACH[0].end == 5  # a restart ends as it starts


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"kind": "explode", "targets": [], "at": 1}, "faults[3].kind", 'one of "restart", "stop"'),
    ({"kind": "stop", "targets": ["validator-0"]}, "faults[3].at", "missing"),
    ({"kind": "stop", "targets": ["validator-0"], "at": -1}, "faults[3].at", "got -1"),
    ({"kind": "restart", "targets": ["validator-0"], "at": 1, "duration": 5}, "faults[3].duration",
     "a restart has no duration"),
    ({"kind": "delay", "targets": ["validator-0", "validator-1"], "params": {"ms": 0}, "at": 1},
     "faults[3].params.ms", "got 0"),
    ({"kind": "delay", "targets": ["validator-0"], "params": {"ms": 5}, "at": 1}, "faults[3].targets",
     "a list of 2 node name(s) for a delay"),
    ({"kind": "partition", "targets": ["validator-0", "validator-1"], "params": {"groups": [["validator-0"]]},
      "at": 1}, "faults[3].targets", "the nodes of params.groups"),
    ({"kind": "loss", "targets": ["validator-0", "validator-1"], "params": {"percent": 10, "rate": 2}, "at": 1},
     "faults[3].params.rate", "unknown parameter"),
    ({"kind": "stop", "targets": ["validator-0"], "at": 1, "when": 2}, "faults[3].when", "unknown field"),
])
def test_json_form_errors_name_the_field(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        Fault.from_json(data, "faults[3]", Source("file", "run/faults.json"))
    assert caught.value.message.startswith(f"run/faults.json: {field}"), caught.value.message
    assert message in str(caught.value)


@pytest.mark.parametrize(("text", "seconds"), [
    (15, 15.0), (0.5, 0.5), ("15s", 15.0), ("2m", 120.0), ("500ms", 0.5), ("1m30s", 90.0), (" 1h ", 3600.0),
    ("12", 12.0), ("1.5s", 1.5),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5 parsecs", "s", "10s junk", True, None, [], float("nan")])
def test_bad_durations(text: object) -> None:
    assert parse_duration(text) is None


# The scenario file -----------------------------------------------------------------------------------


def test_a_scripted_schedule_reads_from_the_file_with_durations_in_seconds(tmp_path: Path) -> None:
    path = scenario("""
[[workloads.faults]]
at = "20s"
fault = "partition"
groups = [["validator-0"], ["validator-1", "validator-2"]]
duration = "15s"

[[workloads.faults]]
at = 45
fault = "kill"
node = "executor-0"
duration = "500ms"
""", tmp_path)
    plan = parse_scenario(path.read_text(), path)
    checked = validate_plan(plan)
    nemesis = checked.workloads[0].build()
    assert isinstance(nemesis, Nemesis) and nemesis.recovery_s() == 20
    assert [f.describe() for f in nemesis.scripted] == [
        "partition [validator-0] | [validator-1, validator-2] at 20 s for 15 s", "kill executor-0 at 45 s for 0.5 s"]
    assert Nemesis.required_capabilities(checked.workloads[0].params) == {"partition", "kill", "start"}
    assert plan.sources["workloads[0].faults[1].node"].line == line_of(path, 'node = "executor-0"')


@pytest.mark.parametrize(("text", "field", "needle", "message"), [
    ('[[workloads.faults]]\nat = "1s"\nfault = "explode"\nnode = "validator-0"\n',
     "faults[0].fault", 'fault = "explode"', 'must be one of "restart"'),
    ('[[workloads.faults]]\nat = "1s"\nfault = "stop"\nnode = "validator-0"\n'
     '[[workloads.faults]]\nat = "1s"\nfault = "pause"\nnode = "validator-1"\nduration = "1s"\n'
     '[[workloads.faults]]\nat = "2s"\nfault = "partition"\ngroups = "validator-0"\n',
     "faults[2].groups", 'groups = "validator-0"', "must be a list of at least 1 of lists"),
    ('[[workloads.faults]]\nat = "2s"\nfault = "partition"\ngroups = [["validator-0"], [3]]\n',
     "faults[0].groups[1][0]", "groups = [", "must be a string, got 3"),
    ('[[workloads.faults]]\nat = "2s"\nfault = "partition"\ngroups = [["validator-0"], ["validator-7"]]\n',
     "faults[0].groups[1][0]", "groups = [", "must be a node of the topology (executor-0, validator-0"),
    ('[[workloads.faults]]\nat = "2s"\nfault = "partition"\ngroups = [["validator-0"], ["validator-0"]]\n',
     "faults[0].groups[1][0]", "[[workloads.faults]]", "validator-0 is in two groups"),
    ('[[workloads.faults]]\nat = "soon"\nfault = "restart"\nnode = "validator-0"\n',
     "faults[0].at", 'at = "soon"', 'must be a duration (seconds, or a string like "15s"'),
    ('[[workloads.faults]]\nat = "70s"\nfault = "restart"\nnode = "validator-0"\n',
     "faults[0].at", 'at = "70s"', "must be less than the run's duration (60 s"),
    ('[[workloads.faults]]\nat = "1s"\nfault = "restart"\nnode = "validator-0"\nduration = "5s"\n',
     "faults[0].duration", 'duration = "5s"', "unknown parameter"),
    ('[[workloads.faults]]\nat = "1s"\nfault = "stop"\n',
     "faults[0].node", "[[workloads.faults]]", "missing"),
    ('[[workloads.faults]]\nat = "1s"\nfault = "delay"\na = "validator-0"\nb = "validator-1"\nms = 10\n'
     'jitter_ms = 20\n', "faults[0].jitter_ms", "[[workloads.faults]]", "must be at most ms (10)"),
    ('[[workloads.faults]]\nat = "1s"\nfault = "loss"\na = "validator-0"\nb = "validator-0"\npercent = 5\n',
     "faults[0].b", "[[workloads.faults]]", "a link needs two different nodes"),
    ('[[workloads.faults]]\nat = "10s"\nfault = "pause"\nnode = "validator-1"\nduration = "10s"\n'
     '[[workloads.faults]]\nat = "15s"\nfault = "restart"\nnode = "validator-1"\n',
     "faults[1]", "[[workloads.faults]]", "acts on validator-1 while faults[0] (pause validator-1 at 10 s for 10 s)"),
    ('[workloads.restarts]\nmin_delay = "10s"\nmax_delay = "5s"\n',
     "restarts.max_delay", 'max_delay = "5s"', "must be at least min_delay (10 s)"),
    ('[workloads.restarts]\nmin_delay = "10s"\ntarget_cooldown = "5s"\n',
     "restarts.target_cooldown", 'target_cooldown = "5s"', "must be at least min_delay"),
    ('[workloads.restarts]\nmax_delai = "5s"\n',
     "restarts.max_delai", 'max_delai = "5s"', "unknown parameter"),
    ('[workloads.restarts]\ninclude_validators = false\ninclude_executors = false\n',
     "restarts", "include_validators = false", "includes neither validators nor executors"),
    ('[workloads.partitions]\nsizes = [4]\n',
     "partitions.sizes[0]", "sizes = [4]", "must be at most 3 (the topology has 4 nodes)"),
])
def test_file_errors_name_the_field_and_its_line(tmp_path: Path, text: str, field: str, needle: str,
                                                 message: str) -> None:
    error = error_of(text, tmp_path)
    path = tmp_path / "chaos.toml"
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    shown = f"workloads[0] (nemesis).{field}"
    assert shown in error.message, error.message
    assert message in str(error), str(error)
    assert any(error.message.startswith(f"{path}:{line}: ") for line in lines), (error.message, lines)


def test_a_sole_validator_is_left_alone_unless_allowed(tmp_path: Path) -> None:
    text = (HEAD.replace("validators = 3", "validators = 1").replace("executors = 1", "executors = 0")
            + "[workloads.restarts]\nmin_delay = 5\n")
    path = tmp_path / "sole.toml"
    path.write_text(text)
    with pytest.raises(PlanError) as caught:
        parse_scenario(text, path)
    assert "no node to act on: the only validator is left alone" in caught.value.message
    assert "allow_sole_validator = true" in caught.value.message
    path.write_text(text + "allow_sole_validator = true\n")
    parse_scenario(path.read_text(), path)


def test_one_nemesis_per_plan(tmp_path: Path) -> None:
    error = error_of('[[workloads]]\nkind = "nemesis"\n', tmp_path)
    assert "workloads[1]: a second nemesis workload" in error.message and "workloads[0]" in (error.remedy or "")


def test_inline_tables_work_too(tmp_path: Path) -> None:
    path = scenario('faults = [{at = 5, fault = "pause", node = "validator-2", duration = "2s"}]\n'
                    'restarts = {min_delay = 5, max_delay = 9}\n', tmp_path)
    checked = validate_plan(read_scenario(path.read_text(), path))
    assert checked.workloads[0].params["restarts"]["max_delay"] == 9
    bad = scenario('faults = [{at = 5, fault = "pause", node = "validator-9", duration = "2s"}]\n', tmp_path)
    with pytest.raises(PlanError) as caught:
        parse_scenario(bad.read_text(), bad)
    assert caught.value.message.startswith(f"{bad}:{line_of(bad, 'faults = [')}: workloads[0] (nemesis).faults[0].node")


def test_the_schema_describes_the_parameters_for_doctor_and_editors(tmp_path: Path) -> None:
    lines = Nemesis.params.describe()
    assert any(line.startswith('faults: an array of tables, each with fault = one of "restart"') for line in lines)
    assert any(line.startswith("restarts: a table with keys min_delay, max_delay, target_cooldown") for line in lines)
    schema = Nemesis.params.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    good = {"recovery": "20s", "restarts": {"min_delay": 5}, "faults": [
        {"fault": "partition", "at": "20s", "groups": [["validator-0"]], "duration": 15}]}
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"faults": [{"fault": "partition", "at": 1, "node": "validator-0"}]}, schema)


# The builder -----------------------------------------------------------------------------------------


def test_the_builder_dsl_gives_the_same_plan_as_the_file(tmp_path: Path) -> None:
    path = scenario("""
[workloads.restarts]
min_delay = 5
max_delay = 10
target_cooldown = 20
include_executors = false

[[workloads.faults]]
at = "20s"
fault = "partition"
groups = [["validator-0"], ["validator-1", "validator-2"]]
duration = "15s"
""", tmp_path)
    from_file = validate_plan(parse_scenario(path.read_text(), path)).workloads[0].params
    built = (ScenarioBuilder.topology_with(lambda t: t.validators(3).executors(1)).with_run_duration(60)
             .chaos_with(lambda c: c.restart().min_delay(timedelta(seconds=5)).max_delay(10)
                         .target_cooldown(timedelta(seconds=20)).include_executors(False).apply()
                         .recovery(20))
             .fault(at=timedelta(seconds=20), kind="partition",
                    groups=[["validator-0"], ["validator-1", "validator-2"]], duration="15s")
             .build())
    assert len(built.workloads) == 1
    assert validate_plan(built).workloads[0].params == from_file


def test_builder_errors_name_the_call() -> None:
    builder = ScenarioBuilder.with_node_counts(2, 0).with_run_duration(30).fault(at=5, kind="pause",
                                                                                  node="validator-5", duration=1)
    with pytest.raises(PlanError) as caught:
        builder.build()
    assert caught.value.message.startswith("ChaosConfigurator.fault('pause', …): workloads[0] (nemesis).faults[0].node")
    with pytest.raises(PlanError, match=r"ScenarioBuilder.nemesis\(recovery=…\): workloads\[0\] \(nemesis\).recovery"):
        ScenarioBuilder.with_node_counts(2, 0).nemesis(recovery="forever").build()
    with pytest.raises(PlanError, match=r"ChaosConfigurator.restart\(…\): .*restarts.max_delay"):
        ScenarioBuilder.with_node_counts(2, 0).chaos_with(lambda c: c.restart(min_delay=9, max_delay=3)).build()


# Capabilities ----------------------------------------------------------------------------------------


class _Runner:
    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()


class _Basic(_Runner):
    capabilities = BASIC_CAPABILITIES


class _Faulty(_Runner):
    capabilities = BASIC_CAPABILITIES | {"pause", "partition"}


def test_a_fault_the_runner_cannot_do_stops_the_plan_naming_the_capability_and_runners_that_can() -> None:
    registries = Registries()
    registries.runners.register("basic-test", _Basic)
    registries.runners.register("faulty-test", _Faulty)
    plan = (ScenarioBuilder.with_node_counts(3, 0).with_run_duration(30)
            .chaos_with(lambda c: c.restart(min_delay=5, max_delay=6, target_cooldown=10)
                        .apply().fault(at=3, kind="pause", node="validator-1", duration=2))
            .build(registries))
    validate_plan(plan, registries, runner="faulty-test")
    with pytest.raises(PlanError) as caught:
        validate_plan(plan, registries, runner="basic-test")
    assert "workloads[0] (nemesis) needs pause, which the basic-test runner cannot do" in caught.value.message
    assert "--runner faulty-test" in (caught.value.remedy or "")
    assert caught.value.exit_code == 2


# docs/faults.md ----------------------------------------------------------------------------------------


def test_the_examples_of_docs_faults_md_are_valid(tmp_path: Path) -> None:
    """Its scenario snippets validate (a [[workloads]]-only snippet under a small topology), its Python example
    builds, its faults.json example reads back, and its error example is what validation says."""
    from nomos_testing.workloads.nemesis import read_faults
    from tests.docs.doc_commands import REPO, fenced_blocks

    blocks = fenced_blocks(REPO / "docs" / "faults.md")
    tomls = [b.body for b in blocks if b.lang == "toml"]
    assert len(tomls) == 2
    for body in tomls:
        text = body if body.startswith("name") else 'duration = 60\n[topology]\nvalidators = 3\nexecutors = 1\n' + body
        validate_plan(parse_scenario(text, tmp_path / "doc.toml"))
    (python,) = [b.body for b in blocks if b.lang == "python"]
    namespace: dict[str, Any] = {}
    exec(compile(python, "docs/faults.md", "exec"), namespace)
    assert namespace["plan"].workloads[0].kind == "nemesis"
    (sample,) = [b.body for b in blocks if b.lang == "json"]
    (tmp_path / "faults.json").write_text(sample)
    assert [f.kind.value for f in read_faults(tmp_path / "faults.json").faults] == ["restart", "partition"]
    error = next(b.body for b in blocks if b.lang == "text" and b.body.startswith("error:"))
    chaos = tmp_path / "chaos.toml"
    chaos.write_text(HEAD + "[[workloads.faults]]\nat = 5\nfault = \"pause\"\nnode = \"validator-1\"\nduration = 2\n"
                     + "\n" * (21 - 17) + "[[workloads.faults]]\nat = 9\nfault = \"stop\"\nnode = \"validator-9\"\n")
    with pytest.raises(PlanError) as caught:
        parse_scenario(chaos.read_text(), chaos)
    shown = f"error: {caught.value.message}\n  fix: {caught.value.remedy}\n".replace(str(chaos), "chaos.toml")
    assert shown == error
