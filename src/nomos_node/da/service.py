"""The node's DA service: membership and connections to the members this node works with.

Validators keep connections to the other members of their own subnetworks (replication); executors to every
member (dispersal). Other members are dialled on demand (sampling a subnetwork this node is not in).
"""

from __future__ import annotations

import logging
from typing import Any

from nomos_node.config import DaConfig
from nomos_node.da.membership import Membership
from nomos_node.logs import event
from nomos_node.network import NetworkService

log = logging.getLogger("nomos_node.da")


class DaService:
    def __init__(self, config: DaConfig, network: NetworkService, role: str) -> None:
        self.config = config
        self.network = network
        self.role = role
        self.membership = Membership(config, network.identity.peer_id)

    @property
    def is_executor(self) -> bool:
        return self.role == "executor"

    def start(self) -> None:
        """Dial the members this node works with (after the network started)."""
        own = self.network.identity.peer_id
        if self.is_executor:
            wanted = self.membership.peers()
        else:
            members = self.membership.members
            wanted = sorted({peer for subnet in self.membership.own_subnets for peer in members(subnet)})
        for peer in wanted:
            if peer != own:
                self.connect_later(peer)
        event(log, logging.INFO, "da membership", subnets=self.membership.num_subnets,
              own_subnets=",".join(map(str, self.membership.own_subnets)) or "-", dialled=len(wanted))

    def connect_later(self, peer_id: str) -> bool:
        """Keep a connection to ``peer_id`` from now on (its addressbook address); False when unknown there."""
        address = self.membership.addressbook.get(peer_id)
        if address is None or peer_id == self.network.identity.peer_id:
            return False
        self.network.add_peer(address)
        return True

    def membership_json(self) -> dict[str, Any]:
        return self.membership.to_json()

    def balancer_stats(self) -> dict[str, dict[str, int]]:
        return self.membership.balancer_stats(self.network.connection_directions())
