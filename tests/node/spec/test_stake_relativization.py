"""Why this node does not use the specification's inferred total active stake (`cryptarchia/cryptarchia.py`
`Follower._infer_total_active_stake`, tested by `cryptarchia/test_stake_relativization.py`): a documented
deviation (docs/consensus.md, "Stake and epochs"). α stays relative to the stake distribution snapshot's total.

The spec lowers its estimate D of the total stake by β·D·(E − m)/E per epoch, where E = ln(1/(1−f)) is the
expected number of leaders per slot and m the blocks per slot seen on the chain in the first (stab + buffer)
base periods of the previous epoch. A chain holds at most one block per slot, so m ≤ f < E whenever
f > 1 − 1/e ≈ 0.63: at f = 0.9 (E = 2.30, m ≤ 0.9) D loses at least 49 % every epoch and every holder's win
chance goes to 1. The simulation below uses the framework's parameters (three validators of 1000, f = 0.9,
k = 10, epoch (3, 3, 4), β = 0.8 as the spec's `cryptarchia_v0_0_1`).
"""

from __future__ import annotations

import itertools
import math
import random

from nomos_node.consensus.clock import EpochSchedule, base_period

STAKES = (1000, 1000, 1000)
F, K, BETA = 0.9, 10, 0.8
EPOCHS = 6


def win_chance(value: int, total: float) -> float:
    """φ(f, value / total), the spec's threshold (it lets α exceed 1 when the estimate falls below the stake)."""
    return 1 - (1 - F) ** (value / total)


def simulate_inferred_total(seed: int = 0) -> list[tuple[int, float, float, float]]:
    """Per epoch: (epoch, inferred total, one holder's win chance, share of slots with a block) under the spec's
    inference, each slot's block coming from any holder that wins (one block per slot on the chain)."""
    rng = random.Random(seed)
    base = base_period(K, F)
    schedule = EpochSchedule(base_period=base, stake_distribution_stabilization=3, period_nonce_buffer=3,
                             period_nonce_stabilization=4)
    window = schedule.nonce_snapshot_offset  # the spec's T: blocks counted up to the nonce snapshot
    expected = math.log(1 / (1 - F))
    total = float(sum(STAKES))
    rows = []
    for epoch in range(EPOCHS):
        chances = [win_chance(v, total) for v in STAKES]
        blocks = sum(1 for _ in range(schedule.epoch_length) if any(rng.random() < p for p in chances))
        counted = sum(1 for _ in range(window) if any(rng.random() < p for p in chances))
        rows.append((epoch, total, chances[0], blocks / schedule.epoch_length))
        total = total - BETA * total / expected * (expected - counted / window)
    return rows


def test_inferred_total_active_stake_at_f_0_9_drives_every_win_chance_to_one() -> None:
    """Spec case: test_inferred_total_active_stake_close_to_true_total_stake — a documented deviation: at f = 0.9
    the inference does not stay close to the true total stake (3000), it collapses."""
    rows = simulate_inferred_total()
    for epoch, total, chance, occupied in rows:
        print(f"epoch {epoch}: inferred total {total:7.0f}  one holder's win chance {chance:.3f}  "
              f"slots with a block {occupied:.2f}")
    totals = [total for _, total, _, _ in rows]
    assert all(b < 0.55 * a for a, b in itertools.pairwise(totals)), totals
    assert rows[3][2] > 0.99  # by epoch 3 each holder wins nearly every slot: ~3 leaders per slot
    # this node: α relative to the snapshot's total, so a holder's chance stays φ(0.9, 1/3) in every epoch
    assert round(win_chance(1000, sum(STAKES)), 3) == 0.536
