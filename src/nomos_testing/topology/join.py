"""Nodes that join a running network (`NodeControl.join`): the identity the next one gets and whom it dials.

Runner-agnostic: every runner asks `plan_join` for the node, then renders its config from `with_joined(...)`
(the same genesis, the new node in the dial graph) and starts it its own way.

* In the genesis (`in_genesis=True`): the next standby validator of the topology (`topology.standby`): its
  keys were derived at generation and its stake is in every node's genesis, so once synced it produces blocks.
* Not in the genesis: a brand-new validator or executor named `<role>-<next free index>`, keys derived from
  the scenario seed and that name like every other node's, and no stake: it follows the chain and syncs.
* Peers: those asked for, else the topology's layout applied to the nodes running now (a star's hub, the
  last node of a chain, every node of a full mesh).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from nomos_testing.errors import NodeControlError
from nomos_testing.topology.generate import dial_graph
from nomos_testing.topology.model import GeneratedTopology, Layout, NodeIdentity, Role

_NEW = "\0joining"  # a placeholder name for the dial rule; never a real node name


@dataclass(frozen=True)
class JoinPlan:
    node: NodeIdentity
    peers: tuple[str, ...]
    in_genesis: bool


def default_peers(layout: Layout, running: Sequence[str]) -> tuple[str, ...]:
    """Whom a node joining now dials under the layout's rule, applied to the running nodes in order."""
    return dial_graph([*running, _NEW], layout)[_NEW]


def next_standby(topology: GeneratedTopology, present: Collection[str]) -> NodeIdentity:
    left = [node for node in topology.standby if node.name not in present]
    if not left:
        count = len(topology.standby)
        why = ("the topology has no standby validator (topology.standby = 0)" if not count
               else f"all {count} standby validator(s) of the topology have joined")
        raise NodeControlError(f"node control: cannot join a validator in the genesis: {why}",
                               f"set [topology] standby = {count + 1} in the scenario (builder: "
                               f"topology_with(lambda t: t.standby({count + 1}))), or join with in_genesis=False")
    return left[0]


def new_node(topology: GeneratedTopology, role: Role, present: Collection[str]) -> NodeIdentity:
    """A node outside the genesis: the next free index of its role (standby names are taken), no stake."""
    if topology.seed is None:
        raise NodeControlError("node control: this topology does not record its scenario seed, so a new node's "
                               "keys cannot be derived", "generate the topology with generate_topology(plan)")
    taken = {*present, *(node.name for node in topology.in_genesis())}
    index = 0
    while f"{role.value}-{index}" in taken:
        index += 1
    name = f"{role.value}-{index}"
    ordinal = len(taken)
    identity = topology.adapter.node_identity(topology.seed, name, role, index, ordinal)
    return replace(identity, stake=0)


def plan_join(topology: GeneratedTopology, role: Role, peers: Sequence[str] | None, in_genesis: bool,
              present: Collection[str], running: Sequence[str]) -> JoinPlan:
    """The node to start and whom it dials. `present`: every node that exists now (deployed or joined);
    `running`: those meant to run now, in topology order (for the default peers)."""
    if in_genesis and role is not Role.VALIDATOR:
        raise NodeControlError(f"node control: standby nodes are validators; cannot join {role.value} in the "
                               "genesis", f"join the {role.value} with in_genesis=False")
    node = next_standby(topology, present) if in_genesis else new_node(topology, role, present)
    chosen = tuple(peers) if peers else default_peers(topology.layout, running)
    if not chosen:
        raise NodeControlError(f"node control: {node.name} would have no peer to dial: no node is running",
                               "start a node first, or name the peers to dial")
    return JoinPlan(node, chosen, in_genesis)


def with_joined(topology: GeneratedTopology, node: NodeIdentity, peers: Sequence[str]) -> GeneratedTopology:
    """The topology with one more deployed node that dials `peers`. The genesis is unchanged, and so is the
    standby list (a joined standby node is in both: `next_standby` skips the nodes present)."""
    return replace(topology, nodes=(*topology.nodes, node), dials={**topology.dials, node.name: tuple(peers)})
