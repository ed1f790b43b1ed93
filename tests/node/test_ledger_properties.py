"""Properties of the ledger over random spend graphs: random valid and invalid transfers among a few wallets,
sealed into blocks on random parents (so with forks and reorgs), on a real Chain.

After every block, and for every state the ledger is moved to:
* conservation: supply + fees burned == the genesis supply, and supply is the sum of the unspent notes;
* the unspent set, the fees and the inclusion index equal those recomputed from scratch by replaying the
  branch's blocks (an independent model here, not the ledger's diffs);
* the ledger's moves, applied to a set of transaction hashes, give the canonical chain's transactions;
* a refused transaction (on its own, or inside a block) changes nothing;
* moving to any other known block and back restores exactly the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nomos_node.consensus.chain import Chain, RejectReason
from nomos_node.ledger import Ledger, TxError, TxReason, note_id, parse_transaction
from tests.node.conftest import NOW, ChainKit
from tests.node.txkit import (
    block_with,
    chain_genesis,
    genesis_note_ids,
    genesis_stake_note_ids,
    pk,
    transfer,
    tx_hash,
    wallet_keys,
)

N_WALLETS = 4
GENESIS = [(w % N_WALLETS, 40 + 15 * w) for w in range(8)]
OWNER = {pk(w): w for w in range(N_WALLETS)}
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Utxo = dict[str, tuple[int, str]]


@dataclass
class Replay:
    """The state after a block, recomputed from the genesis notes and the branch's transactions."""

    utxo: Utxo
    spent: set[str]
    fees: int
    included: dict[str, str] = field(default_factory=dict)


def replay(chain: Chain, block_id: str) -> Replay:
    branch = []
    block = chain.get_block(block_id)
    assert block is not None
    while block.height > 0:
        branch.append(block)
        block = chain.get_block(block.parent)
        assert block is not None
    genesis = chain.genesis.wallet_notes
    stake = chain.genesis.stake_notes
    notes = {nid: (n.value, n.pk) for nid, n in zip(genesis_note_ids(genesis), genesis, strict=True)}
    notes.update((nid, (n.value, n.signing_pk)) for nid, n in zip(genesis_stake_note_ids(stake), stake, strict=True))
    state = Replay(notes, set(), 0)
    for block in reversed(branch):
        for doc in block.transactions:
            digest = tx_hash(dict(doc))
            for nid in doc["inputs"]:
                assert state.utxo.pop(nid, None) is not None, "the chain holds a spend of a missing note"
                state.spent.add(nid)
            for i, output in enumerate(doc["outputs"]):
                state.utxo[note_id(bytes.fromhex(digest), i)] = (output["value"], output["pk"])
            state.fees += doc["fee"]
            state.included[digest] = block.id
    return state


def snapshot(ledger: Ledger, hashes: set[str]) -> tuple[Any, ...]:
    return (ledger.unspent(), ledger.supply, ledger.fees_burned, ledger.cursor, ledger.height,
            {h: ledger.included_in(h) for h in hashes})


def assert_matches(ledger: Ledger, model: Replay, hashes: set[str]) -> None:
    assert ledger.supply + ledger.fees_burned == ledger.genesis_supply
    assert ledger.supply == sum(note.value for note in ledger.unspent().values())
    assert {nid: (note.value, note.pk) for nid, note in ledger.unspent().items()} == model.utxo
    assert ledger.fees_burned == model.fees
    assert {h: ledger.included_in(h) for h in hashes} == {h: model.included.get(h) for h in hashes}


def draw_transfer(data: st.DataObject, pool: list[str], utxo: Utxo) -> dict[str, Any]:
    """A valid transfer of 1..2 notes from ``pool`` (removed from it) to 1..3 outputs, with a random fee."""
    count = data.draw(st.integers(1, min(2, len(pool))))
    inputs = [pool.pop(data.draw(st.integers(0, len(pool) - 1))) for _ in range(count)]
    total = sum(utxo[nid][0] for nid in inputs)
    fee = data.draw(st.integers(0, min(3, total - 1)))
    n_out = data.draw(st.integers(1, min(3, total - fee)))
    cuts = sorted(data.draw(st.lists(st.integers(1, total - fee - 1), min_size=n_out - 1, max_size=n_out - 1,
                                     unique=True))) if n_out > 1 else []
    values = [b - a for a, b in zip([0, *cuts], [*cuts, total - fee], strict=True)]
    outputs = [(v, pk(data.draw(st.integers(0, N_WALLETS - 1)))) for v in values]
    return transfer([(nid, wallet_keys(OWNER[utxo[nid][1]])) for nid in inputs], outputs, fee=fee)


INVALID = ("overspend", "burn", "bad_signature", "unknown_input", "double_spend", "duplicate_input")


def draw_invalid(data: st.DataObject, model: Replay) -> tuple[dict[str, Any], TxReason] | None:
    """A transfer refused on the state ``model``, and its expected reason (None when none can be built)."""
    kind = data.draw(st.sampled_from(INVALID))
    notes = sorted(nid for nid, (_, owner) in model.utxo.items() if owner in OWNER)  # not the stake notes
    if not notes or (kind == "double_spend" and not model.spent):
        return None
    nid = data.draw(st.sampled_from(notes))
    value, owner_pk = model.utxo[nid]
    owner = wallet_keys(OWNER[owner_pk])
    to = pk(data.draw(st.integers(0, N_WALLETS - 1)))
    if kind == "overspend":
        return transfer([(nid, owner)], [(value + 1, to)]), TxReason.OVERSPEND
    if kind == "burn":
        return (transfer([(nid, owner)], [(value, to)], fee=1) if value == 1 else
                transfer([(nid, owner)], [(value - 1, to)])), TxReason.OVERSPEND
    if kind == "bad_signature":
        other = wallet_keys((OWNER[owner_pk] + data.draw(st.integers(1, N_WALLETS - 1))) % N_WALLETS)
        return transfer([(nid, other)], [(value, to)]), TxReason.BAD_SIGNATURE
    if kind == "unknown_input":
        unknown = data.draw(st.binary(min_size=32, max_size=32)).hex()
        if unknown in model.utxo or unknown in model.spent:
            return None
        return transfer([(unknown, owner)], [(1, to)]), TxReason.UNKNOWN_INPUT
    if kind == "double_spend":
        spent = data.draw(st.sampled_from(sorted(model.spent)))
        return transfer([(spent, owner), (nid, owner)], [(value, to)]), TxReason.DOUBLE_SPEND
    return transfer([(nid, owner), (nid, owner)], [(2 * value, to)]), TxReason.DOUBLE_SPEND


class Run:
    def __init__(self, data: st.DataObject, online: bool) -> None:
        self.data = data
        self.chain = ChainKit(Path("/nonexistent")).chain(chain_genesis(GENESIS), online=online)
        self.ledger = self.chain.ledger
        self.blocks = [self.chain.genesis_id]
        self.hashes: set[str] = set()
        self.documents: list[dict[str, Any]] = []  # every transaction built so far (some reused on forks)
        self.canonical_txs: set[str] = set()  # followed through the ledger's moves
        self.rolled_back = 0

    def report(self) -> None:
        """What the example exercised (pytest --hypothesis-show-statistics)."""
        event("reorg rolled back transactions" if self.rolled_back else "no transaction rolled back")
        event(f"canonical height >= {min(self.chain.height, 8)}")
        event(f"distinct transactions >= {5 * (len(self.documents) // 5)}")

    def known_blocks(self) -> list[str]:
        return [b for b in self.blocks if b in self.chain]

    def check_state(self) -> None:
        for move in self.chain.take_ledger_moves():
            if move.reverted:
                self.rolled_back += len(move.reverted)
            self.canonical_txs -= {tx.hash for tx in move.reverted}
            self.canonical_txs |= set(move.included)
        assert self.ledger.cursor == self.chain.tip.id
        model = replay(self.chain, self.chain.tip.id)
        assert_matches(self.ledger, model, self.hashes)
        assert self.canonical_txs == set(model.included)

    def refused_changes_nothing(self, parent: str, model: Replay) -> None:
        built = draw_invalid(self.data, model)
        if built is None:
            return
        tx, reason = built
        event(f"refused: {reason}")
        self.hashes.add(tx_hash(tx))
        before = snapshot(self.ledger, self.hashes)
        with pytest.raises(TxError) as info:
            self.ledger.check(parse_transaction(tx), self.ledger.view_at(parent))
        assert info.value.reason == reason
        assert snapshot(self.ledger, self.hashes) == before

    def block_txs(self, model: Replay) -> list[dict[str, Any]]:
        """0..4 transactions valid together on ``model``'s state, each maybe chained on an earlier one's
        outputs, and maybe a transaction built earlier for another branch that is valid here too."""
        utxo = {nid: note for nid, note in model.utxo.items() if note[1] in OWNER}  # not the stake notes
        txs: list[dict[str, Any]] = []
        for _ in range(self.data.draw(st.integers(0, 4))):
            reusable = [doc for doc in self.documents
                        if doc not in txs and all(nid in utxo for nid in doc["inputs"])]
            if reusable and self.data.draw(st.booleans()):
                tx = self.data.draw(st.sampled_from(reusable))
            elif utxo:
                tx = draw_transfer(self.data, sorted(utxo), utxo)
            else:
                break
            for nid in tx["inputs"]:
                del utxo[nid]
            digest = bytes.fromhex(tx_hash(tx))
            for i, output in enumerate(tx["outputs"]):
                utxo[note_id(digest, i)] = (output["value"], output["pk"])
            txs.append(tx)
        return txs

    def step(self) -> None:
        known = self.known_blocks()
        parent = self.chain.tip.id if self.data.draw(st.booleans()) else self.data.draw(st.sampled_from(known))
        parent_block = self.chain.get_block(parent)
        assert parent_block is not None
        model = replay(self.chain, parent)
        self.refused_changes_nothing(parent, model)
        txs = self.block_txs(model)
        for tx in txs:
            self.hashes.add(tx_hash(tx))
            if tx not in self.documents:
                self.documents.append(tx)
        after = parent_block.slot + self.data.draw(st.integers(0, 3))
        invalid = draw_invalid(self.data, model) if self.data.draw(st.integers(0, 3)) == 0 else None
        if invalid is not None:  # the same block with a refused transaction somewhere: rejected, nothing moves
            bad = list(txs)
            bad.insert(self.data.draw(st.integers(0, len(bad))), invalid[0])
            before = snapshot(self.ledger, self.hashes)
            tip = self.chain.tip.id
            known_ids = set(self.known_blocks())
            result = self.chain.import_block(block_with(self.chain, bad, parent, after), now=NOW)
            if result.status == "duplicate":
                # The block id commits to the transaction hashes, which leave the signatures out
                # (docs/consensus.md): a validly signed twin of this block is already stored.
                assert invalid[1] == TxReason.BAD_SIGNATURE and result.block_id in known_ids, result
            else:
                assert result.status == "rejected", result
                assert result.reason in (RejectReason.BAD_TRANSACTION, RejectReason.FORK_BELOW_LIB), result
            assert snapshot(self.ledger, self.hashes) == before and self.chain.tip.id == tip
        block = block_with(self.chain, txs, parent, after)
        result = self.chain.import_block(block, now=NOW)
        if result.status == "rejected":  # a parent below the LIB (online mode): nothing may have moved
            assert result.reason == RejectReason.FORK_BELOW_LIB, result
        elif result.status != "duplicate":  # the same parent, slot and transactions as an earlier block
            assert result.imported, result
            self.blocks.append(block.id)
        self.check_state()

    def there_and_back(self) -> None:
        tip = self.chain.tip.id
        before = snapshot(self.ledger, self.hashes)
        other = self.data.draw(st.sampled_from(self.known_blocks()))
        self.ledger.move_to(other)
        assert_matches(self.ledger, replay(self.chain, other), self.hashes)
        assert self.ledger.cursor == other
        self.ledger.move_to(tip)
        assert snapshot(self.ledger, self.hashes) == before


@SETTINGS
@given(data=st.data(), online=st.booleans())
def test_random_spend_graphs_keep_the_ledger_invariants(data: st.DataObject, online: bool) -> None:
    run = Run(data, online)
    run.check_state()
    for _ in range(data.draw(st.integers(1, 12), label="blocks")):
        run.step()
        if data.draw(st.booleans()):
            run.there_and_back()
    run.report()
    assert run.ledger.supply + run.ledger.fees_burned == run.ledger.genesis_supply


@SETTINGS
@given(data=st.data())
def test_a_block_diff_undone_and_redone_is_the_identity_on_every_branch(data: st.DataObject) -> None:
    """Visiting the known blocks in a random order, and coming back: each visit equals the replay."""
    run = Run(data, online=False)
    for _ in range(data.draw(st.integers(2, 8))):
        run.step()
    start = snapshot(run.ledger, run.hashes)
    tip = run.chain.tip.id
    for block_id in data.draw(st.permutations(run.known_blocks())):
        run.ledger.move_to(block_id)
        assert_matches(run.ledger, replay(run.chain, block_id), run.hashes)
    run.ledger.move_to(tip)
    assert snapshot(run.ledger, run.hashes) == start
