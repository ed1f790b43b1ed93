"""Ledger operations (channel_inscribe, channel_blob): each malformed op refused naming its field, each invalid op
refused with its reason and nothing changed, parent chaining within a transaction, a block and the mempool,
signatures after the inputs', channel state following fork choice across a reorg and a restart, and the
leader's admissibility filter."""

from __future__ import annotations

from typing import Any

import pytest

from nomos_node.consensus.chain import Chain, RejectReason
from nomos_node.ledger import ChannelState, Ledger, TxError, TxReason, parse_transaction
from nomos_node.ledger.mempool import Mempool
from nomos_node.ledger.transaction import HTTP_STATUS
from nomos_node.storage import BlockStore
from tests.node.conftest import NOW, ChainKit
from tests.node.txkit import (
    ZERO,
    blob_op,
    block_with,
    chain_genesis,
    channel_id,
    genesis_note_ids,
    inscribe_op,
    msg_id,
    op_tx,
    pk,
    transfer,
)
from tests.node.txkit import wallet_keys as wk

WALLETS = [(0, 100), (1, 100)]
CH = channel_id("news")
OTHER = channel_id("other")


@pytest.fixture
def chain(kit: ChainKit) -> Chain:
    return kit.chain(chain_genesis(WALLETS))


def include(chain: Chain, txs: list[dict[str, Any]], parent_id: str | None = None, after_slot: int | None = None
            ) -> str:
    block = block_with(chain, txs, parent_id, after_slot)
    result = chain.import_block(block, now=NOW)
    assert result.imported, result
    return block.id


def snapshot(ledger: Ledger) -> tuple[Any, ...]:
    return ledger.unspent(), ledger.channels(), ledger.supply, ledger.fees_burned, ledger.cursor


def refused(chain: Chain, tx: Any) -> TxError:
    ledger = chain.ledger
    before = snapshot(ledger)
    with pytest.raises(TxError) as info:
        ledger.check(parse_transaction(tx), ledger.view())
    assert snapshot(ledger) == before
    return info.value


def first_inscription(chain: Chain) -> dict[str, Any]:
    """Opens CH (owner wallet 0) in a block; returns the op."""
    op = inscribe_op(CH, ZERO, wk(0))
    include(chain, [op_tx([(op, wk(0))])])
    return op


# ---------------------------------------------------------------- form

def _malformed_cases() -> list[tuple[str, Any, str]]:
    ins, blob = inscribe_op(CH, ZERO, wk(0)), blob_op(CH, ZERO, wk(0))
    return [
        ("ops not a list", {"x": 1}, "ops"),
        ("op not an object", ["x"], "ops[0]"),
        ("no type", [{k: v for k, v in ins.items() if k != "type"}], "ops[0].type"),
        ("unknown type", [{**ins, "type": "sdp_declare"}], "ops[0].type"),
        ("unknown field", [{**ins, "memo": "x"}], "'memo'"),
        ("blob field on an inscription", [{**ins, "blob": "bb" * 32}], "'blob'"),
        ("missing parent", [{k: v for k, v in ins.items() if k != "parent"}], "'parent'"),
        ("short channel", [{**ins, "channel": "ab" * 31}], "ops[0].channel"),
        ("bad parent hex", [{**ins, "parent": "zz" * 32}], "ops[0].parent"),
        ("short signer", [{**ins, "signer": "ab"}], "ops[0].signer"),
        ("empty inscription", [{**ins, "inscription": ""}], "ops[0].inscription"),
        ("odd inscription", [{**ins, "inscription": "abc"}], "ops[0].inscription"),
        ("inscription over 1024 bytes", [{**ins, "inscription": "ab" * 1025}], "ops[0].inscription"),
        ("session 1", [{**blob, "session": 1}], "ops[0].session"),
        ("session true", [{**blob, "session": False}], "ops[0].session"),
        ("blob size 0", [{**blob, "blob_size": 0}], "ops[0].blob_size"),
        ("blob size text", [{**blob, "blob_size": "124"}], "ops[0].blob_size"),
        ("short blob id", [{**blob, "blob": "bb"}], "ops[0].blob"),
        ("17 ops", [{}] * 17, "at most 16"),
    ]


@pytest.mark.parametrize("case", range(19))
def test_each_malformed_op_is_refused_naming_its_field(case: int) -> None:
    cases = _malformed_cases()
    assert len(cases) == 19
    name, ops, field = cases[case]
    with pytest.raises(TxError) as info:
        parse_transaction({"ops": ops, "inputs": [], "outputs": [], "fee": 0, "signatures": []})
    assert info.value.reason == TxReason.MALFORMED, name
    assert field in info.value.detail, (name, info.value.detail)


def test_an_op_transaction_may_move_no_value_but_a_plain_one_must() -> None:
    tx = parse_transaction(op_tx([(inscribe_op(CH, ZERO, wk(0)), wk(0))]))
    assert tx.inputs == () and tx.outputs == () and tx.fee == 0
    assert tx.ops[0].msg_id == msg_id(inscribe_op(CH, ZERO, wk(0))) and tx.ops[0].signer == pk(0)
    with pytest.raises(TxError) as info:
        parse_transaction({"ops": [], "inputs": [], "outputs": [], "fee": 0, "signatures": []})
    assert info.value.reason == TxReason.MALFORMED and "inputs" in info.value.detail


def test_signatures_are_one_per_input_then_one_per_op() -> None:
    tx = op_tx([(inscribe_op(CH, ZERO, wk(0)), wk(0))])
    with pytest.raises(TxError) as info:
        parse_transaction({**tx, "signatures": []})
    assert info.value.reason == TxReason.BAD_SIGNATURE and "one per op" in info.value.detail


# ---------------------------------------------------------------- rules on a branch

def test_a_first_inscription_opens_the_channel_and_the_next_message_chains_on_it(chain: Chain) -> None:
    op = first_inscription(chain)
    assert chain.ledger.channel(CH) == ChannelState(msg_id(op), pk(0), 1)
    second = blob_op(CH, msg_id(op), wk(0))
    include(chain, [op_tx([(second, wk(0))])])
    assert chain.ledger.channel(CH) == ChannelState(msg_id(second), pk(0), 2)
    assert chain.ledger.channel(OTHER) is None


def _invalid_cases(chain: Chain) -> list[tuple[str, dict[str, Any], TxReason]]:
    op = first_inscription(chain)
    last = msg_id(op)
    notes = genesis_note_ids(chain.genesis.wallet_notes)
    good = blob_op(CH, last, wk(0))
    return [
        ("parent zero on an open channel", op_tx([(blob_op(CH, ZERO, wk(0)), wk(0))]), TxReason.BAD_PARENT),
        ("unknown parent", op_tx([(blob_op(CH, "ab" * 32, wk(0)), wk(0))]), TxReason.BAD_PARENT),
        ("replay of the first message", op_tx([(op, wk(0))]), TxReason.BAD_PARENT),
        ("first message with a parent", op_tx([(inscribe_op(OTHER, last, wk(1)), wk(1))]), TxReason.BAD_PARENT),
        ("not the owner", op_tx([(blob_op(CH, last, wk(1)), wk(1))]), TxReason.NOT_CHANNEL_OWNER),
        ("signed by another key", op_tx([(good, wk(1))]), TxReason.BAD_SIGNATURE),
        ("signatures swapped", _swapped(op_tx([(good, wk(0))], inputs=[(notes[1], wk(1))],
                                              outputs=[(100, pk(1))])), TxReason.BAD_SIGNATURE),
        ("second op of a tx breaks the chain", op_tx([(good, wk(0)), (blob_op(CH, last, wk(0), "cc" * 32), wk(0))]),
         TxReason.BAD_PARENT),
        ("valid op but the transfer overspends", op_tx([(good, wk(0))], inputs=[(notes[1], wk(1))],
                                                       outputs=[(101, pk(1))]), TxReason.OVERSPEND),
        ("an op with outputs but no inputs", op_tx([(good, wk(0))], outputs=[(1, pk(0))]), TxReason.OVERSPEND),
    ]


def _swapped(tx: dict[str, Any]) -> dict[str, Any]:
    return {**tx, "signatures": list(reversed(tx["signatures"]))}


@pytest.mark.parametrize("case", range(10))
def test_each_invalid_op_is_refused_with_its_reason_and_nothing_changes(chain: Chain, case: int) -> None:
    cases = _invalid_cases(chain)
    assert len(cases) == 10
    name, tx, reason = cases[case]
    error = refused(chain, tx)
    assert error.reason == reason, (name, error)
    assert error.tx_hash == parse_transaction(tx).hash
    assert 400 <= HTTP_STATUS[reason] < 500
    tip = chain.tip.id
    result = chain.import_block(block_with(chain, [tx]), now=NOW)  # a block carrying it is rejected
    assert result.reason == RejectReason.BAD_TRANSACTION and reason in (result.detail or ""), (name, result)
    assert chain.tip.id == tip


def test_ops_chain_within_a_transaction_and_within_a_block(chain: Chain) -> None:
    a = inscribe_op(CH, ZERO, wk(0))
    b = blob_op(CH, msg_id(a), wk(0))
    c = blob_op(CH, msg_id(b), wk(0), "cc" * 32)
    d = inscribe_op(OTHER, ZERO, wk(1))
    notes = genesis_note_ids(chain.genesis.wallet_notes)
    with_value = op_tx([(c, wk(0)), (d, wk(1))], inputs=[(notes[0], wk(0))], outputs=[(99, pk(1))], fee=1)
    reversed_block = block_with(chain, [op_tx([(b, wk(0))]), op_tx([(a, wk(0))])])
    assert chain.import_block(reversed_block, now=NOW).reason == RejectReason.BAD_TRANSACTION
    include(chain, [op_tx([(a, wk(0)), (b, wk(0))]), with_value])
    ledger = chain.ledger
    assert ledger.channel(CH) == ChannelState(msg_id(c), pk(0), 3)
    assert ledger.channel(OTHER) == ChannelState(msg_id(d), pk(1), 1)
    assert ledger.supply == ledger.genesis_supply - 1 and ledger.fees_burned == 1


def test_channel_state_follows_a_reorg_and_comes_back(chain: Chain) -> None:
    a = first_inscription(chain)
    base = chain.tip.id
    on_main = blob_op(CH, msg_id(a), wk(0), "11" * 32)
    main = include(chain, [op_tx([(on_main, wk(0))])])
    main_slot = chain.tip.slot
    on_fork = blob_op(CH, msg_id(a), wk(0), "22" * 32)  # the same parent, another message
    assert refused(chain, op_tx([(on_fork, wk(0))])).reason == TxReason.BAD_PARENT  # stale on main
    fork1 = block_with(chain, [op_tx([(on_fork, wk(0))])], parent_id=base, after_slot=main_slot + 5)
    assert chain.import_block(fork1, now=NOW).imported  # judged on its own branch
    fork2 = block_with(chain, [], parent_id=fork1.id)
    assert chain.import_block(fork2, now=NOW).imported and chain.tip.id == fork2.id
    ledger = chain.ledger
    assert ledger.channel(CH) == ChannelState(msg_id(on_fork), pk(0), 2)
    next_on_fork = op_tx([(blob_op(CH, msg_id(on_fork), wk(0)), wk(0))])
    ledger.check(parse_transaction(next_on_fork), ledger.view())
    assert refused(chain, op_tx([(blob_op(CH, msg_id(on_main), wk(0)), wk(0))])).reason == TxReason.BAD_PARENT
    ledger.move_to(main)
    assert ledger.channel(CH) == ChannelState(msg_id(on_main), pk(0), 2)
    ledger.move_to(base)
    assert ledger.channel(CH) == ChannelState(msg_id(a), pk(0), 1)
    ledger.move_to(chain.genesis_id)
    assert ledger.channels() == {}
    ledger.move_to(fork2.id)
    assert ledger.channel(CH) == ChannelState(msg_id(on_fork), pk(0), 2)


def test_the_mempool_chains_pending_ops_and_drops_them_when_a_reorg_breaks_the_chain(chain: Chain) -> None:
    pool = Mempool(chain.ledger)
    a = inscribe_op(CH, ZERO, wk(0))
    b = blob_op(CH, msg_id(a), wk(0))
    pool.add(op_tx([(a, wk(0))]))
    pool.add(op_tx([(b, wk(0))]))  # parented on a pending message
    with pytest.raises(TxError) as info:
        pool.add(op_tx([(blob_op(CH, msg_id(a), wk(0), "cc" * 32), wk(0))]))  # a's child already pending
    assert info.value.reason == TxReason.BAD_PARENT and len(pool) == 2
    base = chain.tip.id
    include(chain, [op_tx([(a, wk(0))]), op_tx([(b, wk(0))])])
    slot = chain.tip.slot
    result = pool.revalidate(chain.take_ledger_moves())
    assert result.included == 2 and len(pool) == 0
    rival = inscribe_op(CH, ZERO, wk(1), "dd")  # another owner opens the channel on a longer fork
    fork1 = block_with(chain, [op_tx([(rival, wk(1))])], parent_id=base, after_slot=slot + 5)
    chain.import_block(fork1, now=NOW)
    chain.import_block(block_with(chain, [], parent_id=fork1.id), now=NOW)
    result = pool.revalidate(chain.take_ledger_moves())
    assert result.dropped == {"bad_parent": 2} and len(pool) == 0
    assert pool.status(parse_transaction(op_tx([(a, wk(0))])).hash) == "Rejected"
    assert chain.ledger.channel(CH) == ChannelState(msg_id(rival), pk(1), 1)


def test_pack_skips_what_is_not_admissible_and_what_chains_on_it(chain: Chain) -> None:
    a = first_inscription(chain)
    b = blob_op(CH, msg_id(a), wk(0), "bb" * 32)
    c = blob_op(CH, msg_id(b), wk(0), "cc" * 32)
    notes = genesis_note_ids(chain.genesis.wallet_notes)
    txs = [parse_transaction(t) for t in (op_tx([(b, wk(0))]), op_tx([(c, wk(0))]),
                                          transfer([(notes[1], wk(1))], [(100, pk(0))]))]
    validated = {"cc" * 32}
    packed = chain.pack_transactions(chain.tip.id, txs, admissible=lambda tx: all(
        op.blob is None or op.blob in validated for op in tx.ops))
    assert [tx.hash for tx in packed] == [txs[2].hash]  # c is validated but its parent b is not packed
    validated.add("bb" * 32)
    assert len(chain.pack_transactions(chain.tip.id, txs, admissible=lambda tx: all(
        op.blob is None or op.blob in validated for op in tx.ops))) == 3


def test_restart_rebuilds_channels_from_the_store(kit: ChainKit, tmp_path) -> None:
    genesis = chain_genesis(WALLETS)
    store = BlockStore.open(tmp_path / "data")
    chain = kit.chain(genesis, store=store)
    op = first_inscription(chain)
    include(chain, [op_tx([(blob_op(CH, msg_id(op), wk(0)), wk(0))])])
    before = chain.ledger.channels()
    store.close()
    again = kit.chain(genesis, store=BlockStore.open(tmp_path / "data"))
    assert again.ledger.channels() == before and before[CH].messages == 2
