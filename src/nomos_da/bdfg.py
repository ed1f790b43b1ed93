"""The Fiat–Shamir combination of the rows (the specification's ``da/kzg_rs/bdfg_proving.py``) and the blob id.

* ``h = BLAKE2b-31("NOMOS_DA_V1" ‖ C_0 ‖ C_1 ‖ …)`` over the compressed (48-byte) row commitments, read as
  the specification does: the 31-byte digest followed by one zero byte, as a big-endian integer — that is
  ``digest · 256`` — reduced mod r.
* Row r is weighted by ``h^r``: combined polynomial ``Q = Σ h^r·P_r``, combined commitment
  ``C_Q = Σ h^r·C_r`` (one MSM), combined value of a column ``v = Σ h^r·column[r]``.
* ``blob_id = BLAKE2b-256(C_0 ‖ C_1 ‖ …)`` over the compressed row commitments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from nomos_da.field import BLS_MODULUS, powers

DST = b"NOMOS_DA_V1"
CHALLENGE_DIGEST_BYTES = 31


def derive_challenge(rows_commitments: Sequence[bytes]) -> int:
    """The Fiat–Shamir challenge h (an Fr int) from the compressed row commitments."""
    hasher = hashlib.blake2b(digest_size=CHALLENGE_DIGEST_BYTES)
    hasher.update(DST)
    for commitment in rows_commitments:
        hasher.update(commitment)
    return int.from_bytes(hasher.digest() + b"\x00", "big") % BLS_MODULUS


def build_blob_id(rows_commitments: Sequence[bytes]) -> bytes:
    """Blake2b-256 over the compressed row commitments, in row order."""
    hasher = hashlib.blake2b(digest_size=32)
    for commitment in rows_commitments:
        hasher.update(commitment)
    return hasher.digest()


def combine(values: Sequence[int], h: int) -> int:
    """``Σ h^r·values[r]`` mod r (a column's combined value)."""
    result = 0
    for value in reversed(values):
        result = (result * h + value) % BLS_MODULUS
    return result


def challenge_powers(h: int, rows: int) -> list[int]:
    """``[h^0, h^1, …, h^(rows-1)]``."""
    return powers(h, rows)
