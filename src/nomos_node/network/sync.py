"""Chain sync over request/response: `tip` and `blocks` (a branch after a locator, oldest first).

Triggers: a new connection (start-up catch-up), an orphan (unknown parent) and a periodic tip comparison.
A catch-up fetches the peer's tip branch when fork choice prefers it (longer, or as long with a lower VRF
output); an orphan fetches the branch ending at the orphan from the peer that relayed it, whatever the two
tips' heights (the orphan may sit on a branch that is not the peer's best). One worker per peer drains that
peer's queued targets; a worker pulls batches until the target is reached or the peer has nothing newer.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nomos_node.logs import event
from nomos_node.network.framing import MAX_FRAME_BYTES
from nomos_node.network.service import NetworkService, RequestFailed, RequestRejected

log = logging.getLogger("nomos_node.network")

METHOD_TIP = "tip"
METHOD_BLOCKS = "blocks"
MAX_BLOCKS_PER_REQUEST = 64
# The blocks of one answer stop at this many bytes of JSON (the peer asks again after the last one); one block
# alone always fits a frame (at most 1024 transactions of at most 4096 bytes).
MAX_ANSWER_BYTES = MAX_FRAME_BYTES // 2
MAX_LOCATOR_LENGTH = 64
MAX_QUEUED_TARGETS = 16
MAX_ROUNDS_PER_TARGET = 1024  # 64 Ki blocks: a bound against a peer that keeps answering without progress


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

    def locator(self) -> list[str]:
        """Ids of our chain, newest first, dense near the tip then exponentially sparse, ending at genesis."""

    def blocks_towards(self, locator: list[str], target: str | None, limit: int) -> list[dict[str, Any]]:
        """Blocks of `target`'s branch (default our tip's) after the newest locator id on it, oldest first."""


BlockImporter = Callable[[dict[str, Any], str], Awaitable[bool]]
"""(block JSON, from peer) → True when the chain grew or already had it, False when rejected."""

TIP = ""  # queue entry: catch up with the peer's tip


class ChainSync:
    def __init__(self, network: NetworkService, source: SyncSource, import_block: BlockImporter) -> None:
        self._network = network
        self._source = source
        self._import = import_block
        self._running: dict[str, asyncio.Task[None]] = {}
        self._queues: dict[str, dict[str, str]] = {}  # peer → {target (TIP for the tip): reason}, insertion order
        network.register_method(METHOD_TIP, self._serve_tip)
        network.register_method(METHOD_BLOCKS, self._serve_blocks)

    async def _serve_tip(self, params: Any, peer_id: str) -> dict[str, Any]:
        return self._source.tip_summary().to_json()

    async def _serve_blocks(self, params: Any, peer_id: str) -> list[dict[str, Any]]:
        if not isinstance(params, dict) or not isinstance(params.get("locator"), list):
            raise RequestRejected("blocks: expected {locator: [ids], limit, target?}")
        locator = [item for item in params["locator"][:MAX_LOCATOR_LENGTH] if isinstance(item, str)]
        limit = params.get("limit", MAX_BLOCKS_PER_REQUEST)
        limit = min(limit, MAX_BLOCKS_PER_REQUEST) if isinstance(limit, int) and limit > 0 else MAX_BLOCKS_PER_REQUEST
        target = params.get("target")
        blocks = self._source.blocks_towards(locator, target if isinstance(target, str) else None, limit)
        return _within_bytes(blocks, MAX_ANSWER_BYTES)

    def request_sync(self, peer_id: str, reason: str, target: str | None = None) -> None:
        """Queue a catch-up with `peer_id` (or, with `target`, a fetch of the branch ending at that block)."""
        queue = self._queues.setdefault(peer_id, {})
        key = target or TIP
        if key not in queue and len(queue) < MAX_QUEUED_TARGETS:
            queue[key] = reason
        running = self._running.get(peer_id)
        if running is not None and not running.done():
            return
        task = asyncio.ensure_future(self._worker(peer_id))
        self._running[peer_id] = task
        task.add_done_callback(functools.partial(self._forget, peer_id))

    def request_sync_all(self, reason: str) -> None:
        for peer_id in self._network.peers():
            self.request_sync(peer_id, reason)

    def _forget(self, peer_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(peer_id) is task:
            del self._running[peer_id]
            if not self._queues.get(peer_id):
                self._queues.pop(peer_id, None)

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self, peer_id: str) -> None:
        queue = self._queues.setdefault(peer_id, {})
        while queue:
            key = next(iter(queue))
            reason = queue.pop(key)
            try:
                await self._sync_target(peer_id, key or None, reason)
            except RequestFailed as exc:
                log.debug("sync with %s stopped: %s", peer_id, exc)
                if peer_id not in self._network.peers():
                    queue.clear()

    async def _sync_target(self, peer_id: str, target: str | None, reason: str) -> None:
        if target is None:
            theirs = TipSummary.from_json(await self._network.request(peer_id, METHOD_TIP, None))
            if theirs is None or not self._source.prefers(theirs):
                return
            target = theirs.id
        fetched, newest = 0, None
        try:
            for _ in range(MAX_ROUNDS_PER_TARGET):
                if self._source.has_block(target):
                    return
                # Our locator follows our tip; a branch below it would be found again, so the newest block we
                # just fetched leads the locator and the peer continues after it.
                locator = ([newest] if newest else []) + self._source.locator()
                blocks = await self._network.request(peer_id, METHOD_BLOCKS, {
                    "locator": locator[:MAX_LOCATOR_LENGTH], "target": target, "limit": MAX_BLOCKS_PER_REQUEST})
                if not isinstance(blocks, list) or not blocks:
                    return
                for block in blocks:
                    if not isinstance(block, dict) or not await self._import(block, peer_id):
                        return
                    fetched += 1
                last = _block_id(blocks[-1])
                if last is None or last == newest:
                    return
                newest = last
        finally:
            if fetched:
                tip = self._source.tip_summary()
                event(log, logging.INFO, "synced", peer=peer_id, reason=reason, blocks=fetched, height=tip.height)


def _block_id(document: dict[str, Any]) -> str | None:
    header = document.get("header")
    block_id = header.get("id") if isinstance(header, dict) else None
    return block_id if isinstance(block_id, str) else None


def _within_bytes(blocks: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The longest prefix of `blocks` whose JSON is at most `budget` bytes, and at least the first block."""
    kept: list[dict[str, Any]] = []
    size = 0
    for block in blocks:
        size += len(json.dumps(block, separators=(",", ":")))
        if kept and size > budget:
            break
        kept.append(block)
    return kept
