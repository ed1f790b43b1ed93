"""The network fault engine (runners/shared/netfaults) on real sockets and real iptables: in the host namespace
(two loopback addresses, as the host runner gives its nodes) and across two `ip netns` namespaces joined by a
veth pair (as compose containers are). Needs root with iptables, ss and nsenter: skips without them locally,
fails in CI."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from nomos_testing.runners.host.addresses import choose_block
from nomos_testing.runners.shared.netfaults import iptables
from nomos_testing.runners.shared.netfaults.base import NetworkFaultError
from nomos_testing.runners.shared.netfaults.engine import Endpoint, IptablesNetworkFaults, unavailable_capabilities
from nomos_testing.runners.shared.netfaults.namespace import Namespace
from nomos_testing.runners.shared.owner import owner_token

pytestmark = pytest.mark.timeout(60)

HOST = Namespace.host()


def need_network_faults(namespaces: bool = False) -> None:
    missing = unavailable_capabilities(namespaces)
    if missing:
        reason = f"network faults unavailable: {next(iter(missing.values()))}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class Pair:
    """Two nodes' endpoints and an engine resolving them; `where` may be changed by a test (a restart)."""

    where: dict[str, Endpoint]
    engine: IptablesNetworkFaults

    @property
    def a(self) -> Endpoint:
        return self.where["a"]

    @property
    def b(self) -> Endpoint:
        return self.where["b"]


def _engine(run_id: str, where: dict[str, Endpoint], namespaces: bool = False) -> IptablesNetworkFaults:
    async def resolve(name: str) -> Endpoint:
        return where[name]

    return IptablesNetworkFaults(run_id, resolve, "test namespace", namespaces=namespaces,
                                 always_clean=[HOST] if not namespaces else [])


@pytest.fixture
async def host_pair() -> AsyncIterator[Pair]:
    need_network_faults()
    block = choose_block()
    where = {"a": Endpoint(HOST, block.address(0)), "b": Endpoint(HOST, block.address(1))}
    pair = Pair(where, _engine(f"nf-test-{secrets.token_hex(4)}", where))
    yield pair
    await pair.engine.close()


@contextlib.contextmanager
def two_namespaces() -> Iterator[tuple[Namespace, str, Namespace, str]]:
    tag = secrets.token_hex(3)
    names = (f"nt-{tag}-a", f"nt-{tag}-b")
    net = 16 + secrets.randbelow(200)
    subnet = secrets.randbelow(60) * 4
    addresses = (f"10.213.{net}.{subnet + 1}", f"10.213.{net}.{subnet + 2}")
    veth = (f"nt{tag}a", f"nt{tag}b")

    def sh(*argv: str) -> None:
        subprocess.run(argv, check=True, capture_output=True, timeout=10)

    try:
        for name in names:
            sh("ip", "netns", "add", name)
            sh("ip", "-n", name, "link", "set", "lo", "up")
        sh("ip", "link", "add", veth[0], "netns", names[0], "type", "veth", "peer", "name", veth[1], "netns", names[1])
        for name, dev, address in zip(names, veth, addresses, strict=True):
            sh("ip", "-n", name, "addr", "add", f"{address}/30", "dev", dev)
            sh("ip", "-n", name, "link", "set", dev, "up")
        yield (Namespace(f"/run/netns/{names[0]}", names[0]), addresses[0],
               Namespace(f"/run/netns/{names[1]}", names[1]), addresses[1])
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


@pytest.fixture
async def netns_pair() -> AsyncIterator[Pair]:
    need_network_faults(namespaces=True)
    with two_namespaces() as (ns_a, addr_a, ns_b, addr_b):
        where = {"a": Endpoint(ns_a, addr_a), "b": Endpoint(ns_b, addr_b)}
        pair = Pair(where, _engine(f"nf-ns-{secrets.token_hex(4)}", where, namespaces=True))
        try:
            yield pair
        finally:
            await pair.engine.close()


# Traffic helpers ---------------------------------------------------------------------------------------------

class Echo:
    """A TCP echo server at an endpoint (in its namespace)."""

    def __init__(self, at: Endpoint) -> None:
        self.at = at
        self.port = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Echo:
        sock = await self.at.ns.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.at.address, 0))
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.server = await asyncio.start_server(self._serve, sock=sock)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        writer.close()


async def connect(src: Endpoint, dst: Endpoint, port: int, timeout_s: float = 2.0,
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = await src.ns.socket()
    sock.bind((src.address, 0))
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, (dst.address, port)), timeout_s)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes = b"ping") -> float:
    began = time.monotonic()
    writer.write(payload)
    await writer.drain()
    assert await asyncio.wait_for(reader.readexactly(len(payload)), 5) == payload
    return time.monotonic() - began


async def reachable(src: Endpoint, dst: Endpoint, port: int, timeout_s: float = 0.5) -> bool:
    try:
        reader, writer = await connect(src, dst, port, timeout_s)
    except (OSError, TimeoutError):
        return False
    try:
        await round_trip(reader, writer)
        return True
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()


async def datagrams_through(src: Endpoint, dst: Endpoint, count: int = 2000) -> int:
    """Send `count` UDP datagrams from src to dst; how many arrived."""
    receiver = await dst.ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = await src.ns.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        receiver.bind((dst.address, 0))
        receiver.setblocking(False)
        sender.bind((src.address, 0))
        target = receiver.getsockname()
        for i in range(count):
            with contextlib.suppress(PermissionError):  # a DROP in OUTPUT fails the send itself
                sender.sendto(i.to_bytes(4, "big"), target)
            if i % 200 == 199:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.2)
        got = 0
        with contextlib.suppress(BlockingIOError):
            while True:
                receiver.recv(16)
                got += 1
        return got
    finally:
        receiver.close()
        sender.close()


# Host namespace ----------------------------------------------------------------------------------------------

async def test_partition_stops_traffic_both_ways_and_heal_restores_it(host_pair: Pair) -> None:
    a, b, engine = host_pair.a, host_pair.b, host_pair.engine
    async with Echo(b) as echo_b, Echo(a) as echo_a:
        reader, writer = await connect(a, b, echo_b.port)
        await round_trip(reader, writer)
        applied = await engine.partition("partition-1", [("a", "b")])
        assert "iptables DROP" in applied.mechanism and "ss -K" in applied.mechanism
        assert applied.detail["rules"] == 2 and applied.detail["connections_cut"] >= 2  # both ends of the open one
        with pytest.raises((ConnectionError, OSError, asyncio.IncompleteReadError)):  # noticed at once
            await round_trip(reader, writer)
        writer.close()
        assert not await reachable(a, b, echo_b.port)
        assert not await reachable(b, a, echo_a.port)
        # the framework's own traffic (source 127.0.0.1) is untouched
        framework = Endpoint(HOST, "127.0.0.1")
        assert await reachable(framework, b, echo_b.port) and await reachable(framework, a, echo_a.port)
        removed = await engine.remove("partition-1")
        assert removed.detail == {"rules": 2} and "rules deleted" in removed.mechanism
        assert await reachable(a, b, echo_b.port) and await reachable(b, a, echo_a.port)
        assert (await engine.remove("partition-1")).mechanism == "none"  # idempotent


async def test_delay_delays_each_way_keeps_order_and_removal_resets(host_pair: Pair) -> None:
    a, b, engine = host_pair.a, host_pair.b, host_pair.engine
    async with Echo(b) as echo:
        old_reader, old_writer = await connect(a, b, echo.port)
        assert await round_trip(old_reader, old_writer) < 0.05
        applied = await engine.delay("delay-1", "a", "b", 60, 20)
        assert "TCP proxy" in applied.mechanism and applied.detail["connections_cut"] >= 1
        with pytest.raises((ConnectionError, OSError, asyncio.IncompleteReadError)):
            await round_trip(old_reader, old_writer)  # reset so that it reconnects through the proxy
        old_writer.close()
        reader, writer = await connect(a, b, echo.port)
        rtts = [await round_trip(reader, writer) for _ in range(3)]
        assert min(rtts) >= 2 * 0.040, rtts  # 60 ± 20 ms each way
        # many small writes with jitter: delivered in order
        stream = b"".join(i.to_bytes(2, "big") for i in range(200))
        for i in range(0, len(stream), 8):
            writer.write(stream[i:i + 8])
            await asyncio.sleep(0.001)
        assert await asyncio.wait_for(reader.readexactly(len(stream)), 10) == stream
        removed = await engine.remove("delay-1")
        assert removed.detail["connections_reset"] == 1
        with pytest.raises((ConnectionError, OSError, asyncio.IncompleteReadError)):
            await round_trip(reader, writer)
        writer.close()
        reader, writer = await connect(a, b, echo.port)
        assert await round_trip(reader, writer) < 0.05
        writer.close()


async def test_loss_drops_a_share_of_packets_each_way(host_pair: Pair) -> None:
    a, b, engine = host_pair.a, host_pair.b, host_pair.engine
    assert await datagrams_through(a, b) == 2000
    applied = await engine.loss("loss-1", "a", "b", 50)
    assert "statistic DROP of 50 %" in applied.mechanism and "connections_cut" not in applied.detail
    for src, dst in ((a, b), (b, a)):
        got = await datagrams_through(src, dst)
        assert 800 <= got <= 1200, got  # binomial(2000, 0.5): ±4.5 sigma
    await engine.remove("loss-1")
    assert await datagrams_through(b, a) == 2000


async def test_a_restarted_node_gets_its_rules_at_its_new_address(host_pair: Pair) -> None:
    a, engine = host_pair.a, host_pair.engine
    old_b = host_pair.b
    moved = Endpoint(HOST, old_b.address.rsplit(".", 1)[0] + ".9")
    async with Echo(old_b) as echo_old, Echo(moved) as echo_new:
        await engine.partition("partition-1", [("a", "b")])
        assert not await reachable(a, old_b, echo_old.port) and await reachable(a, moved, echo_new.port)
        host_pair.where["b"] = moved
        await engine.node_restarted("b")
        assert await reachable(a, old_b, echo_old.port) and not await reachable(a, moved, echo_new.port)
        await engine.remove("partition-1")
        assert await reachable(a, moved, echo_new.port)


async def test_another_process_removes_a_fault_by_its_tag_and_the_chains_by_run_id(host_pair: Pair) -> None:
    a, b, engine = host_pair.a, host_pair.b, host_pair.engine
    async with Echo(b) as echo:
        await engine.partition("partition-7", [("a", "b")])
        other = _engine(engine.run_id, host_pair.where)  # knows nothing of what the first one installed
        removed = await other.remove("partition-7")
        assert removed.detail == {"rules": 2} and "tagged partition-7" in removed.mechanism
        assert await reachable(a, b, echo.port)
        await engine.loss("loss-2", "a", "b", 100)
        assert not await reachable(a, b, echo.port)
        await other.close()
        assert await reachable(a, b, echo.port)
        assert not [i for i in iptables.installed(await iptables.save(HOST)) if i.run_id == engine.run_id]
        await other.close()  # idempotent


async def test_sweep_removes_the_chains_of_dead_owners_only() -> None:
    need_network_faults()
    dead = iptables.Chains.of_run("nf-sweep-dead")
    live = iptables.Chains.of_run("nf-sweep-live")
    await iptables.ensure_chains(HOST, dead, "nf-sweep-dead", "1:12345.000")  # pid 1 did not start then
    await iptables.ensure_chains(HOST, live, "nf-sweep-live", owner_token())
    try:
        would = await iptables.sweep(HOST, dry_run=True)
        chains = {item.chain for item in would}
        assert {dead.filter, dead.nat} <= chains and not {live.filter, live.nat} & chains
        assert {item.run_id for item in would if item.chain in (dead.filter, dead.nat)} == {"nf-sweep-dead"}
        await iptables.sweep(HOST)
        left = {item.chain for item in iptables.installed(await iptables.save(HOST))}
        assert not {dead.filter, dead.nat} & left and {live.filter, live.nat} <= left
    finally:
        await iptables.remove_run(HOST, live)
        await iptables.remove_run(HOST, dead)


async def test_a_closed_engine_refuses_new_faults(host_pair: Pair) -> None:
    await host_pair.engine.close()
    with pytest.raises(NetworkFaultError, match="closed"):
        await host_pair.engine.partition("partition-1", [("a", "b")])


# Separate namespaces (as containers) -------------------------------------------------------------------------

async def test_faults_act_inside_each_namespace(netns_pair: Pair) -> None:
    a, b, engine = netns_pair.a, netns_pair.b, netns_pair.engine
    async with Echo(b) as echo_b, Echo(a) as echo_a:
        assert await reachable(a, b, echo_b.port) and await reachable(b, a, echo_a.port)
        await engine.partition("partition-1", [("a", "b")])
        assert not await reachable(a, b, echo_b.port) and not await reachable(b, a, echo_a.port)
        # the rules live in the namespaces, not on the host
        assert engine.chains.filter not in await iptables.save(HOST)
        assert f"-s {a.address}/32 -d {b.address}/32" in await iptables.save(a.ns)
        await engine.remove("partition-1")
        assert await reachable(a, b, echo_b.port) and await reachable(b, a, echo_a.port)

        applied = await engine.delay("delay-1", "a", "b", 50, 0)
        assert len(applied.detail["proxies"]) == 2  # one in each namespace
        for src, dst, port in ((a, b, echo_b.port), (b, a, echo_a.port)):
            reader, writer = await connect(src, dst, port)
            assert await round_trip(reader, writer) >= 0.095
            writer.close()
        await engine.remove("delay-1")

        await engine.loss("loss-1", "a", "b", 30)
        got = await datagrams_through(a, b)
        assert 1150 <= got <= 1650, got  # binomial(2000, 0.7): ±4.5 sigma
        await engine.remove("loss-1")
    await engine.close()
    assert engine.chains.filter not in await iptables.save(a.ns)


# Parsing (synthetic) -----------------------------------------------------------------------------------------

SAVED = """# Generated by iptables-save
*filter
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:NTF-aaaaaaaaaaaa - [0:0]
:NTF-bbbbbbbbbbbb - [0:0]
-A OUTPUT -m comment --comment nomos-testing_run=run_1-x_owner=42:1700000000.125 -j NTF-aaaaaaaaaaaa
-A NTF-aaaaaaaaaaaa -s 127.1.1.2/32 -d 127.1.1.3/32 -m comment --comment partition-1 -j DROP
COMMIT
*nat
:OUTPUT ACCEPT [0:0]
:NTN-aaaaaaaaaaaa - [0:0]
-A OUTPUT -m comment --comment nomos-testing_run=run_1-x_owner=42:1700000000.125 -j NTN-aaaaaaaaaaaa
COMMIT
"""


def test_installed_chains_are_read_from_iptables_save() -> None:
    found = {item.chain: item for item in iptables.installed(SAVED)}
    assert set(found) == {"NTF-aaaaaaaaaaaa", "NTF-bbbbbbbbbbbb", "NTN-aaaaaaaaaaaa"}
    assert found["NTF-aaaaaaaaaaaa"].run_id == "run_1-x" and found["NTF-aaaaaaaaaaaa"].owner == "42:1700000000.125"
    assert found["NTN-aaaaaaaaaaaa"].table == "nat"
    assert found["NTF-bbbbbbbbbbbb"].jump is None and found["NTF-bbbbbbbbbbbb"].run_id == ""


def test_rules_carry_their_fault_id() -> None:
    spec = iptables.tagged("-s 1.2.3.4/32 -d 5.6.7.8/32 -j DROP", "partition 1")
    assert spec == "-s 1.2.3.4/32 -d 5.6.7.8/32 -m comment --comment partition_1 -j DROP"
    assert iptables.Chains.of_run("x").filter.startswith("NTF-") and len(iptables.Chains.of_run("x").nat) <= 28
