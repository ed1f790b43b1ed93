"""The slot-level model behind `python -m benchmarks fork_ties --simulate` (docs/consensus.md, Ties at equal
height): keep-current splits 4 equal leaders at f = 0.9 and k = 3 in almost every run, lower-VRF never."""

from __future__ import annotations

import random

from benchmarks.bench_fork_ties import max_pair_depth, pair_depth, simulate


def test_model_splits_with_keep_current_and_not_with_lower_vrf() -> None:
    rng = random.Random(1)
    keep = [simulate(4, 0.9, 3, 120, "keep_current", rng) for _ in range(40)]
    lower = [simulate(4, 0.9, 3, 120, "lower_vrf", rng) for _ in range(40)]
    assert sum(split for _, split in keep) >= 30
    assert not any(split for _, split in lower) and max(depth for depth, _ in lower) == 0


def test_pair_depth_is_the_smaller_reorg() -> None:
    assert pair_depth(["g", "a", "b"], ["g", "a", "b", "c"]) == 0  # one extends the other
    assert pair_depth(["g", "a", "b", "c"], ["g", "x", "y"]) == 2
    assert max_pair_depth([["g", "a"], ["g", "b"], ["g", "a", "c"]]) == 1
