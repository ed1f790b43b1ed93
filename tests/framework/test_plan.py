from __future__ import annotations

import json

import pytest

from nomos_testing.errors import PlanError
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan, TopologySpec
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
    ({"topology": TopologySpec(-1, 2)}, "topology.validators", "0 or more"),
    ({"topology": TopologySpec(2, -3)}, "topology.executors", "0 or more"),
    ({"topology": TopologySpec(1000, 0)}, "nodes, more than", "at most"),
    ({"topology": TopologySpec(1, 0, "ring")}, "topology.layout", "star, chain, full"),  # type: ignore[arg-type]
    ({"duration_s": 3.0}, "shorter than 2 slots", "at least 4 s"),
    ({"slot_duration": 0.0}, "slot_duration", "e.g. 1.0"),
    ({"slot_duration": 0.0005}, "slot_duration", "e.g. 1.0"),
    ({"active_slot_coeff": 1.0}, "active_slot_coeff", "0.9"),
    ({"security_param": 0}, "security_param", "k"),
    ({"wallets": -1}, "wallets", "positive"),
    ({"seed": -5}, "seed", "2^64"),
    ({"seed": 2**64}, "seed", "2^64"),
    ({"name": "a b"}, "name", "letters"),
    ({"readiness_timeout_s": 0}, "readiness_timeout", "60"),
    ({"expectations": (ComponentSpec("no_such"),)}, "expectations[0]", "consensus_liveness"),
    ({"expectations": (ComponentSpec("consensus_liveness", {"min_fraction": 2}),)}, "min_fraction", "0.5"),
    ({"expectations": (ComponentSpec("consensus_liveness", {"lag_allowance": 9}),)}, "lag_allowance", "2"),
    ({"workloads": (ComponentSpec("nope"),)}, "workloads[0]", "use one of"),
])
def test_invalid_plans_name_the_field_and_the_fix(changes: dict[str, object], field: str, fix: str) -> None:
    with pytest.raises(PlanError) as caught:
        plan(**changes)
    assert field in caught.value.message
    assert caught.value.remedy and fix in caught.value.remedy


def test_plan_is_immutable_and_overrides_revalidate() -> None:
    p = plan()
    with pytest.raises(AttributeError):
        p.duration_s = 5  # type: ignore[misc]
    q = p.with_overrides(validators=5, duration_s=None, layout="chain")
    assert (q.topology.validators, q.topology.executors, q.topology.layout) == (5, 1, Layout.CHAIN)
    assert q.duration_s == p.duration_s and q.seed == p.seed
    with pytest.raises(PlanError, match="shorter than 2 slots"):
        p.with_overrides(duration_s=1)


def test_seed_is_drawn_when_absent_and_recorded() -> None:
    p = ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10, slot_duration=1.0)
    assert isinstance(p.seed, int)
    assert json.loads(json.dumps(p.to_json()))["seed"] == p.seed


def test_slot_time_from_environment_when_the_plan_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSENSUS_SLOT_TIME", "0.5")
    assert ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10).slot_duration == 0.5
    assert ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10, slot_duration=1.5).slot_duration == 1.5
    monkeypatch.setenv("CONSENSUS_SLOT_TIME", "fast")
    with pytest.raises(PlanError, match="CONSENSUS_SLOT_TIME"):
        ScenarioPlan(topology=TopologySpec(1, 0), duration_s=10)


def test_to_json_holds_everything_needed_to_rerun() -> None:
    p = plan(expectations=(ComponentSpec("consensus_liveness", {"min_fraction": 0.7}),))
    data = p.to_json()
    assert data["topology"] == {"validators": 3, "executors": 1, "layout": "star"}
    assert data["consensus"] == {"slot_duration": 2.0, "active_slot_coeff": 0.9, "security_param": 10}
    assert data["expectations"] == [{"kind": "consensus_liveness", "min_fraction": 0.7}]
    assert data["derived"]["expected_blocks"] == 27.0
