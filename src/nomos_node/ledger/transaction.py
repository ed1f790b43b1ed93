"""Transactions: strict parsing of the JSON form, hashes, and the refusal reasons (docs/node-api.md).

Everything that can be judged without the ledger is judged here (shape, sizes, duplicate inputs, the form of
each operation); unspent inputs, ownership, balance and the channel chaining of operations are judged against a
branch's state (state.py).

Operations (the "ops" list, docs/node-api.md "Ledger operations"): ``channel_inscribe`` and ``channel_blob``,
each a message appended to a channel. Its ``msg_id`` is Blake2b-256 over the canonical JSON of the op object as
received; its ``parent`` must be the channel's last msg_id on the branch (32 zero bytes for a channel's first
message). The signatures of a transaction are one per input (input order) then one per op (op order), each over
the 32-byte transaction hash. A transaction with ops may have no inputs and no outputs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from nomos_node.codec import canonical_json, is_hex, strip_0x
from nomos_node.crypto.hashing import blake2b_256
from nomos_node.ledger.notes import Note, note_id

MAX_INPUTS = 16
MAX_OUTPUTS = 16
MAX_TX_BYTES = 4096
MAX_AMOUNT = (1 << 63) - 1
MAX_OPS = 16
# Recent verdicts, by gossip id (the hash of the canonical encoding): a block carries what the mempool admitted,
# oldest first, so this covers the default pool (10,000) and a few full blocks more.
PARSED_CACHE_SIZE = 16384
MAX_INSCRIPTION_BYTES = 1024
ZERO_MSG_ID = "00" * 32
CHANNEL_INSCRIBE = "channel_inscribe"
CHANNEL_BLOB = "channel_blob"
_FIELDS = frozenset(("ops", "inputs", "outputs", "fee", "signatures"))
_OUTPUT_FIELDS = frozenset(("value", "pk"))
_OP_FIELDS = {
    CHANNEL_INSCRIBE: ("type", "channel", "inscription", "parent", "signer"),
    CHANNEL_BLOB: ("type", "channel", "session", "blob", "blob_size", "parent", "signer"),
}


class TxReason(StrEnum):
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    UNKNOWN_INPUT = "unknown_input"
    DOUBLE_SPEND = "double_spend"
    BAD_SIGNATURE = "bad_signature"
    OVERSPEND = "overspend"
    BAD_PARENT = "bad_parent"  # an op whose parent is not its channel's last message on this branch
    NOT_CHANNEL_OWNER = "not_channel_owner"  # an op signed by someone else than the channel's owner
    MEMPOOL_FULL = "mempool_full"


HTTP_STATUS = {
    TxReason.MALFORMED: 400,
    TxReason.UNKNOWN_INPUT: 400,
    TxReason.BAD_SIGNATURE: 400,
    TxReason.OVERSPEND: 400,
    TxReason.DOUBLE_SPEND: 409,
    TxReason.BAD_PARENT: 409,
    TxReason.NOT_CHANNEL_OWNER: 403,
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
class ChannelOp:
    """One channel operation: an inscription (``inscription`` set) or a blob (``blob`` and ``blob_size`` set)."""

    type: str  # CHANNEL_INSCRIBE | CHANNEL_BLOB
    channel: str  # hex, 32 bytes
    parent: str  # msg_id this message follows (ZERO_MSG_ID for a channel's first message)
    signer: str  # Ed25519 public key, hex
    msg_id: str  # Blake2b-256 of the op's canonical JSON
    inscription: str | None = None  # hex
    blob: str | None = None  # blob id, hex
    blob_size: int = 0
    session: int = 0


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
    note_ids: tuple[str, ...]  # ids of the outputs, in order (computed once: every view that applies it needs them)
    ops: tuple[ChannelOp, ...] = ()

    def output_ids(self) -> list[str]:
        return list(self.note_ids)

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


def _hex_bytes(value: Any, what: str, max_bytes: int) -> str:
    if not is_hex(value) or not 1 <= len(strip_0x(value)) // 2 <= max_bytes:
        raise _malformed(f"{what}: expected hex of 1..{max_bytes} bytes, got {str(value)[:80]!r}")
    return strip_0x(value).lower()


def parse_op(op: Any, index: int) -> ChannelOp:
    """One entry of "ops"; TxError(malformed) naming the field otherwise."""
    where = f"ops[{index}]"
    if not isinstance(op, Mapping):
        raise _malformed(f"{where}: expected an op object with a \"type\"")
    kind = op.get("type")
    fields = _OP_FIELDS.get(kind) if isinstance(kind, str) else None
    if fields is None or not isinstance(kind, str):
        raise _malformed(f"{where}.type: expected one of {', '.join(_OP_FIELDS)}, got {str(kind)[:40]!r}")
    unknown = sorted(set(op) - set(fields))
    if unknown:
        raise _malformed(f"{where}: unknown field {unknown[0]!r} for {kind} (allowed: {', '.join(fields)})")
    missing = [name for name in fields if name not in op]
    if missing:
        raise _malformed(f"{where}: missing field {missing[0]!r} for {kind}")
    channel = _hex(op["channel"], 32, f"{where}.channel")
    parent = _hex(op["parent"], 32, f"{where}.parent")
    signer = _hex(op["signer"], 32, f"{where}.signer")
    msg_id = blake2b_256(canonical_json(op)).hex()
    if kind == CHANNEL_INSCRIBE:
        inscription = _hex_bytes(op["inscription"], f"{where}.inscription", MAX_INSCRIPTION_BYTES)
        return ChannelOp(kind, channel, parent, signer, msg_id, inscription=inscription)
    session = op["session"]
    if session != 0 or isinstance(session, bool) or not isinstance(session, int):
        raise _malformed(f"{where}.session: expected 0 (the only session), got {str(session)[:40]!r}")
    blob = _hex(op["blob"], 32, f"{where}.blob")
    blob_size = _amount(op["blob_size"], f"{where}.blob_size", 1)
    return ChannelOp(kind, channel, parent, signer, msg_id, blob=blob, blob_size=blob_size, session=0)


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
    # Parsing depends on nothing but the canonical encoding: a document already parsed (admitted to the mempool,
    # then carried by a block; a block imported after its producer packed it) is not judged again.
    gossip_id = blake2b_256(encoded).hex()
    known = _parsed.get(gossip_id)
    if known is not None:
        _parsed.move_to_end(gossip_id)
        return replace(known, document=document)
    tx = _parse(document, encoded, gossip_id)
    _parsed[gossip_id] = replace(tx, document={})  # the verdict, not the caller's object
    if len(_parsed) > PARSED_CACHE_SIZE:
        _parsed.popitem(last=False)
    return tx


_parsed: OrderedDict[str, Transaction] = OrderedDict()


def _parse(document: Mapping[str, Any], encoded: bytes, gossip_id: str) -> Transaction:
    unknown = set(document) - _FIELDS
    if unknown:
        raise _malformed(f"unknown field {sorted(unknown)[0]!r} (allowed: fee, inputs, ops, outputs, signatures)")
    missing = sorted(_FIELDS - {"ops"} - set(document))
    if missing:
        raise _malformed(f"missing field {missing[0]!r}")
    ops_doc = document.get("ops", [])
    if not isinstance(ops_doc, list) or len(ops_doc) > MAX_OPS:
        raise _malformed(f"ops: expected a list of at most {MAX_OPS} operations")
    ops = tuple(parse_op(op, i) for i, op in enumerate(ops_doc))
    inputs_doc, outputs_doc, signatures_doc = document["inputs"], document["outputs"], document["signatures"]
    least = 0 if ops else 1  # a transaction carrying operations may move no value at all
    if not isinstance(inputs_doc, list) or not least <= len(inputs_doc) <= MAX_INPUTS:
        raise _malformed(f"inputs: expected a list of {least}..{MAX_INPUTS} note ids"
                         + ("" if ops else " (a transaction without ops spends at least one note)"))
    if not isinstance(outputs_doc, list) or not least <= len(outputs_doc) <= MAX_OUTPUTS:
        raise _malformed(f"outputs: expected a list of {least}..{MAX_OUTPUTS} outputs"
                         + ("" if ops else " (a transaction without ops creates at least one note)"))
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
    if len(signatures) != len(inputs) + len(ops):
        raise TxError(TxReason.BAD_SIGNATURE, f"{len(signatures)} signature(s) for {len(inputs)} input(s) and "
                      f"{len(ops)} op(s); expected one per input (input order) then one per op (op order)", tx_hash)
    return Transaction(hash=tx_hash, hash_bytes=digest, inputs=inputs, outputs=tuple(outputs), fee=fee,
                       signatures=signatures, document=document, size=len(encoded),
                       gossip_id=gossip_id,
                       note_ids=tuple(note_id(digest, i) for i in range(len(outputs))), ops=ops)
