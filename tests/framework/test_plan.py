"""The plan is a value; resolution (environment defaults) and validation (schemas) are separate steps, and
every error names where the bad value was set, the field, and the fix."""

from __future__ import annotations

import json

import pytest

from nomos_testing.errors import PlanError
from nomos_testing.params import Source
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.validate import validate_plan
from nomos_testing.topology.model import Layout


def plan(**changes: object) -> ScenarioPlan:
    fields: dict[str, object] = {"topology": TopologySpec(3, 1), "duration_s": 60.0, "seed": 1,
                                 "slot_duration": 2.0, "active_slot_coeff": 0.9}
    fields.update(changes)
    return ScenarioPlan(**fields)  # type: ignore[arg-type]


def test_expected_blocks_and_block_interval_use_slot_over_f() -> None:
    p = plan()
    assert p.expected_blocks == pytest.approx(60 / 2 * 0.9)
    # The original tool had slot × f = 1.8 s: a bug. The mean gap between blocks is slot / f.
    assert p.block_interval == pytest.approx(2 / 0.9)
    assert p.settle_s == pytest.approx(max(2 / 0.9, 2.0))


def test_cooldown_only_with_workloads_and_uses_block_interval() -> None:
    assert plan().cooldown_s == 0.0


@pytest.mark.parametrize(("changes", "field", "fix"), [
    ({"topology": TopologySpec(0, 0)}, "no node", "at least 1"),
    ({"topology": TopologySpec(-1, 2)}, "topology.validators", "an integer in [0, 128]"),
    ({"topology": TopologySpec(2, -3)}, "topology.executors", "an integer in [0, 128]"),
    ({"topology": TopologySpec(100, 100)}, "nodes, more than", "at most"),
    ({"topology": TopologySpec(1, 0, "ring")}, "topology.layout", '"star", "chain", "full"'),  # type: ignore[arg-type]
    ({"duration_s": 3.0}, "shorter than 2 slots", "at least 4"),
    ({"slot_duration": 0.0}, "slot_duration", "[0.001, 3600]"),
    ({"slot_duration": 0.0005}, "slot_duration", "e.g. 1"),
    ({"active_slot_coeff": 1.0}, "active_slot_coeff", "in (0, 1)"),
    ({"security_param": 0}, "security_param", "e.g. 10"),
    ({"wallets": -1}, "wallets", "in [0, 10000]"),
    ({"seed": -5}, "seed", "e.g. 42"),
    ({"seed": 2**64}, "seed", "18446744073709551615"),
    ({"name": "a b"}, "name", "letters"),
    ({"readiness_timeout_s": 0}, "readiness.timeout", "e.g. 60"),
    ({"readiness_timeout_s": 1e300}, "readiness.timeout", "86400"),
    ({"expectations": (ComponentSpec("no_such"),)}, "expectations[0]", "consensus_liveness"),
    ({"expectations": (ComponentSpec("consensus_liveness", {"min_fraction": 2}),)}, "min_fraction", "0.5"),
    ({"expectations": (ComponentSpec("consensus_liveness", {"lag_allowance": 9}),)}, "lag_allowance", "e.g. 2"),
    ({"expectations": (ComponentSpec("consensus_liveness", {"lag": 1}),)}, "unknown parameter", "lag_allowance"),
    ({"workloads": (ComponentSpec("nope"),)}, "workloads[0]", "use one of"),
    ({"node": "logos"}, "node adapter", "reference"),
])
def test_invalid_plans_name_the_field_and_the_fix(changes: dict[str, object], field: str, fix: str) -> None:
    with pytest.raises(PlanError) as caught:
        validate_plan(plan(**changes))
    assert field in caught.value.message
    assert caught.value.remedy and fix in caught.value.remedy


def test_building_a_plan_reads_no_environment_and_validates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENSUS_SLOT_TIME", "fast")  # junk: only resolution reads it
    value = ScenarioPlan(topology=TopologySpec(0, 0), duration_s=-1)
    assert value.slot_duration is None and not value.is_resolved


def test_plan_is_immutable_and_overrides_record_their_source() -> None:
    p = plan()
    with pytest.raises(AttributeError):
        p.duration_s = 5  # type: ignore[misc]
    q = p.with_overrides(Source("flag", "--validators"), validators=5, duration_s=None, layout="chain")
    assert (q.topology.validators, q.topology.executors, q.topology.layout) == (5, 1, Layout.CHAIN)
    assert q.duration_s == p.duration_s and q.seed == p.seed
    assert q.source_of("topology.validators").location() == "flag --validators"
    with pytest.raises(PlanError, match="flag --duration: duration must be"):
        validate_plan(p.with_overrides({"duration_s": Source("flag", "--duration")}, duration_s=1))


def test_seed_is_drawn_by_resolution_and_recorded() -> None:
    p = resolve_plan(ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10, slot_duration=1.0), env={})
    assert isinstance(p.seed, int)
    data = json.loads(json.dumps(p.to_json()))
    assert data["seed"] == p.seed and data["sources"]["seed"] == "the built-in default"


def test_consensus_defaults_come_from_the_environment_only_when_the_plan_leaves_them_open() -> None:
    open_plan = ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10)
    resolved = resolve_plan(open_plan, env={"CONSENSUS_SLOT_TIME": "0.5"})
    assert resolved.slot_duration == 0.5 and resolved.active_slot_coeff == 0.9
    assert resolved.source_of("consensus.slot_duration").location() == "environment variable CONSENSUS_SLOT_TIME='0.5'"
    assert resolve_plan(ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10, slot_duration=1.5),
                        env={"CONSENSUS_SLOT_TIME": "0.5"}).slot_duration == 1.5
    with pytest.raises(PlanError, match="CONSENSUS_SLOT_TIME"):
        resolve_plan(open_plan, env={"CONSENSUS_SLOT_TIME": "fast"})
    assert resolve_plan(resolved, env={}) == resolved


# (variable, value, the plan field it provides): in range as a number, out of range for the field
OUT_OF_RANGE_ENVIRONMENT = [
    ("CONSENSUS_SLOT_TIME", "0", "consensus.slot_duration"),
    ("CONSENSUS_SLOT_TIME", "-1", "consensus.slot_duration"),
    ("CONSENSUS_ACTIVE_SLOT_COEFF", "1.5", "consensus.active_slot_coeff"),
    ("NOMOS_TESTS_READINESS_TIMEOUT", "0", "readiness.timeout"),
    ("NOMOS_TESTS_READINESS_TIMEOUT", "-5", "readiness.timeout"),
    ("NOMOS_TESTS_READINESS_TIMEOUT", "1e300", "readiness.timeout"),
]


@pytest.mark.parametrize(("variable", "value", "field"), OUT_OF_RANGE_ENVIRONMENT)
def test_out_of_range_environment_values_are_blamed_on_the_variable(variable: str, value: str, field: str) -> None:
    """Issue: `CONSENSUS_SLOT_TIME=0` was reported as `scenario.toml: slot_duration must be …` — the file was
    innocent. The error names the variable and how to fix it."""
    open_plan = ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10)
    with pytest.raises(PlanError) as caught:
        validate_plan(resolve_plan(open_plan, env={variable: value}))
    assert caught.value.message.startswith(f"environment variable {variable}={value!r}: {field}")
    assert caught.value.remedy and caught.value.remedy.startswith(f"set {variable}")


def test_to_json_holds_everything_needed_to_rerun() -> None:
    p = plan(expectations=(ComponentSpec("consensus_liveness", {"min_fraction": 0.7}),))
    data = p.to_json()
    assert data["topology"] == {"validators": 3, "executors": 1, "layout": "star"}
    assert data["consensus"] == {"slot_duration": 2.0, "active_slot_coeff": 0.9, "security_param": 10}
    assert data["expectations"] == [{"kind": "consensus_liveness", "min_fraction": 0.7}]
    assert data["derived"]["expected_blocks"] == 27.0
    assert data["node"] == "reference"


def test_validation_fills_component_defaults_from_the_schema() -> None:
    checked = validate_plan(plan(expectations=(ComponentSpec("consensus_liveness", {"min_fraction": 0.7}),)))
    assert dict(checked.expectations[0].params) == {"min_fraction": 0.7, "lag_allowance": 2}
    assert checked.expectations[0].build().min_fraction == 0.7
