"""Key derivation exactly as docs/node-config.md specifies it, implemented on the framework side so
the framework never imports the node: node key (Ed25519) and leader VRF key (BLS12-381) from a 32-byte
seed, plus the framework's own seeded derivations (per-node seeds, wallet keys)."""

from __future__ import annotations

import hashlib

import base58
import py_arkworks_bls12381 as bls
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

BLS12_381_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001


def blake2b(data: bytes, digest_size: int) -> bytes:
    return hashlib.blake2b(data, digest_size=digest_size).digest()


def node_private_key(seed: bytes) -> bytes:
    return blake2b(b"nomos/node-key" + seed, 32)


def vrf_secret(seed: bytes) -> int:
    return int.from_bytes(blake2b(b"nomos/vrf-key" + seed, 64), "big") % BLS12_381_ORDER


def ed25519_public(private_key: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signing_pk(seed: bytes) -> str:
    return ed25519_public(node_private_key(seed)).hex()


def vrf_pk(seed: bytes) -> str:
    point = bls.G1Point() * bls.Scalar(vrf_secret(seed))
    return bytes(point.to_compressed_bytes()).hex()


# identity multihash (0x00, length 0x24) of the protobuf PublicKey{type: Ed25519, data: 32 bytes}
_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])


def peer_id(signing_pk_hex: str) -> str:
    """The libp2p peer id of a node's Ed25519 key (base58btc, 12D3KooW…), as docs/node-config.md derives it."""
    return base58.b58encode(_PEER_ID_PREFIX + bytes.fromhex(signing_pk_hex)).decode()


def _scenario_seed_bytes(scenario_seed: int) -> bytes:
    return scenario_seed.to_bytes(8, "big")


def node_key_seed(scenario_seed: int, node_name: str) -> bytes:
    """The 32-byte `node.key_seed` of one node: a function of the scenario seed and the node's name."""
    return blake2b(b"nomos-testing/node-seed" + _scenario_seed_bytes(scenario_seed) + node_name.encode(), 32)


def wallet_secret(scenario_seed: int, index: int) -> bytes:
    return blake2b(b"nomos-testing/wallet" + _scenario_seed_bytes(scenario_seed) + index.to_bytes(4, "big"), 32)
