"""A node listening on one specific IP dials its peers from that IP too (so every node of a host run has one
address, and network rules between two addresses catch both directions); a wildcard listener leaves the
choice to the kernel. With NOMOS_LISTEN_FDS the address is the inherited socket's own."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from nomos_node.crypto.keys import NodeKeys
from nomos_node.devnet import LocalNetwork, ready, wait_until
from nomos_node.network import NetworkService
from nomos_node.network.addresses import PeerAddress
from nomos_node.network.identity import LocalIdentity

GENESIS = "bb" * 32


def _identity(i: int) -> LocalIdentity:
    return LocalIdentity.from_keys(NodeKeys.from_seed(bytes([i + 40]) * 32))


def _port(service: NetworkService) -> int:
    return int(service.listen_addresses[0].rsplit("/", 1)[1])


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def _inbound_source(listen_b: str, listen_fd: int | None = None) -> str:
    """Start A on 127.0.0.3, B on `listen_b` dialling A; the source IP A saw."""
    a = NetworkService(_identity(1), GENESIS, "127.0.0.3:0")
    await a.start()
    peer = f"127.0.0.3:{_port(a)}"
    b = NetworkService(_identity(2), GENESIS, listen_b, listen_fd=listen_fd, initial_peers=[peer])
    await b.start()
    try:
        await _until(lambda: a.peers() == [b.identity.peer_id])
        conn = a._connections[b.identity.peer_id]
        return conn.remote.rsplit(":", 1)[0]
    finally:
        await b.stop()
        await a.stop()


async def test_a_node_on_a_specific_address_dials_from_it() -> None:
    assert await _inbound_source("127.0.0.2:0") == "127.0.0.2"


async def test_the_address_of_an_inherited_listener_is_used() -> None:
    sock = socket.create_server(("127.0.0.4", 0))
    fd = sock.detach()  # the service owns it now, as a node owns an inherited descriptor
    assert await _inbound_source("0.0.0.0:0", listen_fd=fd) == "127.0.0.4"


async def test_a_wildcard_listener_leaves_the_source_to_the_kernel() -> None:
    assert await _inbound_source("0.0.0.0:0") == "127.0.0.1"


async def test_a_name_is_resolved_to_an_address_of_the_same_scope() -> None:
    # "localhost" resolves to 127.0.0.1 and maybe ::1: the IPv4 loopback one is dialled, from the node's address
    service = NetworkService(_identity(3), GENESIS, "127.0.0.2:0")
    await service.start()
    try:
        host, local = await service._route(PeerAddress("localhost", 9))
        assert (host, local) == ("127.0.0.1", ("127.0.0.2", 0))
    finally:
        await service.stop()


async def test_a_target_of_another_scope_is_dialled_without_a_source() -> None:
    service = NetworkService(_identity(4), GENESIS, "127.0.0.2:0")
    await service.start()
    try:
        assert await service._route(PeerAddress("10.1.2.3", 9)) == ("10.1.2.3", None)  # not loopback
        assert await service._route(PeerAddress("::1", 9)) == ("::1", None)  # another family
        assert await service._route(PeerAddress("127.0.0.9", 9)) == ("127.0.0.9", ("127.0.0.2", 0))
    finally:
        await service.stop()


# A real node handed its p2p socket through NOMOS_LISTEN_FDS ---------------------------------------------------

@pytest.fixture
def pair(tmp_path: Path) -> Iterator[LocalNetwork]:
    with LocalNetwork(tmp_path, 2, topology="none") as net:
        yield net


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_a_node_dials_from_its_inherited_p2p_address(pair: LocalNetwork) -> None:
    addresses = ("127.0.0.5", "127.0.0.6")
    for node, ip in zip(pair.nodes, addresses, strict=True):
        node.p2p.close()
        node.p2p = socket.create_server((ip, 0))
        node.p2p.set_inheritable(True)
    ports = [node.p2p.getsockname()[1] for node in pair.nodes]
    for node, ip, port in zip(pair.nodes, addresses, ports, strict=True):
        node.config["network"] = {"listen": f"{ip}:{port}",
                                  "initial_peers": [f"127.0.0.5:{ports[0]}"] if node.index == 1 else []}
        node.env = {**node.env, "NOMOS_LISTEN_FDS": f"network={node.p2p.fileno()}"}
        node.write_config()
    pair.start()
    for node in pair.nodes:
        wait_until(lambda node=node: ready(node), 20, f"node {node.index} API")
    wait_until(lambda: pair.nodes[1].get("/network/info")["n_peers"] == 1, 20, "node 1 connected to node 0")
    assert pair.nodes[1].proc is not None
    links = [(c.laddr, c.raddr) for c in psutil.Process(pair.nodes[1].proc.pid).net_connections("tcp")
             if c.raddr and c.raddr.port == ports[0]]
    assert links and all(laddr.ip == "127.0.0.6" and raddr.ip == "127.0.0.5" for laddr, raddr in links), links
