"""One loopback address per node: every node of a host run listens (and, the reference node, dials) on its own
127.A.B.(i+2), from a /24 block chosen at random per run. Network fault rules name a pair of node addresses,
so they never touch another run's nodes, nor the framework's own HTTP traffic (whose source is 127.0.0.1).

A block is avoided when a live run records it (run index + run-state files) or when any TCP socket on this
machine is bound in it (runs of other users or checkouts, which another run index knows).
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

from nomos_testing.errors import DeploymentError
from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.state import RunState, read_state

FIRST_HOST = 2            # .0 is the network, .1 is left alone (127.0.0.1 is the framework's own source)
MAX_NODES = 254 - FIRST_HOST + 1
_SECOND_OCTETS = range(1, 255)  # never 127.0.x.x: 127.0.0.1 and friends (127.0.1.1 on Debian) live there


@dataclass(frozen=True)
class AddressBlock:
    second: int
    third: int

    def address(self, slot: int) -> str:
        """The address of the node at position `slot` of the run (0-based)."""
        if not 0 <= slot < MAX_NODES:
            raise DeploymentError(f"a host run holds at most {MAX_NODES} nodes, node {slot + 1} asked for",
                                  f"use at most {MAX_NODES} nodes, or the compose runner")
        return f"127.{self.second}.{self.third}.{slot + FIRST_HOST}"

    @property
    def cidr(self) -> str:
        return f"127.{self.second}.{self.third}.0/24"

    @classmethod
    def of(cls, address: str) -> AddressBlock | None:
        """The block an address belongs to, when it is one a host run could use."""
        with contextlib.suppress(ValueError):
            ip = ipaddress.IPv4Address(address)
            first, second, third, _ = ip.packed
            if first == 127 and second in _SECOND_OCTETS:
                return cls(second, third)
        return None

    @classmethod
    def parse(cls, cidr: str) -> AddressBlock | None:
        return cls.of(cidr.split("/", 1)[0])


def blocks_of_state(state: RunState) -> set[AddressBlock]:
    found = set()
    recorded = state.runner_state.get("address_block")
    if isinstance(recorded, str) and (block := AddressBlock.parse(recorded)) is not None:
        found.add(block)
    for node in state.nodes:
        host = urlsplit(node.api_url).hostname or ""
        if (block := AddressBlock.of(host)) is not None:
            found.add(block)
    return found


def blocks_in_use() -> set[AddressBlock]:
    """Blocks a live run (this user's run index) records, and blocks any TCP socket on this machine uses."""
    used: set[AddressBlock] = set()
    for entry in index.entries():
        state = read_state(entry.path)
        if state is not None:
            used |= blocks_of_state(state)
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp4"):
            if conn.laddr and (block := AddressBlock.of(conn.laddr.ip)) is not None:
                used.add(block)
    return used


def choose_block(rng: random.Random | None = None, used: set[AddressBlock] | None = None) -> AddressBlock:
    rng = rng or random.SystemRandom()
    used = blocks_in_use() if used is None else used
    for _ in range(64):
        block = AddressBlock(rng.choice(_SECOND_OCTETS), rng.randrange(256))
        if block not in used:
            return block
    free = [AddressBlock(s, t) for s in _SECOND_OCTETS for t in range(256) if AddressBlock(s, t) not in used]
    if not free:
        raise DeploymentError("every loopback address block 127.x.y.0/24 is in use by other runs",
                              "run `nomos-testing clean` to remove the nodes of earlier runs")
    return rng.choice(free)
