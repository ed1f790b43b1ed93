"""Cryptarchia fork choice as the specification defines it (nomos-specs ``cryptarchia/cryptarchia.py``).

* Online: ``maxvalid_mc`` (Ouroboros Praos) — the longest chain among the forks that leave the local chain at
  most k blocks below its tip; deeper forks are ignored.
* Bootstrapping: ``maxvalid_bg`` (Ouroboros Genesis) — the same within k; a fork deeper than k is decided by
  *density*: the number of blocks in the ``s = 3·⌊k/f⌋`` slots from the fork point's slot on.
* Ties (equal length within k): the specification keeps the local chain (``keep_current``); ``lower_vrf`` is
  this node's optional deviation that switches to the tip with the lower leader VRF output (docs/consensus.md).

Pure functions over a block lookup, so the specification's own cases run against them directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

TieBreak = Literal["keep_current", "lower_vrf"]
TIE_BREAKS: tuple[str, ...] = get_args(TieBreak)
SPEC_TIE_BREAK: TieBreak = "keep_current"


# Test networks (nomos_node.devnet, and the framework's reference adapter, which keeps its own copy of this
# number) use `lower_vrf` below this k: at f = 0.9 `keep_current` splits connected nodes for good in nearly every
# run at k = 3 and in a few per cent at k = 10 (docs/consensus.md, Ties at equal height).
TEST_NETWORK_KEEP_CURRENT_FROM_K = 20


def tie_break_for_test_network(security_param: int) -> TieBreak:
    """The tie rule a test network with this k gets: the specification's unless k is small enough to split."""
    return "keep_current" if security_param >= TEST_NETWORK_KEEP_CURRENT_FROM_K else "lower_vrf"


class ForkBlock(Protocol):
    """What fork choice reads of a block."""

    @property
    def id(self) -> str: ...
    @property
    def parent(self) -> str: ...
    @property
    def height(self) -> int: ...
    @property
    def slot(self) -> int: ...
    @property
    def vrf_output(self) -> str: ...


BlockOf = Callable[[str], ForkBlock]


@dataclass(frozen=True)
class Divergence:
    """Where two tips part: their lowest common ancestor and how many blocks each tip is above it
    (the specification's ``common_prefix_depth``)."""

    lca: ForkBlock
    local_depth: int
    fork_depth: int


def genesis_window(security_param: int, active_slot_coeff: float) -> int:
    """The specification's ``s = 3·⌊k/f⌋``: slots after a fork point in which maxvalid_bg counts blocks."""
    return 3 * int(security_param // active_slot_coeff)


def common_prefix_depth(local: str, fork: str, block_of: BlockOf) -> Divergence:
    a, b = block_of(local), block_of(fork)
    while a.height > b.height:
        a = block_of(a.parent)
    while b.height > a.height:
        b = block_of(b.parent)
    while a.id != b.id:
        a, b = block_of(a.parent), block_of(b.parent)
    local_tip, fork_tip = block_of(local), block_of(fork)
    return Divergence(lca=a, local_depth=local_tip.height - a.height, fork_depth=fork_tip.height - a.height)


def density(tip: str, lca: ForkBlock, s: int, block_of: BlockOf) -> int:
    """Blocks on ``tip``'s branch after ``lca`` whose slot is before ``lca.slot + s`` (``chain_density``)."""
    end = lca.slot + s
    count, block = 0, block_of(tip)
    while block.id != lca.id:
        if block.slot < end:
            count += 1
        block = block_of(block.parent)
    return count


def _longer(candidate: ForkBlock, current: ForkBlock, tie_break: TieBreak) -> bool:
    if candidate.height != current.height:
        return candidate.height > current.height
    if tie_break == "keep_current":
        return False
    return (candidate.vrf_output, candidate.id) < (current.vrf_output, current.id)


def maxvalid_mc(local: str, forks: Iterable[str], k: int, block_of: BlockOf,
                tie_break: TieBreak = SPEC_TIE_BREAK) -> str:
    """Online fork choice: switch to a longer fork only when it leaves ``local`` at most ``k`` blocks deep."""
    best = local
    for fork in forks:
        split = common_prefix_depth(best, fork, block_of)
        if split.local_depth <= k and _longer(block_of(fork), block_of(best), tie_break):
            best = fork
    return best


def maxvalid_bg(local: str, forks: Iterable[str], k: int, s: int, block_of: BlockOf,
                tie_break: TieBreak = SPEC_TIE_BREAK) -> str:
    """Bootstrapping fork choice: longest chain within ``k``; a deeper fork wins only if strictly denser in the
    ``s`` slots after the fork point."""
    best = local
    for fork in forks:
        split = common_prefix_depth(best, fork, block_of)
        if split.local_depth <= k:
            if _longer(block_of(fork), block_of(best), tie_break):
                best = fork
        elif density(best, split.lca, s, block_of) < density(fork, split.lca, s, block_of):
            best = fork
    return best


def parse_tie_break(value: object) -> TieBreak:
    """``value`` as a TieBreak, or ValueError naming the accepted values."""
    if value == "keep_current":
        return "keep_current"
    if value == "lower_vrf":
        return "lower_vrf"
    raise ValueError(" | ".join(TIE_BREAKS))
