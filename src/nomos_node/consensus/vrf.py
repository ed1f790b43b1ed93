"""A BLS signature used as a VRF: unique (one valid signature per key and message) and publicly verifiable.

proof  = sk · H_G2(epoch_nonce ‖ slot ‖ note_id) (compressed G2, 96 bytes)
output = Blake2b-256(proof)                      (the lottery ticket)
verify: e(pk, H_G2(m)) == e(G1, proof), checked as one product of pairings.
The note id (32 bytes) makes each note's lottery independent, as the spec's ticket over the note's commitment.
"""

from __future__ import annotations

from dataclasses import dataclass

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from nomos_node.crypto.hashing import blake2b_256

VRF_DST = b"NOMOS-CRYPTARCHIA-VRF-V1_BLS12381G2_XMD:SHA-256_SSWU_RO_"
PROOF_BYTES = 96
PK_BYTES = 48
_G1 = G1Point()
_NEG_G1 = -G1Point()
_G1_IDENTITY = G1Point.identity()


@dataclass(frozen=True)
class VrfResult:
    output: bytes
    proof: bytes


def vrf_message(epoch_nonce: bytes, slot: int, note_id: bytes) -> bytes:
    return epoch_nonce + slot.to_bytes(8, "big") + note_id


def vrf_evaluate(sk: Scalar, epoch_nonce: bytes, slot: int, note_id: bytes) -> VrfResult:
    message = G2Point.hash_to_curve(VRF_DST, vrf_message(epoch_nonce, slot, note_id))
    proof = bytes((message * sk).to_compressed_bytes())
    return VrfResult(output=blake2b_256(proof), proof=proof)


def vrf_verify(vrf_pk: bytes, epoch_nonce: bytes, slot: int, note_id: bytes, output: bytes, proof: bytes) -> bool:
    """True iff ``proof`` is the BLS signature of (epoch_nonce, slot, note_id) under ``vrf_pk`` and ``output`` its
    hash."""
    if len(vrf_pk) != PK_BYTES or len(proof) != PROOF_BYTES or output != blake2b_256(proof):
        return False
    try:
        # from_compressed_bytes rejects points off the curve or outside the prime-order subgroup
        pk = G1Point.from_compressed_bytes(vrf_pk)
        signature = G2Point.from_compressed_bytes(proof)
    except Exception:  # the binding raises a bare Exception for malformed points
        return False
    if pk == _G1_IDENTITY:  # the zero key would "sign" every message with the identity point
        return False
    message_point = G2Point.hash_to_curve(VRF_DST, vrf_message(epoch_nonce, slot, note_id))
    return bool(GT.pairing_check([pk, _NEG_G1], [message_point, signature]))
