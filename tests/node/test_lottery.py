"""Leader lottery statistics: win rates match φ(f, α) within 4 binomial standard deviations."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from nomos_node.consensus.lottery import TICKET_SPACE, phi, win_threshold, wins
from nomos_node.consensus.vrf import vrf_evaluate
from nomos_node.crypto.hashing import blake2b_256

N_SLOTS = 4000


def _within_4_sigma(successes: int, trials: int, p: float) -> None:
    sigma = math.sqrt(trials * p * (1 - p))
    assert abs(successes - trials * p) <= 4 * sigma, (successes, trials * p, sigma)


def test_phi_properties() -> None:
    assert phi(0.9, 1) == pytest.approx(Decimal("0.9"), abs=Decimal("1e-60"))
    assert phi(0.9, 0) == 0
    # independent aggregation: splitting stake does not change the chance that somebody in the group wins
    a, b = phi(0.3, Decimal("0.25")), phi(0.3, Decimal("0.5"))
    assert (1 - a) * (1 - b) == pytest.approx(1 - phi(0.3, Decimal("0.75")), abs=Decimal("1e-60"))
    assert win_threshold(0.9, 1, 3) < win_threshold(0.9, 2, 3) < win_threshold(0.9, 3, 3) < TICKET_SPACE
    with pytest.raises(ValueError):
        win_threshold(0.9, 0, 3)


def test_real_vrf_win_rate_matches_phi(node_keys, genesis_factory) -> None:
    keys = node_keys(0)
    stake, total, f = 1000, 4000, 0.9  # α = 1/4
    nonce = blake2b_256(b"test epoch nonce")
    note = bytes(32)
    won = sum(wins(vrf_evaluate(keys.vrf_sk, nonce, slot, note).output, stake, total, f) for slot in range(N_SLOTS))
    _within_4_sigma(won, N_SLOTS, float(phi(f, Decimal(stake) / total)))


@pytest.mark.parametrize(("f", "stakes"), [(0.9, [1000] * 5), (0.5, [1000] * 5), (0.3, [100, 200, 700])])
def test_probability_that_some_leader_wins_is_f(f: float, stakes: list[int]) -> None:
    total = sum(stakes)
    any_won = 0
    for slot in range(N_SLOTS):
        tickets = [blake2b_256(b"ticket", bytes([leader]), slot.to_bytes(8, "big")) for leader in range(len(stakes))]
        any_won += any(wins(t, stake, total, f) for t, stake in zip(tickets, stakes, strict=True))
    _within_4_sigma(any_won, N_SLOTS, f)


@pytest.mark.parametrize("alpha_parts", [(1, 10), (1, 2), (9, 10)])
def test_hash_ticket_win_rate_per_stake_share(alpha_parts: tuple[int, int]) -> None:
    stake, total = alpha_parts
    f = 0.7
    won = sum(wins(blake2b_256(b"share", slot.to_bytes(8, "big")), stake, total, f) for slot in range(N_SLOTS))
    _within_4_sigma(won, N_SLOTS, float(phi(f, Decimal(stake) / total)))
