"""Readiness of DA scenarios: the membership probe (every subnet has a member, on every node) and the balancer
probe (connected to at least one subnet), over real HTTP; a plan with DA waits on them, others do not. And the
client's DA calls over real HTTP: /disperse-data outlives the client's usual timeout, refusals carry their
codes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.readiness import DaBalancerConnected, DaMembership, da_probes, default_probes
from nomos_testing.scenario import core
from nomos_testing.scenario.builder import ScenarioBuilder, scenario
from nomos_testing.scenario.plan import ComponentSpec

pytestmark = pytest.mark.timeout(60)


class DaServer:
    def __init__(self) -> None:
        self.membership: Any = {"assignations": {}, "addressbook": {}}
        self.stats: Any = {}
        self.disperse: tuple[int, Any] = (200, {"blob_id": "ab" * 32, "tx_hash": "cd" * 32})
        self.disperse_delay_s = 0.0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    async def start(self) -> None:
        async def membership(request: web.Request) -> web.Response:
            assert await request.json() == 0  # session 0
            return web.json_response(self.membership)

        async def stats(_: web.Request) -> web.Response:
            return web.json_response(self.stats)

        async def disperse(request: web.Request) -> web.Response:
            body = await request.json()
            assert set(body) == {"channel_id", "parent_msg_id", "signer", "data"} and body["data"] == "0102"
            await asyncio.sleep(self.disperse_delay_s)
            return web.json_response(self.disperse[1], status=self.disperse[0])

        async def share(request: web.Request) -> web.Response:
            body = await request.json()
            return web.json_response(None if body["share_idx"] else {"blob_id": body["blob_id"], "share_idx": 0})

        app = web.Application()
        app.add_routes([web.post("/test/da/membership", membership), web.get("/da/balancer-stats", stats),
                        web.post("/disperse-data", disperse), web.post("/da/get-share", share)])
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.SockSite(self.runner, self.sock).start()


@pytest.fixture
async def server() -> AsyncIterator[DaServer]:
    node = DaServer()
    await node.start()
    yield node
    assert node.runner is not None
    await node.runner.cleanup()
    node.sock.close()


async def test_membership_and_balancer_probes(server: DaServer) -> None:
    client = NodeClient("validator-0", server.url, server.url, timeout_s=2)
    try:
        probe = DaMembership()
        sample = await probe.collect(client)
        assert sample == {} and not probe.is_ready(sample)
        assert probe.diagnostic(sample) == "da_membership=empty, expected ≥ 1 member in every subnet"
        server.membership = {"assignations": {"0": ["p1", "p2"], "1": []}, "addressbook": {}}
        sample = await probe.collect(client)
        assert sample == {"0": 2, "1": 0} and not probe.is_ready(sample)
        server.membership["assignations"]["1"] = ["p3"]
        assert probe.is_ready(await probe.collect(client))
        server.membership = {"nothing": 1}
        with pytest.raises(ValueError, match="assignations"):
            await probe.collect(client)

        balancer = DaBalancerConnected(1)
        server.stats = {"0": {"inbound": 0, "outbound": 0}, "1": {"inbound": 0, "outbound": 0}}
        sample = await balancer.collect(client)
        assert sample == 0 and not balancer.is_ready(sample)
        assert balancer.diagnostic(sample) == "da_balancer=connected to 0 subnet(s), expected ≥ 1"
        server.stats["1"]["outbound"] = 2
        assert balancer.is_ready(await balancer.collect(client))
    finally:
        await client.close()
    with pytest.raises(NodeApiError, match="no testing API"):
        await NodeClient("v", server.url).da_membership()


async def test_a_plan_with_da_waits_on_the_da_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    async def fake_wait_ready(cluster: Any, topology: Any, timeouts: Any, events: Any, probes: Any,
                              started_at: float) -> dict[str, float]:
        seen.append(probes)
        return {}

    monkeypatch.setattr(core, "wait_ready", fake_wait_ready)
    da = ScenarioBuilder.topology_with(lambda t: t.validators(2).executors(1)) \
        .da_with(lambda d: d.blob_rate(2)).build()
    plain = scenario(validators=2, executors=1)
    judged_only = scenario(validators=2, executors=1, expectations=(ComponentSpec("da_inclusion"),))
    for plan in (da, plain, judged_only):
        await core.wait_cluster_ready(None, None, plan, None, 0.0)  # type: ignore[arg-type]
    assert seen == [da_probes, default_probes, da_probes]


def test_da_probes_add_membership_and_the_balancer(topology_factory: Any) -> None:
    names = [type(p).__name__ for p in da_probes(topology_factory(3), "validator-1")]
    assert names == ["HttpUp", "PeersAtLeast", "HeightAdvancing", "DaMembership", "DaBalancerConnected"]
    assert [type(p).__name__ for p in da_probes(topology_factory(1), "validator-0")][-1] == "DaMembership"


async def test_dispersal_outlives_the_usual_timeout_and_refusals_carry_their_codes(server: DaServer) -> None:
    client = NodeClient("executor-0", server.url, server.url, timeout_s=0.2)
    try:
        server.disperse_delay_s = 0.5  # acknowledgements take a while: not a timeout
        answer = await client.disperse_data("11" * 32, "00" * 32, "22" * 32, b"\x01\x02")
        assert answer["blob_id"] == "ab" * 32
        server.disperse_delay_s = 0.0
        server.disperse = (503, {"error": "dispersal_failed", "detail": "subnet 1: no member acknowledged"})
        with pytest.raises(NodeApiError) as failed:
            await client.disperse_data("11" * 32, "00" * 32, "22" * 32, b"\x01\x02")
        assert failed.value.status == 503 and failed.value.code == "dispersal_failed"
        assert "subnet 1" in failed.value.detail
        server.disperse = (403, {"error": "not_an_executor", "detail": "validators do not disperse"})
        with pytest.raises(NodeApiError) as refused:
            await client.disperse_data("11" * 32, "00" * 32, "22" * 32, b"\x01\x02")
        assert (refused.value.status, refused.value.code) == (403, "not_an_executor")
        server.disperse = (200, {"tx_hash": "cd" * 32})
        with pytest.raises(NodeApiError, match="no blob_id"):
            await client.disperse_data("11" * 32, "00" * 32, "22" * 32, b"\x01\x02")
        assert await client.da_share("ab" * 32, 1) is None
        assert (await client.da_share("ab" * 32, 0)) == {"blob_id": "ab" * 32, "share_idx": 0}
    finally:
        await client.close()
