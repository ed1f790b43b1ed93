"""Three real `nomos-node` processes across epoch boundaries with a stake move (docs/consensus.md "Stake and
epochs"): blocks keep coming in every epoch once the epoch nonce and the stake distribution come from the chain;
a validator whose stake note is spent never leads again; the note it paid to another validator leads from the
epoch whose stake distribution snapshot holds it (two epochs later), not before.

Parameters: slot 0.25 s, f = 0.9, k = 4 → base period 4, epoch (1, 1, 1) → 12 slots (3 s). The transfer is
submitted before the chain starts, so it is normally in a block of epoch E = 0 and the new note leads from epoch
2; the test follows the epoch E it actually landed in (a slow start-up) and runs until a full epoch E + 2.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from nomos_node.config import parse_genesis
from nomos_node.crypto.keys import NodeKeys
from nomos_node.devnet import LocalNetwork, NodeProcess, make_genesis, ready, seed_for, wait_until
from nomos_node.ledger import parse_transaction
from tests.node.txkit import genesis_stake_note_ids, transfer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

SLOT = 0.25
EPOCH_SLOTS = 12


def _chain(node: NodeProcess, genesis_id: str) -> list[dict[str, Any]]:
    """The node's canonical blocks, genesis excluded, oldest first."""
    tip = node.info()["tip"]
    ids = list(reversed(node.get(f"/cryptarchia/headers?from={tip}&to={genesis_id}")))[1:]
    return [node.post("/storage/block", block_id) for block_id in ids]


def _genesis_id(node: NodeProcess) -> str:
    found = re.search(r"genesis=([0-9a-f]{64})", node.log_text())
    assert found, "no start line in the log"
    return found.group(1)


def _tip_slot(node: NodeProcess) -> int:
    block: dict[str, Any] = node.post("/storage/block", node.info()["tip"])
    return int(block["header"]["slot"])


def test_blocks_across_epochs_follow_the_stake_snapshots(tmp_path) -> None:
    genesis = make_genesis(3, start_in=4.0, slot=SLOT, f=0.9, k=4)  # node start-up takes seconds here
    genesis["epoch"] = {"stake_distribution_stabilization": 1, "period_nonce_buffer": 1,
                        "period_nonce_stabilization": 1}
    config = parse_genesis(genesis)
    stake_notes = genesis_stake_note_ids(config.stake_notes)
    keys = [NodeKeys.from_seed(seed_for(i)) for i in range(3)]
    # validator 2 pays its whole stake note to validator 0: a new note of validator 0, and none left for 2
    move = transfer([(stake_notes[2], keys[2])], [(1000, keys[0].signing_pk_hex)])
    moved = parse_transaction(move)
    new_note = moved.output_ids()[0]

    with LocalNetwork(tmp_path, 3, genesis=genesis) as net:
        net.start()
        for node in net.nodes:
            wait_until(lambda node=node: ready(node), 20, f"node {node.index} API")
        net.nodes[0].post("/mempool/add/tx", move)
        started = time.monotonic()
        owned = f"/mantle/notes?pk={keys[0].signing_pk_hex}"
        wait_until(lambda: any(n["note_id"] == new_note for n in net.nodes[0].get(owned)), 15, "the transfer")
        genesis_id = _genesis_id(net.nodes[0])
        spent_in = next(block["header"]["slot"] for block in _chain(net.nodes[0], genesis_id)
                        if any(parse_transaction(tx).hash == moved.hash for tx in block["transactions"]))
        last_epoch = spent_in // EPOCH_SLOTS + 3  # run until a block of epoch E + 3: all of E + 2 is behind
        wait_until(lambda: all(_tip_slot(node) >= last_epoch * EPOCH_SLOTS for node in net.nodes), 25,
                   f"a block of epoch {last_epoch} on every node")
        chains = [_chain(node, genesis_id) for node in net.nodes]
        elapsed = time.monotonic() - started

    chain = chains[0]
    headers = [block["header"] for block in chain]
    epochs = {header["slot"] // EPOCH_SLOTS for header in headers}
    assert set(range(1, last_epoch + 1)) <= epochs, f"epochs with blocks: {sorted(epochs)} in {elapsed:.1f} s"
    # the nodes agree on their chains up to the last few blocks
    shortest = min(len(c) for c in chains)
    assert shortest >= 10 and all(c[shortest - 5]["header"]["id"] == chain[shortest - 5]["header"]["id"]
                                  for c in chains)
    spent_at = next(i for i, block in enumerate(chain)
                    if any(parse_transaction(tx).hash == moved.hash for tx in block["transactions"]))
    created_in_epoch = headers[spent_at]["slot"] // EPOCH_SLOTS
    # validator 2 never leads after its note is spent (it may have led the block that spent it)
    assert all(h["leader"]["key"] != keys[2].signing_pk_hex for h in headers[spent_at + 1:])
    # the new note leads only from epoch E + 2, and does lead there
    with_new_note = [h for h in headers if h["leader"]["note"] == new_note]
    assert all(h["slot"] >= (created_in_epoch + 2) * EPOCH_SLOTS for h in with_new_note)
    assert with_new_note, f"validator 0's new note (created in epoch {created_in_epoch}) never led"
    assert all(h["leader"]["note"] in {*stake_notes, new_note} for h in headers)
