"""Block persistence: a restarted chain resumes the same tip and LIB; foreign or corrupt stores are clear errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nomos_node.storage import BlockStore, StoreError
from nomos_node.storage.blocks import DB_FILE


def test_restart_resumes_the_same_tip_and_lib(kit, tmp_path: Path) -> None:
    genesis = kit.genesis()
    chain = kit.chain(genesis, store=BlockStore.open(tmp_path / "data"))
    main = kit.extend(chain, 6)
    side = kit.extend(chain, 1, parent_id=main[3].id, after_slot=main[-1].slot + 5)[0]  # kept: above the LIB
    tip, lib = chain.tip.id, chain.lib.id
    chain.store.close()

    reopened = kit.chain(genesis, store=BlockStore.open(tmp_path / "data"), online=False)
    assert reopened.tip.id == tip and reopened.lib.id == lib and reopened.height == 6
    assert reopened.get_block(side.id) == side and reopened.mode == "Bootstrapping"
    # the restored per-block state (ledger nonces, epochs) is good enough to keep validating new blocks
    reopened.switch_to_online()
    more = kit.extend(reopened, 8)
    assert reopened.tip.id == more[-1].id and reopened.get_block(side.id) is None
    reopened.store.close()
    stored = BlockStore.open(tmp_path / "data")
    assert stored.count() == 6 + 8, "pruned blocks are deleted from disk too (genesis is never stored)"
    assert stored.heads() == (more[-1].id, reopened.lib.id)


def test_tip_is_the_longest_stored_branch_when_heads_are_missing(kit, tmp_path: Path) -> None:
    genesis = kit.genesis()
    chain = kit.chain(genesis, store=BlockStore.open(tmp_path))
    blocks = kit.extend(chain, 4)
    chain.store.close()
    with sqlite3.connect(tmp_path / DB_FILE) as db:
        db.execute("DELETE FROM meta WHERE key IN ('tip', 'lib')")
    reopened = kit.chain(genesis, store=BlockStore.open(tmp_path), online=False)
    assert reopened.tip.id == blocks[-1].id and reopened.lib.id == reopened.genesis_id


def test_store_of_another_genesis_is_refused(kit, tmp_path: Path) -> None:
    kit.chain(kit.genesis(), store=BlockStore.open(tmp_path)).store.close()
    with pytest.raises(StoreError, match=r"belongs to genesis .* use another storage\.data_dir"):
        kit.chain(kit.genesis(security_param=4), store=BlockStore.open(tmp_path))


def test_corrupt_store_is_a_clear_error(kit, tmp_path: Path) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable block store"):
        BlockStore.open(tmp_path)


def test_tampered_block_is_detected_on_load(kit, tmp_path: Path) -> None:
    genesis = kit.genesis()
    chain = kit.chain(genesis, store=BlockStore.open(tmp_path))
    block = kit.extend(chain, 2)[0]
    chain.store.close()
    with sqlite3.connect(tmp_path / DB_FILE) as db:
        body = db.execute("SELECT body FROM blocks WHERE id = ?", (block.id,)).fetchone()[0]
        db.execute("UPDATE blocks SET body = ? WHERE id = ?", (body.replace('"slot":', '"slot":1'), block.id))
    with pytest.raises(StoreError, match=f"stored block {block.id}"):
        kit.chain(genesis, store=BlockStore.open(tmp_path))


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create data directory"):
        BlockStore.open(blocker / "data")


def test_switching_online_deletes_pruned_branches_from_disk(kit, tmp_path: Path) -> None:
    genesis = kit.genesis()
    chain = kit.chain(genesis, store=BlockStore.open(tmp_path), online=False)
    main = kit.extend(chain, 3)
    fork = kit.extend(chain, 7, parent_id=main[0].id, after_slot=main[-1].slot + 5)
    assert chain.store.count() == 10
    chain.switch_to_online()
    assert chain.store.count() == 8 and chain.store.heads() == (fork[-1].id, chain.lib.id)
