from __future__ import annotations

from datetime import timedelta

import pytest

from nomos_testing.errors import PlanError
from nomos_testing.scenario.builder import ScenarioBuilder, scenario
from nomos_testing.topology.model import Layout


def test_fluent_builder_reads_like_the_original() -> None:
    plan = (ScenarioBuilder.topology_with(lambda t: t.network_star().validators(3).executors(1))
            .wallets(50)
            .expect_consensus_liveness()
            .with_run_duration(timedelta(seconds=60))
            .with_seed(9)
            .build())
    assert (plan.topology.validators, plan.topology.executors, plan.topology.layout) == (3, 1, Layout.STAR)
    assert plan.wallets == 50 and plan.duration_s == 60.0 and plan.seed == 9
    assert [spec.kind for spec in plan.expectations] == ["consensus_liveness"]
    assert dict(plan.expectations[0].params) == {"min_fraction": 0.5, "lag_allowance": 2}


def test_builder_layouts_and_entry_points() -> None:
    chain = ScenarioBuilder.with_node_counts(2, 2).topology_with(lambda t: t.network_chain()) \
        .with_run_duration(10).with_slot_duration(timedelta(seconds=1)).build()
    assert chain.topology.layout is Layout.CHAIN and chain.topology.node_count == 4
    full = ScenarioBuilder().topology_with(lambda t: t.validators(2).network_full()).with_run_duration(10).build()
    assert full.topology.layout is Layout.FULL


def test_build_raises_plan_error_instead_of_panicking() -> None:
    with pytest.raises(PlanError, match="no node"):
        ScenarioBuilder.topology_with(lambda t: t.validators(0)).with_run_duration(30).build()
    with pytest.raises(PlanError, match="with_run_duration"):
        ScenarioBuilder.topology_with(lambda t: t.validators(1)).with_run_duration("60s")  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="lag_allowance"):
        ScenarioBuilder.topology_with(lambda t: t.validators(1)).expect_consensus_liveness(lag_allowance=6).build()


def test_keyword_construction() -> None:
    plan = scenario(validators=2, executors=0, layout="full", duration=timedelta(seconds=20), seed=3,
                    slot_duration=1.0)
    assert plan.topology.layout is Layout.FULL and plan.duration_s == 20
    assert [spec.kind for spec in plan.expectations] == ["consensus_liveness"]
    with pytest.raises(PlanError, match="layout"):
        scenario(layout="mesh")
