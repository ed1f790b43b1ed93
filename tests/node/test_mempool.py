"""The mempool on a real Chain (no process): deduplication, chained spends of pending change, refusals that
change nothing, the bound, transaction status, following the canonical ledger (inclusion, reorgs) and packing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nomos_node.consensus.block import Block
from nomos_node.consensus.chain import Chain
from nomos_node.ledger import TxError, TxReason, parse_transaction
from nomos_node.ledger.mempool import Mempool, Revalidation
from tests.node.conftest import NOW, ChainKit
from tests.node.txkit import block_with, chain_genesis, genesis_note_ids, output_ids, pk, transfer, tx_hash
from tests.node.txkit import wallet_keys as wk

WALLETS = [(0, 100), (1, 100), (2, 100), (3, 100), (0, 50)]


@pytest.fixture
def chain(kit: ChainKit) -> Chain:
    return kit.chain(chain_genesis(WALLETS))


@pytest.fixture
def notes(chain: Chain) -> list[str]:
    return genesis_note_ids(chain.genesis.wallet_notes)


def pay(note: str, owner: int, to: int, value: int, total: int, fee: int = 0) -> dict[str, Any]:
    """Spend ``note`` (worth ``total``, owned by wallet ``owner``): ``value`` to ``to``, change back, ``fee``."""
    outputs = [(value, pk(to))] + ([(total - value - fee, pk(owner))] if total - value - fee else [])
    return transfer([(note, wk(owner))], outputs, fee=fee)


def include(chain: Chain, txs: list[dict[str, Any]], parent_id: str | None = None,
            after_slot: int | None = None) -> Block:
    block = block_with(chain, txs, parent_id, after_slot)
    result = chain.import_block(block, now=NOW)
    assert result.imported, result
    return block


def follow(chain: Chain, pool: Mempool) -> Revalidation:
    return pool.revalidate(chain.take_ledger_moves())


def refused(pool: Mempool, tx: Any) -> TxReason:
    before = (list(pool.candidates()), len(pool), pool.ledger.unspent(), pool.last_added_at)
    with pytest.raises(TxError) as info:
        pool.add(tx, now=99.0)
    assert (list(pool.candidates()), len(pool), pool.ledger.unspent(), pool.last_added_at) == before
    return info.value.reason


def hashes(pool: Mempool) -> list[str]:
    return [tx.hash for tx in pool.candidates()]


def test_a_resubmission_is_idempotent(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    tx = pay(notes[0], 0, 1, 60, 100, fee=1)
    added = pool.add(tx, now=10.0)
    assert (added.status, added.is_new, added.tx.hash) == ("accepted", True, tx_hash(tx))
    again = pool.add(tx, now=11.0)
    assert (again.status, again.is_new) == ("pending", False)
    # the same transaction with its keys in another order: the same hash, still pending, not a second entry
    reordered = json.loads(json.dumps(dict(reversed(list(tx.items())))))
    assert pool.add(reordered, now=12.0).status == "pending"
    assert len(pool) == 1 and hashes(pool) == [tx_hash(tx)] and pool.last_added_at == 10.0
    # the same transfer (same hash) with a signature that is not the owner's is refused, not "pending"
    forged = dict(tx, signatures=[pay(notes[0], 1, 1, 60, 100, fee=1)["signatures"][0]])
    assert tx_hash(forged) == tx_hash(tx)
    assert refused(pool, forged) == TxReason.BAD_SIGNATURE


def test_a_chained_spend_of_pending_change_is_accepted(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    first = pay(notes[0], 0, 1, 60, 100, fee=1)  # change 39 back to wallet 0
    change = output_ids(first)[1]
    second = pay(change, 0, 2, 30, 39, fee=2)  # spends change it has not seen included
    third = pay(output_ids(second)[0], 2, 3, 30, 30)  # and the recipient spends that at once
    for tx in (first, second, third):
        assert pool.add(tx).status == "accepted"
    assert hashes(pool) == [tx_hash(first), tx_hash(second), tx_hash(third)]
    # the pending outputs are not the ledger's: the canonical state has not moved
    assert chain.ledger.note(change) is None and chain.ledger.supply == chain.ledger.genesis_supply
    # a chained spend signed by the wrong owner is still refused on the pending view
    assert refused(pool, transfer([(output_ids(first)[0], wk(0))], [(60, pk(0))])) == TxReason.BAD_SIGNATURE


def test_a_conflicting_spend_of_a_pending_note_is_refused(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    first = pay(notes[0], 0, 1, 60, 100)
    chained = pay(output_ids(first)[1], 0, 2, 40, 40)
    pool.add(first)
    pool.add(chained)
    conflicts = [pay(notes[0], 0, 3, 100, 100),  # the genesis note again, to someone else
                 pay(output_ids(first)[1], 0, 3, 40, 40),  # the pending change again
                 transfer([(notes[0], wk(0)), (notes[4], wk(0))], [(150, pk(0))])]  # among other inputs
    for tx in conflicts:
        assert refused(pool, tx) == TxReason.DOUBLE_SPEND
        assert pool.status(tx_hash(tx)) == "Rejected"
    assert hashes(pool) == [tx_hash(first), tx_hash(chained)]
    assert pool.status(tx_hash(first)) == pool.status(tx_hash(chained)) == "Pending"


def test_a_full_pool_refuses_mempool_full_and_changes_nothing(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger, max_pending=2)
    a, b, c = (pay(notes[i], i, 3, 100, 100) for i in range(3))
    pool.add(a, now=1.0)
    pool.add(b, now=2.0)
    assert refused(pool, c) == TxReason.MEMPOOL_FULL
    assert pool.status(tx_hash(c)) == "Unknown"  # full is not a verdict on the transaction: retry later
    # a transaction that can never pass gets its own reason even when the pool is full
    assert refused(pool, pay(notes[0], 0, 4, 100, 100)) == TxReason.DOUBLE_SPEND
    assert refused(pool, transfer([(notes[3], wk(3))], [(150, pk(4))])) == TxReason.OVERSPEND
    assert pool.add(a).status == "pending"  # a resubmission is still answered
    include(chain, [a])
    follow(chain, pool)
    assert pool.add(c, now=3.0).status == "accepted" and hashes(pool) == [tx_hash(b), tx_hash(c)]


def test_status_goes_unknown_pending_in_block(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    tx = pay(notes[1], 1, 2, 10, 100, fee=5)
    assert pool.status(tx_hash(tx)) == "Unknown"
    pool.add(tx)
    assert pool.status(tx_hash(tx)) == "Pending"
    block = include(chain, [tx])
    assert follow(chain, pool) == Revalidation(included=1, returned=0, dropped={})
    assert pool.status(tx_hash(tx)) == {"InBlock": {"block": block.id}}
    assert pool.add(tx).status == "included" and len(pool) == 0


def test_status_is_rejected_after_a_refusal_until_a_valid_version_comes(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    good = pay(notes[2], 2, 0, 50, 100)
    forged = {**good, "signatures": [wk(1).sign(bytes.fromhex(tx_hash(good))).hex()]}  # same hash, wrong key
    assert refused(pool, forged) == TxReason.BAD_SIGNATURE
    assert pool.status(tx_hash(good)) == "Rejected"
    overspend = pay(notes[3], 3, 0, 101, 101)
    assert refused(pool, overspend) == TxReason.OVERSPEND and pool.status(tx_hash(overspend)) == "Rejected"
    unknown = pay("ab" * 32, 3, 0, 1, 1)
    assert refused(pool, unknown) == TxReason.UNKNOWN_INPUT and pool.status(tx_hash(unknown)) == "Rejected"
    assert refused(pool, {"inputs": "nope"}) == TxReason.MALFORMED  # no hash: nothing to remember
    assert pool.add(good).status == "accepted" and pool.status(tx_hash(good)) == "Pending"


def test_an_included_transaction_leaves_the_pool_and_a_conflicting_one_is_dropped(chain: Chain,
                                                                                  notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    a, b = pay(notes[0], 0, 1, 100, 100), pay(notes[1], 1, 2, 100, 100)
    c = pay(notes[2], 2, 3, 90, 100, fee=10)
    for tx in (a, b, c):
        pool.add(tx)
    rival = pay(notes[2], 2, 0, 100, 100)  # another node's block spends c's note differently
    block = include(chain, [a, rival])
    result = follow(chain, pool)
    assert result == Revalidation(included=2, returned=0, dropped={"double_spend": 1})
    assert hashes(pool) == [tx_hash(b)]
    assert pool.status(tx_hash(a)) == pool.status(tx_hash(rival)) == {"InBlock": {"block": block.id}}
    assert pool.status(tx_hash(c)) == "Rejected"  # dropped: no longer valid on the canonical state
    assert pool.add(b).status == "pending"


def test_a_reorg_returns_rolled_back_transactions_and_drops_what_the_new_branch_invalidates(
        chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    genesis = chain.tip.id
    moved = pay(notes[0], 0, 1, 100, 100)  # will conflict with the winning branch
    kept = pay(notes[1], 1, 2, 70, 100, fee=3)  # valid on both branches
    for tx in (moved, kept):
        pool.add(tx)
    old = include(chain, [moved, kept])
    assert follow(chain, pool).included == 2 and len(pool) == 0
    chained = pay(output_ids(moved)[0], 1, 3, 100, 100)  # spends an output of the block about to be rolled back
    late = pay(notes[3], 3, 0, 100, 100)  # independent, pending during the reorg
    pool.add(chained)
    pool.add(late)
    rival = pay(notes[0], 0, 2, 99, 100, fee=1)
    fork = include(chain, [rival], parent_id=genesis, after_slot=old.slot)
    include(chain, [], parent_id=fork.id)
    assert chain.is_canonical(fork.id) and not chain.is_canonical(old.id)
    result = follow(chain, pool)
    # kept comes back (first, in chain order); moved is a double spend there and chained spends a note that
    # no longer exists: both are dropped and counted by reason
    assert result.included == 1 and result.returned == 1
    assert [tx.hash for tx in result.returned_txs] == [tx_hash(kept)]  # the node offers it to its peers again
    assert result.dropped == {"double_spend": 1, "unknown_input": 1}
    assert hashes(pool) == [tx_hash(kept), tx_hash(late)]
    assert pool.status(tx_hash(kept)) == "Pending"
    assert pool.status(tx_hash(rival)) == {"InBlock": {"block": fork.id}}
    assert pool.status(tx_hash(moved)) == pool.status(tx_hash(chained)) == "Rejected"  # dropped by the reorg
    # the returned transaction is packed again on the new tip, the dropped ones are not
    assert [tx.hash for tx in chain.pack_transactions(chain.tip.id, pool.candidates())] == hashes(pool)


def test_a_reorg_back_and_forth_leaves_the_pool_consistent(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    genesis = chain.tip.id
    tx = pay(notes[4], 0, 1, 25, 50)
    pool.add(tx)
    a1 = include(chain, [tx])
    follow(chain, pool)
    b1 = include(chain, [], parent_id=genesis, after_slot=a1.slot)
    include(chain, [], parent_id=b1.id)
    assert follow(chain, pool).returned == 1 and hashes(pool) == [tx_hash(tx)]
    # the first branch wins again: the transaction is in a block once more and leaves the pool
    a2 = include(chain, [], parent_id=a1.id, after_slot=chain.tip.slot)
    include(chain, [], parent_id=a2.id)
    assert chain.is_canonical(a1.id)
    result = follow(chain, pool)
    assert (result.returned, result.dropped, len(pool)) == (0, {}, 0)
    assert pool.status(tx_hash(tx)) == {"InBlock": {"block": a1.id}}


def test_packing_respects_the_limit_and_only_packs_transactions_valid_together(chain: Chain,
                                                                               notes: list[str]) -> None:
    pool = Mempool(chain.ledger)
    txs = [pay(notes[i], i if i < 4 else 0, 3, 10, 100 if i < 4 else 50, fee=1) for i in range(5)]
    for tx in txs:
        pool.add(tx)
    tip = chain.tip.id
    assert [tx.hash for tx in chain.pack_transactions(tip, pool.candidates(), 3)] == [tx_hash(t) for t in txs[:3]]
    assert chain.pack_transactions(tip, pool.candidates(), 0) == []
    # candidates that are not valid together (a leader may pack on a parent other than the pool's tip)
    parsed = {tx.hash: tx for tx in pool.candidates()}
    first = parse_transaction(txs[0])
    conflict = parse_transaction(pay(notes[0], 0, 2, 100, 100))
    bad_sig = parse_transaction({**txs[1], "signatures": txs[2]["signatures"]})
    chained = parse_transaction(pay(output_ids(txs[0])[0], 3, 1, 10, 10))
    unknown = parse_transaction(pay("cd" * 32, 0, 1, 1, 1))
    candidates = [first, conflict, bad_sig, unknown, chained, parsed[tx_hash(txs[1])]]
    packed = chain.pack_transactions(tip, candidates, 10)
    assert [tx.hash for tx in packed] == [first.hash, chained.hash, tx_hash(txs[1])]
    assert [tx.hash for tx in chain.pack_transactions(tip, candidates, 2)] == [first.hash, chained.hash]
    block = include(chain, [tx.document for tx in packed])  # what was packed is a valid block
    assert follow(chain, pool).included == 3
    # on the new tip the included ones are skipped; txs[0]'s conflict stays out
    assert [tx.hash for tx in chain.pack_transactions(block.id, candidates, 10)] == []
    assert hashes(pool) == [tx_hash(t) for t in txs[2:]]
    # on the old parent (a fork), the conflicting spend is valid again and the chained one is not
    assert [tx.hash for tx in chain.pack_transactions(tip, [conflict, chained], 10)] == [conflict.hash]


def test_a_reorg_that_overfills_the_pool_counts_what_it_leaves_out(chain: Chain, notes: list[str]) -> None:
    pool = Mempool(chain.ledger, max_pending=2)
    genesis = chain.tip.id
    back = pay(notes[0], 0, 1, 100, 100)
    pool.add(back)
    old = include(chain, [back])
    follow(chain, pool)
    waiting = [pay(notes[i], i, 0, 100, 100) for i in (1, 2)]
    for tx in waiting:
        pool.add(tx)
    fork = include(chain, [], parent_id=genesis, after_slot=old.slot)
    include(chain, [], parent_id=fork.id)
    result = follow(chain, pool)
    # the rolled-back transaction comes back first; the last pending one no longer fits and is counted
    assert (result.returned, result.dropped) == (1, {"mempool_full": 1})
    assert hashes(pool) == [tx_hash(back), tx_hash(waiting[0])]
