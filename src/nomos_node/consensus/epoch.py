"""Epoch state: stake distribution and epoch nonce, per branch.

Ledger nonce: evolves with every block, ``nonce' = Blake2b(b"nonce" ‖ nonce ‖ vrf_output ‖ slot)``;
the genesis block's ledger nonce is the genesis nonce ``Blake2b(b"genesis-nonce" ‖ genesis_id)``.
Epoch nonce of epoch e >= 2: the ledger nonce of the last block (on the branch being extended) whose slot is
before ``start(e−1) + (stake_stab + nonce_buffer)·base_period``. Epochs 0 and 1 use the genesis nonce.
The stake distribution is the genesis stake notes (the ledger issue will snapshot it per epoch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nomos_node.config import GenesisConfig
from nomos_node.consensus.clock import EpochSchedule
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
class StakeDistribution:
    stakes: dict[tuple[str, str], int]  # (vrf_pk, signing_pk) -> summed value of that key's notes
    total_stake: int

    @classmethod
    def from_genesis(cls, genesis: GenesisConfig) -> StakeDistribution:
        stakes: dict[tuple[str, str], int] = {}
        for note in genesis.stake_notes:
            key = (note.vrf_pk, note.signing_pk)
            stakes[key] = stakes.get(key, 0) + note.value
        return cls(stakes=stakes, total_stake=genesis.total_stake)

    def stake_of(self, vrf_pk: str, signing_pk: str) -> int:
        return self.stakes.get((vrf_pk, signing_pk), 0)


@dataclass(frozen=True)
class EpochState:
    epoch: int
    nonce: bytes
    stake: StakeDistribution


class EpochTracker:
    """Computes epoch nonces along any branch, memoising (epoch, block) so each block is walked once per epoch."""

    def __init__(
        self,
        schedule: EpochSchedule,
        genesis_id: str,
        stake: StakeDistribution,
        lookup: Callable[[str], BlockPosition],
    ) -> None:
        self.schedule = schedule
        self.genesis_nonce = genesis_nonce(genesis_id)
        self.stake = stake
        self._lookup = lookup
        self._memo: dict[tuple[int, str], bytes] = {}

    def state_for(self, parent_id: str, slot: int) -> EpochState:
        """Epoch state that governs a block at ``slot`` extending ``parent_id``."""
        epoch = self.schedule.epoch_of(slot)
        return EpochState(epoch=epoch, nonce=self.epoch_nonce(epoch, parent_id), stake=self.stake)

    def epoch_nonce(self, epoch: int, branch_tip: str) -> bytes:
        if epoch < 2:
            return self.genesis_nonce
        snapshot_slot = self.schedule.nonce_snapshot_slot(epoch)
        walked: list[str] = []
        block = self._lookup(branch_tip)
        nonce: bytes
        while True:
            cached = self._memo.get((epoch, block.id))
            if cached is not None:
                nonce = cached
                break
            if block.slot < snapshot_slot:
                nonce = block.ledger_nonce
                break
            walked.append(block.id)
            block = self._lookup(block.parent)
        for block_id in walked:
            self._memo[(epoch, block_id)] = nonce
        return nonce

    def forget(self, block_ids: set[str]) -> None:
        """Drop memo entries of pruned blocks."""
        if block_ids:
            self._memo = {key: v for key, v in self._memo.items() if key[1] not in block_ids}
