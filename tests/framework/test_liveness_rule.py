from __future__ import annotations

import pytest

from nomos_testing.expectations.liveness import NodeSample, judge_liveness, lag_for

# A tiny block tree: main chain m0..m30; a fork f11..f13 leaving the main chain after m10.
PARENT = {f"m{h}": f"m{h - 1}" for h in range(1, 31)} | {"f11": "m10", "f12": "f11", "f13": "f12"}
HEIGHT = {f"m{h}": h for h in range(31)} | {"f11": 11, "f12": 12, "f13": 13}


def ancestor_at(block: str, height: int) -> str:
    while HEIGHT[block] > height:
        block = PARENT[block]
    return block


def fork_depth(a: str, b: str) -> int:
    for h in range(min(HEIGHT[a], HEIGHT[b]), -1, -1):
        if ancestor_at(a, h) == ancestor_at(b, h):
            return HEIGHT[a] - h
    raise AssertionError


def on_one_branch(a: str, b: str) -> bool:
    low, high = sorted((a, b), key=HEIGHT.__getitem__)
    return ancestor_at(high, HEIGHT[low]) == low


def judge(samples: list[NodeSample], expected: float = 27.0, fraction: float = 0.5, allowance: int = 2):
    return judge_liveness(samples, expected, fraction, allowance, fork_depth, on_one_branch)


def node(name: str, height: int, tip: str | None = None, lib: str = "m0") -> NodeSample:
    return NodeSample(name, height, tip or f"m{height}", lib)


def test_lag_is_clamped_between_allowance_and_five() -> None:
    assert [lag_for(t, 2) for t in (0, 10, 29, 30, 45, 60, 100)] == [2, 2, 2, 3, 4, 5, 5]
    assert lag_for(5, 0) == 0


def test_healthy_network_passes_with_figures() -> None:
    outcome = judge([node("v0", 27), node("v1", 26), node("v2", 25, lib="m10"), node("e0", 27)])
    assert outcome.passed, outcome.message
    figures = outcome.figures
    assert (figures["min_height"], figures["max_height"], figures["target"], figures["lag"]) == (25, 27, 27, 2)
    assert figures["expected_blocks"] == 27.0 and figures["required_height"] == 13.5
    assert figures["tips"]["v0"] == "m27" and figures["libs"]["v2"] == "m10"


def test_fewer_than_five_blocks_fails() -> None:
    outcome = judge([node("v0", 4), node("v1", 4)], expected=4.5)
    assert not outcome.passed and "only 4 blocks" in outcome.message


def test_slow_chain_fails_on_expected_rate_where_the_original_passed() -> None:
    # 9 of 27 expected blocks: the original capped the target at 9 and passed.
    outcome = judge([node("v0", 9), node("v1", 9), node("v2", 8)])
    assert not outcome.passed
    assert "below 0.5 × expected 27.0" in outcome.message
    assert judge([node("v0", 9), node("v1", 9)], fraction=0.3).passed


def test_lagging_node_fails() -> None:
    outcome = judge([node("v0", 27), node("v1", 24)])
    assert not outcome.passed and "v1: height 24 is more than 2 blocks behind the target 27" in outcome.message


def test_tip_on_a_deep_fork_fails_even_at_similar_height() -> None:
    # f13 is at height 13; v0's tip m14 is one block ahead, but f13 left the main chain 3 blocks back.
    outcome = judge([node("v0", 14), NodeSample("v1", 13, "f13", "m0")], expected=14)
    assert not outcome.passed and "v1: tip is on a branch that left v0's chain 3 blocks back" in outcome.message
    assert outcome.figures["fork_depths"] == {"v0": 0, "v1": 3}
    shallow = judge([node("v0", 12), NodeSample("v1", 11, "f11", "m0")], expected=12)
    assert shallow.passed, shallow.message


def test_conflicting_libs_fail() -> None:
    outcome = judge([node("v0", 14, lib="m12"), NodeSample("v1", 13, "m13", "f12")], expected=14, allowance=5)
    assert not outcome.passed and "LIBs on conflicting branches: v0/v1" in outcome.message


def test_unreachable_node_fails_with_its_error() -> None:
    outcome = judge([node("v0", 27), NodeSample("v1", error="connection refused")])
    assert not outcome.passed and "v1: unreachable (connection refused)" in outcome.message


@pytest.mark.parametrize(("expected", "target"), [(0.0, 8), (3.0, 3), (20.0, 8)])
def test_target_is_the_expected_count_capped_at_the_highest_height(expected: float, target: int) -> None:
    outcome = judge([node("v0", 8), node("v1", 7)], expected=expected, fraction=0.0)
    assert outcome.figures["target"] == target
