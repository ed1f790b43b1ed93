"""The reference node's transactions, on the framework side: canonical encoding, hashes, note ids and Ed25519
signatures, exactly as the node's transaction contract fixes them (docs/transactions.md). The framework never
imports the node: these few rules are implemented here again, and tests check them against the node's code.

- canonical JSON: sorted keys, no spaces, UTF-8 (no ASCII escaping), no NaN;
- tx_hash = Blake2b-256 over the canonical JSON of the transaction without its "signatures" key;
- note_id = Blake2b-256(tx_hash ‖ output index as 4 bytes big-endian);
- one Ed25519 signature per input, in input order, over the 32-byte tx_hash, by the owner of that input;
- the genesis wallet notes are the outputs of a synthetic transaction {"ops": [], "inputs": [],
  "outputs": wallet_notes, "fee": 0}.

Ledger operations (docs/data-availability.md, the DA contract): a transaction's "ops" are channel messages,
{"type": "channel_inscribe", "channel", "inscription", "parent", "signer"} and {"type": "channel_blob",
"channel", "session": 0, "blob", "blob_size", "parent", "signer"}; msg_id = Blake2b-256 over the op's canonical
JSON; a channel's first message has parent 00…00; the signatures are one per input (input order) then one per
op (op order), each over the tx hash; a transaction with ops may have no inputs and no outputs (fee 0).
Channel ops of the framework and of the executors are signed with the fixed test key (secret = 32 zero bytes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

MAX_INPUTS = 16
MAX_OUTPUTS = 16
MAX_TX_BYTES = 4096
MAX_OPS = 16
MAX_INSCRIPTION_BYTES = 1024
ZERO_MSG_ID = "00" * 32
CHANNEL_INSCRIBE = "channel_inscribe"
CHANNEL_BLOB = "channel_blob"
TEST_SIGNER_SECRET = "00" * 32  # the fixed DA test key (as the original tool's): never a real key


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def blake2b_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def tx_hash_bytes(tx: Mapping[str, Any]) -> bytes:
    return blake2b_256(canonical_json({key: value for key, value in tx.items() if key != "signatures"}))


def tx_hash(tx: Mapping[str, Any]) -> str:
    return tx_hash_bytes(tx).hex()


def note_id(tx_hash_hex: str, index: int) -> str:
    return blake2b_256(bytes.fromhex(tx_hash_hex) + index.to_bytes(4, "big")).hex()


def genesis_tx(wallet_notes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The synthetic transaction whose outputs are the genesis wallet notes."""
    return {"ops": [], "inputs": [], "outputs": [{"value": n["value"], "pk": n["pk"]} for n in wallet_notes],
            "fee": 0}


def genesis_note_ids(wallet_notes: Sequence[Mapping[str, Any]]) -> list[str]:
    genesis_hash = tx_hash(genesis_tx(wallet_notes))
    return [note_id(genesis_hash, i) for i in range(len(wallet_notes))]


@lru_cache(maxsize=65536)
def _signer(secret_hex: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret_hex))


def build_transfer(inputs: Sequence[tuple[str, str]], outputs: Sequence[tuple[int, str]],
                   fee: int) -> tuple[dict[str, Any], str]:
    """A signed transfer: `inputs` as (note id, owner's 32-byte secret key hex), `outputs` as (value, pk hex).
    Returns the transaction and its hash. Checks only what the caller can get wrong by construction; the node
    judges the rest (ownership, unspent inputs, balance)."""
    if not 1 <= len(inputs) <= MAX_INPUTS:
        raise ValueError(f"a transfer takes 1..{MAX_INPUTS} inputs, got {len(inputs)}")
    if not 1 <= len(outputs) <= MAX_OUTPUTS:
        raise ValueError(f"a transfer takes 1..{MAX_OUTPUTS} outputs, got {len(outputs)}")
    body: dict[str, Any] = {"ops": [], "inputs": [note for note, _ in inputs],
                            "outputs": [{"value": int(value), "pk": pk} for value, pk in outputs], "fee": int(fee)}
    digest = tx_hash_bytes(body)
    body["signatures"] = [_signer(secret).sign(digest).hex() for _, secret in inputs]
    return body, digest.hex()


def signer_pk(secret_hex: str) -> str:
    return _signer(secret_hex).public_key().public_bytes_raw().hex()


def test_signer_pk() -> str:
    """The public key of the fixed test key that signs channel operations."""
    return signer_pk(TEST_SIGNER_SECRET)


def channel_inscribe_op(channel: str, inscription: bytes, parent: str, signer: str) -> dict[str, Any]:
    if not 1 <= len(inscription) <= MAX_INSCRIPTION_BYTES:
        raise ValueError(f"an inscription holds 1..{MAX_INSCRIPTION_BYTES} bytes, got {len(inscription)}")
    return {"type": CHANNEL_INSCRIBE, "channel": channel, "inscription": inscription.hex(), "parent": parent,
            "signer": signer}


def channel_blob_op(channel: str, blob_id: str, blob_size: int, parent: str, signer: str) -> dict[str, Any]:
    if blob_size <= 0:
        raise ValueError(f"blob_size must be > 0, got {blob_size}")
    return {"type": CHANNEL_BLOB, "channel": channel, "session": 0, "blob": blob_id, "blob_size": int(blob_size),
            "parent": parent, "signer": signer}


def msg_id(op: Mapping[str, Any]) -> str:
    """The message id of a channel operation: Blake2b-256 over its canonical JSON."""
    return blake2b_256(canonical_json(dict(op))).hex()


def build_op_tx(ops: Sequence[tuple[Mapping[str, Any], str]], inputs: Sequence[tuple[str, str]] = (),
                outputs: Sequence[tuple[int, str]] = (), fee: int = 0) -> tuple[dict[str, Any], str]:
    """A signed transaction carrying `ops` as (op, signer's secret key hex), and optionally a transfer (`inputs`
    as (note id, owner's secret), `outputs` as (value, pk)). Returns the transaction and its hash."""
    if not 1 <= len(ops) <= MAX_OPS:
        raise ValueError(f"an op transaction takes 1..{MAX_OPS} ops, got {len(ops)}")
    if len(inputs) > MAX_INPUTS or len(outputs) > MAX_OUTPUTS:
        raise ValueError(f"at most {MAX_INPUTS} inputs and {MAX_OUTPUTS} outputs")
    body: dict[str, Any] = {"ops": [dict(op) for op, _ in ops], "inputs": [note for note, _ in inputs],
                            "outputs": [{"value": int(value), "pk": pk} for value, pk in outputs], "fee": int(fee)}
    digest = tx_hash_bytes(body)
    body["signatures"] = ([_signer(secret).sign(digest).hex() for _, secret in inputs]
                          + [_signer(secret).sign(digest).hex() for _, secret in ops])
    return body, digest.hex()

