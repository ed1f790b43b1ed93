"""Compose runner: partition, delay and loss act inside the containers' network namespaces (iptables there,
the delay proxy's sockets there), on real containers of the reference node; a node restarted while cut off
stays cut off in its new container. One compose CLI is enough (NOMOS_COMPOSE_CLI=auto): the CLI specifics are
covered by test_compose_run.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from nomos_testing.nodes.client import NodeClient
from nomos_testing.observe.events import EventLog
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.compose.compose_cli import COMPOSE_CLI_VARIABLE
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.compose.netfaults import ComposeNetworkFaults
from nomos_testing.runners.shared.netfaults import iptables
from nomos_testing.runners.shared.netfaults.engine import Endpoint
from nomos_testing.runners.shared.netfaults.namespace import Namespace
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from tests.compose.compose_helpers import leftovers
from tests.framework.support import until

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def _one_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMPOSE_CLI_VARIABLE, "auto")


def need_network_faults() -> None:
    missing = ComposeDeployer.unavailable_capabilities()
    if missing:
        pytest.skip(f"network faults unavailable: {next(iter(missing.values()))}")


async def reachable(src: Endpoint, dst: Endpoint, timeout_s: float = 0.5, payload: bytes = b"ping",
                    ) -> float | None:
    """Connect from src's namespace and address to a listener in dst's; the round trip in seconds, or None."""
    listener = await dst.ns.socket()
    listener.bind((dst.address, 0))
    listener.listen(4)
    listener.setblocking(False)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            writer.write(await reader.readexactly(len(payload)))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, sock=listener)
    client = await src.ns.socket()
    try:
        client.bind((src.address, 0))
        client.setblocking(False)
        began = time.monotonic()
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(client, listener.getsockname()), timeout_s)
        reader, writer = await asyncio.open_connection(sock=client)
        writer.write(payload)
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(len(payload)), timeout_s + 1)
        writer.close()
        return time.monotonic() - began
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        client.close()
        return None
    finally:
        server.close()


async def test_partition_delay_and_loss_inside_the_containers(images: dict[str, str], tmp_path: Path,
                                                              unique_run_id: str) -> None:
    need_network_faults()
    plan = scenario(name="compose-netfaults", validators=3, executors=0, seed=5, slot_duration=1.0,
                    active_slot_coeff=0.9)
    topology = generate_topology(resolve_plan(plan))
    cluster = await ComposeDeployer().deploy(topology, unique_run_id, tmp_path)
    events = EventLog(tmp_path / "events.jsonl")
    clients = {n.name: NodeClient(n.name, n.api_url, timeout_s=2.0) for n in cluster.nodes}
    timings: dict[str, float] = {}
    try:
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=90))
        control = cluster.control
        assert control is not None and {"partition", "delay", "loss"} <= control.offered()
        control.bind_events(events)
        net = control.network
        assert isinstance(net, ComposeNetworkFaults)
        names = ["validator-0", "validator-1", "validator-2"]

        async def peers(name: str) -> int:
            return int((await clients[name].network_info())["n_peers"])

        async def peers_are(expected: dict[str, int]) -> bool:
            return all([await peers(name) == count for name, count in expected.items()])

        async def where(name: str) -> Endpoint:
            endpoint = await net.resolve(name)
            assert endpoint is not None
            return endpoint

        await until(lambda: peers_are(dict.fromkeys(names, 2)), 30, "a full mesh")
        v0, v2 = await where("validator-0"), await where("validator-2")
        assert await reachable(v0, v2) is not None

        # partition: validator-2 alone, both ways, noticed at once
        began = time.monotonic()
        fault = await control.isolate("validator-2")
        timings["partition"] = time.monotonic() - began
        assert await reachable(v0, v2) is None and await reachable(v2, v0) is None
        await until(lambda: peers_are({"validator-0": 1, "validator-1": 1, "validator-2": 0}), 5, "cut off")
        saved = await iptables.save(v2.ns)
        assert f"-s {v2.address}/32 -d {v0.address}/32" in saved  # the rules live in the container
        assert net.chains.filter not in await iptables.save(Namespace.host())

        # a restart recreates validator-2's container (new process, new namespace): still cut off
        old_pid = net.placement("validator-2").pid  # type: ignore[union-attr]
        await control.restart("validator-2")
        await until(lambda: _answers(clients["validator-2"]), 60, "validator-2 answering after its restart")
        v2 = await where("validator-2")
        assert net.placement("validator-2").pid != old_pid  # type: ignore[union-attr]
        await asyncio.sleep(3)
        assert await peers("validator-2") == 0 and await reachable(v0, v2) is None

        began = time.monotonic()
        await control.heal(fault)
        timings["heal partition"] = time.monotonic() - began
        assert await reachable(v0, v2) is not None
        await until(lambda: peers_are(dict.fromkeys(names, 2)), 30, "the mesh again after heal")

        # delay: round trips through the proxies in both containers, and the nodes reconnect through them
        began = time.monotonic()
        delay = await control.delay("validator-0", "validator-1", 150)
        timings["delay"] = time.monotonic() - began
        v1 = await where("validator-1")
        there = await reachable(v0, v1, timeout_s=2)
        back = await reachable(v1, v0, timeout_s=2)
        assert there is not None and back is not None and min(there, back) >= 0.3, (there, back)
        await until(lambda: peers_are(dict.fromkeys(names, 2)), 20, "reconnected through the proxies")
        began = time.monotonic()
        await control.heal(delay)
        timings["heal delay"] = time.monotonic() - began
        direct = await reachable(v0, v1)
        assert direct is not None and direct < 0.1

        # loss: the nodes' own packets meet the statistic rules in validator-0's container
        began = time.monotonic()
        loss = await control.loss("validator-0", "validator-1", 50)
        timings["loss"] = time.monotonic() - began
        await asyncio.sleep(3)
        listed = await v0.ns.run(["iptables", "-w", "-L", net.chains.filter, "-v", "-x", "-n"])
        dropped = sum(int(line.split()[0]) for line in listed.stdout.splitlines()[2:] if "DROP" in line)
        await control.heal(loss)
        assert dropped > 0, listed.stdout
    finally:
        events.close()
        await asyncio.gather(*(c.close() for c in clients.values()))
        await cluster.teardown()
    assert leftovers(unique_run_id) == {}
    recorded = [line for line in (tmp_path / "events.jsonl").read_text().splitlines() if '"net.' in line]
    assert len(recorded) == 6 and all("inside each container's network namespace" in line for line in recorded)
    print("compose network faults:", {k: round(v, 3) for k, v in timings.items()})
    assert all(seconds < 1.0 for seconds in timings.values()), timings


async def _answers(client: NodeClient) -> bool:
    await client.consensus_info()
    return True
