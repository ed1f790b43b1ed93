"""Render one reference node's YAML config (docs/node-config.md) from the generated topology and the
addresses a runner chose for it. The file holds no inherited descriptors, so it also starts a node by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nomos_testing.nodes.base import NodeAddresses
from nomos_testing.topology.model import GeneratedTopology, NodeIdentity


def node_config(topology: GeneratedTopology, node: NodeIdentity, addresses: Mapping[str, NodeAddresses],
                chain_start_time: float, data_dir: str) -> dict[str, Any]:
    own = addresses[node.name]
    genesis = dict(topology.genesis)
    genesis["chain_start_time"] = chain_start_time
    return {
        "node": {"role": node.role.value, "index": node.index, "name": node.name, "key_seed": node.keys["key_seed"]},
        "api": {"listen": own.api_listen},
        "testing_api": {"listen": own.testing_listen},
        "network": {
            "listen": own.p2p_listen,
            "advertise": own.p2p_advertise,
            "initial_peers": [addresses[peer].p2p_advertise for peer in topology.dials.get(node.name, ())],
        },
        "storage": {"data_dir": data_dir},
        "genesis": genesis,
    }
