"""Encode a blob into n shares (the specification's ``da/encoder.py``).

1. Chunkify: pad the data with zero bytes to a whole number of rows (a row is k = n/2 chunks of 31
   bytes); each 31-byte chunk is a big-endian integer, i.e. the field element whose 32-byte big-endian
   form is ``0x00 ‖ chunk``.
2. Row r, as evaluations at ``ω^0 … ω^(k-1)`` (ω = ω_4096), defines P_r (degree < k); commitment
   ``C_r = KZG(P_r)``.
3. RS ×2: the extended row is P_r at ``ω^0 … ω^(2k-1)`` (the row, then k new values).
4. ``h = derive_challenge(C_0 …)``, ``Q = Σ h^r·P_r``, and for each column j the proof π_j opening Q at ω^j.
5. Share j = (column j of the extended matrix, j, π_j, [C_r]); ``blob_id = Blake2b-256(C_0 ‖ …)``.

The padding makes any size encodable; for sizes that are a multiple of 31·k it is absent and the result is
the specification's, bit for bit. The original size travels separately (the blob transaction's
``blob_size``) and `nomos_da.verifier.reconstruct` needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nomos_da import kzg, poly, rs
from nomos_da.bdfg import build_blob_id, challenge_powers, derive_challenge
from nomos_da.field import BLS_MODULUS, BYTES_PER_FIELD_ELEMENT, ROOTS_OF_UNITY_ORDER
from nomos_da.params import KzgParams
from nomos_da.share import Share

BYTES_PER_CHUNK = 31


@dataclass(frozen=True)
class EncodedBlob:
    """The result of `encode`: `shares[j]` goes to subnetwork j."""

    blob_id: bytes
    num_columns: int
    original_size: int
    rows_commitments: tuple[bytes, ...]
    combined_column_proofs: tuple[bytes, ...]
    shares: tuple[Share, ...]

    @property
    def rows(self) -> int:
        return len(self.rows_commitments)


def check_num_columns(num_columns: int) -> int:
    """k = num_columns / 2, after checking num_columns is a power of two in 2 … 4096."""
    if (not isinstance(num_columns, int) or isinstance(num_columns, bool) or num_columns < 2
            or num_columns & (num_columns - 1) or num_columns > ROOTS_OF_UNITY_ORDER):
        raise ValueError(f"num_columns must be a power of two between 2 and {ROOTS_OF_UNITY_ORDER}, "
                         f"got {num_columns!r}")
    return num_columns // 2


def row_bytes(num_columns: int) -> int:
    """Payload bytes per row: 31 · num_columns / 2."""
    return BYTES_PER_CHUNK * check_num_columns(num_columns)


def chunkify(data: bytes, num_columns: int) -> list[list[int]]:
    """The data matrix: rows of num_columns/2 field elements (31-byte big-endian chunks), zero-padded."""
    k = check_num_columns(num_columns)
    width = BYTES_PER_CHUNK * k
    rows = max(1, -(-len(data) // width))
    padded = bytes(data) + bytes(rows * width - len(data))
    return [[int.from_bytes(padded[start:start + BYTES_PER_CHUNK], "big")
             for start in range(row_start, row_start + width, BYTES_PER_CHUNK)]
            for row_start in range(0, rows * width, width)]


def encode(data: bytes, num_columns: int, params: KzgParams) -> EncodedBlob:
    """Encode `data` (non-empty) into `num_columns` shares (a power of two, 2 … 4096) with the KZG `params`."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise ValueError("nothing to encode: the data is empty")
    k = check_num_columns(num_columns)
    if k > len(params.g1):
        raise ValueError(f"{num_columns} columns need {k} G1 powers, the setup has {len(params.g1)}")
    matrix = chunkify(bytes(data), num_columns)

    # Row commitments: committing to the row values with the Lagrange points is committing to P_r.
    lagrange = kzg.lagrange_points(params, k)
    rows_commitments = tuple(kzg.compress(kzg.msm(lagrange, row)) for row in matrix)

    # RS ×2 extension: the row, then the k new evaluations.
    extension = rs.extension_matrix(k)
    extended = [[*row, *poly.apply(extension, row)] for row in matrix]

    # Fiat–Shamir combination, Q in evaluation form at ω^0 … ω^(k-1), then its coefficients.
    h = derive_challenge(rows_commitments)
    weights = challenge_powers(h, len(matrix))
    combined_values = [sum(weight * row[i] for weight, row in zip(weights, matrix, strict=True)) % BLS_MODULUS
                       for i in range(k)]
    combined = poly.apply(rs.interpolation_matrix(k), combined_values)

    points = rs.domain(num_columns)
    proofs = tuple(kzg.compress(kzg.prove(combined, points[j], params)[0]) for j in range(num_columns))

    blob_id = build_blob_id(rows_commitments)
    shares = tuple(
        Share(blob_id=blob_id, share_idx=j, column=tuple(row[j] for row in extended),
              combined_column_proof=proofs[j], rows_commitments=rows_commitments)
        for j in range(num_columns))
    return EncodedBlob(blob_id=blob_id, num_columns=num_columns, original_size=len(data),
                       rows_commitments=rows_commitments, combined_column_proofs=proofs, shares=shares)


def field_element_bytes(value: int) -> bytes:
    """The 32-byte big-endian form of a field element (the form of a column entry)."""
    return value.to_bytes(BYTES_PER_FIELD_ELEMENT, "big")
