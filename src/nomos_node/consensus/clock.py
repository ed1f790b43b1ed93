"""Slot clock and epoch schedule."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from nomos_node.config import GenesisConfig


@dataclass(frozen=True)
class SlotClock:
    chain_start_time: float
    slot_duration: float

    @classmethod
    def from_genesis(cls, genesis: GenesisConfig) -> SlotClock:
        return cls(genesis.chain_start_time, genesis.slot_duration)

    def slot_at(self, now: float | None = None) -> int:
        """Slot containing ``now`` (negative before the chain start)."""
        now = time.time() if now is None else now
        return math.floor((now - self.chain_start_time) / self.slot_duration)

    def slot_start(self, slot: int) -> float:
        return self.chain_start_time + slot * self.slot_duration

    def seconds_until(self, slot: int, now: float | None = None) -> float:
        now = time.time() if now is None else now
        return max(0.0, self.slot_start(slot) - now)


@dataclass(frozen=True)
class EpochSchedule:
    """Epoch lengths derived from k, f and the three epoch periods (all in base periods of floor(k/f) slots)."""

    base_period: int
    stake_distribution_stabilization: int
    period_nonce_buffer: int
    period_nonce_stabilization: int

    @classmethod
    def from_genesis(cls, genesis: GenesisConfig) -> EpochSchedule:
        return cls(
            base_period=base_period(genesis.security_param, genesis.active_slot_coeff),
            stake_distribution_stabilization=genesis.epoch.stake_distribution_stabilization,
            period_nonce_buffer=genesis.epoch.period_nonce_buffer,
            period_nonce_stabilization=genesis.epoch.period_nonce_stabilization,
        )

    @property
    def epoch_length(self) -> int:
        periods = self.stake_distribution_stabilization + self.period_nonce_buffer + self.period_nonce_stabilization
        return periods * self.base_period

    @property
    def nonce_snapshot_offset(self) -> int:
        """Slots into an epoch after which blocks no longer influence the next epoch's nonce."""
        return (self.stake_distribution_stabilization + self.period_nonce_buffer) * self.base_period

    def epoch_of(self, slot: int) -> int:
        return slot // self.epoch_length

    def epoch_start(self, epoch: int) -> int:
        return epoch * self.epoch_length

    def nonce_snapshot_slot(self, epoch: int) -> int:
        """The nonce of ``epoch`` is the ledger nonce of the last block with a slot before this one (epoch >= 1)."""
        return self.epoch_start(epoch - 1) + self.nonce_snapshot_offset


def base_period(security_param: int, active_slot_coeff: float) -> int:
    """floor(k/f), at least 1."""
    return max(1, math.floor(security_param / active_slot_coeff))
