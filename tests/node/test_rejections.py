"""The chain's memory of rejected blocks (the specification's `rejected_blocks`): permanent refusals are
remembered with their reason, descendants are refused as `invalid_parent` without re-validation, and refusals
that a peer could provoke with a corrupted copy of an honest block, or that are only temporary, are not."""

from __future__ import annotations

import dataclasses

from nomos_node.consensus.block import Block, sign_header
from nomos_node.consensus.chain import RejectReason
from nomos_node.consensus.rejections import RejectedBlocks
from tests.node.conftest import keys_for

FAKE = 5  # a key without stake


def _led_by_fake(block: Block, parent: Block, slot: int) -> Block:
    """`block`'s header on `parent` at `slot`, led and signed by a key without stake: a right id and signature."""
    fake = keys_for(FAKE)
    leader = dataclasses.replace(block.header.leader, key=fake.signing_pk_hex, vrf_pk=fake.vrf_pk_hex)
    header = dataclasses.replace(block.header, id="", parent=parent.id, height=parent.height + 1, slot=slot,
                                 leader=leader).with_computed_id()
    return Block(header=header, signature=sign_header(header, fake), transactions=())


def test_a_permanent_refusal_is_remembered_and_so_are_the_descendants(kit) -> None:
    chain = kit.chain()
    main = kit.extend(chain, 3)
    bad = _led_by_fake(main[0], main[-1], main[-1].slot + 1)
    child = _led_by_fake(main[1], bad, bad.slot + 1)
    grandchild = _led_by_fake(main[2], child, child.slot + 1)
    first = chain.import_block(bad, now=kit.now)
    assert first.status == "rejected" and not first.remembered and bad.id in chain.rejected
    again = chain.import_block(bad, now=kit.now)
    assert again.remembered and again.reason == first.reason
    for block in (child, grandchild):
        result = chain.import_block(block, now=kit.now)
        assert result.status == "rejected" and result.reason == RejectReason.INVALID_PARENT
        assert result.detail == f"parent {block.parent} was rejected: {chain.rejected.get(block.parent).reason}"  # type: ignore[union-attr]
        assert chain.import_block(block, now=kit.now).remembered
    assert chain.tip.id == main[-1].id


def test_cached_orphans_below_a_rejected_block_are_dropped_and_remembered(kit) -> None:
    chain = kit.chain()
    main = kit.extend(chain, 3)
    bad = _led_by_fake(main[0], main[-1], main[-1].slot + 1)
    child = _led_by_fake(main[1], bad, bad.slot + 1)
    assert chain.import_block(child, now=kit.now).status == "orphan"
    assert chain.import_block(bad, now=kit.now).status == "rejected"
    assert child.id not in chain.orphan_ids() and child.id in chain.rejected


def test_a_corrupted_signature_is_not_remembered_against_the_honest_block(kit) -> None:
    chain = kit.chain()
    kit.extend(chain, 2)
    honest = kit.next_block(chain)
    corrupted = dataclasses.replace(honest, signature="00" * 64)
    result = chain.import_block(corrupted, now=kit.now)
    assert result.reason == RejectReason.BAD_SIGNATURE and honest.id not in chain.rejected
    assert chain.import_block(honest, now=kit.now).imported


def test_a_future_block_is_not_remembered(kit) -> None:
    chain = kit.chain()
    kit.extend(chain, 2)
    block = kit.next_block(chain)
    early = chain.genesis.chain_start_time + block.slot * chain.genesis.slot_duration - 5
    assert chain.import_block(block, now=early).reason == RejectReason.FUTURE_SLOT
    assert block.id not in chain.rejected and chain.import_block(block, now=kit.now).imported


def test_the_memory_is_bounded_least_recently_used_first() -> None:
    memory = RejectedBlocks(capacity=2)
    assert memory.remember("a", "bad_vrf") and memory.remember("b", "bad_vrf")
    assert memory.get("a") is not None  # a is now the most recent
    assert memory.remember("c", "lottery_lost")
    assert "a" in memory and "b" not in memory and "c" in memory and len(memory) == 2
    assert not memory.remember("d", "bad_signature") and "d" not in memory
