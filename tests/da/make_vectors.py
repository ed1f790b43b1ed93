"""Produce tests/da/vectors.json: payloads and what `nomos_da` encodes them into (row commitments, blob id,
extended columns, combined column proofs) with the specification's test setup (τ = 1987).

    .venv/bin/python -m tests.da.make_vectors            # rewrite tests/da/vectors.json
    .venv/bin/python -m tests.da.make_vectors --check    # exit 1 if the file differs from a fresh run

The payloads are fixed (Blake2b-derived bytes, so no randomness). `spec_exact` marks payloads whose length is
a multiple of 31·n/2: for those the specification's encoder gives the same bytes (tests/da/crosscheck_spec.py
checks it against the reference code); the others use this package's zero padding to a whole row (the
reference gives the same bytes for the padded payload), except `spec_proof_differs_at` (see CASES).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from nomos_da import rs
from nomos_da.encoder import encode, row_bytes
from nomos_da.field import BLS_MODULUS
from nomos_da.params import spec_setup

VECTORS = Path(__file__).with_name("vectors.json")

# (name, num_columns, payload size, kind)
CASES = [
    ("one-row-2-columns", 2, 31, "counting"),
    ("three-rows-4-columns", 4, 3 * 62, "hashed"),
    ("two-rows-8-columns", 8, 2 * 124, "hashed"),
    ("three-rows-16-columns", 16, 3 * 248, "hashed"),
    ("zeros-4-columns", 4, 2 * 62, "zeros"),
    ("padded-100-bytes-4-columns", 4, 100, "hashed"),
    ("division-edge-8-columns", 8, 124, "division-edge"),
]
# The "division-edge" payload is one row (k = 4) whose row polynomial P = a0 + a1·x + a2·x² + a3·x³ has
# a2 + a3·ω^5 = 0: dividing P - P(ω^5) by (x - ω^5), the reference's long division (da/kzg_rs/poly.py) then
# drops a zero quotient coefficient and its proof for column 5 fails its own verifier; this package's proof
# is the correct one (docs/data-availability.md).
DIVISION_EDGE_COLUMN = 5


def payload(name: str, size: int, kind: str) -> bytes:
    if kind == "zeros":
        return bytes(size)
    if kind == "division-edge":
        return division_edge_payload(name)
    if kind == "counting":
        return bytes(i % 256 for i in range(size))
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.blake2b(f"nomos-da-vector:{name}:{counter}".encode(), digest_size=64).digest()
        counter += 1
    return bytes(out[:size])


def division_edge_payload(name: str) -> bytes:
    k, u = 4, rs.domain(8)[DIVISION_EDGE_COLUMN]
    matrix = rs.interpolation_matrix(k)
    weights = [(matrix[2][i] + u * matrix[3][i]) % BLS_MODULUS for i in range(k)]  # a2 + a3·u, per value
    for counter in range(10_000):
        seed = hashlib.blake2b(f"nomos-da-vector:{name}:{counter}".encode(), digest_size=64).digest()
        values = [int.from_bytes(hashlib.blake2b(seed + bytes([i])).digest()[:31], "big") for i in range(k - 1)]
        partial = sum(w * v for w, v in zip(weights, values, strict=False)) % BLS_MODULUS
        last = -partial * pow(weights[-1], -1, BLS_MODULUS) % BLS_MODULUS
        if last < 1 << 248:  # fits a 31-byte chunk
            return b"".join(v.to_bytes(31, "big") for v in [*values, last])
    raise RuntimeError("no division-edge payload found")


def build() -> dict[str, Any]:
    params = spec_setup()
    vectors = []
    for name, num_columns, size, kind in CASES:
        data = payload(name, size, kind)
        blob = encode(data, num_columns, params)
        vectors.append({
            "name": name,
            "num_columns": num_columns,
            "spec_exact": size % row_bytes(num_columns) == 0 and kind != "division-edge",
            **({"spec_proof_differs_at": DIVISION_EDGE_COLUMN} if kind == "division-edge" else {}),
            "payload": data.hex(),
            "blob_id": blob.blob_id.hex(),
            "rows_commitments": [c.hex() for c in blob.rows_commitments],
            "combined_column_proofs": [p.hex() for p in blob.combined_column_proofs],
            "columns": [share.to_json()["column"] for share in blob.shares],
        })
    return {
        "about": "nomos_da encodings with the specification's insecure test setup (tau = 1987); "
                 "produced by `python -m tests.da.make_vectors`. Hex: lowercase; field elements 32-byte "
                 "big-endian; points compressed (ZCash/IETF form).",
        "vectors": vectors,
    }


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        same = VECTORS.read_text() == text
        print("vectors.json is up to date" if same else "vectors.json differs from a fresh run")
        return 0 if same else 1
    VECTORS.write_text(text)
    print(f"wrote {VECTORS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
