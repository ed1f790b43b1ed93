"""A pytest plugin over the run core, installed with the package (entry point `pytest11`): a test gets a ready
cluster and a run directory, and the cluster is torn down however the test ends.

    async def test_my_node_survives_a_restart(nomos_cluster):
        async with nomos_cluster(scenario(validators=3, executors=0, duration=10)) as deployment:
            await deployment.cluster.control.restart("validator-1")
            ...

`nomos_cluster(plan, runner="host")` resolves and validates the plan (for that runner), checks the runner's
prerequisites, and yields the run core's `Deployment` (cluster, topology, ready times, event log). The run
directory is under pytest's `tmp_path`, so logs and events stay for the failure report.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from nomos_testing.observe.events import EventLog
from nomos_testing.plugins import default_registries
from nomos_testing.preflight import preflight_checks, require
from nomos_testing.scenario.core import Deployment, deployed, forget_if_gone, new_run_id, prepare_run_dir
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.validate import validate_plan

ClusterFactory = Callable[..., contextlib.AbstractAsyncContextManager[Deployment]]


def _cluster_factory(base: Path) -> ClusterFactory:
    @contextlib.asynccontextmanager
    async def nomos_cluster(plan: ScenarioPlan, runner: str = "host", **deployer_options: Any
                            ) -> AsyncIterator[Deployment]:
        registries = default_registries()
        plan = resolve_plan(plan)
        validate_plan(plan, registries, runner=runner)
        deployer = registries.runners.get(runner, "runner")(**deployer_options)
        require(preflight_checks(deployer, registries.nodes.get(plan.node, "node")()))
        run_id = new_run_id(plan)
        run_dir = base / run_id
        prepare_run_dir(run_dir, plan, run_id, deployer.name, "pytest")
        events = EventLog(run_dir / "events.jsonl")
        try:
            async with deployed(plan, deployer, run_dir, run_id, events=events, registries=registries) as deployment:
                yield deployment
        finally:
            events.close()
            forget_if_gone(deployer, run_id)

    return nomos_cluster


@pytest.fixture
def nomos_cluster(tmp_path: Path) -> ClusterFactory:
    """`async with nomos_cluster(plan, runner="host") as deployment:` a ready cluster, torn down afterwards."""
    return _cluster_factory(tmp_path / "nomos-runs")
