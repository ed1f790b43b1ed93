"""Epoch state, per branch: the epoch nonce and the stake distribution snapshot of each epoch.

Ledger nonce: evolves with every block, ``nonce' = Blake2b(b"nonce" ‖ nonce ‖ vrf_output ‖ slot)``; the genesis
block's ledger nonce is the genesis nonce ``Blake2b(b"genesis-nonce" ‖ genesis_id)``.

For epoch e ≥ 1, on the branch being extended (the spec's ``compute_epoch_state``):

* **nonce snapshot**: the last block whose slot is before ``start(e−1) + (stake_stab + nonce_buffer)·base_period``;
  the epoch nonce is its ledger nonce;
* **stake distribution snapshot**: the last block whose slot is before ``start(e−1)``; the stake distribution is
  the ledger state after it (:class:`StakeSnapshot`).

Epoch 0 uses genesis for both. "Last block before" falls back to genesis when no block is (epoch 1's stake).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nomos_node.consensus.clock import EpochSchedule
from nomos_node.consensus.stake import StakeSnapshot
from nomos_node.crypto.hashing import blake2b_256


def genesis_nonce(genesis_id: str) -> bytes:
    return blake2b_256(b"genesis-nonce", bytes.fromhex(genesis_id))


def next_ledger_nonce(nonce: bytes, vrf_output: bytes, slot: int) -> bytes:
    return blake2b_256(b"nonce", nonce, vrf_output, slot.to_bytes(8, "big"))


@dataclass(frozen=True)
class BlockPosition:
    """What the epoch logic needs to know about a stored block."""

    id: str
    parent: str
    slot: int
    ledger_nonce: bytes


@dataclass(frozen=True)
class EpochState:
    epoch: int
    nonce: bytes
    stake: StakeSnapshot


class EpochTracker:
    """Finds the snapshot blocks of any branch, memoising (slot bound, block) so each block is walked once per bound;
    a stake snapshot is computed once per snapshot block (``stake_at``) and kept until that block is pruned."""

    def __init__(
        self,
        schedule: EpochSchedule,
        genesis_id: str,
        lookup: Callable[[str], BlockPosition],
        stake_at: Callable[[str], StakeSnapshot],
    ) -> None:
        self.schedule = schedule
        self.genesis_id = genesis_id
        self.genesis_nonce = genesis_nonce(genesis_id)
        self._lookup = lookup
        self._stake_at = stake_at
        self._last_before: dict[tuple[int, str], str] = {}
        self._snapshots: dict[str, StakeSnapshot] = {}

    def state_for(self, parent_id: str, slot: int) -> EpochState:
        """Epoch state that governs a block at ``slot`` extending ``parent_id``."""
        epoch = self.schedule.epoch_of(slot)
        return EpochState(epoch=epoch, nonce=self.epoch_nonce(epoch, parent_id),
                          stake=self.stake_snapshot(epoch, parent_id))

    def epoch_nonce(self, epoch: int, branch_tip: str) -> bytes:
        if epoch == 0:
            return self.genesis_nonce
        snapshot = self.last_block_before(self.schedule.nonce_snapshot_slot(epoch), branch_tip)
        return self._lookup(snapshot).ledger_nonce

    def stake_snapshot(self, epoch: int, branch_tip: str) -> StakeSnapshot:
        if epoch == 0:
            block_id = self.genesis_id
        else:
            block_id = self.last_block_before(self.schedule.epoch_start(epoch - 1), branch_tip)
        snapshot = self._snapshots.get(block_id)
        if snapshot is None:
            snapshot = self._snapshots[block_id] = self._stake_at(block_id)
        return snapshot

    def last_block_before(self, slot: int, branch_tip: str) -> str:
        """The id of the last block on ``branch_tip``'s branch (itself included) with a slot below ``slot``, or
        genesis when there is none."""
        walked: list[str] = []
        block = self._lookup(branch_tip)
        while True:
            found = self._last_before.get((slot, block.id))
            if found is not None:
                break
            if block.slot < slot or block.id == self.genesis_id:
                found = block.id
                break
            walked.append(block.id)
            block = self._lookup(block.parent)
        for block_id in walked:
            self._last_before[(slot, block_id)] = found
        return found

    def forget(self, block_ids: set[str]) -> None:
        """Drop memo entries and snapshots of pruned blocks."""
        if block_ids:
            self._last_before = {key: found for key, found in self._last_before.items()
                                 if key[1] not in block_ids and found not in block_ids}
            for block_id in block_ids:
                self._snapshots.pop(block_id, None)
