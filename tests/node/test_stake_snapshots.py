"""The stake distribution snapshot against brute force, across restarts and forks (docs/consensus.md "Stake and
epochs"): real leaders, real lottery, a stake move between validators through the ledger."""

from __future__ import annotations

from nomos_node.config import ConsensusConfig, GenesisConfig, parse_genesis
from nomos_node.consensus.chain import Chain
from nomos_node.consensus.stake import StakeSnapshot
from nomos_node.storage import BlockStore
from tests.node.conftest import NOW, genesis_dict, keys_for
from tests.node.txkit import block_with, genesis_stake_note_ids, transfer


def _genesis() -> GenesisConfig:
    """The kit's genesis (9-slot epochs) with three leaders of 1000 and no wallets."""
    raw = genesis_dict(3, chain_start_time=0.0, slot_duration=1.0, active_slot_coeff=0.9, security_param=3,
                       epoch=(1, 1, 1))
    raw["wallet_notes"] = []
    return parse_genesis(raw)


def _brute_force_snapshot(chain: Chain, block_id: str) -> dict[str, tuple[int, str]]:
    """Every note of a leader key in the ledger state after ``block_id``, from a full copy of that state."""
    view = chain.ledger.view_at(block_id)
    notes = {nid: note for nid, note in chain.ledger.unspent().items() if view.note(nid) is not None}
    notes.update((nid, note) for nid, note in view.utxo.items() if note is not None)
    return {nid: (note.value, note.pk) for nid, note in notes.items() if chain.leader_keys.can_lead(note.pk)}


def _as_pairs(snapshot: StakeSnapshot) -> dict[str, tuple[int, str]]:
    return {nid: (note.value, note.pk) for nid, note in snapshot.notes.items()}


def _grow(chain: Chain, count: int, parent_id: str | None = None, txs: list | None = None,
          after_slot: int | None = None) -> list[str]:
    ids: list[str] = []
    for i in range(count):
        block = block_with(chain, txs if (txs and i == 0) else [], ids[-1] if ids else parent_id,
                           after_slot if i == 0 else None)
        assert chain.import_block(block, now=NOW).imported
        ids.append(block.id)
    return ids


def test_snapshots_match_brute_force_on_every_branch_and_survive_a_restart(tmp_path) -> None:
    genesis = _genesis()
    store = BlockStore.open(tmp_path)
    chain = Chain(genesis, ConsensusConfig(), store, pol_dev_mode=True)
    chain.switch_to_online()
    stake = genesis_stake_note_ids(genesis.stake_notes)
    # validator 2 splits its note: 600 to validator 0, 400 back to itself
    move = transfer([(stake[2], keys_for(2))], [(600, keys_for(0).signing_pk_hex), (400, keys_for(2).signing_pk_hex)])
    _grow(chain, 3)
    main = _grow(chain, 25, txs=[move])
    fork = _grow(chain, 2, parent_id=main[-3], after_slot=chain.tip.slot)  # a side branch within k = 3
    for tip in (main[-1], fork[-1]):
        for slot in (5, 20, 40, chain.get_block(tip).slot + 1):
            epoch = chain.epoch_state(slot, tip)
            assert _as_pairs(epoch.stake) == _brute_force_snapshot(chain, epoch.stake.block_id)
            assert epoch.stake.total_stake == 3000
    late = chain.epoch_state(chain.tip.slot + 1)
    assert len(late.stake.notes) == 4 and stake[2] not in late.stake.notes  # the split is in the snapshot
    before = (late.nonce, _as_pairs(late.stake), late.stake.block_id)
    store.close()

    reopened = Chain(genesis, ConsensusConfig(), BlockStore.open(tmp_path), pol_dev_mode=True)
    again = reopened.epoch_state(chain.tip.slot + 1, chain.tip.id)
    assert (again.nonce, _as_pairs(again.stake), again.stake.block_id) == before
    # and the restored chain keeps producing valid blocks with the moved stake
    _grow(reopened, 5, parent_id=chain.tip.id)
