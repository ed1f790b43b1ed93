"""Chain sync as the specification's `cryptarchia/sync.py` defines it, over request/response.

Requests (served to every peer): `tip` (the peer's tip id, height, slot), `blocks_from_slot` (every block the
peer holds, all branches, from a slot on, in (slot, id) order, so parents first: the specification's
`blocks_by_slot`) and `ancestors` (a block and its ancestors, newest first: `fetch_chain_backward`). Every answer
holds at most 64 blocks and 4 MiB of JSON, and at least one block when there is one.

A sync session (`sync`): ask the peers' tips; from each group of peers with the same tip ahead of ours by slot,
fetch every block from our tip's slot on and import it; blocks whose parent is unknown are orphans, whose fork is
then backfilled (`backfill_fork`): the ancestors are fetched backwards from the peer until a block we hold (or have
rejected) and imported oldest first. Only orphans whose parent did not come in the same round are backfilled; their
descendants are imported by the next round's range. Rejected blocks are remembered by the chain (a bounded memory),
and their descendants are refused without re-validation. Rounds repeat while they import something new (peers' tips
move during a sync). Triggers: a new connection, a periodic tick, and an orphan from gossip (backfilled from the
peer that relayed it). One worker runs the sessions, one at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeGuard

from nomos_node.logs import event
from nomos_node.network.framing import MAX_FRAME_BYTES
from nomos_node.network.service import NetworkService, RequestFailed, RequestRejected

log = logging.getLogger("nomos_node.network")

METHOD_TIP = "tip"
METHOD_BLOCKS_FROM_SLOT = "blocks_from_slot"
METHOD_ANCESTORS = "ancestors"
MAX_BLOCKS_PER_REQUEST = 64
# The blocks of one answer stop at this many bytes of JSON (the peer asks again after the last one); one block
# alone always fits a frame (at most 1024 transactions of at most 4096 bytes).
MAX_ANSWER_BYTES = MAX_FRAME_BYTES // 2
MAX_PAGES_PER_RANGE = 1024  # 64 Ki blocks from one group of peers per round
MAX_BACKFILL_BLOCKS = 1024  # the longest fork suffix held in memory while its ancestors are fetched
MAX_BACKFILL_BYTES = 64 * 1024 * 1024
MAX_ORPHANS_PER_ROUND = 64
MAX_ROUNDS_PER_SESSION = 32
MAX_QUEUED_BACKFILLS = 16
TIP_TIMEOUT_S = 3.0
MAX_ID_LENGTH = 128

ImportOutcome = Literal["imported", "duplicate", "orphan", "rejected"]
BlockImporter = Callable[[dict[str, Any], str], Awaitable[ImportOutcome]]
"""(block JSON, from peer) → what the chain did with it (a malformed block is "rejected")."""


@dataclass(frozen=True)
class TipSummary:
    id: str
    height: int
    slot: int
    vrf_output: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "height": self.height, "slot": self.slot, "vrf_output": self.vrf_output}

    @staticmethod
    def from_json(document: Any) -> TipSummary | None:
        if not isinstance(document, dict):
            return None
        block_id, height, slot = document.get("id"), document.get("height"), document.get("slot")
        vrf_output = document.get("vrf_output", "")
        if not (isinstance(block_id, str) and isinstance(height, int) and isinstance(slot, int)
                and isinstance(vrf_output, str)):
            return None
        return TipSummary(block_id, height, slot, vrf_output)


class SyncSource(Protocol):
    """The chain as sync sees it."""

    def tip_summary(self) -> TipSummary: ...

    def prefers(self, theirs: TipSummary) -> bool:
        """True when fork choice would take `theirs` over our tip (given its branch)."""

    def has_block(self, block_id: str) -> bool: ...

    def is_rejected(self, block_id: str) -> bool:
        """True when the chain remembers `block_id` as rejected."""

    def blocks_from_slot(self, slot: int, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Held blocks of every branch in (slot, id) order from `slot` on (after (slot, `after`) when given)."""

    def ancestors(self, block_id: str, limit: int) -> list[dict[str, Any]]:
        """`block_id` and its ancestors, newest first; empty when unknown."""


class MalformedAnswer(Exception):
    """A peer answered a sync request with something that is not a valid answer."""


@dataclass
class SessionStats:
    imported: int = 0
    rejected: int = 0
    orphans: int = 0
    fetched: int = 0

    def count(self, outcome: ImportOutcome) -> None:
        self.fetched += 1
        if outcome == "imported":
            self.imported += 1
        elif outcome == "rejected":
            self.rejected += 1
        elif outcome == "orphan":
            self.orphans += 1


@dataclass(frozen=True)
class _Orphan:
    slot: int
    parent: str | None  # None: not known (a peer's tip)
    peer: str  # the peer that holds its fork


@dataclass
class _Pending:
    peers: dict[str, str] = field(default_factory=dict)  # peer → reason
    backfills: dict[tuple[str, str], str] = field(default_factory=dict)  # (peer, block id) → reason


class ChainSync:
    def __init__(self, network: NetworkService, source: SyncSource, import_block: BlockImporter) -> None:
        self._network = network
        self._source = source
        self._import = import_block
        self._pending = _Pending()
        self._worker_task: asyncio.Task[None] | None = None
        network.register_method(METHOD_TIP, self._serve_tip)
        network.register_method(METHOD_BLOCKS_FROM_SLOT, self._serve_blocks_from_slot)
        network.register_method(METHOD_ANCESTORS, self._serve_ancestors)

    # -- serving ------------------------------------------------------------------------------------------
    async def _serve_tip(self, params: Any, peer_id: str) -> dict[str, Any]:
        return self._source.tip_summary().to_json()

    async def _serve_blocks_from_slot(self, params: Any, peer_id: str) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise _refused(peer_id, "blocks_from_slot: expected {slot, after?, limit?}")
        slot, after = params.get("slot"), params.get("after")
        if not _is_count(slot):
            raise _refused(peer_id, "blocks_from_slot: slot must be a non-negative integer")
        if after is not None and not _is_id(after):
            raise _refused(peer_id, "blocks_from_slot: after must be a block id or null")
        limit = _limit(params.get("limit"))
        blocks = self._source.blocks_from_slot(slot, after, limit + 1)
        answer = _within_bytes(blocks[:limit], MAX_ANSWER_BYTES)
        return {"blocks": answer, "more": len(answer) < len(blocks)}

    async def _serve_ancestors(self, params: Any, peer_id: str) -> dict[str, Any]:
        if not isinstance(params, dict) or not _is_id(params.get("id")):
            raise _refused(peer_id, "ancestors: expected {id, limit?}")
        blocks = self._source.ancestors(params["id"], _limit(params.get("limit")))
        return {"blocks": _within_bytes(blocks, MAX_ANSWER_BYTES)}

    # -- triggers -----------------------------------------------------------------------------------------
    def request_sync(self, peer_id: str, reason: str, target: str | None = None) -> None:
        """Queue a sync with `peer_id` (with `target`: a backfill of that block's fork from that peer)."""
        if target is None:
            self._pending.peers.setdefault(peer_id, reason)
        elif len(self._pending.backfills) < MAX_QUEUED_BACKFILLS:
            self._pending.backfills.setdefault((peer_id, target), reason)
        if self._worker_task is None or self._worker_task.done():
            self._worker_task = asyncio.ensure_future(self._worker())

    def request_sync_all(self, reason: str) -> None:
        for peer_id in self._network.peers():
            self.request_sync(peer_id, reason)

    async def stop(self) -> None:
        task = self._worker_task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _worker(self) -> None:
        while self._pending.peers or self._pending.backfills:
            pending, self._pending = self._pending, _Pending()
            try:
                await self.sync(pending.peers, pending.backfills)
            except Exception:
                log.exception("sync session failed")

    # -- a session ----------------------------------------------------------------------------------------
    async def sync(self, peers: dict[str, str], backfills: dict[tuple[str, str], str] | None = None) -> SessionStats:
        """One session with `peers` (peer → reason): queued backfills, then rounds until nothing new comes."""
        stats = SessionStats()
        try:
            for (peer_id, block_id), _ in (backfills or {}).items():
                if not self._known(block_id):
                    await self._backfill_fork(peer_id, block_id, stats)
            for _ in range(MAX_ROUNDS_PER_SESSION):
                imported_before = stats.imported
                if not await self._round(list(peers), stats) or stats.imported == imported_before:
                    break
        finally:
            if stats.imported or stats.rejected:
                reasons = sorted({*peers.values(), *(backfills or {}).values()})
                event(log, logging.INFO, "synced", peer=",".join(sorted({*peers, *(p for p, _ in backfills or {})})),
                      reason=",".join(reasons), blocks=stats.imported, rejected=stats.rejected,
                      height=self._source.tip_summary().height)
        return stats

    async def _round(self, peers: list[str], stats: SessionStats) -> bool:
        """Fetch from the peers ahead of our tip's slot and backfill the orphans; False when no peer is ahead."""
        ours = self._source.tip_summary()
        tips = await self._tips(peers)
        groups: dict[str, list[str]] = {}
        orphans: dict[str, _Orphan] = {}
        for peer_id, tip in tips.items():
            if self._known(tip.id):
                continue
            if tip.slot > ours.slot:
                groups.setdefault(tip.id, []).append(peer_id)
            elif self._source.prefers(tip):  # longer but not later: its fork lies below our slot
                orphans[tip.id] = _Orphan(tip.slot, None, peer_id)
        if not groups and not orphans:
            return False
        for tip_id, group in groups.items():
            if not self._known(tip_id):
                await self._fetch_range(group, ours.slot, stats, orphans)
        # Only the orphans whose parent did not come in this round are backfilled: the others descend from them
        # and are imported by the next round's range (their parents are then known).
        roots = sorted((orphan.slot, orphan_id, orphan.peer) for orphan_id, orphan in orphans.items()
                       if orphan.parent not in orphans)
        for _, orphan_id, peer_id in roots[:MAX_ORPHANS_PER_ROUND]:
            if not self._known(orphan_id):
                await self._backfill_fork(peer_id, orphan_id, stats)
        return True

    async def _tips(self, peers: list[str]) -> dict[str, TipSummary]:
        answers = await asyncio.gather(
            *(self._network.request(peer_id, METHOD_TIP, None, timeout=TIP_TIMEOUT_S) for peer_id in peers),
            return_exceptions=True)
        tips = {}
        for peer_id, answer in zip(peers, answers, strict=True):
            tip = None if isinstance(answer, BaseException) else TipSummary.from_json(answer)
            if tip is not None:
                tips[peer_id] = tip
            elif isinstance(answer, RequestFailed):
                log.debug("tip request to %s failed: %s", peer_id, answer)
        return tips

    async def _fetch_range(self, group: list[str], start_slot: int, stats: SessionStats,
                           orphans: dict[str, _Orphan]) -> None:
        """Every block from `start_slot` on from one peer of `group` (the next one continues if it fails)."""
        slot, after = start_slot, None
        for peer_id in group:
            try:
                for _ in range(MAX_PAGES_PER_RANGE):
                    answer = await self._network.request(peer_id, METHOD_BLOCKS_FROM_SLOT, {
                        "slot": slot, "after": after, "limit": MAX_BLOCKS_PER_REQUEST})
                    blocks, more = _page(answer, (slot, after or ""))
                    for block, (block_slot, block_id) in blocks:
                        outcome = await self._import(block, peer_id)
                        stats.count(outcome)
                        if outcome == "orphan":
                            orphans[block_id] = _Orphan(block_slot, _header(block)[2], peer_id)
                        else:
                            orphans.pop(block_id, None)
                        slot, after = block_slot, block_id
                    if not more:
                        break
                return
            except (RequestFailed, MalformedAnswer) as exc:
                _stopped("range fetch stopped", peer_id, exc)

    async def _backfill_fork(self, peer_id: str, fork_tip: str, stats: SessionStats) -> None:
        """Fetch `fork_tip` and its ancestors from `peer_id` down to a block we hold or rejected; import them."""
        suffix: list[dict[str, Any]] = []  # newest first
        size, wanted = 0, fork_tip
        try:
            while not self._known(wanted):
                if len(suffix) >= MAX_BACKFILL_BLOCKS or size >= MAX_BACKFILL_BYTES:
                    event(log, logging.INFO, "backfill abandoned", peer=peer_id, fork_tip=fork_tip, blocks=len(suffix))
                    return
                answer = await self._network.request(peer_id, METHOD_ANCESTORS, {
                    "id": wanted, "limit": MAX_BLOCKS_PER_REQUEST})
                chain = _ancestors(answer, wanted)
                if not chain:
                    return  # the peer no longer holds it (pruned): nothing to connect the fork to
                for block, parent in chain:
                    if self._known(wanted):
                        break
                    suffix.append(block)
                    size += len(json.dumps(block, separators=(",", ":")))
                    wanted = parent
        except (RequestFailed, MalformedAnswer) as exc:
            _stopped("backfill stopped", peer_id, exc, fork_tip=fork_tip)
            return
        for block in reversed(suffix):
            outcome = await self._import(block, peer_id)
            stats.count(outcome)
            if outcome == "rejected" and not self._source.is_rejected(_header(block)[1]):
                return  # refused for a reason that is not remembered: the rest would only be orphans

    def _known(self, block_id: str) -> bool:
        return self._source.has_block(block_id) or self._source.is_rejected(block_id)


def _refused(peer_id: str, reason: str) -> RequestRejected:
    """A malformed request: logged, and answered with an error (the peer's request fails)."""
    event(log, logging.WARNING, "sync request refused", peer=peer_id, error=reason)
    return RequestRejected(reason)


def _stopped(what: str, peer_id: str, exc: Exception, **fields: Any) -> None:
    """A fetch from a peer ended early: a malformed answer is a WARNING, a failed request (gone, timeout) DEBUG."""
    level = logging.WARNING if isinstance(exc, MalformedAnswer) else logging.DEBUG
    event(log, level, what, peer=peer_id, error=exc, **fields)


# -- answers ------------------------------------------------------------------------------------------------
def _page(answer: Any, position: tuple[int, str]) -> tuple[list[tuple[dict[str, Any], tuple[int, str]]], bool]:
    """The blocks of a `blocks_from_slot` answer with their (slot, id), strictly after `position`, ascending."""
    if not isinstance(answer, dict) or not isinstance(answer.get("blocks"), list):
        raise MalformedAnswer("blocks_from_slot: expected {blocks: [...], more}")
    blocks = []
    for block in answer["blocks"]:
        block_slot, block_id, _ = _header(block)
        if (block_slot, block_id) <= position:
            raise MalformedAnswer("blocks_from_slot: blocks out of order")
        position = (block_slot, block_id)
        blocks.append((block, position))
    return blocks, bool(answer.get("more")) and bool(blocks)


def _ancestors(answer: Any, wanted: str) -> list[tuple[dict[str, Any], str]]:
    """The blocks of an `ancestors` answer with their parents: a chain from `wanted` backwards."""
    if not isinstance(answer, dict) or not isinstance(answer.get("blocks"), list):
        raise MalformedAnswer("ancestors: expected {blocks: [...]}")
    chain = []
    for block in answer["blocks"]:
        _, block_id, parent = _header(block)
        if block_id != wanted:
            raise MalformedAnswer("ancestors: the blocks are not a chain")
        chain.append((block, parent))
        wanted = parent
    return chain


def _header(block: Any) -> tuple[int, str, str]:
    header = block.get("header") if isinstance(block, dict) else None
    if not isinstance(header, dict):
        raise MalformedAnswer("a block without a header")
    slot, block_id, parent = header.get("slot"), header.get("id"), header.get("parent")
    if not (_is_count(slot) and _is_id(block_id) and _is_id(parent)):
        raise MalformedAnswer("a block header without slot, id or parent")
    return slot, block_id, parent


def _is_count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _limit(value: Any) -> int:
    return min(value, MAX_BLOCKS_PER_REQUEST) if _is_count(value) and value > 0 else MAX_BLOCKS_PER_REQUEST


def _within_bytes(blocks: Iterable[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The longest prefix of `blocks` whose JSON is at most `budget` bytes, and at least the first block."""
    kept: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        size += len(json.dumps(block, separators=(",", ":")))
        if kept and size > budget:
            break
        kept.append(block)
    return kept
