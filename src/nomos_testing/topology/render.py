"""Render one node's YAML config (docs/node-config.md) from the generated topology and the
addresses a runner chose for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nomos_testing.topology.model import GeneratedTopology, NodeIdentity


@dataclass(frozen=True)
class NodeAddresses:
    """Where one node listens and how others reach it. `*_fd` are inherited listening sockets."""

    api_listen: str
    testing_listen: str
    p2p_listen: str
    p2p_advertise: str
    api_fd: int | None = None
    testing_fd: int | None = None
    p2p_fd: int | None = None


def render_node_config(
    topology: GeneratedTopology,
    node: NodeIdentity,
    addresses: dict[str, NodeAddresses],
    chain_start_time: float,
    data_dir: str,
) -> dict[str, Any]:
    own = addresses[node.name]
    genesis = dict(topology.genesis)
    genesis["chain_start_time"] = chain_start_time
    return {
        "node": {"role": node.role.value, "index": node.index, "name": node.name, "key_seed": node.key_seed},
        "api": {"listen": own.api_listen, "listen_fd": own.api_fd},
        "testing_api": {"listen": own.testing_listen, "listen_fd": own.testing_fd},
        "network": {
            "listen": own.p2p_listen,
            "listen_fd": own.p2p_fd,
            "advertise": own.p2p_advertise,
            "initial_peers": [addresses[peer].p2p_advertise for peer in topology.dials.get(node.name, ())],
        },
        "storage": {"data_dir": data_dir},
        "genesis": genesis,
    }
