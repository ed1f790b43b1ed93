"""Notes {value, pk} and their ids; the genesis wallet and stake notes as outputs of two synthetic transactions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nomos_node.config import StakeNote, WalletNote
from nomos_node.crypto.hashing import blake2b_256


@dataclass(frozen=True, slots=True)
class Note:
    value: int
    pk: str  # Ed25519 public key, lowercase hex


def note_id(tx_hash: bytes, index: int) -> str:
    """Blake2b-256(tx_hash ‖ output index as 4 bytes big-endian), hex."""
    return blake2b_256(tx_hash, index.to_bytes(4, "big")).hex()


def genesis_transaction(wallet_notes: Sequence[WalletNote]) -> dict[str, Any]:
    """The synthetic transaction whose outputs are the genesis wallet notes (it is never in a block)."""
    return {"ops": [], "inputs": [], "outputs": [{"value": n.value, "pk": n.pk} for n in wallet_notes], "fee": 0}


def genesis_stake_transaction(stake_notes: Sequence[StakeNote]) -> dict[str, Any]:
    """The synthetic transaction whose outputs are the genesis stake notes, each owned by its signing key.

    A separate transaction (marked ``"genesis": "stake"``) so the wallet notes keep their ids and the two sets of
    ids can never collide."""
    return {"genesis": "stake", "ops": [], "inputs": [], "fee": 0,
            "outputs": [{"value": n.value, "pk": n.signing_pk} for n in stake_notes]}
