"""The static DA membership of session 0: subnetwork id -> member peer ids, and the members' p2p addresses.

The node reads it from its config (`da.assignations`, `da.addressbook`); whoever writes the configs deals it
with :func:`deal` (the framework's reference adapter does the same): the peers sorted by peer id, subnetwork
``s`` taking the peers at positions ``s·d, s·d + 1, …, s·d + d − 1`` (modulo the peer count), ``d`` being the
dispersal factor. With 3 peers, 2 subnetworks and d = 2: subnetwork 0 = {p0, p1}, subnetwork 1 = {p2, p0}.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nomos_node.config import DaConfig


def deal(peer_ids: Iterable[str], num_subnets: int, dispersal_factor: int) -> list[list[str]]:
    """Round-robin assignment of the sorted peers, ``dispersal_factor`` per subnetwork (fewer when there are
    fewer peers; never the same peer twice in one subnetwork)."""
    peers = sorted(set(peer_ids))
    if not peers:
        return [[] for _ in range(num_subnets)]
    per_subnet = min(dispersal_factor, len(peers))
    return [[peers[(subnet * dispersal_factor + j) % len(peers)] for j in range(per_subnet)]
            for subnet in range(num_subnets)]


class Membership:
    def __init__(self, config: DaConfig, own_peer_id: str) -> None:
        self.config = config
        self.own_peer_id = own_peer_id
        self.assignations = config.assignations
        self.addressbook: dict[str, str] = {peer: str(address) for peer, address in config.addressbook}
        self.own_subnets = tuple(self.subnets_of(own_peer_id))

    @property
    def num_subnets(self) -> int:
        return len(self.assignations)

    def members(self, subnet: int) -> tuple[str, ...]:
        return self.assignations[subnet]

    def subnets_of(self, peer_id: str) -> list[int]:
        return [subnet for subnet, members in enumerate(self.assignations) if peer_id in members]

    def peers(self) -> list[str]:
        """Every member of every subnetwork, sorted."""
        return sorted({peer for members in self.assignations for peer in members})

    def replicas(self, subnet: int) -> list[str]:
        """The other members of ``subnet`` (where a share received from an executor is replicated)."""
        return [peer for peer in self.members(subnet) if peer != self.own_peer_id]

    def to_json(self) -> dict[str, Any]:
        return {"assignations": {str(s): list(members) for s, members in enumerate(self.assignations)},
                "addressbook": dict(self.addressbook)}

    def balancer_stats(self, connections: Mapping[str, bool]) -> dict[str, dict[str, int]]:
        """Per subnetwork, the open connections to its members (``connections``: peer id -> dialled by us)."""
        stats: dict[str, dict[str, int]] = {}
        for subnet, members in enumerate(self.assignations):
            outbound = sum(1 for peer in members if peer != self.own_peer_id and connections.get(peer) is True)
            inbound = sum(1 for peer in members if peer != self.own_peer_id and connections.get(peer) is False)
            stats[str(subnet)] = {"inbound": inbound, "outbound": outbound}
        return stats
