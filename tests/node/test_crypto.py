"""Key derivation, peer ids, Ed25519 verification, hashing and hex helpers."""

from __future__ import annotations

import base58
import pytest
from py_arkworks_bls12381 import G1Point, Scalar

from nomos_node.codec import HexError, canonical_json, from_hex, normalize_hex
from nomos_node.crypto.hashing import ZERO_HASH, blake2b_256, blake2b_512, merkle_root
from nomos_node.crypto.keys import NodeKeys, ed25519_from_peer_id, peer_id_from_ed25519, verify_ed25519


def test_keys_are_deterministic_and_follow_the_documented_derivation() -> None:
    seed = bytes(range(32))
    keys = NodeKeys.from_seed(seed)
    assert NodeKeys.from_seed(seed).signing_pk == keys.signing_pk
    assert NodeKeys.from_seed(bytes(32)).signing_pk != keys.signing_pk
    expected_scalar = int.from_bytes(blake2b_512(b"nomos/vrf-key", seed), "big")
    r = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
    expected_pk = (G1Point() * Scalar.from_be_bytes((expected_scalar % r).to_bytes(32, "big"))).to_compressed_bytes()
    assert keys.vrf_pk == bytes(expected_pk) and len(keys.vrf_pk) == 48
    assert len(keys.signing_pk) == 32


def test_peer_id_is_libp2p_ed25519_identity_multihash() -> None:
    keys = NodeKeys.from_seed(bytes(32))
    assert keys.peer_id.startswith("12D3KooW")
    raw = base58.b58decode(keys.peer_id)
    assert raw[:6] == bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) and raw[6:] == keys.signing_pk
    assert ed25519_from_peer_id(keys.peer_id) == keys.signing_pk
    assert peer_id_from_ed25519(keys.signing_pk) == keys.peer_id
    with pytest.raises(ValueError):
        ed25519_from_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")


def test_ed25519_signature_verification() -> None:
    keys = NodeKeys.from_seed(bytes(32))
    signature = keys.sign(b"header id")
    assert verify_ed25519(keys.signing_pk_hex, b"header id", signature)
    assert verify_ed25519("0x" + keys.signing_pk_hex.upper(), b"header id", signature)
    assert not verify_ed25519(keys.signing_pk_hex, b"other", signature)
    assert not verify_ed25519(keys.signing_pk_hex, b"header id", bytes(64))
    assert not verify_ed25519("zz", b"header id", signature)
    other = NodeKeys.from_seed(bytes([9]) * 32)
    assert not verify_ed25519(other.signing_pk_hex, b"header id", signature)


def test_hashing() -> None:
    assert blake2b_256(b"ab", b"c") == blake2b_256(b"abc") and len(blake2b_256()) == 32
    assert merkle_root([]) == ZERO_HASH
    leaves = [blake2b_256(bytes([i])) for i in range(5)]
    assert merkle_root(leaves) != merkle_root(leaves[:4])
    assert merkle_root(leaves) != merkle_root(list(reversed(leaves)))
    assert merkle_root(leaves[:1]) != leaves[0]


def test_codec() -> None:
    assert canonical_json({"b": 1, "a": [1.0, "é"]}) == '{"a":[1.0,"é"],"b":1}'.encode()
    assert from_hex("0xABcd", 2) == b"\xab\xcd" and normalize_hex("0XABCD") == "abcd"
    for bad in ("abc", "zz", 12, None):
        with pytest.raises(HexError):
            from_hex(bad)
    with pytest.raises(HexError, match="expected 3 bytes"):
        from_hex("abcd", 3, "block id")
