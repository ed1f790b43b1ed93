"""Proof of leadership (PoL).

Dev mode (``POL_PROOF_DEV_MODE`` true): the proof is the VRF alone; the block's ``proof`` field is "".
Otherwise the leader must also find a 64-bit nonce with
``Blake2b-256(POL_DOMAIN ‖ vrf_output ‖ slot ‖ nonce) < 2^256 / 2^difficulty_bits``: about 2^difficulty_bits
hashes to produce, one hash to check. The proof field is the nonce as 16 hex chars.

Acceptance rule: a valid nonce proof is always accepted; a bad one is always rejected; an empty proof is
accepted only by nodes in dev mode.
"""

from __future__ import annotations

import hashlib

POL_DOMAIN = b"nomos/pol/v1"
# ~2^22 Blake2b calls ≈ 2.2 s of one core here (1.94 M hashes/s measured, docs/consensus.md): seconds per won slot
DEFAULT_POL_DIFFICULTY_BITS = 22
NONCE_BYTES = 8


def _prefix_state(vrf_output: bytes, slot: int) -> hashlib.blake2b:
    state = hashlib.blake2b(digest_size=32)
    state.update(POL_DOMAIN + vrf_output + slot.to_bytes(8, "big"))
    return state


def _limit(difficulty_bits: int) -> int:
    """Threshold on the first 8 digest bytes (big-endian) equivalent to digest < 2^(256 - bits)."""
    if not 0 <= difficulty_bits <= 64:
        raise ValueError(f"difficulty_bits must be in [0, 64], got {difficulty_bits}")
    return 1 << (64 - difficulty_bits)


def solve_pol(vrf_output: bytes, slot: int, difficulty_bits: int = DEFAULT_POL_DIFFICULTY_BITS) -> str:
    """Search nonces 0, 1, 2, … until one meets the target; returns it as 16 hex chars. CPU-bound, holds the GIL."""
    limit = _limit(difficulty_bits)
    prefix = _prefix_state(vrf_output, slot)
    for nonce in range(1 << 64):
        candidate = nonce.to_bytes(NONCE_BYTES, "big")
        state = prefix.copy()
        state.update(candidate)
        if int.from_bytes(state.digest()[:8], "big") < limit:
            return candidate.hex()
    raise RuntimeError("no PoL nonce in 2^64 tries")  # unreachable for difficulty_bits <= 64


def verify_pol(proof: str, vrf_output: bytes, slot: int, difficulty_bits: int = DEFAULT_POL_DIFFICULTY_BITS) -> bool:
    if not isinstance(proof, str) or len(proof) != 2 * NONCE_BYTES:
        return False
    try:
        nonce = bytes.fromhex(proof)
    except ValueError:
        return False
    state = _prefix_state(vrf_output, slot)
    state.update(nonce)
    return int.from_bytes(state.digest()[:8], "big") < _limit(difficulty_bits)


def pol_accepted(
    proof: str, vrf_output: bytes, slot: int, dev_mode: bool, difficulty_bits: int = DEFAULT_POL_DIFFICULTY_BITS
) -> str | None:
    """None when the proof is acceptable under the mode rule, else the reason ("missing_pol" | "bad_pol")."""
    if proof == "":
        return None if dev_mode else "missing_pol"
    return None if verify_pol(proof, vrf_output, slot, difficulty_bits) else "bad_pol"
