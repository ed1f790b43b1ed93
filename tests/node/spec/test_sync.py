"""The specification's sync cases (`cryptarchia/test_sync.py` of logos-co/nomos-specs) against this node.

Each peer is a :class:`Chain` behind a real :class:`NetworkService` on loopback with the real :class:`ChainSync`;
the local node dials its peers and runs one sync session (`ChainSync.sync`), as a connection or the periodic
tick would. Blocks are made by real leaders (`kit.next_block`), so slots are the first ones the leader wins
after the specification's slot: the shape of every tree, and the order of slots that each case depends on, are
the specification's. The spec compares `tip()` and `forks`; here the tip and the set of held blocks (every
branch), which implies the forks. The checkpoint cases (`TestSyncFromCheckpoint`) are not translated: this node
has no checkpoint sync (docs/consensus.md, Sync, deviations). In the four "from a tree" cases (single_chain and
forks from_middle, forks_by_backfilling, reject_invalid_blocks_from_backfilling) the spec's code gives the local
tree's blocks to the peer again, so its local starts from genesis; the translations follow the comments and start
the local node from that tree.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from nomos_node.consensus.block import Block, BlockFormatError, sign_header
from nomos_node.consensus.chain import Chain, RejectReason
from nomos_node.network.chain_source import ChainSyncSource
from nomos_node.network.identity import LocalIdentity
from nomos_node.network.service import NetworkService
from nomos_node.network.sync import ChainSync, ImportOutcome, SessionStats
from tests.node.conftest import keys_for

A, B = 0, 1  # the specification's notes n_a and n_b: two stake holders of the kit's genesis


@dataclasses.dataclass
class SyncPeer:
    chain: Chain
    network: NetworkService
    sync: ChainSync

    @property
    def peer_id(self) -> str:
        return self.network.identity.peer_id

    @property
    def address(self) -> str:
        """host:port of the listener (from its multiaddr /ip4/<host>/tcp/<port>)."""
        parts = self.network.listen_addresses[0].split("/")
        return f"{parts[2]}:{parts[4]}"


class ServingInvalid(ChainSyncSource):
    """A dishonest peer's store: its chain plus blocks it holds although they are invalid (the specification's
    `apply_invalid_block_to_ledger_state`)."""

    def __init__(self, chain: Chain, invalid: list[Block]) -> None:
        super().__init__(chain)
        self.invalid = {block.id: block for block in invalid}

    def blocks_from_slot(self, slot: int, after: str | None, limit: int) -> list[dict[str, Any]]:
        held = [*self.chain.blocks_from_slot(0, 1_000_000), *self.invalid.values()]
        position = (slot, after or "")
        chosen = sorted(b for b in ((b.slot, b.id) for b in held) if b[0] >= slot and b > position)[:limit]
        by_id = {block.id: block for block in held}
        return [by_id[block_id].to_json() for _, block_id in chosen]

    def ancestors(self, block_id: str, limit: int) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        while block_id in self.invalid and len(blocks) < limit:
            blocks.append(self.invalid[block_id].to_json())
            block_id = self.invalid[block_id].parent
        return blocks + super().ancestors(block_id, limit - len(blocks)) if len(blocks) < limit else blocks


async def _import(chain: Chain, document: dict[str, Any]) -> ImportOutcome:
    try:
        block = Block.from_json(document)
    except BlockFormatError:
        return "rejected"
    return chain.import_block(block).status


@asynccontextmanager
async def network_of(local: Chain, peers: list[Chain],
                     sources: dict[int, ChainSyncSource] | None = None) -> AsyncIterator[list[SyncPeer]]:
    """`local` (index 0 of the answer) connected to every chain of `peers` over loopback TCP."""
    nodes: list[SyncPeer] = []
    try:
        for index, chain in enumerate([local, *peers]):
            network = NetworkService(LocalIdentity.from_keys(keys_for(10 + index)), chain.genesis_id, "127.0.0.1:0")
            source = (sources or {}).get(index) or ChainSyncSource(chain)
            sync = ChainSync(network, source, lambda document, _peer, chain=chain: _import(chain, document))
            nodes.append(SyncPeer(chain, network, sync))
        for node in nodes:
            await node.network.start()
        for node in nodes[1:]:
            nodes[0].network.add_peer(node.address)
        async with asyncio.timeout(10):
            while len(nodes[0].network.peers()) < len(peers):
                await asyncio.sleep(0.02)
        yield nodes
    finally:
        for node in nodes:
            await node.sync.stop()
            await node.network.stop()


async def sync(local: Chain, peers: list[Chain], sources: dict[int, ChainSyncSource] | None = None) -> SessionStats:
    """The specification's `sync(local, peers)`: one session of the local node with every peer."""
    async with network_of(local, peers, sources) as nodes:
        return await nodes[0].sync.sync({node.peer_id: "test" for node in nodes[1:]})


def held(chain: Chain) -> set[str]:
    return {block.id for block in chain.blocks_from_slot(0, 1_000_000)}


class Tree:
    """Builds blocks on a source chain that holds all of them, like the specification's `mk_chain`/`mk_block`."""

    def __init__(self, kit: Any, chain: Chain) -> None:
        self.kit, self.chain = kit, chain

    def block(self, parent: Block | None, slot: int, leader: int) -> Block:
        parent_id = parent.id if parent is not None else self.chain.genesis_id
        block = self.kit.next_block(self.chain, parent_id, after_slot=slot - 1, leaders=[leader])
        assert self.chain.import_block(block, now=self.kit.now).imported
        return block

    def run(self, parent: Block | None, leader: int, slots: list[int]) -> list[Block]:
        blocks: list[Block] = []
        for slot in slots:
            blocks.append(self.block(blocks[-1] if blocks else parent, max(slot, blocks[-1].slot + 1 if blocks
                                                                          else slot), leader))
        return blocks


def new_chain(kit: Any) -> Chain:
    """A chain in Bootstrapping, as the specification's `Follower` starts: the LIB stays at genesis, so nothing is
    pruned and side forks stay (the spec's cases use k = 1)."""
    chain: Chain = kit.chain(online=False)
    return chain


def follower(kit: Any, blocks: list[Block]) -> Chain:
    """A new chain (the specification's `Follower`) that has imported `blocks` in order."""
    chain = new_chain(kit)
    for block in blocks:
        assert chain.import_block(block, now=kit.now).status in ("imported", "duplicate")
    return chain


def forks_tree(kit: Any) -> tuple[Tree, dict[str, Block]]:
    """b0 - b1 - b2 - b5 == tip, and b0 - b3 - b4 (the specification's forks cases)."""
    tree = Tree(kit, new_chain(kit))
    b0, b1, b2, b5 = tree.run(None, A, [1, 2, 3, 4])
    b3, b4 = tree.run(b0, B, [2, 3])
    return tree, {"b0": b0, "b1": b1, "b2": b2, "b3": b3, "b4": b4, "b5": b5}


FAKE = 5  # the specification's fake_note: a key with no stake in the genesis


def invalid_run(parent: Block, template: Callable[[int], Block], slots: list[int]) -> list[Block]:
    """Blocks descending from `parent` at `slots`, led by a key without stake (the specification's blocks by
    `fake_note`): the headers of `template(i)` re-parented, re-identified and signed by that key, so ids and
    signatures are right and each block is invalid for a consensus rule."""
    blocks: list[Block] = []
    fake = keys_for(FAKE)
    for index, slot in enumerate(slots):
        tip = blocks[-1] if blocks else parent
        header = template(index).header
        leader = dataclasses.replace(header.leader, key=fake.signing_pk_hex, vrf_pk=fake.vrf_pk_hex)
        header = dataclasses.replace(header, id="", parent=tip.id, height=tip.height + 1, slot=slot,
                                     leader=leader).with_computed_id()
        blocks.append(Block(header=header, signature=sign_header(header, fake), transactions=()))
    return blocks


# -- TestSync ---------------------------------------------------------------------------------------------------
async def test_sync_single_chain_from_genesis(kit) -> None:
    """Spec TestSync.test_sync_single_chain_from_genesis."""
    tree = Tree(kit, new_chain(kit))
    blocks = tree.run(None, A, [1, 2, 3, 4])
    peer, local = follower(kit, blocks), new_chain(kit)
    await sync(local, [peer])
    assert local.tip.id == peer.tip.id == blocks[-1].id and held(local) == held(peer)


async def test_sync_single_chain_from_middle(kit) -> None:
    """Spec TestSync.test_sync_single_chain_from_middle."""
    # The spec's code feeds b0, b1 to the peer again (so its local starts from genesis); its comment, followed
    # here, means the local tree b0 - b1.
    tree = Tree(kit, new_chain(kit))
    blocks = tree.run(None, A, [1, 2, 3, 4])
    peer, local = follower(kit, blocks), follower(kit, blocks[:2])
    await sync(local, [peer])
    assert local.tip.id == peer.tip.id and held(local) == held(peer)


async def test_sync_forks_from_genesis(kit) -> None:
    """Spec TestSync.test_sync_forks_from_genesis."""
    _, b = forks_tree(kit)
    peer = follower(kit, [b[n] for n in ("b0", "b1", "b2", "b3", "b4", "b5")])
    assert peer.tip.id == b["b5"].id
    local = new_chain(kit)
    await sync(local, [peer])
    assert local.tip.id == b["b5"].id and held(local) == held(peer) and b["b4"].id in held(local)


async def test_sync_forks_from_middle(kit) -> None:
    """Spec TestSync.test_sync_forks_from_middle."""
    # As in single_chain_from_middle, the spec's code gives b0, b1, b3 to the peer; its comment means the local.
    _, b = forks_tree(kit)
    peer = follower(kit, [b[n] for n in ("b0", "b1", "b2", "b3", "b4", "b5")])
    local = follower(kit, [b["b0"], b["b1"], b["b3"]])
    await sync(local, [peer])
    assert local.tip.id == b["b5"].id and held(local) == held(peer)


async def test_sync_forks_by_backfilling(kit) -> None:
    """Spec TestSync.test_sync_forks_by_backfilling."""
    # The fork must lie below the local tip's slot for the range request to miss its first block, so here b3 is
    # made before b1 (spec: both at slot 2, where the range from slot 2 would still include b3).
    tree = Tree(kit, new_chain(kit))
    b0 = tree.block(None, 1, A)
    b3 = tree.block(b0, b0.slot + 1, B)
    b1 = tree.block(b0, b3.slot + 1, A)
    b4 = tree.block(b3, b1.slot + 1, B)
    b2, b5 = tree.run(b1, A, [b4.slot + 1, b4.slot + 2])
    peer = follower(kit, [b0, b1, b2, b3, b4, b5])
    local = follower(kit, [b0, b1])
    assert b3.slot < local.tip.slot < b4.slot
    stats = await sync(local, [peer])
    assert local.tip.id == peer.tip.id == b5.id and held(local) == held(peer) and len(held(local)) == 6
    assert stats.orphans >= 1, "b4 arrived before its parent b3: the fork was backfilled"


async def test_sync_multiple_peers_from_genesis(kit) -> None:
    """Spec TestSync.test_sync_multiple_peers_from_genesis."""
    _, b = forks_tree(kit)
    peer0 = follower(kit, [b[n] for n in ("b0", "b1", "b2", "b5")])
    peer1 = follower(kit, [b[n] for n in ("b0", "b1", "b2")])
    peer2 = follower(kit, [b[n] for n in ("b0", "b3", "b4")])
    local = new_chain(kit)
    await sync(local, [peer0, peer1, peer2])
    assert local.tip.id == b["b5"].id
    assert held(local) == {block.id for block in b.values()}


async def test_reject_invalid_blocks(kit) -> None:
    """Spec TestSync.test_reject_invalid_blocks."""
    tree = Tree(kit, new_chain(kit))
    blocks = tree.run(None, A, [1, 2, 3, 4])
    b4, b5 = invalid_run(blocks[-1], lambda i: blocks[i], [blocks[-1].slot + 1, blocks[-1].slot + 2])
    peer = follower(kit, blocks)
    local = new_chain(kit)
    stats = await sync(local, [peer], {1: ServingInvalid(peer, [b4, b5])})
    assert local.tip.id == peer.tip.id == blocks[-1].id and held(local) == held(peer)
    assert b4.id in local.rejected and b5.id in local.rejected and stats.rejected == 2
    assert local.rejected.get(b5.id).reason == RejectReason.INVALID_PARENT  # type: ignore[union-attr]


async def test_reject_invalid_blocks_from_backfilling(kit) -> None:
    """Spec TestSync.test_reject_invalid_blocks_from_backfilling."""
    tree = Tree(kit, new_chain(kit))
    b0, b1 = tree.run(None, A, [1, 2])
    b2 = tree.block(b0, 2, B)
    b3, b4, b5 = tree.run(b1, A, [3, 4, 5])
    # Invalid b6, b7 on b2 at b3's and b4's slots (the spec's 3 and 4): the range from the local tip's slot (b4's)
    # brings b7 as an orphan, whose backfill brings b2 (valid) and b6 (invalid).
    b6, b7 = invalid_run(b2, lambda i: [b3, b4][i], [b3.slot, b4.slot])
    peer = follower(kit, [b0, b1, b2, b3, b4, b5])
    local = follower(kit, [b0, b1, b3, b4])
    await sync(local, [peer], {1: ServingInvalid(peer, [b6, b7])})
    assert local.tip.id == peer.tip.id == b5.id and held(local) == held(peer) and b2.id in held(local)
    assert b6.id not in local and b7.id not in local
    assert b6.id in local.rejected and b7.id in local.rejected


async def test_rejected_blocks_are_not_imported_again(kit) -> None:
    """Spec sync's `rejected_blocks`: a second session refuses the remembered blocks without re-validation."""
    tree = Tree(kit, new_chain(kit))
    blocks = tree.run(None, A, [1, 2, 3])
    b3, b4 = invalid_run(blocks[-1], lambda i: blocks[i], [blocks[-1].slot + 1, blocks[-1].slot + 2])
    peer = follower(kit, blocks)
    local = new_chain(kit)
    async with network_of(local, [peer], {1: ServingInvalid(peer, [b3, b4])}) as nodes:
        first = await nodes[0].sync.sync({nodes[1].peer_id: "test"})
        assert first.rejected == 2
        assert local.import_block(b4, now=kit.now).remembered
        assert local.import_block(b3, now=kit.now).remembered
    assert b3.id not in local and local.tip.id == blocks[-1].id


# -- beyond the specification's cases ----------------------------------------------------------------------------
async def test_catch_up_from_a_stale_fork_tip_needs_no_long_backfill(kit, monkeypatch) -> None:
    """Not a spec case: a node whose tip is a short fork of its own, far behind the peer's chain. Every fetched
    block is an orphan (they all descend from the peer's block at the fork), yet only the first is backfilled
    (two blocks deep); the next round's range imports the rest. Backfills are capped at 4 blocks to prove it."""
    import nomos_node.network.sync as sync_module

    monkeypatch.setattr(sync_module, "MAX_BACKFILL_BLOCKS", 4)
    tree = Tree(kit, new_chain(kit))
    base = tree.run(None, A, [1, 2, 3])
    q = tree.block(base[-1], base[-1].slot + 1, A)
    stale = tree.block(base[-1], q.slot + 1, B)  # our own tip: as high as q, one slot later
    rest = tree.run(q, A, [stale.slot + 1 + n for n in range(150)])
    peer = follower(kit, [*base, q, *rest])
    local = follower(kit, [*base, stale])
    stats = await sync(local, [peer])
    assert local.tip.id == peer.tip.id == rest[-1].id and held(local) == held(peer) | {stale.id}
    assert stats.orphans == len(rest)  # every block of the first range, and only those
