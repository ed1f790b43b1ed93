"""The data availability workload: channels inscribed, then blobs dispersed through the executors at a rate,
each channel's blobs chained (docs/data-availability.md, "Framework").

Sizing follows the original tool: `channels = channel_rate + ceil(channel_rate × headroom_percent / 100)` and
`blob_rate` blobs per block, i.e. `blob_rate / block_interval` per second over the run. Unlike the original
(publish one blob, wait for its block, publish the next), this is a **rate**: blobs fall due on a clock whatever
became of earlier ones, and a due blob goes to the next channel that has no dispersal in flight, so up to
`channels` dispersals run at once (the headroom channels are what lets the rate hold while dispersals are slow).
A due blob that finds every channel busy waits for the first one to free up (`backlog_max`: the most that ever
waited at once).

1. Inscriptions first: one transaction per channel carrying a `channel_inscribe` op (parent 00…00), signed with
   the fixed test key and built by the node adapter, submitted to the executor that will disperse that
   channel's blobs. Blobs of a channel start once its inscription is seen in a block (or after
   `inscription_wait_blocks` block intervals, in case the block feed missed it).
2. Blobs: `POST /disperse-data` with the channel's last message id as the parent; the executor encodes,
   disperses and submits the `channel_blob` transaction. The next blob of the channel names that blob's
   message id (the answer's `msg_id`, or computed by the adapter from the blob id, size and parent), without
   waiting for it to be included. Channels are dealt over the executors (channel i → executor i mod n), so a
   channel's chained transactions meet one mempool; a channel whose executor is not running uses another.
3. A refusal that says the chain is off (`bad_parent`, `not_channel_owner`), and a blob not seen in a block
   after `stale_blocks` block intervals, resynchronise the channel's parent from `GET /mantle/channels/{id}`.

Every dispersal is a `da.disperse` event (blob id, channel, executor, size, latency, ok or the error code and
detail, parent, msg_id, payload hash), one still awaiting its answer when the window ends too (`cancelled`);
inscriptions are `da.inscribe` events; `da.plan` and `da.done` frame them.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.errors import PlanError
from nomos_testing.nodes.base import NodeAdapter
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.block_feed import BlockRecord
from nomos_testing.params import Param, ParamSchema
from nomos_testing.scenario.fields import MAX_SEED
from nomos_testing.topology.model import Role
from nomos_testing.workloads.base import Workload

if TYPE_CHECKING:
    from nomos_testing.expectations.base import Expectation
    from nomos_testing.scenario.context import RunContext
    from nomos_testing.scenario.plan import ScenarioPlan

TICK_S = 0.02
RESYNC_CODES = frozenset({"bad_parent", "not_channel_owner"})
INSCRIPTION_PREFIX = b"nomos-testing da channel "


def planned_channels(channel_rate: int, headroom_percent: float) -> int:
    """The original's sizing: base channels plus the headroom, rounded up (1 at 20 % → 2)."""
    return channel_rate + math.ceil(channel_rate * headroom_percent / 100)


def payload_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


@dataclass
class _Channel:
    index: int
    channel_id: str
    executor: str
    parent: str
    inscription_tx: str | None = None
    inscribed: asyncio.Event = field(default_factory=asyncio.Event)
    busy: bool = False
    blobs: int = 0
    resyncing: bool = False


@dataclass(frozen=True)
class Dispersal:
    blob_id: str | None
    channel: str
    executor: str
    size: int
    sent_at: float
    latency_s: float
    ok: bool
    error: str | None
    parent: str
    msg_id: str | None
    payload_hash: str


class DataAvailability(Workload):
    kind = "da"
    summary = ("channels inscribed, then blobs dispersed through the executors at blob_rate per block, chained "
               "per channel, every dispersal an event")
    params = ParamSchema((
        Param("channel_rate", "int", default=1, minimum=1, maximum=1024, example=1,
              help="base number of channels (the original's channel_rate); headroom_percent adds more"),
        Param("blob_rate", "number", default=1.0, minimum=0, exclusive_minimum=True, maximum=1000, example=2,
              unit="blobs per block", help="blobs dispersed per block, on a clock (concurrent dispersals)"),
        Param("headroom_percent", "number", default=20, minimum=0, maximum=1000, example=20,
              help="extra channels on top of channel_rate, in percent rounded up (the original's headroom)"),
        Param("payload_min_bytes", "int", default=256, minimum=1, maximum=1 << 20, example=256,
              help="smallest blob payload; each payload's size is drawn between the min and the max"),
        Param("payload_max_bytes", "int", default=2048, minimum=1, maximum=1 << 20, example=2048,
              help="largest blob payload"),
        Param("inscription_wait_blocks", "number", default=10, minimum=0, maximum=1000, example=10,
              help="block intervals a channel waits for its inscription to be seen before dispersing anyway"),
        Param("stale_blocks", "number", default=15, minimum=1, maximum=1000, example=15,
              help="block intervals after which a blob not seen in a block resynchronises its channel"),
        Param("min_inscribed_share", "number", default=0.8, minimum=0, maximum=1, example=0.8,
              help="the bundled da_inclusion expectation: share of planned channels inscribed"),
        Param("min_blob_share", "number", default=0.8, minimum=0, maximum=1, example=0.8,
              help="the bundled da_inclusion expectation: share of blob_rate × blocks seen included"),
        Param("retrieve_sample", "int", default=3, minimum=0, maximum=1000, example=3,
              help="the bundled da_inclusion expectation: included blobs fetched back from the validators"),
        Param("seed", "int", default=None, minimum=0, maximum=MAX_SEED, example=7,
              help="seed of payloads and channel ids (default: the plan's seed)"),
    ))

    _instances: ClassVar[int] = 0

    def __init__(self, channel_rate: int = 1, blob_rate: float = 1.0, headroom_percent: float = 20,
                 payload_min_bytes: int = 256, payload_max_bytes: int = 2048, inscription_wait_blocks: float = 10,
                 stale_blocks: float = 15, min_inscribed_share: float = 0.8, min_blob_share: float = 0.8,
                 retrieve_sample: int = 3, seed: int | None = None) -> None:
        self.channel_rate = int(channel_rate)
        self.blob_rate = float(blob_rate)
        self.headroom_percent = float(headroom_percent)
        self.payload_min_bytes = int(payload_min_bytes)
        self.payload_max_bytes = int(payload_max_bytes)
        if self.payload_min_bytes > self.payload_max_bytes:
            raise PlanError(f"da: payload_min_bytes {payload_min_bytes} > payload_max_bytes {payload_max_bytes}",
                            "set payload_min_bytes ≤ payload_max_bytes")
        self.inscription_wait_blocks = float(inscription_wait_blocks)
        self.stale_blocks = float(stale_blocks)
        self.min_inscribed_share = float(min_inscribed_share)
        self.min_blob_share = float(min_blob_share)
        self.retrieve_sample = int(retrieve_sample)
        self.seed = seed
        self.channels: list[_Channel] = []
        self.dispersals: list[Dispersal] = []
        self.included: dict[str, str] = {}    # blob id -> the first block seen carrying it
        self.counters: dict[str, int] = {"due": 0, "backlog_max": 0, "no_executor": 0, "resyncs": 0, "stale": 0,
                                         "inscriptions_refused": 0}
        self._pending: dict[str, tuple[_Channel, float]] = {}  # blob id -> channel, sent_at (not yet in a block)
        self._tasks: set[asyncio.Task[None]] = set()
        self._cursor = 0
        self.started_at: float | None = None

    @classmethod
    def check_plan(cls, params: Mapping[str, Any], plan: ScenarioPlan, where: str) -> None:
        shown = f"{where} ({cls.kind})"
        if plan.topology.executors <= 0:
            raise PlanError(f"{plan.source_of('topology.executors').location()}: {shown} disperses blobs through "
                            f"executors, but topology.executors is {plan.topology.executors}",
                            "give the plan executors: `[topology] executors = 2` in the scenario file, "
                            "`.topology_with(lambda t: t.executors(2))` in the builder, or `--executors 2`")
        low, high = params.get("payload_min_bytes", 256), params.get("payload_max_bytes", 2048)
        if low is not None and high is not None and low > high:
            source = plan.source_of(f"{where}.payload_min_bytes")
            raise PlanError(f"{source.location()}: {shown}.payload_min_bytes {low} > payload_max_bytes {high}",
                            f"set {where}.payload_min_bytes ≤ payload_max_bytes")

    def expectations(self) -> list[Expectation]:
        from nomos_testing.expectations.da_inclusion import DaInclusion

        return [DaInclusion(min_inscribed_share=self.min_inscribed_share, min_blob_share=self.min_blob_share,
                            retrieve_sample=self.retrieve_sample, source=self)]

    @property
    def planned_channels(self) -> int:
        return planned_channels(self.channel_rate, self.headroom_percent)

    def per_second(self, block_interval: float) -> float:
        return self.blob_rate / block_interval

    # The run ---------------------------------------------------------------------------------------

    async def start(self, ctx: RunContext) -> None:
        adapter = ctx.topology.adapter
        seed = self.seed if self.seed is not None else (ctx.plan.seed or 0)
        DataAvailability._instances += 1
        instance = DataAvailability._instances
        rng = random.Random(seed ^ 0x6461)
        executors = [node.name for node in ctx.topology.nodes if node.role is Role.EXECUTOR]
        if not executors:
            raise PlanError("da: the topology has no executor to disperse through",
                            "give the plan executors (topology.executors ≥ 1)")
        self.channels = [
            _Channel(i, hashlib.blake2b(f"nomos-testing da {seed} {instance} {i}".encode(), digest_size=32).hexdigest(),
                     executors[i % len(executors)], adapter.first_parent())
            for i in range(self.planned_channels)]
        per_second = self.per_second(ctx.block_interval)
        expected = self.blob_rate * max(ctx.expected_blocks, 1.0)
        self.started_at = time.time()
        ctx.events.emit("da.plan", channels=[c.channel_id for c in self.channels],
                        executors={c.channel_id: c.executor for c in self.channels}, blob_rate=self.blob_rate,
                        channel_rate=self.channel_rate, headroom_percent=self.headroom_percent,
                        per_second=round(per_second, 3), expected_blobs=round(expected, 1),
                        payload_bytes=[self.payload_min_bytes, self.payload_max_bytes], duration_s=ctx.plan.duration_s)
        feed = ctx.block_feed.subscribe(replay=True)
        watcher = asyncio.create_task(self._watch(adapter, feed), name="da-watch")
        try:
            await self._inscribe_all(ctx, adapter)
            await self._drive(ctx, adapter, rng, per_second)
        finally:
            # Cancellation is how a workload normally ends: the dispersals in flight are cancelled and awaited
            # together (each records its event), then da.done; the cancellation itself propagates after.
            helpers = [*self._tasks, watcher]
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            ctx.block_feed.unsubscribe(feed)
            ok = sum(d.ok for d in self.dispersals)
            ctx.events.emit("da.done", dispersed=len(self.dispersals), ok=ok, failed=len(self.dispersals) - ok,
                            included=len(self.included), inscribed=sum(c.inscribed.is_set() for c in self.channels),
                            **self.counters)

    def _executor_client(self, ctx: RunContext, channel: _Channel) -> NodeClient | None:
        if channel.executor in ctx.clients and ctx.should_run(channel.executor):
            return ctx.clients[channel.executor]
        running = [c for c in ctx.executor_clients() if ctx.should_run(c.name)]
        return running[channel.index % len(running)] if running else None

    async def _inscribe_all(self, ctx: RunContext, adapter: NodeAdapter) -> None:
        await asyncio.gather(*(self._inscribe(ctx, adapter, channel) for channel in self.channels))

    async def _inscribe(self, ctx: RunContext, adapter: NodeAdapter, channel: _Channel) -> None:
        op = adapter.channel_inscription(channel.channel_id, INSCRIPTION_PREFIX + str(channel.index).encode(),
                                         channel.parent)
        client = self._executor_client(ctx, channel)
        reason: str | None = None
        sent_at = time.time()
        if client is None:
            reason = "no_executor"
        else:
            try:
                await client.submit_tx(op.tx)
            except NodeApiError as exc:
                reason = exc.code or ("unreachable" if exc.status is None else f"http_{exc.status}")
        ctx.events.emit("da.inscribe", channel=channel.channel_id, tx=op.tx_hash, msg_id=op.msg_id,
                        node=client.name if client else None, sent_at=round(sent_at, 6), accepted=reason is None,
                        reason=reason)
        if reason is None:
            channel.inscription_tx = op.tx_hash
            channel.parent = op.msg_id
        else:
            self.counters["inscriptions_refused"] += 1

    async def _drive(self, ctx: RunContext, adapter: NodeAdapter, rng: random.Random, per_second: float) -> None:
        started = time.monotonic()
        wait_s = self.inscription_wait_blocks * ctx.block_interval
        stale_s = self.stale_blocks * ctx.block_interval
        owed = 0
        while (elapsed := time.monotonic() - started) < ctx.plan.duration_s:
            due = int(elapsed * per_second) - self.counters["due"]
            if due > 0:
                self.counters["due"] += due
                owed += due
            while owed > 0:
                channel = self._idle_channel(elapsed >= wait_s)
                if channel is None:
                    self.counters["backlog_max"] = max(self.counters["backlog_max"], owed)
                    break
                owed -= 1
                self._dispatch(ctx, adapter, rng, channel)
            self._drop_stale(ctx, stale_s)
            await asyncio.sleep(min(TICK_S, 1.0 / per_second))
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def _idle_channel(self, waited: bool) -> _Channel | None:
        count = len(self.channels)
        for step in range(count):
            channel = self.channels[(self._cursor + step) % count]
            ready = channel.inscribed.is_set() or (waited and channel.inscription_tx is not None)
            if ready and not channel.busy and not channel.resyncing:
                self._cursor = (self._cursor + step + 1) % count
                return channel
        return None

    def _dispatch(self, ctx: RunContext, adapter: NodeAdapter, rng: random.Random, channel: _Channel) -> None:
        size = rng.randint(self.payload_min_bytes, self.payload_max_bytes)
        data = rng.randbytes(size)
        channel.busy = True
        task = asyncio.create_task(self._disperse(ctx, adapter, channel, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _disperse(self, ctx: RunContext, adapter: NodeAdapter, channel: _Channel, data: bytes) -> None:
        client = self._executor_client(ctx, channel)
        parent = channel.parent
        sent_at = time.time()
        started = time.monotonic()
        blob_id: str | None = None
        msg_id: str | None = None
        error: str | None = None
        detail: str | None = None
        tx_hash: str | None = None
        try:
            if client is None:
                self.counters["no_executor"] += 1
                error, detail = "no_executor", "no executor is meant to be running"
            else:
                try:
                    answer = await client.disperse_data(channel.channel_id, parent, adapter.da_signer(), data)
                    blob_id = str(answer["blob_id"])
                    tx_hash = answer.get("tx_hash") if isinstance(answer.get("tx_hash"), str) else None
                    given = answer.get("msg_id")
                    msg_id = given if isinstance(given, str) else adapter.blob_msg_id(
                        channel.channel_id, blob_id, len(data), parent)
                except NodeApiError as exc:
                    error = exc.code or (f"http_{exc.status}" if exc.status is not None
                                         else "timed_out" if exc.detail == "timed out" else "unreachable")
                    detail = exc.detail[:300]
                except asyncio.CancelledError:  # the window ended first: still an event, then stop
                    self._record(ctx, channel, client, data, sent_at, time.monotonic() - started, None, None, None,
                                 "cancelled", "the run window ended before the executor answered", parent)
                    raise
            latency = time.monotonic() - started
            ok = error is None
            if ok and blob_id is not None and msg_id is not None:
                if channel.parent == parent:  # not resynchronised meanwhile
                    channel.parent = msg_id
                channel.blobs += 1
                if blob_id not in self.included:
                    self._pending[blob_id] = (channel, sent_at)
            self._record(ctx, channel, client, data, sent_at, latency, blob_id, msg_id, tx_hash, error, detail,
                         parent)
        finally:
            channel.busy = False
        if error in RESYNC_CODES:
            await self._resync(ctx, channel)

    def _record(self, ctx: RunContext, channel: _Channel, client: NodeClient | None, data: bytes, sent_at: float,
                latency: float, blob_id: str | None, msg_id: str | None, tx_hash: str | None, error: str | None,
                detail: str | None, parent: str) -> None:
        record = Dispersal(blob_id, channel.channel_id, client.name if client else "", len(data), sent_at, latency,
                           error is None, error, parent, msg_id, payload_hash(data))
        self.dispersals.append(record)
        ctx.events.emit("da.disperse", blob_id=blob_id, channel=channel.channel_id, executor=record.executor,
                        size=len(data), sent_at=round(sent_at, 6), latency_ms=round(latency * 1000, 2), ok=record.ok,
                        error=error, detail=detail, parent=parent, msg_id=msg_id, tx=tx_hash,
                        payload_hash=record.payload_hash)

    async def _resync(self, ctx: RunContext, channel: _Channel) -> None:
        """The channel's parent as a node's ledger has it (its last message on the node's chain)."""
        if channel.resyncing:
            return
        channel.resyncing = True
        self.counters["resyncs"] += 1
        try:
            client = self._executor_client(ctx, channel)
            if client is None:
                return
            try:
                state = await client.channel(channel.channel_id)
            except NodeApiError:
                return
            last = state.get("last_msg_id") if state else None
            if isinstance(last, str):
                channel.parent = last
            ctx.events.emit("da.resync", channel=channel.channel_id, node=client.name, parent=channel.parent)
        finally:
            channel.resyncing = False

    def _drop_stale(self, ctx: RunContext, stale_s: float) -> None:
        cutoff = time.time() - stale_s
        stale = [blob for blob, (_, sent_at) in self._pending.items() if sent_at < cutoff]
        channels: dict[str, _Channel] = {}
        for blob in stale:
            channel, _ = self._pending.pop(blob)
            self.counters["stale"] += 1
            channels[channel.channel_id] = channel
        for channel in channels.values():
            task = asyncio.create_task(self._resync(ctx, channel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _watch(self, adapter: NodeAdapter, feed: asyncio.Queue[BlockRecord]) -> None:
        """Inscriptions and blobs of our channels as blocks carry them."""
        by_id = {c.channel_id: c for c in self.channels}
        while True:
            record = await feed.get()
            for tx in adapter.block_transactions(record.block):
                for message in adapter.channel_messages(tx):
                    channel = by_id.get(message.channel)
                    if channel is None:
                        continue
                    if message.kind == "inscribe":
                        channel.inscribed.set()
                    elif message.blob_id:
                        self.included.setdefault(message.blob_id, record.id)
                        self._pending.pop(message.blob_id, None)
