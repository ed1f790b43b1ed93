"""Transactions: strict parsing of the JSON form, hashes, and the refusal reasons (docs/node-api.md).

Everything that can be judged without the ledger is judged here (shape, sizes, duplicate inputs); unspent
inputs, ownership and balance are judged against a branch's state (state.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from nomos_node.codec import canonical_json, is_hex, strip_0x
from nomos_node.crypto.hashing import blake2b_256
from nomos_node.ledger.notes import Note, note_id

MAX_INPUTS = 16
MAX_OUTPUTS = 16
MAX_TX_BYTES = 4096
MAX_AMOUNT = (1 << 63) - 1
_FIELDS = frozenset(("ops", "inputs", "outputs", "fee", "signatures"))
_OUTPUT_FIELDS = frozenset(("value", "pk"))


class TxReason(StrEnum):
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    UNKNOWN_INPUT = "unknown_input"
    DOUBLE_SPEND = "double_spend"
    BAD_SIGNATURE = "bad_signature"
    OVERSPEND = "overspend"
    MEMPOOL_FULL = "mempool_full"


HTTP_STATUS = {
    TxReason.MALFORMED: 400,
    TxReason.UNKNOWN_INPUT: 400,
    TxReason.BAD_SIGNATURE: 400,
    TxReason.OVERSPEND: 400,
    TxReason.DOUBLE_SPEND: 409,
    TxReason.TOO_LARGE: 413,
    TxReason.MEMPOOL_FULL: 429,
}


class TxError(ValueError):
    """A transaction refused, with its reason code and a one-line detail."""

    def __init__(self, reason: TxReason, detail: str, tx_hash: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.tx_hash = tx_hash


@dataclass(frozen=True, slots=True)
class Transaction:
    hash: str  # hex
    hash_bytes: bytes
    inputs: tuple[str, ...]  # note ids, lowercase hex
    outputs: tuple[Note, ...]
    fee: int
    signatures: tuple[bytes, ...]
    document: Mapping[str, Any]  # as received: what blocks carry and what the hash covers
    size: int  # bytes of canonical JSON
    gossip_id: str  # hash of the whole document, signatures included

    def output_ids(self) -> list[str]:
        return [note_id(self.hash_bytes, i) for i in range(len(self.outputs))]

    @property
    def output_value(self) -> int:
        return sum(note.value for note in self.outputs)


def _malformed(detail: str) -> TxError:
    return TxError(TxReason.MALFORMED, detail)


def _amount(value: Any, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_AMOUNT:
        raise _malformed(f"{what}: expected an integer in [{minimum}, 2^63), got {str(value)[:40]!r}")
    return value


def _hex(value: Any, n_bytes: int, what: str) -> str:
    if not is_hex(value, n_bytes):
        raise _malformed(f"{what}: expected {2 * n_bytes} hex chars, got {str(value)[:80]!r}")
    return strip_0x(value).lower()


def parse_transaction(document: Any) -> Transaction:
    """The transaction of a JSON document; :class:`TxError` (malformed, too_large, double_spend for a note
    listed twice, bad_signature for a wrong number of signatures) otherwise."""
    if not isinstance(document, Mapping):
        raise _malformed(f"expected a transaction object, got {type(document).__name__}")
    try:
        encoded = canonical_json(document)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _malformed(f"not encodable canonically: {str(exc)[:80]}") from None
    if len(encoded) > MAX_TX_BYTES:
        raise TxError(TxReason.TOO_LARGE, f"{len(encoded)} bytes of canonical JSON, the limit is {MAX_TX_BYTES}")
    unknown = set(document) - _FIELDS
    if unknown:
        raise _malformed(f"unknown field {sorted(unknown)[0]!r} (allowed: fee, inputs, ops, outputs, signatures)")
    missing = sorted(_FIELDS - {"ops"} - set(document))
    if missing:
        raise _malformed(f"missing field {missing[0]!r}")
    if document.get("ops", []) != []:
        raise _malformed("ops: expected [] (operations are not supported yet)")
    inputs_doc, outputs_doc, signatures_doc = document["inputs"], document["outputs"], document["signatures"]
    if not isinstance(inputs_doc, list) or not 1 <= len(inputs_doc) <= MAX_INPUTS:
        raise _malformed(f"inputs: expected a list of 1..{MAX_INPUTS} note ids")
    if not isinstance(outputs_doc, list) or not 1 <= len(outputs_doc) <= MAX_OUTPUTS:
        raise _malformed(f"outputs: expected a list of 1..{MAX_OUTPUTS} outputs")
    if not isinstance(signatures_doc, list):
        raise _malformed("signatures: expected a list of hex signatures")
    inputs = tuple(_hex(value, 32, f"inputs[{i}]") for i, value in enumerate(inputs_doc))
    outputs = []
    for i, output in enumerate(outputs_doc):
        if not isinstance(output, Mapping) or set(output) != _OUTPUT_FIELDS:
            raise _malformed(f"outputs[{i}]: expected an object with keys value, pk")
        outputs.append(Note(_amount(output["value"], f"outputs[{i}].value", 1), _hex(output["pk"], 32,
                                                                                     f"outputs[{i}].pk")))
    fee = _amount(document["fee"], "fee", 0)
    signatures = tuple(bytes.fromhex(_hex(sig, 64, f"signatures[{i}]")) for i, sig in enumerate(signatures_doc))
    digest = blake2b_256(canonical_json({k: v for k, v in document.items() if k != "signatures"}))
    tx_hash = digest.hex()
    if len(set(inputs)) != len(inputs):
        raise TxError(TxReason.DOUBLE_SPEND, "the same note is an input twice", tx_hash)
    if len(signatures) != len(inputs):
        raise TxError(TxReason.BAD_SIGNATURE, f"{len(signatures)} signature(s) for {len(inputs)} input(s); "
                      "expected one per input, in input order", tx_hash)
    return Transaction(hash=tx_hash, hash_bytes=digest, inputs=inputs, outputs=tuple(outputs), fee=fee,
                       signatures=signatures, document=document, size=len(encoded),
                       gossip_id=blake2b_256(encoded).hex())
