"""Builders for the specification's ledger-state and leader cases (`cryptarchia/test_common.py` of
logos-co/nomos-specs) on this node: a genesis with the spec's config, blocks naming a chosen leader note, and
transactions that mint new notes for a leader key (not a conftest: imported by the spec test modules).

The spec's `Note(sk=i, value=v)` is a ledger note owned by leader key i (`keys_for(i)`, declared in genesis by its
stake note). The spec adds a new note by writing its commitment into a ledger state; here it is minted by a real
transaction in a block, paid from a wallet note of ``MINTER`` (a key that is not a leader key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nomos_node.config import GenesisConfig, parse_genesis
from nomos_node.consensus.block import Block
from nomos_node.consensus.chain import Chain, ImportResult
from nomos_node.consensus.leader import LeaderTicket
from nomos_node.consensus.vrf import vrf_evaluate
from nomos_node.ledger import parse_transaction
from tests.node.conftest import NOW, genesis_dict, keys_for
from tests.node.txkit import genesis_note_ids, genesis_stake_note_ids, transfer

MINTER = keys_for(20)
MINTER_FUNDS = 10_000


def spec_genesis(note_values: Sequence[int]) -> GenesisConfig:
    """The spec's ``mk_config`` + ``mk_genesis_state``: k = 1, f = 0.5, epoch (3, 3, 4) → epoch length 20 slots;
    leader key i holds one genesis note of ``note_values[i]``; the minter holds one wallet note."""
    raw = genesis_dict(len(note_values), stakes=list(note_values), chain_start_time=0.0, slot_duration=1.0,
                       active_slot_coeff=0.5, security_param=1, epoch=(3, 3, 4))
    raw["wallet_notes"] = [{"value": MINTER_FUNDS, "pk": MINTER.signing_pk_hex}]
    return parse_genesis(raw)


def genesis_note(chain: Chain, leader: int) -> str:
    """The id of leader ``leader``'s genesis stake note (the spec's ``Note(sk=leader)``)."""
    return genesis_stake_note_ids(chain.genesis.stake_notes)[leader]


def mk_block(chain: Chain, parent: Block, slot: int, leader: int, note: str | None = None,
             txs: Sequence[dict[str, Any]] = (), state_parent: str | None = None) -> Block:
    """The spec's ``mk_block``: ``leader``'s block on ``parent`` at ``slot`` naming ``note`` (default its genesis
    note), with a real VRF over the epoch nonce of the parent's branch (``state_parent`` when the parent is not
    held). Whether the note may lead is the validator's business, as in the spec."""
    keys = keys_for(leader)
    note_id = genesis_note(chain, leader) if note is None else note
    epoch = chain.epoch_state(slot, parent.id if state_parent is None else state_parent)
    vrf = vrf_evaluate(keys.vrf_sk, epoch.nonce, slot, bytes.fromhex(note_id))
    ticket = LeaderTicket(slot=slot, parent_id=parent.id, parent_height=parent.height, vrf_pk=keys.vrf_pk_hex,
                          signing_pk=keys.signing_pk_hex, note_id=note_id, vrf_output=vrf.output,
                          vrf_proof=vrf.proof)
    return chain.build_block(ticket, "", keys, txs)


def on_block(chain: Chain, block: Block) -> ImportResult:
    return chain.import_block(block, now=NOW)


def genesis_of(chain: Chain) -> Block:
    block = chain.get_block(chain.genesis_id)
    assert block is not None
    return block


def mint(chain: Chain, leader: int, value: int) -> tuple[dict[str, Any], str]:
    """A transaction paying ``value`` from the minter's genesis wallet note to leader key ``leader``, and the id of
    the new note (output 0)."""
    funds = genesis_note_ids(chain.genesis.wallet_notes)[0]
    tx = transfer([(funds, MINTER)], [(value, keys_for(leader).signing_pk_hex),
                                      (MINTER_FUNDS - value, MINTER.signing_pk_hex)])
    return tx, parse_transaction(tx).output_ids()[0]


def spend(chain: Chain, leader: int, note: str, value: int) -> dict[str, Any]:
    """A transaction in which leader key ``leader`` spends its note ``note`` (worth ``value``) to the minter."""
    return transfer([(note, keys_for(leader))], [(value, MINTER.signing_pk_hex)])
