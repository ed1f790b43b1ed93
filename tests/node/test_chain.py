"""Fork choice with the k bound, LIB movement, pruning, orphans, modes and sync helpers of the Chain engine."""

from __future__ import annotations

import pytest

from nomos_node.consensus.block import genesis_block
from nomos_node.consensus.chain import RejectReason, UnknownBlockError

K = 3


def test_genesis_is_deterministic(kit) -> None:
    genesis = kit.genesis()
    assert kit.chain(genesis).genesis_id == kit.chain(genesis).genesis_id == genesis_block(genesis).id
    assert kit.chain(kit.genesis(slot_duration=2.0)).genesis_id != kit.chain(genesis).genesis_id
    chain = kit.chain(genesis)
    assert chain.tip.id == chain.lib.id == chain.genesis_id and chain.height == 0


def test_longest_chain_grows_and_lib_trails_by_k(kit) -> None:
    chain = kit.chain()
    blocks = kit.extend(chain, 8)
    assert chain.tip.id == blocks[-1].id and chain.height == 8
    assert chain.lib.id == blocks[8 - K - 1].id and chain.lib.height == 8 - K
    assert chain.headers() == [b.id for b in reversed(blocks[8 - K - 1 :])]
    assert chain.info(now=kit.now)["height"] == 8 and chain.info(now=kit.now)["mode"] == "Online"


def test_fork_within_k_is_adopted_when_longer(kit) -> None:
    chain = kit.chain()
    main = kit.extend(chain, 6)  # LIB at height 3
    fork_point = main[2]  # height 3 = the LIB: the fork rolls back 3 = k blocks
    fork, reorgs = [], []
    parent_id = fork_point.id
    for n in range(4):
        block = kit.next_block(chain, parent_id, after_slot=main[-1].slot + 10 * (n + 1), leaders=[1])
        result = chain.import_block(block, now=kit.now)
        assert result.imported
        fork.append(block)
        parent_id = block.id
        reorgs += [result.reorg_depth] if result.reorg_depth else []
        if n < 3:
            assert not result.tip_changed  # shorter, then as long: the specification keeps the current tip on a tie
    assert result.tip_changed and reorgs == [K]
    assert chain.tip.id == fork[-1].id and chain.height == 7
    assert chain.lib.id == fork[0].id and chain.headers()[-1] == fork[0].id


def test_fork_deeper_than_k_is_never_adopted(kit) -> None:
    chain = kit.chain()
    main = kit.extend(chain, 6)  # LIB at height 3
    deep_point = main[1]  # height 2 < LIB height: adopting would roll back 4 > k blocks
    block = kit.next_block(chain, deep_point.id, after_slot=main[-1].slot + 10)
    result = chain.import_block(block, now=kit.now)
    assert result.status == "rejected" and result.reason == RejectReason.FORK_BELOW_LIB
    assert chain.tip.id == main[-1].id and chain.get_block(block.id) is None


def test_bootstrapping_decides_forks_deeper_than_k_by_density_and_keeps_lib_until_online(kit) -> None:
    chain = kit.chain(online=False)
    main = kit.extend(chain, 1)
    for _ in range(5):  # a sparse branch: one block every 5 slots or more
        main += kit.extend(chain, 1, after_slot=main[-1].slot + 4)
    assert chain.mode == "Bootstrapping" and chain.lib.id == chain.genesis_id
    fork: list = []
    for _ in range(8):  # a dense branch from main[0], 5 > k blocks below the tip: maxvalid_bg compares density
        block = kit.next_block(chain, fork[-1].id if fork else main[0].id)
        assert chain.import_block(block, now=kit.now).imported
        fork.append(block)
        if len(fork) == 1:  # 1 block each in the s = 9 slots after the fork point: a tie keeps the current tip
            assert chain.tip.id == main[-1].id
        if len(fork) == 2:  # denser beats longer
            assert chain.tip.id == block.id and chain.height < main[-1].height
    assert chain.tip.id == fork[-1].id and chain.height == 9
    chain.switch_to_online()
    assert chain.mode == "Online" and chain.lib.id == fork[9 - K - 2].id and chain.lib.height == 9 - K
    assert all(chain.get_block(b.id) is None for b in main[1:]), "the abandoned branch below the LIB is pruned"
    assert chain.get_block(main[0].id) is not None


def test_tick_switches_mode_after_the_bootstrap_period(kit) -> None:
    chain = kit.chain(online=False)
    assert not chain.tick(now=chain.started_at + 0.5)
    assert chain.tick(now=chain.started_at + 1.0) and chain.mode == "Online"


def test_lib_movement_prunes_forks_that_diverge_below_it(kit) -> None:
    chain = kit.chain()
    main = kit.extend(chain, 4)  # LIB height 1
    side = kit.extend(chain, 1, parent_id=main[1].id, after_slot=main[-1].slot + 10)[0]  # fork off height 2
    assert chain.get_block(side.id) is not None and chain.tip.id == main[-1].id
    kit.extend(chain, 1)  # LIB -> height 2 = main[1]: the side block still descends from it
    assert chain.get_block(side.id) is not None
    result = chain.import_block(kit.next_block(chain), now=kit.now)  # LIB -> height 3 = main[2]
    assert result.lib_changed and chain.lib.id == main[2].id
    assert chain.get_block(side.id) is None


def test_orphans_are_cached_and_connected_when_the_parent_arrives(kit) -> None:
    source = kit.chain()
    blocks = kit.extend(source, 4)
    chain = kit.chain()
    for block in reversed(blocks[1:]):
        result = chain.import_block(block, now=kit.now)
        assert result.status == "orphan" and result.missing_parent == block.parent
    assert chain.import_block(blocks[3], now=kit.now).status == "orphan"
    assert set(chain.orphan_ids()) == {b.id for b in blocks[1:]}
    result = chain.import_block(blocks[0], now=kit.now)
    assert result.imported and len(result.connected) == 3 and all(r.imported for r in result.connected)
    assert chain.tip.id == blocks[-1].id and chain.orphan_ids() == []
    assert chain.import_block(blocks[0], now=kit.now).status == "duplicate"


def test_orphan_cache_is_bounded(kit) -> None:
    source = kit.chain()
    blocks = kit.extend(source, 5)
    chain = kit.chain(orphan_cache_size=2)
    for block in blocks[1:]:
        chain.import_block(block, now=kit.now)
    assert chain.orphan_ids() == [blocks[3].id, blocks[4].id]


def test_sync_helpers(kit) -> None:
    chain = kit.chain()
    blocks = kit.extend(chain, 30)
    assert [b.id for b in chain.ancestors(blocks[-1].id, 3)] == [b.id for b in reversed(blocks[-3:])]
    assert chain.blocks_from_slot(0, limit=15) == blocks[:15]
    assert chain.blocks_from_slot(blocks[9].slot, limit=3) == blocks[9:12]
    assert chain.blocks_from_slot(blocks[9].slot, limit=3, after=blocks[9].id) == blocks[10:13]
    assert chain.blocks_from_slot(blocks[-1].slot + 1, limit=3) == []
    assert chain.headers(blocks[5].id, blocks[2].id) == [b.id for b in reversed(blocks[2:6])]
    with pytest.raises(UnknownBlockError):
        chain.headers("ab" * 32)
    with pytest.raises(UnknownBlockError):
        chain.ancestors("ab" * 32, 3)


def test_leadership_is_only_for_stake_holders_and_future_slots(kit, node_keys) -> None:
    chain = kit.chain()
    outsider = node_keys(7)
    assert all(chain.leadership(slot, outsider) is None for slot in range(1, 30))
    block = kit.extend(chain, 1)[0]
    assert chain.leadership(block.slot, node_keys(0)) is None
    wins = [slot for slot in range(1, 200) if chain.leadership(slot, node_keys(0), chain.genesis_id)]
    assert 0.3 < len(wins) / 199 < 0.8  # φ(0.9, 1/3) ≈ 0.54


def _two_tips_at_equal_height(kit):
    source = kit.chain()
    base = kit.extend(source, 2)
    a = kit.next_block(source, base[-1].id, leaders=[0])
    b = kit.next_block(source, base[-1].id, after_slot=a.slot - 1, leaders=[1])
    assert a.height == b.height and a.id != b.id
    return base, a, b


def test_equal_height_keeps_the_first_seen_tip_by_default(kit) -> None:
    """consensus.tie_break = keep_current (the specification): a tip as long as ours never replaces it."""
    base, a, b = _two_tips_at_equal_height(kit)
    for first, second in ((a, b), (b, a)):
        chain = kit.chain()
        for block in (*base, first, second):
            assert chain.import_block(block, now=kit.now).imported
        assert chain.tip.id == first.id


def test_equal_height_tie_is_broken_the_same_way_in_any_arrival_order_with_lower_vrf(kit) -> None:
    """consensus.tie_break = lower_vrf: the lower leader VRF output wins whatever the arrival order."""
    base, a, b = _two_tips_at_equal_height(kit)
    winner = min(a, b, key=lambda blk: blk.header.leader.vrf_output)
    for order in ((a, b), (b, a)):
        chain = kit.chain(tie_break="lower_vrf")
        for block in (*base, *order):
            assert chain.import_block(block, now=kit.now).imported
        assert chain.tip.id == winner.id


def test_blocks_from_slot_serves_every_branch_in_slot_order(kit) -> None:
    chain = kit.chain()
    main = kit.extend(chain, 6)
    fork = kit.next_block(chain, main[3].id, after_slot=main[4].slot, leaders=[2])
    assert chain.import_block(fork, now=kit.now).imported and not chain.is_canonical(fork.id)
    served = chain.blocks_from_slot(main[4].slot, limit=64)
    assert {b.id for b in served} == {main[4].id, main[5].id, fork.id}
    assert [(b.slot, b.id) for b in served] == sorted((b.slot, b.id) for b in served)
    assert chain.genesis_id not in {b.id for b in chain.blocks_from_slot(0, limit=64)}
