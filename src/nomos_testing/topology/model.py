"""What topology generation produces: node identities, the shared genesis and the peer graph.

Runner-agnostic: addresses are decided by the runner when it renders each node's config through the node
adapter, so the same generated topology deploys on host, compose or k8s. Node-specific content (keys, the
genesis) comes from the adapter (`nodes/base.py`), which the topology carries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nomos_testing.nodes.base import NodeAdapter


class Role(StrEnum):
    VALIDATOR = "validator"
    EXECUTOR = "executor"


class Layout(StrEnum):
    STAR = "star"    # node 0 is the hub, every other node dials it
    CHAIN = "chain"  # node i dials node i-1
    FULL = "full"    # node i dials every node before it


@dataclass(frozen=True)
class NodeIdentity:
    name: str          # "validator-0", "executor-1"
    role: Role
    index: int         # index within its role: names logs nomos-node-<index>.log / nomos-executor-<index>.log
    ordinal: int       # position in the whole topology (validators first), used by the layouts
    stake: int
    keys: Mapping[str, str] = field(default_factory=dict)  # adapter-defined (reference: key_seed, signing_pk, vrf_pk)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))


@dataclass(frozen=True)
class WalletAccount:
    index: int
    secret_key: str    # private key bytes, hex
    pk: str            # public key, hex
    value: int


@dataclass(frozen=True)
class GeneratedTopology:
    layout: Layout
    nodes: tuple[NodeIdentity, ...]
    wallets: tuple[WalletAccount, ...]
    # genesis section of every node config, without chain_start_time (set by the runner at deploy time)
    genesis: dict[str, Any]
    # name -> names this node dials at start
    dials: dict[str, tuple[str, ...]] = field(default_factory=dict)
    node_adapter: NodeAdapter | None = field(default=None, compare=False, repr=False)
    # validators whose stake is in the genesis but which are not started at deployment (`topology.standby`);
    # runners deploy `nodes` only, node control joins these one by one
    standby: tuple[NodeIdentity, ...] = ()
    seed: int | None = None  # the scenario seed the keys came from: nodes that join later derive theirs from it
    # data availability settings (num_subnets, dispersal_factor, num_samples) when the plan has a DA workload:
    # the adapter renders each node's DA membership from them (reference: the `da` config section)
    da: Mapping[str, Any] | None = None

    @property
    def adapter(self) -> NodeAdapter:
        """The node adapter that generated this topology (the reference node's when none was given)."""
        if self.node_adapter is None:
            from nomos_testing.nodes.base import default_adapter

            object.__setattr__(self, "node_adapter", default_adapter())
        assert self.node_adapter is not None
        return self.node_adapter

    def node(self, name: str) -> NodeIdentity:
        for node in (*self.nodes, *self.standby):
            if node.name == name:
                return node
        raise KeyError(name)

    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def in_genesis(self) -> tuple[NodeIdentity, ...]:
        """Every node whose stake the genesis holds: the deployed ones and the standby ones."""
        deployed = {node.name for node in self.nodes}
        return (*self.nodes, *(node for node in self.standby if node.name not in deployed))

    def neighbours(self, name: str) -> set[str]:
        """Undirected degree of the dial graph: the peers a node must see to be network-ready."""
        out = set(self.dials.get(name, ()))
        out.update(other for other, targets in self.dials.items() if name in targets)
        return out

    @property
    def validators(self) -> tuple[NodeIdentity, ...]:
        return tuple(n for n in self.nodes if n.role is Role.VALIDATOR)

    @property
    def executors(self) -> tuple[NodeIdentity, ...]:
        return tuple(n for n in self.nodes if n.role is Role.EXECUTOR)
