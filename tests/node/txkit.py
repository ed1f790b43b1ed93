"""Transaction helpers for node tests: wallet keys, signed transfers, genesis sections with wallet notes and
blocks carrying given transactions (not a conftest: imported by the transaction test modules)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from nomos_node.codec import canonical_json
from nomos_node.config import GenesisConfig, StakeNote, WalletNote, parse_genesis
from nomos_node.consensus.block import Block, transaction_hash
from nomos_node.consensus.chain import Chain
from nomos_node.crypto.hashing import blake2b_256
from nomos_node.crypto.keys import NodeKeys
from nomos_node.ledger import genesis_stake_transaction, genesis_transaction, note_id, parse_transaction
from tests.node.conftest import genesis_dict, keys_for


@functools.cache
def wallet_keys(index: int) -> NodeKeys:
    """Wallet owners, distinct from every node key of the tests (seeds 0xA0.. instead of 1..)."""
    return NodeKeys.from_seed(bytes([0xA0 + index, 0x5A]) * 16)


def pk(index: int) -> str:
    return wallet_keys(index).signing_pk_hex


def transfer(inputs: Sequence[tuple[str, NodeKeys]], outputs: Sequence[tuple[int, str]], fee: int = 0,
             **extra: Any) -> dict[str, Any]:
    """A transaction document spending ``inputs`` (note id, owner keys), each input signed by its keys."""
    tx: dict[str, Any] = {"ops": [], "inputs": [nid for nid, _ in inputs],
                          "outputs": [{"value": v, "pk": owner} for v, owner in outputs], "fee": fee, **extra}
    digest = transaction_hash(tx)
    tx["signatures"] = [keys.sign(digest).hex() for _, keys in inputs]
    return tx


def tx_hash(tx: dict[str, Any]) -> str:
    return transaction_hash(tx).hex()


def output_ids(tx: dict[str, Any]) -> list[str]:
    return parse_transaction(tx).output_ids()


def wallet_notes_section(values: Sequence[tuple[int, int]]) -> list[dict[str, Any]]:
    """Genesis ``wallet_notes`` from (wallet index, value) pairs, in order."""
    return [{"value": value, "pk": pk(wallet)} for wallet, value in values]


def genesis_note_ids(wallet_notes: Sequence[WalletNote] | Sequence[dict[str, Any]]) -> list[str]:
    """The ids of the genesis wallet notes (outputs of the synthetic genesis transaction), in order."""
    notes = [n if isinstance(n, WalletNote) else WalletNote(int(n["value"]), str(n["pk"])) for n in wallet_notes]
    digest = transaction_hash(genesis_transaction(notes))
    return [note_id(digest, i) for i in range(len(notes))]


def genesis_stake_note_ids(stake_notes: Sequence[StakeNote]) -> list[str]:
    """The ids of the genesis stake notes (outputs of the synthetic genesis stake transaction), in order."""
    digest = transaction_hash(genesis_stake_transaction(stake_notes))
    return [note_id(digest, i) for i in range(len(stake_notes))]


def chain_genesis(values: Sequence[tuple[int, int]]) -> GenesisConfig:
    """ChainKit's genesis (t=0, 1 s slots, f=0.9, k=3, three leaders 0..2) with the given wallet notes."""
    raw = genesis_dict(3, chain_start_time=0.0, slot_duration=1.0, active_slot_coeff=0.9, security_param=3,
                       epoch=(1, 1, 1))
    raw["wallet_notes"] = wallet_notes_section(values)
    return parse_genesis(raw)


def block_with(chain: Chain, txs: Sequence[dict[str, Any]], parent_id: str | None = None,
               after_slot: int | None = None) -> Block:
    """A valid block by one of the leaders 0..2 on ``parent_id`` (default tip), at the first slot after
    ``after_slot`` (default the parent's) that one of them wins, carrying ``txs``."""
    parent = chain.get_block(parent_id) if parent_id else chain.tip
    assert parent is not None
    slot = max(parent.slot, after_slot if after_slot is not None else parent.slot) + 1
    for _ in range(10_000):
        for index in range(3):
            ticket = chain.leadership(slot, keys_for(index), parent.id)
            if ticket is not None:
                return chain.build_block(ticket, "", keys_for(index), txs)
        slot += 1
    raise AssertionError("no leader in 10000 slots")


ZERO = "00" * 32


def channel_id(name: str) -> str:
    """A 32-byte channel id from a readable name."""
    return name.encode().hex().ljust(64, "0")[:64]


def inscribe_op(channel: str, parent: str, signer: NodeKeys, inscription: str = "c0ffee") -> dict[str, Any]:
    return {"type": "channel_inscribe", "channel": channel, "inscription": inscription, "parent": parent,
            "signer": signer.signing_pk_hex}


def blob_op(channel: str, parent: str, signer: NodeKeys, blob: str = "bb" * 32, blob_size: int = 124
            ) -> dict[str, Any]:
    return {"type": "channel_blob", "channel": channel, "session": 0, "blob": blob, "blob_size": blob_size,
            "parent": parent, "signer": signer.signing_pk_hex}


def op_tx(ops: Sequence[tuple[dict[str, Any], NodeKeys]], inputs: Sequence[tuple[str, NodeKeys]] = (),
          outputs: Sequence[tuple[int, str]] = (), fee: int = 0) -> dict[str, Any]:
    """A transaction carrying ``ops`` (op, signer keys): signatures by the inputs' owners, then by the ops' signers."""
    tx: dict[str, Any] = {"ops": [op for op, _ in ops], "inputs": [nid for nid, _ in inputs],
                          "outputs": [{"value": v, "pk": owner} for v, owner in outputs], "fee": fee}
    digest = transaction_hash(tx)
    tx["signatures"] = [keys.sign(digest).hex() for _, keys in (*inputs, *ops)]
    return tx


def msg_id(op: dict[str, Any]) -> str:
    return blake2b_256(canonical_json(op)).hex()
