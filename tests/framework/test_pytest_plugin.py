"""The pytest plugin (installed with the package) gives a test a ready cluster from the run core and tears it
down however the test ends."""

from __future__ import annotations

import pytest

from nomos_testing.scenario.builder import scenario

pytestmark = pytest.mark.timeout(120)


async def test_a_test_gets_a_ready_cluster_torn_down_afterwards(nomos_cluster, use_fake_node, processes_of) -> None:
    plan = scenario(validators=2, executors=0, duration=10, slot_duration=1.0, expectations=())
    async with nomos_cluster(plan) as deployment:
        assert set(deployment.ready_s) == {"validator-0", "validator-1"}
        await deployment.cluster.control.restart("validator-1")  # type: ignore[union-attr]
        run_dir = deployment.run_dir
        assert len(processes_of(run_dir)) == 2
    assert processes_of(run_dir) == []
    kinds = [line for line in (run_dir / "events.jsonl").read_text().splitlines() if '"node.restart"' in line]
    assert len(kinds) == 1


async def test_the_cluster_is_torn_down_when_the_test_body_fails(nomos_cluster, use_fake_node, processes_of) -> None:
    plan = scenario(validators=1, executors=0, duration=10, slot_duration=1.0, expectations=())
    with pytest.raises(AssertionError, match="a failing check"):
        async with nomos_cluster(plan) as deployment:
            run_dir = deployment.run_dir
            raise AssertionError("a failing check")
    assert processes_of(run_dir) == []
