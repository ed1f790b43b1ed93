"""The reference node's transactions, on the framework side: canonical encoding, hashes, note ids and Ed25519
signatures, exactly as the node's transaction contract fixes them (docs/transactions.md). The framework never
imports the node: these few rules are implemented here again, and tests check them against the node's code.

- canonical JSON: sorted keys, no spaces, UTF-8 (no ASCII escaping), no NaN;
- tx_hash = Blake2b-256 over the canonical JSON of the transaction without its "signatures" key;
- note_id = Blake2b-256(tx_hash ‖ output index as 4 bytes big-endian);
- one Ed25519 signature per input, in input order, over the 32-byte tx_hash, by the owner of that input;
- the genesis wallet notes are the outputs of a synthetic transaction {"ops": [], "inputs": [],
  "outputs": wallet_notes, "fee": 0}.
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
