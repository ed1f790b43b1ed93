"""Readiness probes and wait_ready against real HTTP servers started in the test (aiohttp on port 0)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from nomos_testing.errors import DeploymentError, PlanError, ReadinessError
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.events import EventLog
from nomos_testing.readiness import HeightAdvancing, HttpUp, PeersAtLeast, ReadinessTimeouts, wait_ready
from nomos_testing.runners.base import Cluster, NodeEndpoint
from nomos_testing.topology.model import Layout, Role

pytestmark = pytest.mark.timeout(60)


@dataclass
class NodeState:
    height: int = 0
    n_peers: int = 0
    status: int = 200


@dataclass
class FakeHttpNode:
    """A real HTTP server answering like a node, with its answers under the test's control."""

    name: str
    state: NodeState = field(default_factory=NodeState)
    sock: socket.socket = field(default_factory=lambda: socket.create_server(("127.0.0.1", 0)))
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    async def start(self) -> None:
        async def info(_: web.Request) -> web.Response:
            if self.state.status != 200:
                return web.json_response({"error": "busy"}, status=self.state.status)
            return web.json_response({"height": self.state.height, "slot": 0, "tip": "aa", "lib": "00",
                                      "mode": "Online"})

        async def network(_: web.Request) -> web.Response:
            return web.json_response({"n_peers": self.state.n_peers, "n_connections": self.state.n_peers})

        app = web.Application()
        app.add_routes([web.get("/cryptarchia/info", info), web.get("/network/info", network)])
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        self.sock.close()


class ServerCluster(Cluster):
    """A cluster of in-process HTTP servers (readiness needs endpoints and `crashed()`, nothing else)."""

    def __init__(self, nodes: list[FakeHttpNode]) -> None:
        super().__init__(run_id="t", runner="test", run_dir=Path("."), nodes=[
            NodeEndpoint(n.name, Role.VALIDATOR, i, n.url, n.url) for i, n in enumerate(nodes)])
        self.gone: dict[str, str] = {}

    async def exited(self) -> dict[str, str]:
        return dict(self.gone)

    async def collect_logs(self, logs_dir: Path) -> None:
        return None

    async def _stop_everything(self) -> None:
        return None

    def node_runner_state(self, name: str) -> dict[str, object]:
        return {}


@pytest.fixture
async def servers() -> AsyncIterator[list[FakeHttpNode]]:
    nodes = [FakeHttpNode(f"validator-{i}") for i in range(3)]
    yield nodes
    for node in nodes:
        await node.stop()


async def test_probes_collect_judge_and_explain(servers, topology_factory) -> None:
    node = servers[0]
    await node.start()
    client = NodeClient(node.name, node.url, timeout_s=2)
    try:
        assert HttpUp().is_ready(await HttpUp().collect(client))
        peers = PeersAtLeast(2)
        sample = await peers.collect(client)
        assert sample == 0 and not peers.is_ready(sample)
        assert peers.diagnostic(sample) == "peers=0, expected ≥ 2"
        node.state.n_peers = 2
        assert peers.is_ready(await peers.collect(client))

        height = HeightAdvancing()
        assert not height.is_ready(await height.collect(client))
        assert height.diagnostic(0) == "height=0, expected ≥ 1 or advancing past 0"
        node.state.height = 1
        assert height.is_ready(await height.collect(client))

        node.state.status = 503
        with pytest.raises(NodeApiError, match="HTTP 503"):
            await HttpUp().collect(client)
    finally:
        await client.close()
    with pytest.raises(ValueError, match="≥ 0"):
        PeersAtLeast(-1)


async def test_wait_ready_records_each_node_and_its_time(servers, topology_factory, tmp_path: Path) -> None:
    topology = topology_factory(3)  # star: validator-0 has 2 neighbours, the others 1
    for node, peers in zip(servers, (2, 1, 1), strict=True):
        node.state.n_peers = peers
        await node.start()
    servers[2].state.height = 0  # ready only once the chain advances

    async def grow_later() -> None:
        await asyncio.sleep(0.6)
        servers[2].state.height = 1

    events = EventLog(tmp_path / "events.jsonl")
    for node in servers[:2]:
        node.state.height = 3
    grower = asyncio.create_task(grow_later())
    ready = await wait_ready(ServerCluster(servers), topology, ReadinessTimeouts(total_s=10, poll_s=0.05), events)
    await grower
    events.close()
    assert set(ready) == {"validator-0", "validator-1", "validator-2"}
    assert ready["validator-2"] >= 0.5 > ready["validator-0"]
    recorded = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert sorted(e["node"] for e in recorded if e["kind"] == "readiness.node_ready") == sorted(ready)


async def test_timeout_names_every_node_with_seen_expected_and_last_error(servers, topology_factory) -> None:
    topology = topology_factory(3)
    servers[0].state.n_peers, servers[0].state.height = 2, 5
    await servers[0].start()
    # validator-1 never listens (bound, never listening: connection refused, and no other process can take it);
    # validator-2 refuses at first (bound, not listening), then answers with no peers
    for node in servers[1:]:
        node.sock.close()
        node.sock = socket.socket()
        node.sock.bind(("127.0.0.1", 0))
    refusing = servers[2].sock
    cluster = ServerCluster(servers)

    async def come_up_later() -> None:
        await asyncio.sleep(0.5)
        refusing.listen()
        await servers[2].start()

    later = asyncio.create_task(come_up_later())
    began = time.monotonic()
    with pytest.raises(ReadinessError) as caught:
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=2, poll_s=0.1))
    await later
    assert 1.9 <= time.monotonic() - began < 6
    message = str(caught.value)
    assert "validator-2: peers=0, expected ≥ 1; last error: connection refused" in message
    assert ("validator-1: http=no answer, expected GET /cryptarchia/info → 200; last error: connection refused"
            in message)
    assert "validator-0" not in message
    assert caught.value.remedy and "SLOW_TEST_ENV" in caught.value.remedy


async def test_a_crashed_node_fails_fast(servers, topology_factory) -> None:
    await servers[0].start()
    cluster = ServerCluster(servers[:1])
    cluster.gone["validator-0"] = "exited with code 2; last lines: config error: genesis.slot_duration"
    began = time.monotonic()
    with pytest.raises(DeploymentError, match="validator-0: exited with code 2") as caught:
        await wait_ready(cluster, topology_factory(1), ReadinessTimeouts(total_s=30))
    assert not isinstance(caught.value, ReadinessError)
    assert time.monotonic() - began < 2


async def test_single_node_needs_no_peers(servers, topology_factory) -> None:
    servers[0].state.height = 1
    await servers[0].start()
    ready = await wait_ready(ServerCluster(servers[:1]), topology_factory(1, layout=Layout.FULL),
                             ReadinessTimeouts(total_s=5))
    assert list(ready) == ["validator-0"]


def test_timeouts_are_validated_and_configurable(monkeypatch) -> None:
    with pytest.raises(ValueError, match="total_s must be > 0"):
        ReadinessTimeouts(total_s=0)
    monkeypatch.setenv("NOMOS_TESTS_READINESS_TIMEOUT", "12.5")
    assert ReadinessTimeouts.from_env().total_s == 12.5
    monkeypatch.setenv("NOMOS_TESTS_READINESS_TIMEOUT", "soon")
    with pytest.raises(PlanError, match="NOMOS_TESTS_READINESS_TIMEOUT"):
        ReadinessTimeouts.from_env()
    assert ReadinessTimeouts(total_s=3).scaled(2).total_s == 6
