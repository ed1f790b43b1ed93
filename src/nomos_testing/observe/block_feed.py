"""A block feed that follows every node of the cluster.

Each poll asks every node for `/cryptarchia/info`; when a node's tip is unknown, the feed walks parents
through `/storage/block` until it reaches a block it already holds (or genesis). Every block any node
reports is recorded once (with the node that reported it first) into `blocks.jsonl` and delivered to
every subscriber through an unbounded queue, parents before children. Blocks of competing branches are
all kept, so forks are visible. Every answer to a poll is also recorded as a sample of that node's view
(`history`, written to `views.jsonl` next to `blocks.jsonl`): the fault expectations judge that history.
Failures are never silent: poll errors, missing blocks (gaps) and walk errors are counted per node and
reported in `stats()`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.events import EventLog
from nomos_testing.observe.history import ViewHistory, ViewSample
from nomos_testing.tasks import cancel_and_wait

_ERROR_EVENTS_PER_NODE = 5  # the first few errors of a node go into events.jsonl, all are counted


@dataclass(frozen=True)
class BlockRecord:
    id: str
    parent: str
    height: int
    slot: int
    tx_count: int
    node: str  # the node that reported it first
    seen_at: float
    block: dict[str, Any] = field(repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "height": self.height, "id": self.id, "parent": self.parent,
                "slot": self.slot, "tx_count": self.tx_count, "time": round(self.seen_at, 6)}


@dataclass
class NodeView:
    """The latest `/cryptarchia/info` the feed got from one node."""

    name: str
    height: int | None = None
    tip: str | None = None
    lib: str | None = None
    slot: int | None = None
    mode: str | None = None
    updated_at: float | None = None
    poll_errors: int = 0
    gaps: int = 0
    last_error: str | None = None


class BlockFeed:
    def __init__(self, clients: list[NodeClient], out_path: Path | None = None, poll_interval_s: float = 0.5,
                 events: EventLog | None = None) -> None:
        self.clients = clients
        self.poll_interval_s = poll_interval_s
        self.events = events
        self.blocks: dict[str, BlockRecord] = {}
        self.children: dict[str, set[str]] = {}
        self.views: dict[str, NodeView] = {client.name: NodeView(client.name) for client in clients}
        self.polls = 0
        self._subscribers: list[asyncio.Queue[BlockRecord]] = []
        self._out = out_path.open("a", encoding="utf-8") if out_path is not None else None
        self.history = ViewHistory(out_path.with_name("views.jsonl") if out_path is not None else None)
        self._task: asyncio.Task[None] | None = None
        self._walking: dict[str, asyncio.Lock] = {client.name: asyncio.Lock() for client in clients}

    def add_client(self, client: NodeClient) -> None:
        """Follow one more node (a node that joined mid-run)."""
        if client.name in self.views:
            return
        self.clients.append(client)
        self.views[client.name] = NodeView(client.name)
        self._walking[client.name] = asyncio.Lock()

    # Lifecycle
    async def start(self) -> None:
        await self.poll_once()
        self._task = asyncio.create_task(self._run(), name="block-feed")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            await cancel_and_wait(task)
        if self._out is not None and not self._out.closed:
            self._out.close()
        self.history.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval_s)
            await self.poll_once()

    # Subscriptions never drop: the queue is unbounded and starts with every block already known.
    def subscribe(self, replay: bool = True) -> asyncio.Queue[BlockRecord]:
        queue: asyncio.Queue[BlockRecord] = asyncio.Queue()
        if replay:
            for record in sorted(self.blocks.values(), key=lambda r: (r.height, r.seen_at)):
                queue.put_nowait(record)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[BlockRecord]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    # Polling
    async def poll_once(self) -> None:
        self.polls += 1
        await asyncio.gather(*(self._poll_node(client) for client in self.clients))

    async def _poll_node(self, client: NodeClient) -> None:
        view = self.views[client.name]
        try:
            info = await client.consensus_info()
        except NodeApiError as exc:
            self._error(view, "poll", exc.detail)
            return
        try:
            height = int(info["height"])
        except (KeyError, TypeError, ValueError) as exc:  # the feed keeps following the other nodes
            self._error(view, "poll", f"malformed /cryptarchia/info answer {str(info)[:120]!r} ({exc!r})")
            return
        view.height = height
        view.tip, view.lib = info.get("tip"), info.get("lib")
        view.slot, view.mode, view.updated_at = info.get("slot"), info.get("mode"), time.time()
        if view.tip and view.tip not in self.blocks:
            await self.walk(client, view.tip)
        # recorded after the walk, so whoever reads the sample finds its tip among the blocks
        self.history.record(ViewSample(view.updated_at, view.name, height, view.tip, view.lib,
                                       _int_or_none(view.slot), self.polls))

    async def chain(self, client: NodeClient, tip: str) -> list[BlockRecord]:
        """`client`'s chain from `tip` down to genesis (tip first), fetching from it what the feed has not seen;
        LookupError when a block of it cannot be fetched."""
        blocks: list[BlockRecord] = []
        cursor = tip
        while True:
            record = self.blocks.get(cursor)
            if record is None:
                await self.walk(client, cursor)
                record = self.blocks.get(cursor)
                if record is None:
                    raise LookupError(f"{client.name}: block {cursor[:16]} of its chain could not be fetched")
            blocks.append(record)
            if record.height <= 0:
                return blocks
            cursor = record.parent

    async def walk(self, client: NodeClient, tip: str) -> None:
        """Fetch `tip` and its unknown ancestors from `client`; record them parents first."""
        view = self.views[client.name]
        async with self._walking[client.name]:
            fetched: list[dict[str, Any]] = []
            cursor: str | None = tip
            while cursor and cursor not in self.blocks and not any(_id(b) == cursor for b in fetched):
                try:
                    block = await client.block(cursor)
                except NodeApiError as exc:
                    self._error(view, "walk", f"block {cursor[:16]}: {exc.detail}")
                    break
                if block is None:
                    view.gaps += 1
                    self._error(view, "gap", f"block {cursor[:16]} reported but not served by /storage/block")
                    break
                try:
                    header = block["header"]
                    height = int(header["height"])
                except (KeyError, TypeError, ValueError) as exc:
                    self._error(view, "walk", f"block {cursor[:16]}: malformed answer ({exc!r})")
                    break
                fetched.append(block)
                if height <= 0:
                    break
                cursor = header.get("parent")
            for block in reversed(fetched):
                self._record(block, client.name)

    def _record(self, block: dict[str, Any], node: str) -> None:
        header = block.get("header", {})
        block_id = header.get("id") or _id(block)
        if block_id in self.blocks:
            return
        record = BlockRecord(id=block_id, parent=str(header.get("parent", "")), height=int(header.get("height", 0)),
                             slot=int(header.get("slot", 0)), tx_count=len(block.get("transactions") or []),
                             node=node, seen_at=time.time(), block=block)
        self.blocks[block_id] = record
        self.children.setdefault(record.parent, set()).add(block_id)
        if self._out is not None and not self._out.closed:
            self._out.write(json.dumps(record.to_json(), separators=(",", ":")) + "\n")
            self._out.flush()
        for queue in self._subscribers:
            queue.put_nowait(record)

    def _error(self, view: NodeView, what: str, detail: str) -> None:
        view.poll_errors += 1
        view.last_error = f"{what}: {detail}"
        if self.events is not None and view.poll_errors <= _ERROR_EVENTS_PER_NODE:
            self.events.emit("feed.error", node=view.name, what=what, detail=detail)

    # Chain queries over everything seen
    def ancestor_at(self, block_id: str, height: int) -> str | None:
        """The id of `block_id`'s ancestor at `height`; None when the chain there is not known."""
        record = self.blocks.get(block_id)
        while record is not None and record.height > height:
            record = self.blocks.get(record.parent)
        return record.id if record is not None and record.height == height else None

    def fork_depth(self, a: str, b: str) -> int | None:
        """Blocks from `a` back to its common ancestor with `b` (0 when `a` is an ancestor of `b`)."""
        ra, rb = self.blocks.get(a), self.blocks.get(b)
        if ra is None or rb is None:
            return None
        low = min(ra.height, rb.height)
        for height in range(low, -1, -1):
            ancestor_a, ancestor_b = self.ancestor_at(a, height), self.ancestor_at(b, height)
            if ancestor_a is None or ancestor_b is None:
                return None
            if ancestor_a == ancestor_b:
                return ra.height - height
        return None

    def on_one_branch(self, a: str, b: str) -> bool | None:
        """True when one block is an ancestor of (or equal to) the other; None when unknown."""
        ra, rb = self.blocks.get(a), self.blocks.get(b)
        if ra is None or rb is None:
            return None
        low, high = (ra, rb) if ra.height <= rb.height else (rb, ra)
        ancestor = self.ancestor_at(high.id, low.height)
        return None if ancestor is None else ancestor == low.id

    def fork_points(self) -> int:
        return sum(1 for kids in self.children.values() if len(kids) > 1)

    def stats(self) -> dict[str, Any]:
        views = self.views.values()
        return {
            "blocks": len(self.blocks),
            "max_height": max((r.height for r in self.blocks.values()), default=0),
            "fork_points": self.fork_points(),
            "polls": self.polls,
            "errors": sum(v.poll_errors for v in views),
            "gaps": sum(v.gaps for v in views),
            "per_node": {v.name: {"errors": v.poll_errors, "gaps": v.gaps, "last_error": v.last_error}
                         for v in views if v.poll_errors},
        }


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _id(block: dict[str, Any]) -> str:
    return str(block.get("header", {}).get("id", ""))
