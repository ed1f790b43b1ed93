"""The framework's transaction encoding (nodes/reference/transactions.py) against the transaction contract
(docs/transactions.md): canonical JSON byte for byte, Blake2b-256 tx hash without signatures, Ed25519
signatures over the hash by each input's owner, note ids, the genesis notes of the wallets; and against the
node's own code (tests may import nomos_node; the framework may not)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from nomos_testing.nodes.base import Note
from nomos_testing.nodes.reference import transactions as txs
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology

ADAPTER = ReferenceNodeAdapter()


def wallets(n: int = 3, seed: int = 5) -> list:
    return [ADAPTER.wallet(seed, i, 100) for i in range(n)]


def test_canonical_json_is_sorted_compact_utf8() -> None:
    value = {"outputs": [{"value": 3, "pk": "ab"}], "fee": 0, "ops": [], "inputs": ["01"], "é": "ü"}
    expected = '{"fee":0,"inputs":["01"],"ops":[],"outputs":[{"pk":"ab","value":3}],"é":"ü"}'.encode()
    assert txs.canonical_json(value) == expected
    with pytest.raises(ValueError):
        txs.canonical_json({"x": float("nan")})


def test_a_transfer_is_hashed_without_signatures_and_signed_by_each_input_owner() -> None:
    alice, bob, carol = wallets()
    inputs = [("aa" * 32, alice.secret_key), ("bb" * 32, bob.secret_key)]
    tx, digest = txs.build_transfer(inputs, [(150, carol.pk), (49, alice.pk)], fee=1)
    assert list(tx) == ["ops", "inputs", "outputs", "fee", "signatures"]
    body = (f'{{"fee":1,"inputs":["{"aa" * 32}","{"bb" * 32}"],"ops":[],'
            f'"outputs":[{{"pk":"{carol.pk}","value":150}},{{"pk":"{alice.pk}","value":49}}]}}').encode()
    assert digest == hashlib.blake2b(body, digest_size=32).hexdigest() == txs.tx_hash(tx)
    assert len(tx["signatures"]) == 2
    for signature, owner in zip(tx["signatures"], (alice, bob), strict=True):
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(owner.pk)).verify(bytes.fromhex(signature),
                                                                          bytes.fromhex(digest))
    # the hash does not depend on the signatures
    assert txs.tx_hash({**tx, "signatures": []}) == digest


def test_note_ids_and_the_adapter_transfer() -> None:
    alice, bob, _ = wallets()
    digest = "0f" * 32
    assert txs.note_id(digest, 2) == hashlib.blake2b(bytes.fromhex(digest) + b"\x00\x00\x00\x02",
                                                     digest_size=32).hexdigest()
    note = Note("cc" * 32, 100, alice.pk)
    transfer = ADAPTER.transfer([(note, alice.secret_key)], [(1, bob.pk), (98, alice.pk)], 1)
    assert transfer.tx_hash == ADAPTER.tx_hash(transfer.tx) and transfer.fee == 1
    assert [n.note_id for n in transfer.outputs] == [txs.note_id(transfer.tx_hash, i) for i in range(2)]
    assert [(n.value, n.pk) for n in transfer.outputs] == [(1, bob.pk), (98, alice.pk)]
    with pytest.raises(ValueError, match="inputs"):
        txs.build_transfer([], [(1, bob.pk)], 0)
    with pytest.raises(ValueError, match="outputs"):
        txs.build_transfer([(note.note_id, alice.secret_key)], [(1, bob.pk)] * 17, 0)


def test_genesis_notes_are_the_outputs_of_the_synthetic_genesis_transaction() -> None:
    plan = scenario(validators=1, executors=0, wallets=4, seed=11)
    topology = generate_topology(resolve_plan(plan, {}), ADAPTER)
    notes = ADAPTER.genesis_notes(topology)
    wallet_notes = topology.genesis["wallet_notes"]
    genesis_hash = txs.tx_hash({"ops": [], "inputs": [], "outputs": wallet_notes, "fee": 0})
    assert [n.note_id for n in notes] == [txs.note_id(genesis_hash, i) for i in range(4)]
    assert [(n.value, n.pk) for n in notes] == [(w.value, w.pk) for w in topology.wallets]
    for wallet in topology.wallets:  # the wallet pk is the Ed25519 public key of its secret
        assert ADAPTER.wallet(11, wallet.index, wallet.value).pk == wallet.pk


def test_the_framework_hashes_like_the_node() -> None:
    from nomos_node.codec import canonical_json
    from nomos_node.consensus.block import transaction_hash

    alice, bob, _ = wallets()
    tx, digest = txs.build_transfer([("dd" * 32, alice.secret_key)], [(7, bob.pk), (92, alice.pk)], 1)
    assert transaction_hash(tx).hex() == digest
    assert canonical_json(tx) == txs.canonical_json(tx)


def test_note_ids_like_the_node() -> None:
    from nomos_node.config import WalletNote
    from nomos_node.ledger import notes

    digest = hashlib.blake2b(b"x", digest_size=32).digest()
    assert notes.note_id(digest, 3) == txs.note_id(digest.hex(), 3)
    wallet_notes = [{"value": w.value, "pk": w.pk} for w in wallets()]
    node_notes = [WalletNote(w.value, w.pk) for w in wallets()]
    assert txs.genesis_tx(wallet_notes) == notes.genesis_transaction(node_notes)
