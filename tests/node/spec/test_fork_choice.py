"""The specification's fork choice cases (`cryptarchia/test_fork_choice.py` of logos-co/nomos-specs) against this
node: the pure rules of `consensus/fork_choice.py` (`common_prefix_depth`, `maxvalid_bg`, `maxvalid_mc`) and the
`Chain` engine that uses them (modes, LIB, pruning, `fork_below_lib` for the spec's `ImmutableFork`).

Blocks are real signed blocks made by `Chain.leadership` / `Chain.build_block`, at exactly the specification's
slots and parents, by the leader standing for the spec's note. The specification's blocks carry a
`MockLeaderProof` that always verifies; here the lottery draw is made to always win (`always_lead`), so a leader
can make a block in any slot — VRF, signature and every other check are real. One difference is documented in
docs/consensus.md: a child of genesis in slot 0 is refused, as the real node does (`slot_not_after_parent`), so
`test_fork_choice_long_sparse_chain` starts its common prefix at slot 1 instead of 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

import nomos_node.consensus.chain as chain_module
from nomos_node.config import GenesisConfig
from nomos_node.consensus.block import Block
from nomos_node.consensus.chain import Chain, RejectReason
from nomos_node.consensus.fork_choice import ForkBlock, common_prefix_depth, maxvalid_bg, maxvalid_mc
from tests.node.conftest import NOW, keys_for

SHORT, LONG, THIRD = 0, 1, 2  # the spec's notes sk=0 / sk=1 / sk=2, as the kit's three stake holders
N_A, N_B = 0, 1  # the spec's n_a and n_b


@pytest.fixture(autouse=True)
def always_lead(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spec's MockLeaderProof: every leader wins every slot (the VRF is still evaluated and verified)."""
    monkeypatch.setattr(chain_module, "wins", lambda *args, **kwargs: True)


def mk_block(chain: Chain, parent: ForkBlock, slot: int, leader: int) -> Block:
    """The spec's ``mk_block``: ``leader``'s block on ``parent`` at ``slot``, imported into ``chain``."""
    ticket = chain.leadership(slot, keys_for(leader), parent.id)
    assert ticket is not None, f"no ticket at slot {slot} on {parent.id[:12]}"
    block = chain.build_block(ticket, "", keys_for(leader))
    result = chain.import_block(block, now=NOW)
    assert result.status in ("imported", "duplicate"), result
    return block


def mk_chain(chain: Chain, parent: ForkBlock, leader: int, slots: Iterable[int]) -> list[Block]:
    """The spec's ``mk_chain``: one block per slot, each on the previous one."""
    blocks: list[Block] = []
    for slot in slots:
        blocks.append(mk_block(chain, blocks[-1] if blocks else parent, slot, leader))
    return blocks


def holder(kit: Any, genesis: GenesisConfig | None = None) -> Chain:
    """A chain that only holds blocks for the pure rules (Bootstrapping, LIB at genesis: any fork is kept)."""
    return kit.chain(genesis, online=False)


# k = 1 and f = 1/17: s = 3·⌊k/f⌋ = 51, the nearest a genesis gets to the spec's s = 50 (s is a multiple of 3).
# With the fork point at slot 49 the window ends before slot 100 instead of 99: a dense branch (a block every
# slot) counts 50 blocks instead of 49, a sparse one 25 either way, so each case's outcome is the spec's.
DENSITY_GENESIS = {"security_param": 1, "active_slot_coeff": 1 / 17}


def followed_tip(kit: Any, genesis: GenesisConfig, online: bool, *branches: list[Block]) -> str:
    """The tip a fresh chain in the given mode ends on after importing ``branches`` in order."""
    chain = kit.chain(genesis, online=online)
    assert chain.mode == ("Online" if online else "Bootstrapping") and chain.genesis_window == 51
    for branch in branches:
        for block in branch:
            chain.import_block(block, now=NOW)
    return chain.tip.id


def lookup(chain: Chain) -> Any:
    def block_of(block_id: str) -> Block:
        block = chain.get_block(block_id)
        assert block is not None
        return block
    return block_of


def test_common_prefix_depth(kit) -> None:
    """Spec case: test_common_prefix_depth."""
    #             6 - 7
    #           /
    # 0 - 1 - 2 - 3
    #   \
    #     4 - 5
    chain = holder(kit)
    b0 = chain.get_block(chain.genesis_id)
    assert b0 is not None
    b1, b2, b3 = mk_chain(chain, b0, 0, slots=[1, 2, 3])
    b4, b5 = mk_chain(chain, b0, 1, slots=[1, 2])
    b6, b7 = mk_chain(chain, b2, 2, slots=[3, 4])
    block_of = lookup(chain)

    def depth(a: Block, b: Block) -> tuple[int, list[str], int, list[str]]:
        """The spec's 4-tuple: (depth of a, [lca … a], depth of b, [lca … b])."""
        split = common_prefix_depth(a.id, b.id, block_of)

        def suffix(tip: Block, length: int) -> list[str]:
            ids, block = [], tip
            for _ in range(length + 1):
                ids.append(block.id)
                block = block_of(block.parent) if block.id != chain.genesis_id else block
            return list(reversed(ids))

        assert suffix(a, split.local_depth)[0] == split.lca.id
        return split.local_depth, suffix(a, split.local_depth), split.fork_depth, suffix(b, split.fork_depth)

    def ids(*blocks: Block) -> list[str]:
        return [b.id for b in blocks]

    cases = [
        (b0, b0, (0, ids(b0), 0, ids(b0))),
        (b1, b0, (1, ids(b0, b1), 0, ids(b0))),
        (b0, b1, (0, ids(b0), 1, ids(b0, b1))),
        (b1, b1, (0, ids(b1), 0, ids(b1))),
        (b2, b0, (2, ids(b0, b1, b2), 0, ids(b0))),
        (b0, b2, (0, ids(b0), 2, ids(b0, b1, b2))),
        (b3, b0, (3, ids(b0, b1, b2, b3), 0, ids(b0))),
        (b0, b3, (0, ids(b0), 3, ids(b0, b1, b2, b3))),
        (b1, b4, (1, ids(b0, b1), 1, ids(b0, b4))),
        (b4, b1, (1, ids(b0, b4), 1, ids(b0, b1))),
        (b1, b5, (1, ids(b0, b1), 2, ids(b0, b4, b5))),
        (b5, b1, (2, ids(b0, b4, b5), 1, ids(b0, b1))),
        (b2, b5, (2, ids(b0, b1, b2), 2, ids(b0, b4, b5))),
        (b5, b2, (2, ids(b0, b4, b5), 2, ids(b0, b1, b2))),
        (b3, b5, (3, ids(b0, b1, b2, b3), 2, ids(b0, b4, b5))),
        (b5, b3, (2, ids(b0, b4, b5), 3, ids(b0, b1, b2, b3))),
        (b3, b6, (1, ids(b2, b3), 1, ids(b2, b6))),
        (b6, b3, (1, ids(b2, b6), 1, ids(b2, b3))),
        (b3, b7, (1, ids(b2, b3), 2, ids(b2, b6, b7))),
        (b7, b3, (2, ids(b2, b6, b7), 1, ids(b2, b3))),
        (b5, b7, (2, ids(b0, b4, b5), 4, ids(b0, b1, b2, b6, b7))),
        (b7, b5, (4, ids(b0, b1, b2, b6, b7), 2, ids(b0, b4, b5))),
    ]
    for a, b, expected in cases:
        assert depth(a, b) == expected, (a.height, b.height)


def test_fork_choice_long_sparse_chain(kit) -> None:
    """Spec case: test_fork_choice_long_sparse_chain (common prefix from slot 1, not 0: docs/consensus.md)."""
    density_genesis = kit.genesis(**DENSITY_GENESIS)
    chain = holder(kit, density_genesis)
    genesis = lookup(chain)(chain.genesis_id)
    common = mk_chain(chain, genesis, LONG, slots=range(1, 50))
    long_chain_sparse_ext = mk_chain(chain, common[-1], LONG, slots=range(50, 100, 2))
    short_chain_dense_ext = mk_chain(chain, common[-1], SHORT, slots=range(50, 100))
    # more blocks on the long chain, so that it is indeed longer
    long_chain_further_ext = mk_chain(chain, long_chain_sparse_ext[-1], LONG, slots=range(100, 126))
    long_chain = common + long_chain_sparse_ext + long_chain_further_ext
    short_chain = common + short_chain_dense_ext
    assert len(long_chain) > len(short_chain)
    block_of = lookup(chain)
    short_tip, long_tip = short_chain[-1].id, long_chain[-1].id

    k, s = 1, 50  # a low k triggers the density rule
    assert maxvalid_bg(short_tip, [long_tip], k, s, block_of) == short_tip
    assert maxvalid_mc(short_tip, [long_tip], k, block_of) == short_tip

    k = len(long_chain)  # with k as long as the fork, the longer chain is accepted
    assert maxvalid_bg(short_tip, [long_tip], k, s, block_of) == long_tip
    assert maxvalid_mc(short_tip, [long_tip], k, block_of) == long_tip

    # The same through the Chain (k = 1, s = 51), the short chain first, then the long one block by block:
    # Bootstrapping keeps the denser short chain; Online ignores the fork deeper than k (fork_below_lib).
    long_ext = long_chain_sparse_ext + long_chain_further_ext
    for online in (False, True):
        assert followed_tip(kit, density_genesis, online, short_chain, long_ext) == short_tip


def test_fork_choice_long_dense_chain(kit) -> None:
    """Spec case: test_fork_choice_long_dense_chain."""
    density_genesis = kit.genesis(**DENSITY_GENESIS)
    chain = holder(kit, density_genesis)
    genesis = lookup(chain)(chain.genesis_id)
    common = mk_chain(chain, genesis, LONG, slots=range(1, 50))
    long_chain_dense_ext = mk_chain(chain, common[-1], LONG, slots=range(50, 100))
    short_chain_sparse_ext = mk_chain(chain, common[-1], SHORT, slots=range(50, 100, 2))
    long_chain = common + long_chain_dense_ext
    short_chain = common + short_chain_sparse_ext
    block_of = lookup(chain)
    short_tip, long_tip = short_chain[-1].id, long_chain[-1].id

    k, s = 1, 50
    assert maxvalid_bg(short_tip, [long_tip], k, s, block_of) == long_tip
    # Praos' rule does not accept a chain that diverged more than k blocks, even if it is longer
    assert maxvalid_mc(short_tip, [long_tip], k, block_of) == short_tip

    # The same through the Chain (k = 1, s = 51), the short chain first, then the long one block by block:
    # Bootstrapping switches to the denser long chain, Online keeps the short one.
    assert followed_tip(kit, density_genesis, False, short_chain, long_chain_dense_ext) == long_tip
    assert followed_tip(kit, density_genesis, True, short_chain, long_chain_dense_ext) == short_tip


def test_fork_choice_integration(kit) -> None:
    """Spec case: test_fork_choice_integration (the Follower is a Chain; ImmutableFork is fork_below_lib)."""
    genesis_config = kit.genesis(2, security_param=1, active_slot_coeff=0.5)  # the spec's mk_config: k=1, f=0.5
    follower = kit.chain(genesis_config, online=False)
    assert follower.genesis_window == 6  # s = 3·⌊k/f⌋
    genesis = lookup(follower)(follower.genesis_id)

    def on_block(block: Block) -> Any:
        return follower.import_block(block, now=NOW)

    b1 = mk_block(follower, genesis, 1, N_A)
    assert follower.tip.id == b1.id and follower.fork_tips() == []

    # -- then we fork: b2 == tip, b3 a fork of b1
    b2 = mk_block(follower, b1, 2, N_A)
    b3 = mk_block(follower, b1, 2, N_B)
    assert follower.tip.id == b2.id and follower.fork_tips() == [b3.id]

    # -- extend the fork, causing a re-org
    b4 = mk_block(follower, b3, 3, N_B)
    assert follower.tip.id == b4.id and follower.fork_tips() == [b2.id]

    # -- switch to online mode: b3 is the LIB, b2 does not descend from it and is pruned
    follower.switch_to_online()
    assert follower.lib.id == b3.id and follower.fork_tips() == [] and b2.id not in follower

    # -- a fork deeper than the LIB is refused
    b5 = follower.build_block(_ticket(follower, b1, 4, N_A), "", keys_for(N_A))
    assert on_block(b5).reason == RejectReason.FORK_BELOW_LIB

    # -- extend the main chain shallower than k: b7 becomes the LIB, b4 is pruned
    b7 = mk_block(follower, b3, 4, N_B)
    assert follower.fork_tips() == [b7.id]
    b8 = mk_block(follower, b7, 5, N_B)
    assert follower.tip.id == b8.id and follower.fork_tips() == [] and follower.lib.id == b7.id

    # Even in bootstrap mode, the follower does not accept blocks that fork deeper than the LIB
    follower.mode = "Bootstrapping"
    assert on_block(b5).reason == RejectReason.FORK_BELOW_LIB

    # But it switches to a chain diverging more than k as long as it descends from the LIB (maxvalid_bg, density)
    b8 = mk_block(follower, b7, 5, N_B)
    b9 = mk_block(follower, b8, 6, N_B)
    assert follower.tip.id == b9.id
    b10 = mk_block(follower, b7, 7, N_A)
    b11 = mk_block(follower, b10, 8, N_A)
    b12 = mk_block(follower, b11, 9, N_A)
    assert follower.tip.id == b12.id
    assert follower.lib.id == b7.id


def _ticket(chain: Chain, parent: ForkBlock, slot: int, leader: int) -> Any:
    ticket = chain.leadership(slot, keys_for(leader), parent.id)
    assert ticket is not None
    return ticket


def test_lib_calc_short_chain(kit) -> None:
    """Spec case: test_lib_calc_short_chain."""
    genesis_config = kit.genesis(1, security_param=10, active_slot_coeff=0.5)
    follower = kit.chain(genesis_config, online=True)
    assert follower.lib.id == follower.genesis_id
    blocks: list[ForkBlock] = [lookup(follower)(follower.genesis_id)]
    for slot in range(1, 11):
        blocks.append(mk_block(follower, blocks[-1], slot, 0))
        assert follower.lib.id == follower.genesis_id
    mk_block(follower, blocks[-1], 11, 0)
    assert follower.lib.id == blocks[1].id
