"""Chain sync over request/response: `tip` and `blocks` (the blocks after a locator, oldest first).

Triggers: a new connection (start-up catch-up), an orphan (unknown parent) and a periodic tip comparison.
One sync per peer at a time; a sync pulls batches until the peer has nothing newer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from nomos_node.logs import event
from nomos_node.network.service import NetworkService, RequestFailed, RequestRejected

log = logging.getLogger("nomos_node.network")

METHOD_TIP = "tip"
METHOD_BLOCKS = "blocks"
MAX_BLOCKS_PER_REQUEST = 64
MAX_LOCATOR_LENGTH = 64


@dataclass(frozen=True)
class TipSummary:
    id: str
    height: int
    slot: int


class SyncSource(Protocol):
    """The chain as sync sees it."""

    def tip_summary(self) -> TipSummary: ...

    def locator(self) -> list[str]:
        """Ids of our chain, newest first, dense near the tip then exponentially sparse, ending at genesis."""

    def blocks_after(self, locator: list[str], limit: int) -> list[dict[str, Any]]:
        """Our best-chain blocks after the newest locator id we know, oldest first, at most `limit`."""


BlockImporter = Callable[[dict[str, Any], str], Awaitable[bool]]
"""(block JSON, from peer) → True when the chain grew or already had it, False when rejected."""


class ChainSync:
    def __init__(self, network: NetworkService, source: SyncSource, import_block: BlockImporter) -> None:
        self._network = network
        self._source = source
        self._import = import_block
        self._running: dict[str, asyncio.Task[None]] = {}
        network.register_method(METHOD_TIP, self._serve_tip)
        network.register_method(METHOD_BLOCKS, self._serve_blocks)

    async def _serve_tip(self, params: Any, peer_id: str) -> dict[str, Any]:
        tip = self._source.tip_summary()
        return {"id": tip.id, "height": tip.height, "slot": tip.slot}

    async def _serve_blocks(self, params: Any, peer_id: str) -> list[dict[str, Any]]:
        if not isinstance(params, dict) or not isinstance(params.get("locator"), list):
            raise RequestRejected("blocks: expected {locator: [ids], limit}")
        locator = [item for item in params["locator"][:MAX_LOCATOR_LENGTH] if isinstance(item, str)]
        limit = params.get("limit", MAX_BLOCKS_PER_REQUEST)
        limit = min(limit, MAX_BLOCKS_PER_REQUEST) if isinstance(limit, int) and limit > 0 else MAX_BLOCKS_PER_REQUEST
        return self._source.blocks_after(locator, limit)

    def request_sync(self, peer_id: str, reason: str) -> None:
        """Start a sync with `peer_id` unless one is already running."""
        running = self._running.get(peer_id)
        if running is not None and not running.done():
            return
        task = asyncio.ensure_future(self._sync_with(peer_id, reason))
        self._running[peer_id] = task
        task.add_done_callback(lambda _t, pid=peer_id: self._forget(pid, _t))

    def request_sync_all(self, reason: str) -> None:
        for peer_id in self._network.peers():
            self.request_sync(peer_id, reason)

    def _forget(self, peer_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(peer_id) is task:
            del self._running[peer_id]

    async def stop(self) -> None:
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sync_with(self, peer_id: str, reason: str) -> None:
        fetched = 0
        try:
            while True:
                theirs = await self._network.request(peer_id, METHOD_TIP, None)
                ours = self._source.tip_summary()
                if not isinstance(theirs, dict) or not isinstance(theirs.get("height"), int):
                    return
                if theirs["height"] <= ours.height:
                    break
                blocks = await self._network.request(
                    peer_id, METHOD_BLOCKS, {"locator": self._source.locator(), "limit": MAX_BLOCKS_PER_REQUEST})
                if not isinstance(blocks, list) or not blocks:
                    break
                accepted = 0
                for block in blocks:
                    if not isinstance(block, dict) or not await self._import(block, peer_id):
                        break
                    accepted += 1
                fetched += accepted
                if accepted < len(blocks) or self._source.tip_summary().height <= ours.height:
                    break
        except RequestFailed as exc:
            log.debug("sync with %s stopped: %s", peer_id, exc)
        finally:
            if fetched:
                tip = self._source.tip_summary()
                event(log, logging.INFO, "synced", peer=peer_id, reason=reason, blocks=fetched, height=tip.height)
