"""The p2p layer over real loopback sockets: handshake, genesis refusal, gossip, request/response, blocking."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct

import pytest

from nomos_node.crypto.keys import NodeKeys
from nomos_node.network import NetworkService, RequestFailed
from nomos_node.network.addresses import AddressError, PeerAddress, parse_address
from nomos_node.network.framing import MAX_FRAME_BYTES, FrameError, read_frame, write_frame
from nomos_node.network.handshake import perform_handshake
from nomos_node.network.identity import LocalIdentity
from nomos_node.network.seen_cache import SeenCache

GENESIS = "aa" * 32


def _identity(i: int) -> LocalIdentity:
    return LocalIdentity.from_keys(NodeKeys.from_seed(bytes([i]) * 32))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _service(i: int, peers: list[NetworkService] = (), genesis: str = GENESIS) -> NetworkService:
    initial = [f"127.0.0.1:{p.listen_addresses[0].rsplit('/', 1)[1]}" for p in peers]
    service = NetworkService(_identity(i), genesis, "127.0.0.1:0", initial_peers=initial)
    await service.start()
    return service


async def _until(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_handshake_gossip_and_requests() -> None:
    hub = await _service(1)
    a = await _service(2, [hub])
    b = await _service(3, [hub])
    received: dict[str, list] = {"a": [], "b": []}

    async def on_a(payload, peer):
        received["a"].append(payload)
        return True

    async def on_b(payload, peer):
        received["b"].append(payload)
        return True

    async def relay(payload, peer):
        return True

    async def tip(params, peer):
        return {"height": 7, "asked_by": peer}

    a.register_topic("blocks", on_a)
    b.register_topic("blocks", on_b)
    hub.register_topic("blocks", relay)
    hub.register_method("tip", tip)
    try:
        await _until(lambda: len(hub.peers()) == 2 and a.peers() == [hub.identity.peer_id])
        assert hub.info()["n_peers"] == 2
        assert set(hub.peers()) == {a.identity.peer_id, b.identity.peer_id}
        await a.publish("blocks", "m1", {"n": 1})
        await _until(lambda: received["b"] == [{"n": 1}])
        await a.publish("blocks", "m1", {"n": 1})  # already seen: not delivered twice
        await asyncio.sleep(0.3)
        assert received == {"a": [], "b": [{"n": 1}]}
        assert await a.request(hub.identity.peer_id, "tip", None) == {"height": 7, "asked_by": a.identity.peer_id}
        with pytest.raises(RequestFailed, match="unknown method"):
            await a.request(hub.identity.peer_id, "nope", None)
    finally:
        for service in (hub, a, b):
            await service.stop()


async def test_genesis_mismatch_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nomos_node")
    hub = await _service(1)
    stranger = await _service(2, [hub], genesis="bb" * 32)
    try:
        await _until(lambda: "genesis mismatch" in caplog.text)
        await asyncio.sleep(0.5)
        assert hub.peers() == [] and stranger.peers() == []
        assert f"ours={GENESIS} theirs={'bb' * 32}" in caplog.text
    finally:
        await hub.stop()
        await stranger.stop()


async def test_block_and_unblock_peer() -> None:
    hub = await _service(1)
    leaf = await _service(2, [hub])
    try:
        await _until(lambda: len(hub.peers()) == 1)
        assert hub.block_peer(leaf.identity.peer_id) is True
        assert hub.block_peer(leaf.identity.peer_id) is False
        await _until(lambda: leaf.peers() == [] and hub.peers() == [])
        await asyncio.sleep(1.5)  # the leaf keeps redialling; the hub keeps refusing
        assert hub.peers() == [] and leaf.peers() == []
        assert hub.blocked_peers() == [leaf.identity.peer_id]
        assert hub.unblock_peer(leaf.identity.peer_id) is True
        await _until(lambda: len(hub.peers()) == 1 and len(leaf.peers()) == 1, timeout=15)
    finally:
        await hub.stop()
        await leaf.stop()


async def test_simultaneous_dials_leave_one_connection() -> None:
    port_a, port_b = _free_port(), _free_port()
    a = NetworkService(_identity(1), GENESIS, f"127.0.0.1:{port_a}", initial_peers=[f"127.0.0.1:{port_b}"])
    b = NetworkService(_identity(2), GENESIS, f"127.0.0.1:{port_b}", initial_peers=[f"127.0.0.1:{port_a}"])
    await asyncio.gather(a.start(), b.start())
    try:
        await _until(lambda: a.peers() and b.peers())
        await asyncio.sleep(1.0)
        assert a.info()["n_connections"] == 1 and b.info()["n_connections"] == 1
    finally:
        await a.stop()
        await b.stop()


async def test_oversized_frame_is_rejected() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(struct.pack(">I", MAX_FRAME_BYTES + 1))
    with pytest.raises(FrameError, match="exceeds"):
        await read_frame(reader)


def test_seen_cache_is_bounded_lru() -> None:
    cache = SeenCache(2)
    assert cache.add("a") and cache.add("b") and not cache.add("a")
    assert cache.add("c")  # evicts b, the least recently seen
    assert "a" in cache and "b" not in cache and len(cache) == 2


def test_peer_addresses_accept_host_port_and_multiaddrs() -> None:
    assert parse_address("127.0.0.1:3000") == PeerAddress("127.0.0.1", 3000)
    assert parse_address("/ip4/10.0.0.2/tcp/3001") == PeerAddress("10.0.0.2", 3001)
    assert parse_address("/dns/validator-1/udp/3002/quic-v1") == PeerAddress("validator-1", 3002)
    assert parse_address("[::1]:3003").multiaddr() == "/ip6/::1/tcp/3003"
    assert parse_address("0.0.0.0:0", allow_zero=True).port == 0
    for bad in ("nohost", "127.0.0.1:0", "127.0.0.1:70000", "/ip4/1.2.3.4/sctp/5"):
        with pytest.raises(AddressError):
            parse_address(bad)


def _raw_frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


# Frames a faulty or hostile peer may send. Each one used to escape `_run_connection` (or the handshake) as a
# TypeError / ValueError / RecursionError and kill the dial loop: the node never redialled that initial peer.
HOSTILE_FRAMES = {
    "response id not hashable": _raw_frame(b'{"type": "resp", "id": [1]}'),
    "integer over 4300 digits": _raw_frame(b'{"type": "x", "n": ' + b"1" * 5000 + b"}"),
    "nesting too deep": _raw_frame(b'{"type": "x", "n": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "hello: integer over 4300 digits": _raw_frame(b'{"type": "hello", "n": ' + b"1" * 5000 + b"}"),
}


@pytest.mark.parametrize("frame", list(HOSTILE_FRAMES.values()), ids=list(HOSTILE_FRAMES))
async def test_hostile_frame_costs_the_peer_its_connection_only(frame: bytes) -> None:
    accepted: list[int] = []

    async def hostile_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            if not frame[4:].startswith(b'{"type": "hello"'):
                await perform_handshake(reader, writer, _identity(9), GENESIS, None, lambda _peer: False)
            writer.write(frame)
            await writer.drain()
            await asyncio.wait_for(reader.read(), 0.2)  # until the node hangs up, or we do
        except (ConnectionError, FrameError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(hostile_peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    node = NetworkService(_identity(1), GENESIS, "127.0.0.1:0", initial_peers=[f"127.0.0.1:{port}"])
    await node.start()
    try:
        await _until(lambda: len(accepted) >= 3, timeout=10)  # it keeps redialling its configured peer
    finally:
        await node.stop()
        server.close()


async def test_request_with_a_non_string_method_is_answered() -> None:
    node = await _service(1)
    port = int(node.listen_addresses[0].rsplit("/", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await perform_handshake(reader, writer, _identity(9), GENESIS, None, lambda _peer: False)
        await write_frame(writer, {"type": "req", "id": 7, "method": ["tip"], "params": None})
        reply = await asyncio.wait_for(read_frame(reader), 5)
        assert reply["type"] == "resp" and reply["id"] == 7 and "unknown method" in reply["error"]
    finally:
        writer.close()
        await node.stop()
