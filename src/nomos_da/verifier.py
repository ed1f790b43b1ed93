"""Verify a share against its row commitments, and rebuild a blob from any half of its shares.

`verify_share` follows the specification's ``da/verifier.py``: ``h`` from the row commitments,
``C_Q = MSM([C_r], [h^r])``, ``v = Σ h^r·column[r]``, then one pairing check that the share's proof opens
C_Q to v at ω_4096^share_idx. On top it checks what the specification leaves to the caller: the blob id is
the hash of the row commitments, the column has one element per row, every point is a canonical compressed
subgroup point and, when the caller knows the number of columns, the index is below it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from py_arkworks_bls12381 import G1Point

from nomos_da import kzg, poly, rs
from nomos_da.bdfg import build_blob_id, challenge_powers, combine, derive_challenge
from nomos_da.encoder import BYTES_PER_CHUNK, check_num_columns
from nomos_da.field import ROOTS_OF_UNITY_ORDER
from nomos_da.params import KzgParams
from nomos_da.share import Share


class ReconstructionError(ValueError):
    """The shares cannot give the blob back (too few, inconsistent, or not matching the size)."""


_COMBINED_CACHE_SIZE = 256
_combined_cache: OrderedDict[bytes, tuple[int, G1Point]] = OrderedDict()
_combined_lock = threading.Lock()


def _combined_commitment(blob_id: bytes, rows_commitments: tuple[bytes, ...]) -> tuple[int, G1Point]:
    """(h, C_Q) for a blob's row commitments, cached by their hash `blob_id` (every share of a blob carries the
    same ones; the key is 32 bytes however many rows). Raises ValueError when a commitment is not a valid point."""
    with _combined_lock:
        cached = _combined_cache.get(blob_id)
        if cached is not None:
            _combined_cache.move_to_end(blob_id)
            return cached
    points = [kzg.decompress(commitment) for commitment in rows_commitments]
    h = derive_challenge(rows_commitments)
    result = h, kzg.msm(points, challenge_powers(h, len(points)))
    with _combined_lock:
        _combined_cache[blob_id] = result
        while len(_combined_cache) > _COMBINED_CACHE_SIZE:
            _combined_cache.popitem(last=False)
    return result


def clear_cache() -> None:
    """Forget the cached combined commitments (benchmarks measure a first verification with it)."""
    with _combined_lock:
        _combined_cache.clear()


def check_share(share: Share, params: KzgParams, num_columns: int | None = None) -> str | None:
    """None when `share` is valid, else why not (for logs and rejection counters)."""
    rows = len(share.rows_commitments)
    if rows == 0:
        return "no row commitments"
    if len(share.column) != rows:
        return f"column has {len(share.column)} elements for {rows} rows"
    limit = ROOTS_OF_UNITY_ORDER if num_columns is None else num_columns
    if not 0 <= share.share_idx < limit:
        return f"share_idx {share.share_idx} out of range (< {limit})"
    blob_id = build_blob_id(share.rows_commitments)
    if blob_id != share.blob_id:
        return "blob_id is not the hash of the row commitments"
    try:
        h, combined_commitment = _combined_commitment(blob_id, tuple(share.rows_commitments))
    except ValueError as exc:
        return f"bad row commitment: {exc}"
    try:
        proof = kzg.decompress(share.combined_column_proof)
    except ValueError as exc:
        return f"bad combined_column_proof: {exc}"
    value = combine(share.column, h)
    point = rs.domain(share.share_idx + 1)[share.share_idx]
    if not kzg.verify(combined_commitment, point, value, proof, params):
        return "the combined column proof does not open the combined commitment to this column"
    return None


def verify_share(share: Share, params: KzgParams, num_columns: int | None = None) -> bool:
    """True when `share` is column `share_idx` of the blob its row commitments commit to. Never raises for
    bad share contents. `num_columns`, when given, also bounds the index."""
    return check_share(share, params, num_columns) is None


def reconstruct(shares: Iterable[Share], original_size: int, num_columns: int | None = None) -> bytes:
    """The original payload (its first `original_size` bytes) from any num_columns/2 distinct shares of it.

    The shares are not verified here (use `verify_share`). `num_columns` is the blob's column count; without
    it, it is deduced from the number of rows and `original_size` (unique when the blob has two rows or
    more); a one-row blob then interpolates through every share given, which is right as long as at least
    half of the columns are given. Raises ReconstructionError."""
    by_index: dict[int, Share] = {}
    for share in shares:
        by_index.setdefault(share.share_idx, share)
    if not by_index:
        raise ReconstructionError("no shares")
    if isinstance(original_size, bool) or not isinstance(original_size, int) or original_size < 1:
        raise ReconstructionError(f"original_size must be a positive integer, got {original_size!r}")
    first = next(iter(by_index.values()))
    rows = len(first.column)
    if rows == 0:
        raise ReconstructionError("the shares have empty columns")
    if any(share.blob_id != first.blob_id or len(share.column) != rows for share in by_index.values()):
        raise ReconstructionError("the shares are not all of one blob (blob ids or column lengths differ)")
    indices = sorted(by_index)
    chunks_needed = -(-original_size // BYTES_PER_CHUNK)

    if num_columns is None and rows == 1:
        # Interpolate through every share: the row polynomial has degree < k <= len(indices) when at least
        # half of the columns are given, and the payload is its values at the first positions.
        if len(indices) < chunks_needed:
            raise ReconstructionError(f"{len(indices)} distinct shares cannot hold {original_size} bytes "
                                      f"({chunks_needed} chunks of {BYTES_PER_CHUNK})")
        points = rs.domain(max(chunks_needed, indices[-1] + 1))
        matrix = poly.evaluation_matrix([points[i] for i in indices], points[:chunks_needed])
        chosen = indices
    else:
        if num_columns is not None:
            k = check_num_columns(num_columns)
        else:
            # ceil(size / (31·k)) == rows has at most one power-of-two solution k when rows >= 2
            candidates = [1 << e for e in range(12) if -(-original_size // (BYTES_PER_CHUNK << e)) == rows]
            if not candidates:
                raise ReconstructionError(f"{original_size} bytes do not make {rows} rows for any column count")
            k = candidates[0]
        expected_rows = -(-original_size // (BYTES_PER_CHUNK * k))
        if expected_rows != rows:
            raise ReconstructionError(f"{original_size} bytes make {expected_rows} rows with {2 * k} columns, "
                                      f"the shares have {rows}")
        if indices[-1] >= 2 * k:
            raise ReconstructionError(f"share index {indices[-1]} out of range for {2 * k} columns")
        if len(indices) < k:
            raise ReconstructionError(f"{len(indices)} distinct shares; at least {k} (half of {2 * k}) are needed")
        chosen = indices[:k]
        matrix = rs.recovery_matrix(k, tuple(chosen))

    columns = [by_index[i].column for i in chosen]
    out = bytearray()
    for r in range(rows):
        for value in poly.apply(matrix, [column[r] for column in columns]):
            if value >> (8 * BYTES_PER_CHUNK):
                raise ReconstructionError(f"row {r} decodes to a value wider than {BYTES_PER_CHUNK} bytes: the "
                                          f"shares are not of one consistent blob")
            out += value.to_bytes(BYTES_PER_CHUNK, "big")
    return bytes(out[:original_size])
