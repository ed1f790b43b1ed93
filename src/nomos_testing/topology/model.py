"""What topology generation produces: node identities, the shared genesis and the peer graph.

Runner-agnostic: addresses are decided by the runner when it renders each node's config
(see `render.py`), so the same generated topology deploys on host, compose or k8s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
    key_seed: str      # 64 hex chars; the node derives all its keys from it (docs/node-config.md)
    signing_pk: str    # Ed25519 public key, hex
    vrf_pk: str        # BLS12-381 G1 compressed, hex
    stake: int

    @property
    def binary(self) -> str:
        return "nomos-node" if self.role is Role.VALIDATOR else "nomos-executor"

    @property
    def log_name(self) -> str:
        return f"{self.binary}-{self.index}.log"


@dataclass(frozen=True)
class WalletAccount:
    index: int
    secret_key: str    # Ed25519 private key bytes, hex
    pk: str            # Ed25519 public key, hex
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

    def node(self, name: str) -> NodeIdentity:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

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
