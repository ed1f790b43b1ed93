"""Render one reference node's YAML config (docs/node-config.md) from the generated topology and the
addresses a runner chose for it. The file holds no inherited descriptors, so it also starts a node by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nomos_testing.nodes.base import NodeAddresses
from nomos_testing.nodes.reference.keys import peer_id
from nomos_testing.topology.model import GeneratedTopology, NodeIdentity


def deal(peer_ids: list[str], num_subnets: int, dispersal_factor: int) -> list[list[str]]:
    """The node's membership deal (docs/node-config.md, `da`): peers sorted by peer id, subnetwork s taking those
    at positions s·d … s·d + d − 1 modulo the peer count (never one peer twice in a subnetwork)."""
    peers = sorted(set(peer_ids))
    if not peers:
        return [[] for _ in range(num_subnets)]
    per_subnet = min(dispersal_factor, len(peers))
    return [[peers[(s * dispersal_factor + j) % len(peers)] for j in range(per_subnet)] for s in range(num_subnets)]


def da_section(topology: GeneratedTopology, addresses: Mapping[str, NodeAddresses]) -> dict[str, Any]:
    """The `da` section every node of a DA scenario gets: the membership of session 0 dealt over the deployed
    validators and executors, and their p2p addresses."""
    settings = dict(topology.da or {})
    ids = {peer_id(node.keys["signing_pk"]): node.name for node in topology.nodes}
    assignations = deal(list(ids), int(settings["num_subnets"]), int(settings["dispersal_factor"]))
    return {**settings,
            "assignations": {str(s): members for s, members in enumerate(assignations)},
            "addressbook": {pid: addresses[name].p2p_advertise for pid, name in sorted(ids.items())}}


# Below this k the framework renders `consensus.tie_break: lower_vrf` (this node's deviation) instead of the
# specification's `keep_current`. At the scenarios' f = 0.9 keep-current lets connected nodes split for good:
# every measured run at k = 3, ~1.5 % of 2-minute and ~7.6 % of 10-minute runs at k = 10, none at k = 15 and
# 20 in 1000 10-minute runs of the model; slot length does not matter (docs/consensus.md, Ties at equal height).
# The node's own test networks use the same number (nomos_node.consensus.fork_choice, which the framework does
# not import; tests/framework/test_reference_tie_break.py checks they agree).
KEEP_CURRENT_FROM_K = 20


def tie_break_for(security_param: int) -> str:
    """The tie rule a scenario's nodes get: the specification's unless k is small enough to split on it."""
    return "keep_current" if security_param >= KEEP_CURRENT_FROM_K else "lower_vrf"


def node_config(topology: GeneratedTopology, node: NodeIdentity, addresses: Mapping[str, NodeAddresses],
                chain_start_time: float, data_dir: str) -> dict[str, Any]:
    own = addresses[node.name]
    genesis = dict(topology.genesis)
    genesis["chain_start_time"] = chain_start_time
    config = {
        "node": {"role": node.role.value, "index": node.index, "name": node.name, "key_seed": node.keys["key_seed"]},
        "api": {"listen": own.api_listen},
        "testing_api": {"listen": own.testing_listen},
        "network": {
            "listen": own.p2p_listen,
            "advertise": own.p2p_advertise,
            "initial_peers": [addresses[peer].p2p_advertise for peer in topology.dials.get(node.name, ())],
        },
        "storage": {"data_dir": data_dir},
        "consensus": {"tie_break": tie_break_for(int(genesis["security_param"]))},
        "genesis": genesis,
    }
    if topology.da is not None:
        config["da"] = da_section(topology, addresses)
    return config
