"""Node identity derived from ``node.key_seed`` (see docs/node-config.md, "Key derivation")."""

from __future__ import annotations

from dataclasses import dataclass

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from py_arkworks_bls12381 import G1Point, Scalar

from nomos_node.codec import HexError, from_hex
from nomos_node.crypto.hashing import blake2b_256, blake2b_512

SEED_BYTES = 32
NODE_KEY_TAG = b"nomos/node-key"
VRF_KEY_TAG = b"nomos/vrf-key"
# identity multihash (0x00, length 0x24) of the protobuf PublicKey{type: Ed25519 (0x08 0x01),
# data: 32 bytes (0x12 0x20)}
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
MAX_PEER_ID_CHARS = 64


def peer_id_from_ed25519(public_key: bytes) -> str:
    """libp2p peer id of an Ed25519 public key (base58btc, starts with ``12D3KooW``)."""
    if len(public_key) != 32:
        raise ValueError(f"Ed25519 public key must be 32 bytes, got {len(public_key)}")
    return base58.b58encode(_PEER_ID_PREFIX + public_key).decode()


def ed25519_from_peer_id(peer_id: str) -> bytes:
    """Inverse of :func:`peer_id_from_ed25519`; ValueError when it is not an Ed25519 peer id."""
    # base58 decoding is quadratic in the length: refuse anything longer than an Ed25519 peer id (52 chars) first
    if len(peer_id) > MAX_PEER_ID_CHARS:
        raise ValueError(f"peer id of {len(peer_id)} chars is too long; an Ed25519 peer id has 52 base58 chars")
    try:
        raw = base58.b58decode(peer_id)
    except ValueError as exc:
        raise ValueError(f"peer id {peer_id!r} is not base58") from exc
    if len(raw) != 38 or not raw.startswith(_PEER_ID_PREFIX):
        raise ValueError(f"peer id {peer_id!r} is not an Ed25519 identity peer id")
    return raw[len(_PEER_ID_PREFIX) :]


def verify_ed25519(pk_hex: str, message: bytes, signature: bytes) -> bool:
    """True iff ``signature`` is a valid Ed25519 signature of ``message`` by ``pk_hex``; never raises."""
    try:
        public_key = Ed25519PublicKey.from_public_bytes(from_hex(pk_hex, 32, "public key"))
        public_key.verify(signature, message)
    except (HexError, InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class NodeKeys:
    """Ed25519 node key (handshake, peer id, block signatures) and BLS12-381 VRF key of one node."""

    node_key: Ed25519PrivateKey
    signing_pk: bytes
    vrf_sk: Scalar
    vrf_pk: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeKeys:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"key seed must be {SEED_BYTES} bytes, got {len(seed)}")
        node_key = Ed25519PrivateKey.from_private_bytes(blake2b_256(NODE_KEY_TAG, seed))
        signing_pk = node_key.public_key().public_bytes_raw()
        vrf_sk = Scalar.from_be_bytes_mod_order(blake2b_512(VRF_KEY_TAG, seed))
        vrf_pk = (G1Point() * vrf_sk).to_compressed_bytes()
        return cls(node_key=node_key, signing_pk=signing_pk, vrf_sk=vrf_sk, vrf_pk=bytes(vrf_pk))

    @property
    def signing_pk_hex(self) -> str:
        return self.signing_pk.hex()

    @property
    def vrf_pk_hex(self) -> str:
        return self.vrf_pk.hex()

    @property
    def peer_id(self) -> str:
        return peer_id_from_ed25519(self.signing_pk)

    def sign(self, message: bytes) -> bytes:
        return self.node_key.sign(message)
