"""What the network layer needs from the node key: its peer id, public key and a signer, plus the check of a
remote peer's key (adapts `nomos_node.crypto.keys` to the handshake)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from nomos_node.crypto.keys import NodeKeys, peer_id_from_ed25519, verify_ed25519


class Signer(Protocol):
    def __call__(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class LocalIdentity:
    peer_id: str
    public_key: bytes  # raw 32-byte Ed25519 public key
    sign: Signer

    @classmethod
    def from_keys(cls, keys: NodeKeys) -> LocalIdentity:
        return cls(peer_id=keys.peer_id, public_key=keys.signing_pk, sign=keys.sign)


def peer_id_of(public_key: bytes) -> str:
    return peer_id_from_ed25519(public_key)


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    return verify_ed25519(public_key.hex(), message, signature)
