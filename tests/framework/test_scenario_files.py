from __future__ import annotations

from pathlib import Path

import pytest

from nomos_testing.errors import PlanError
from nomos_testing.scenario.files import load_scenario, parse_scenario, read_scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.validate import validate_plan

REPO = Path(__file__).resolve().parents[2]


def test_smoke_scenario_is_the_documented_default() -> None:
    plan = load_scenario(REPO / "scenarios" / "smoke.toml")
    assert (plan.topology.validators, plan.topology.executors, plan.topology.layout.value) == (3, 1, "star")
    assert [spec.kind for spec in plan.expectations] == ["consensus_liveness"]
    assert 20 <= plan.duration_s <= 60  # `make run` must finish in about a minute


def test_full_schema_round_trip() -> None:
    plan = parse_scenario("""
name = "custom"
seed = 12
duration = 20
[topology]
validators = 2
executors = 1
layout = "chain"
[consensus]
slot_duration = 0.5
active_slot_coeff = 0.8
security_param = 4
[wallets]
count = 3
value = 7
[readiness]
timeout = 30
[[expectations]]
kind = "consensus_liveness"
min_fraction = 0.6
""", "custom.toml")
    data = plan.to_json()
    assert data["name"] == "custom" and data["seed"] == 12 and data["duration"] == 20
    assert data["consensus"] == {"slot_duration": 0.5, "active_slot_coeff": 0.8, "security_param": 4}
    assert data["wallets"] == {"count": 3, "value": 7} and data["readiness"] == {"timeout": 30}
    assert data["expectations"] == [{"kind": "consensus_liveness", "min_fraction": 0.6}]


@pytest.mark.parametrize(("text", "where", "expected"), [
    ("name = \"x\"\n\n[topology\nvalidators = 1\n", "line 3", "fix the syntax"),
    ("[topology]\nvalidators = \"three\"\n", "bad.toml:2: topology.validators", "integer"),
    ("duration = 10\n[topology]\nvalidators = 1\nnodes = 4\n", "bad.toml:4: topology.nodes: unknown key", "validators"),
    ("[topology]\nvalidators = 1\nlayout = \"ring\"\n", "bad.toml:3", "star, chain, full"),
    ("duration = 1\n[topology]\nvalidators = 1\n[consensus]\nslot_duration = 1\n", "bad.toml:1: duration",
     "at least"),
    ("[topology]\nvalidators = 0\nexecutors = 0\n", "bad.toml:2: topology has no node", "at least 1"),
    ("topology = 3\n", "bad.toml:1: topology", "[topology] table"),
    ("[topology]\nvalidators = 1\n[[expectations]]\nkind = \"consensus_lifeness\"\n", "expectations[0]",
     "consensus_liveness"),
    ("[topology]\nvalidators = 1\n[[expectations]]\nmin_fraction = 1\n", "bad.toml:3: expectations[0].kind",
     "kind ="),
    ("[topology]\nvalidators = 1\n[[expectations]]\nkind = \"consensus_liveness\"\n[[expectations]]\n"
     "kind = \"consensus_liveness\"\nmin_fraction = 7\n",
     "bad.toml:7: expectations[1] (consensus_liveness).min_fraction",
     "set expectations[1] (consensus_liveness).min_fraction in bad.toml to a number in [0, 1]"),
])
def test_malformed_files_name_file_line_or_field_and_expectation(text: str, where: str, expected: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_scenario(text, "bad.toml")
    assert "bad.toml" in str(caught.value)
    assert where in str(caught.value)
    assert expected in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")


def test_a_duration_too_short_for_the_default_slot_is_found_after_resolution() -> None:
    plan = read_scenario("duration = 1\n[topology]\nvalidators = 1\n", "bad.toml")
    with pytest.raises(PlanError) as caught:
        validate_plan(resolve_plan(plan, env={}))
    assert "bad.toml:1: duration must be at least 4" in caught.value.message
    assert "2 slots of 2 s (the built-in default)" in caught.value.message


def test_every_value_records_its_file_and_line() -> None:
    plan = read_scenario("name = \"x\"\n[topology]\nvalidators = 2\n[consensus]\nslot_duration = 0.5\n", "a.toml")
    assert plan.source_of("consensus.slot_duration").location() == "a.toml:5"
    assert plan.source_of("topology.validators").location() == "a.toml:3"
