"""Compose runner: pause / resume of a node's container, and nodes that join the running stack (a standby
validator in the genesis, and a new executor outside it) and sync to the network height.

One compose CLI is enough here (NOMOS_COMPOSE_CLI=auto): the compose-CLI specifics are covered by
test_compose_run.py on both."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from nomos_testing.errors import NodeControlError
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.events import EventLog
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.base import NodeEndpoint
from nomos_testing.runners.compose.cluster import ComposeCluster
from nomos_testing.runners.compose.compose_cli import COMPOSE_CLI_VARIABLE
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.shared.docker import RUN_LABEL
from nomos_testing.runners.shared.intent import NodeState
from nomos_testing.runners.shared.state import read_state
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import GeneratedTopology, Role
from tests.compose.compose_helpers import leftovers

READY = ReadinessTimeouts(total_s=60.0)
SYNC_WITHIN = 2        # blocks a joined node may trail the network
SYNC_TIMEOUT_S = 60.0


@pytest.fixture(autouse=True)
def _one_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMPOSE_CLI_VARIABLE, "auto")


def _topology(validators: int, standby: int = 0) -> GeneratedTopology:
    plan = scenario(name="compose-join", validators=validators, executors=0, seed=11, slot_duration=1.0,
                    active_slot_coeff=0.9, standby=standby)
    return generate_topology(resolve_plan(plan))


async def _deploy(topology: GeneratedTopology, run_id: str, run_dir: Path) -> ComposeCluster:
    cluster = await ComposeDeployer().deploy(topology, run_id, run_dir)
    await wait_ready(cluster, topology, READY)
    return cluster


async def _height(endpoint: NodeEndpoint, timeout_s: float = 3.0) -> int:
    client = NodeClient(endpoint.name, endpoint.api_url, timeout_s=timeout_s)
    try:
        return int((await client.consensus_info())["height"])
    finally:
        await client.close()


async def synced(joined: NodeEndpoint, reference: NodeEndpoint, within: int = SYNC_WITHIN,
                 timeout_s: float = SYNC_TIMEOUT_S) -> tuple[float, int, int]:
    """Poll until the joined node's height is within `within` blocks of the reference node's (which must be
    past the genesis); returns (seconds, joined height, reference height)."""
    began = time.monotonic()
    seen = (-1, -1)
    while time.monotonic() - began < timeout_s:
        try:
            ours, theirs = await _height(joined), await _height(reference)
            seen = (ours, theirs)
            if theirs > 0 and ours >= theirs - within:
                return round(time.monotonic() - began, 2), ours, theirs
        except NodeApiError:
            pass
        await asyncio.sleep(0.5)
    raise AssertionError(f"{joined.name} did not sync within {timeout_s} s: height {seen[0]}, "
                         f"{reference.name} at {seen[1]}")


async def _answers(endpoint: NodeEndpoint, timeout_s: float = 30.0) -> int:
    """The node's height once its API answers (a restarted container's port accepts before the node listens)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await _height(endpoint)
        except NodeApiError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def grown_to(endpoint: NodeEndpoint, height: int, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while await _height(endpoint) < height:
        assert time.monotonic() < deadline, f"{endpoint.name} did not reach height {height} in {timeout_s} s"
        await asyncio.sleep(0.5)


def _status(run_id: str, service: str) -> str:
    done = subprocess.run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.service={service}",
                           "--filter", f"label={RUN_LABEL}={run_id}", "--format", "{{.State}}"],
                          capture_output=True, text=True, check=True, timeout=30)
    return done.stdout.strip()


async def test_pause_freezes_the_api_and_resume_restores_it(images: dict[str, str], tmp_path: Path,
                                                            unique_run_id: str) -> None:
    topology = _topology(validators=2)
    cluster = await _deploy(topology, unique_run_id, tmp_path)
    events = EventLog(tmp_path / "events.jsonl")
    try:
        control = cluster.control
        assert control is not None and {"pause", "join"} <= control.offered()
        assert {"pause", "join"} <= ComposeDeployer.capabilities
        control.bind_events(events)
        victim = cluster.endpoint("validator-1")
        await _height(victim)
        began = time.monotonic()
        await control.pause("validator-1")
        pause_s = time.monotonic() - began
        assert _status(unique_run_id, "validator-1") == "paused"
        with pytest.raises(NodeApiError):  # the frozen process accepts nothing: the request times out
            await _height(victim, timeout_s=1.5)
        assert await cluster.exited() == {} and await cluster.crashed() == {}  # paused is no exit, no crash
        assert control.state_of("validator-1") is NodeState.PAUSED
        assert cluster.intent.label("validator-1") == "paused"
        with pytest.raises(NodeControlError, match="already running"):
            await control.start("validator-1")
        began = time.monotonic()
        await control.resume("validator-1")
        resume_s = time.monotonic() - began
        assert await _answers(victim) >= 0
        assert _status(unique_run_id, "validator-1") == "running"
        # stopping a paused node resumes it first, then stops it cleanly
        await control.pause("validator-1")
        await control.stop("validator-1")
        assert _status(unique_run_id, "validator-1") == "exited" and await cluster.crashed() == {}
        events.close()
        kinds = [(e["kind"], e.get("via")) for e in map(json.loads, (tmp_path / "events.jsonl").read_text()
                                                        .splitlines())]
        assert kinds[:3] == [("node.pause", "docker pause"), ("node.resume", "docker unpause"),
                             ("node.pause", "docker pause")]
        print(f"compose pause {pause_s:.3f} s, resume {resume_s:.3f} s")
        assert pause_s < 5 and resume_s < 5
    finally:
        events.close()
        await cluster.teardown()
    assert leftovers(unique_run_id) == {}


async def test_nodes_join_the_running_stack_and_sync(images: dict[str, str], tmp_path: Path,
                                                     unique_run_id: str) -> None:
    topology = _topology(validators=2, standby=1)
    cluster = await _deploy(topology, unique_run_id, tmp_path)
    try:
        control = cluster.control
        assert control is not None
        assert [n.name for n in cluster.nodes] == ["validator-0", "validator-1"]
        assert cluster.intent.of("validator-2") is NodeState.STANDBY and await cluster.crashed() == {}
        hub = cluster.endpoint("validator-0")
        await grown_to(hub, 6)  # a chain to catch up with
        joined: list[str] = []
        control.on_join(lambda endpoint: joined.append(endpoint.name))

        # in the genesis: the standby validator, dialing the star's hub
        began = time.monotonic()
        standby = await control.join(Role.VALIDATOR, in_genesis=True)
        join_s = time.monotonic() - began
        assert (standby.name, standby.index) == ("validator-2", 2)
        assert control.state_of("validator-2") is NodeState.RUNNING
        with pytest.raises(NodeControlError, match="standby") as none_left:
            await control.join(Role.VALIDATOR, in_genesis=True)
        assert "standby = 2" in (none_left.value.remedy or "")

        # outside the genesis: a new executor with no stake, dialing validator-1
        executor = await control.join(Role.EXECUTOR, peers=["validator-1"])
        assert executor.name == "executor-0" and joined == ["validator-2", "executor-0"]

        took_standby, *_ = await synced(standby, hub)
        took_executor, ours, theirs = await synced(executor, hub)
        print(f"compose join: API answered {join_s:.2f} s after join(); then validator-2 synced in "
              f"{took_standby} s, executor-0 in {took_executor} s (height {ours} vs {theirs})")
        assert ours >= 6

        compose = yaml.safe_load((tmp_path / "compose.yaml").read_text())
        pinned = yaml.safe_load((tmp_path / "compose.pinned.yaml").read_text())
        assert {"validator-2", "executor-0"} <= set(compose["services"]) and "data-executor-0" in compose["volumes"]
        api_port = topology.adapter.container_ports.api
        assert any(executor.api_url.endswith(f":{p.split(':')[-2]}") for p in pinned["services"]["executor-0"]["ports"]
                   if p.endswith(f":{api_port}"))
        assert yaml.safe_load((tmp_path / "configs" / "executor-0.yaml").read_text())["network"]["initial_peers"] \
            == ["validator-1:3000"]
        state = read_state(tmp_path)
        assert state is not None and {"validator-2", "executor-0"} <= {r.name for r in state.nodes}

        # a joined node is controlled like the others: its URL survives a restart (pinned host ports)
        await control.restart("executor-0")
        assert await _answers(executor) >= 0 and await cluster.crashed() == {}

        # Prometheus re-read its config: the joined nodes are scraped too
        assert cluster.prometheus_url is not None
        jobs: set[str] = set()
        for _ in range(40):
            async with aiohttp.ClientSession() as session, session.get(
                    f"{cluster.prometheus_url}/api/v1/query", params={"query": "up"}) as response:
                jobs = {s["metric"]["job"] for s in (await response.json())["data"]["result"]}
            if {"validator-2", "executor-0"} <= jobs:
                break
            await asyncio.sleep(0.5)
        assert {"validator-2", "executor-0"} <= jobs, jobs

        await cluster.collect_logs(tmp_path / "logs")
        assert "node started" in (tmp_path / "logs" / "nomos-node-2.log").read_text()
        assert (tmp_path / "logs" / "nomos-executor-0.log").read_text().count("node started") == 2
    finally:
        await cluster.teardown()
    assert leftovers(unique_run_id) == {}
