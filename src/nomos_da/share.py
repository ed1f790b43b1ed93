"""A DA share (column j of a blob's extended matrix) and its JSON form.

JSON (docs/node-api.md; byte strings lowercase hex without ``0x``, ``0x`` and upper case accepted on input)::

    {"blob_id": "<32 bytes>", "share_idx": j,
     "column": ["<32-byte big-endian field element>", …],          # one per row
     "combined_column_proof": "<48-byte compressed G1>",
     "rows_commitments": ["<48-byte compressed G1>", …]}           # one per row

`Share.from_json` is strict: any other shape raises ShareFormatError naming the field. It checks the form
only (lengths, ranges); whether the share is *right* is `nomos_da.verifier.verify_share`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nomos_da.field import BLS_MODULUS, BYTES_PER_FIELD_ELEMENT, ROOTS_OF_UNITY_ORDER

BLOB_ID_BYTES = 32
G1_COMPRESSED_BYTES = 48
MAX_SHARE_INDEX = ROOTS_OF_UNITY_ORDER - 1  # the encoding domain has 4096 points
FIELDS = ("blob_id", "share_idx", "column", "combined_column_proof", "rows_commitments")


class ShareFormatError(ValueError):
    """A share in JSON that does not have the expected form; the message names the field."""


@dataclass(frozen=True)
class Share:
    """Column `share_idx` of a blob: one field element per row, the combined opening proof of the column and
    the row commitments (compressed G1 points)."""

    blob_id: bytes
    share_idx: int
    column: tuple[int, ...]
    combined_column_proof: bytes
    rows_commitments: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "blob_id": self.blob_id.hex(),
            "share_idx": self.share_idx,
            "column": [value.to_bytes(BYTES_PER_FIELD_ELEMENT, "big").hex() for value in self.column],
            "combined_column_proof": self.combined_column_proof.hex(),
            "rows_commitments": [commitment.hex() for commitment in self.rows_commitments],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Share:
        if not isinstance(obj, dict):
            raise ShareFormatError(f"a share is a JSON object with {', '.join(FIELDS)}; got {type(obj).__name__}")
        missing = [name for name in FIELDS if name not in obj]
        if missing:
            raise ShareFormatError(f"share: missing field(s) {', '.join(missing)}")
        unknown = sorted(set(obj) - set(FIELDS))
        if unknown:
            raise ShareFormatError(f"share: unknown field(s) {', '.join(map(str, unknown))}")
        index = obj["share_idx"]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= MAX_SHARE_INDEX:
            raise ShareFormatError(f"share_idx: expected an integer in 0..{MAX_SHARE_INDEX}, got {index!r}")
        column_json = _list(obj["column"], "column")
        commitments_json = _list(obj["rows_commitments"], "rows_commitments")
        if not commitments_json:
            raise ShareFormatError("rows_commitments: a blob has at least one row")
        if len(column_json) != len(commitments_json):
            raise ShareFormatError(f"column: {len(column_json)} elements but {len(commitments_json)} "
                                   f"rows_commitments (one per row each)")
        column = []
        for position, item in enumerate(column_json):
            value = int.from_bytes(_hex(item, f"column[{position}]", BYTES_PER_FIELD_ELEMENT), "big")
            if value >= BLS_MODULUS:
                raise ShareFormatError(f"column[{position}]: not a field element (not below the BLS12-381 "
                                       f"scalar modulus)")
            column.append(value)
        return cls(
            blob_id=_hex(obj["blob_id"], "blob_id", BLOB_ID_BYTES),
            share_idx=index,
            column=tuple(column),
            combined_column_proof=_hex(obj["combined_column_proof"], "combined_column_proof",
                                       G1_COMPRESSED_BYTES),
            rows_commitments=tuple(_hex(item, f"rows_commitments[{position}]", G1_COMPRESSED_BYTES)
                                   for position, item in enumerate(commitments_json)),
        )


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ShareFormatError(f"{name}: expected a list, got {type(value).__name__}")
    return value


def _hex(value: Any, name: str, length: int) -> bytes:
    if not isinstance(value, str):
        raise ShareFormatError(f"{name}: expected a hex string of {length} bytes, got {type(value).__name__}")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise ShareFormatError(f"{name}: not hex ({value[:20]!r}…)") from None
    if len(data) != length or len(text) != 2 * length:
        raise ShareFormatError(f"{name}: expected {length} bytes ({2 * length} hex digits), got {len(text)} digits")
    return data
