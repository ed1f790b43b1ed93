"""The UTXO ledger: each transaction rule with its refusal reason (state unchanged), blocks judged by their
transactions on their own branch, and the canonical state following fork choice."""

from __future__ import annotations

from typing import Any

import pytest

from nomos_node.consensus.block import block_root, transaction_hash
from nomos_node.consensus.chain import RejectReason
from nomos_node.crypto.keys import NodeKeys
from nomos_node.ledger import Ledger, TxError, TxReason, genesis_transaction, note_id, parse_transaction
from nomos_node.ledger.transaction import MAX_TX_BYTES


def transfer(inputs: list[tuple[str, NodeKeys]], outputs: list[tuple[int, str]], fee: int = 0,
             **extra: Any) -> dict[str, Any]:
    tx: dict[str, Any] = {"ops": [], "inputs": [nid for nid, _ in inputs],
                          "outputs": [{"value": v, "pk": pk} for v, pk in outputs], "fee": fee, **extra}
    digest = transaction_hash(tx)
    tx["signatures"] = [keys.sign(digest).hex() for _, keys in inputs]
    return tx


def genesis_notes(chain: Any) -> list[str]:
    digest = transaction_hash(genesis_transaction(chain.genesis.wallet_notes))
    return [note_id(digest, i) for i in range(len(chain.genesis.wallet_notes))]


def snapshot(ledger: Ledger) -> tuple[Any, ...]:
    return ledger.unspent(), ledger.supply, ledger.fees_burned, ledger.cursor


@pytest.fixture
def setup(kit, node_keys):
    chain = kit.chain()
    return chain, genesis_notes(chain), node_keys


def test_genesis_notes_follow_the_contract(setup) -> None:
    chain, notes, keys = setup
    ledger = chain.ledger
    stake = sum(note.value for note in chain.genesis.stake_notes)  # the stake notes are ledger notes too
    assert ledger.genesis_supply == ledger.supply == 300 + stake and ledger.unspent_count == 3 + 3
    for i, nid in enumerate(notes):
        assert ledger.note(nid).value == 100 and ledger.note(nid).pk == keys(i).signing_pk_hex


def test_a_valid_transfer_in_a_block_moves_value(setup, kit) -> None:
    chain, notes, keys = setup
    tx = transfer([(notes[0], keys(0))], [(60, keys(1).signing_pk_hex), (39, keys(0).signing_pk_hex)], fee=1)
    block = _block_with(kit, chain, [tx])
    assert chain.import_block(block, now=kit.now).imported
    parsed = parse_transaction(tx)
    assert chain.ledger.note(notes[0]) is None
    assert [chain.ledger.note(n).value for n in parsed.output_ids()] == [60, 39]
    assert chain.ledger.supply == chain.ledger.genesis_supply - 1 and chain.ledger.fees_burned == 1
    assert chain.ledger.included_in(parsed.hash) == block.id
    assert [m.included for m in chain.take_ledger_moves()] == [(parsed.hash,)]


def _block_with(kit, chain, txs, parent_id=None, after_slot=None):
    block = kit.next_block(chain, parent_id, after_slot)
    from dataclasses import replace

    from nomos_node.consensus.block import Block, sign_header
    from tests.node.conftest import keys_for

    header = replace(block.header, block_root=block_root(txs)).with_computed_id()
    signer = next(keys_for(i) for i in range(3) if keys_for(i).signing_pk_hex == header.leader.key)
    return Block(header=header, signature=sign_header(header, signer), transactions=tuple(txs))


def _refused(chain, tx: Any) -> TxError:
    ledger = chain.ledger
    before = snapshot(ledger)
    with pytest.raises(TxError) as info:
        ledger.check(parse_transaction(tx), ledger.view())
    assert snapshot(ledger) == before
    return info.value


def _bad_cases(notes: list[str], keys: Any) -> list[tuple[str, Any, TxReason]]:
    me, other = keys(0), keys(1)
    pk = me.signing_pk_hex
    good = transfer([(notes[0], me)], [(100, pk)])
    return [
        ("not an object", [good], TxReason.MALFORMED),
        ("unknown field", {**good, "memo": "x"}, TxReason.MALFORMED),
        ("missing fee", {k: v for k, v in good.items() if k != "fee"}, TxReason.MALFORMED),
        ("ops not empty", transfer([(notes[0], me)], [(100, pk)], ops=[{"opcode": 0}]), TxReason.MALFORMED),
        ("no inputs", transfer([], [(100, pk)]), TxReason.MALFORMED),
        ("17 inputs", transfer([(f"{i:064x}", me) for i in range(17)], [(1, pk)]), TxReason.MALFORMED),
        ("no outputs", transfer([(notes[0], me)], []), TxReason.MALFORMED),
        ("zero value", transfer([(notes[0], me)], [(0, pk), (100, pk)]), TxReason.MALFORMED),
        ("negative fee", transfer([(notes[0], me)], [(101, pk)], fee=-1), TxReason.MALFORMED),
        ("bool value", {**good, "outputs": [{"value": True, "pk": pk}]}, TxReason.MALFORMED),
        ("short pk", transfer([(notes[0], me)], [(100, pk[:-2])]), TxReason.MALFORMED),
        ("bad input hex", transfer([("zz" * 32, me)], [(100, pk)]), TxReason.MALFORMED),
        ("bad signature hex", {**good, "signatures": ["00"]}, TxReason.MALFORMED),
        ("too large", transfer([(notes[0], me)], [(100, pk)] * 16, fee=0) | {"signatures": ["ab" * 64] * 40},
         TxReason.TOO_LARGE),
        ("duplicate input", transfer([(notes[0], me), (notes[0], me)], [(200, pk)]), TxReason.DOUBLE_SPEND),
        ("missing signature", {**good, "signatures": []}, TxReason.BAD_SIGNATURE),
        ("unknown input", transfer([("ab" * 32, me)], [(100, pk)]), TxReason.UNKNOWN_INPUT),
        ("signed by another key", transfer([(notes[0], other)], [(100, pk)]), TxReason.BAD_SIGNATURE),
        ("signature of another tx", {**good, "fee": 0, "outputs": [{"value": 99, "pk": pk}, {"value": 1, "pk": pk}]}
         | {"signatures": good["signatures"]}, TxReason.BAD_SIGNATURE),
        ("overspend", transfer([(notes[0], me)], [(101, pk)]), TxReason.OVERSPEND),
        ("fee overspends", transfer([(notes[0], me)], [(100, pk)], fee=1), TxReason.OVERSPEND),
        ("silent burn", transfer([(notes[0], me)], [(90, pk)], fee=5), TxReason.OVERSPEND),
    ]


@pytest.mark.parametrize("case", range(22))
def test_each_invalid_transaction_is_refused_with_its_reason(setup, case) -> None:
    chain, notes, keys = setup
    cases = _bad_cases(notes, keys)
    assert len(cases) == 22
    name, tx, reason = cases[case]
    if reason in (TxReason.MALFORMED, TxReason.TOO_LARGE) or name in ("duplicate input", "missing signature"):
        with pytest.raises(TxError) as info:
            parse_transaction(tx)
        error = info.value
    else:
        error = _refused(chain, tx)
    assert error.reason == reason, (name, error)


def test_too_large_is_measured_on_canonical_json(setup) -> None:
    _chain, notes, keys = setup
    big = transfer([(notes[0], keys(0))], [(100, keys(0).signing_pk_hex)])
    big["outputs"] = [{"value": 1, "pk": "ab" * 32}] * 16
    assert len(__import__("json").dumps(big, separators=(",", ":"))) < MAX_TX_BYTES  # fits: not too large
    with pytest.raises(TxError) as info:
        parse_transaction({**big, "signatures": ["ab" * 64] * 40})
    assert info.value.reason == TxReason.TOO_LARGE


def test_double_spend_against_an_ancestor_and_within_a_block(setup, kit) -> None:
    chain, notes, keys = setup
    me, pk = keys(0), keys(0).signing_pk_hex
    first = transfer([(notes[0], me)], [(100, keys(1).signing_pk_hex)])
    again = transfer([(notes[0], me)], [(100, keys(2).signing_pk_hex)])
    assert chain.import_block(_block_with(kit, chain, [first]), now=kit.now).imported
    assert _refused(chain, again).reason == TxReason.DOUBLE_SPEND
    tip = chain.tip.id
    result = chain.import_block(_block_with(kit, chain, [again]), now=kit.now)
    assert result.status == "rejected" and result.reason == RejectReason.BAD_TRANSACTION
    assert "double_spend" in (result.detail or "")
    both = [transfer([(notes[1], keys(1))], [(100, pk)]), transfer([(notes[1], keys(1))], [(50, pk), (50, pk)])]
    result = chain.import_block(_block_with(kit, chain, both), now=kit.now)
    assert result.reason == RejectReason.BAD_TRANSACTION and chain.tip.id == tip
    bad_sig = transfer([(notes[1], keys(2))], [(100, pk)])
    assert chain.import_block(_block_with(kit, chain, [bad_sig]), now=kit.now).reason == RejectReason.BAD_TRANSACTION
    assert chain.tip.id == tip


def test_a_spend_of_a_note_created_earlier_in_the_same_block_is_valid(setup, kit) -> None:
    chain, notes, keys = setup
    first = transfer([(notes[0], keys(0))], [(100, keys(1).signing_pk_hex)])
    child_note = parse_transaction(first).output_ids()[0]
    second = transfer([(child_note, keys(1))], [(100, keys(2).signing_pk_hex)])
    assert chain.import_block(_block_with(kit, chain, [first, second]), now=kit.now).imported
    assert chain.import_block(_block_with(kit, chain, [second, first]), now=kit.now).reason == \
        RejectReason.BAD_TRANSACTION  # the other order spends an unknown note


def test_the_ledger_follows_a_reorg_and_a_fork_is_judged_on_its_own_branch(setup, kit) -> None:
    chain, notes, keys = setup
    pk1, pk2 = keys(1).signing_pk_hex, keys(2).signing_pk_hex
    to_1 = transfer([(notes[0], keys(0))], [(100, pk1)])
    to_2 = transfer([(notes[0], keys(0))], [(99, pk2)], fee=1)  # the same note, spent differently
    base = chain.tip.id
    main = _block_with(kit, chain, [to_1])
    assert chain.import_block(main, now=kit.now).imported
    chain.take_ledger_moves()
    # on the fork, notes[0] is unspent: to_2 is valid there, although it double-spends on the canonical branch
    fork1 = _block_with(kit, chain, [to_2], parent_id=base, after_slot=main.slot + 5)
    assert chain.import_block(fork1, now=kit.now).imported
    assert chain.tip.id == main.id or chain.tip.id == fork1.id
    if chain.tip.id == fork1.id:  # won the tie: already a reorg
        chain.take_ledger_moves()
        chain.ledger.move_to(main.id)
        chain.ledger.move_to(fork1.id)
    fork2 = _block_with(kit, chain, [], parent_id=fork1.id)
    result = chain.import_block(fork2, now=kit.now)
    assert result.imported and chain.tip.id == fork2.id
    ledger = chain.ledger
    hash_1, hash_2 = parse_transaction(to_1).hash, parse_transaction(to_2).hash
    assert ledger.included_in(hash_1) is None and ledger.included_in(hash_2) == fork1.id
    assert ledger.supply == ledger.genesis_supply - 1 and ledger.fees_burned == 1
    assert ledger.note(parse_transaction(to_2).output_ids()[0]).pk == pk2
    assert ledger.note(parse_transaction(to_1).output_ids()[0]) is None


def test_restart_rebuilds_the_ledger_from_the_store(setup, kit, tmp_path) -> None:
    from nomos_node.storage import BlockStore

    genesis = kit.genesis()
    store = BlockStore.open(tmp_path / "data")
    chain = kit.chain(genesis, store=store)
    notes = genesis_notes(chain)
    keys = setup[2]
    tx = transfer([(notes[2], keys(2))], [(50, keys(0).signing_pk_hex), (45, keys(2).signing_pk_hex)], fee=5)
    assert chain.import_block(_block_with(kit, chain, [tx]), now=kit.now).imported
    kit.extend(chain, 2)
    before = snapshot(chain.ledger)
    store.close()
    again = kit.chain(genesis, store=BlockStore.open(tmp_path / "data"))
    assert snapshot(again.ledger) == before
    assert again.ledger.included_in(parse_transaction(tx).hash) is not None
