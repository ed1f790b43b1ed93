"""The transaction workload: signed transfers between the genesis wallets, open loop, spread over the nodes
(docs/transactions.md).

Pacing: `rate` transactions per block (the original's meaning), i.e. `rate / block_interval` per second, or
`tx_per_s` when given. Submissions are open loop: a tick sends what is due without waiting for earlier
transactions to be included (an HTTP answer is awaited in its own task, up to `max_in_flight` at once).

Spends are chained: every wallet spends notes it got from its earlier transfers (its change, split in two
while it holds few notes) and from the others' payments, so a run is never capped by the number of wallets.
A transaction's outputs become spendable once the block feed has seen a block carrying it. A refused transfer
changed nothing on the node: its inputs return to the wallet, which is resynchronised from `/mantle/notes`.
Every submission is a `tx.submit` event (tx hash, node, sent_at, accepted or the refusal code).
Encoding, hashing and signing are the node adapter's (`NodeAdapter.transfer`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nomos_testing.errors import PlanError
from nomos_testing.nodes.base import NodeAdapter, Note, SignedTransfer
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.block_feed import BlockRecord
from nomos_testing.params import Param, ParamSchema
from nomos_testing.scenario.fields import MAX_SEED
from nomos_testing.tasks import cancel_and_wait
from nomos_testing.workloads.base import Workload

if TYPE_CHECKING:
    from nomos_testing.expectations.base import Expectation
    from nomos_testing.scenario.context import RunContext
    from nomos_testing.scenario.plan import ScenarioPlan

SPLIT_BELOW = 4        # a wallet holding fewer notes than this splits its change in two
MAX_DUST_INPUTS = 3    # small notes swept along with the main input (keeps wallets from fragmenting)
STALE_BLOCKS = 30      # an accepted transaction not seen in a block after this many block intervals is dropped
TICK_S = 0.02
MAX_INPUTS = 16


@dataclass
class _Wallet:
    index: int
    pk: str
    secret: str
    available: dict[str, Note] = field(default_factory=dict)
    incoming: int = 0         # notes to it in transactions not yet seen in a block
    resyncing: bool = False

    def spendable(self, need: int) -> bool:
        return not self.resyncing and sum(n.value for n in self.available.values()) >= need


@dataclass
class _Pending:
    transfer: SignedTransfer
    sender: int
    owners: tuple[int, ...]   # wallet of each output
    sent_at: float
    accepted: bool = False


@dataclass(frozen=True)
class Submission:
    tx_hash: str
    node: str
    sent_at: float
    accepted: bool
    reason: str | None
    fee: int


class Transactions(Workload):
    kind = "transactions"
    summary = "signed transfers between the genesis wallets, chained, open loop, spread over the running nodes"
    params = ParamSchema((
        Param("rate", "number", default=1.0, minimum=0, exclusive_minimum=True, maximum=10_000, example=5,
              unit="transactions per block", help="transactions per block (per second: rate / block interval)"),
        Param("users", "int", default=None, minimum=1, example=20,
              help="distinct senders: the first `users` wallets (default: every wallet)"),
        Param("tx_per_s", "number", default=None, minimum=0, exclusive_minimum=True, maximum=100_000, example=50,
              unit="transactions per second", help="open-loop rate in transactions per second (overrides rate)"),
        Param("amount", "int", default=1, minimum=1, example=1, help="value paid to the recipient by each transfer"),
        Param("fee", "int", default=1, minimum=0, example=1, help="fee of each transfer (burned)"),
        Param("max_in_flight", "int", default=256, minimum=1, maximum=10_000, example=256,
              help="submissions awaiting the node's answer at once; a due transaction beyond it is not sent"),
        Param("min_share", "number", default=0.9, minimum=0, maximum=1, example=0.9,
              help="the bundled tx_inclusion expectation's share of accepted transactions to be included"),
        Param("seed", "int", default=None, minimum=0, maximum=MAX_SEED, example=7,
              help="seed of sender, recipient and node choices (default: the plan's seed)"),
    ))

    def __init__(self, rate: float = 1.0, users: int | None = None, tx_per_s: float | None = None,
                 amount: int = 1, fee: int = 1, max_in_flight: int = 256, min_share: float = 0.9,
                 seed: int | None = None) -> None:
        self.rate = float(rate)
        self.users = users
        self.tx_per_s = None if tx_per_s is None else float(tx_per_s)
        self.amount = amount
        self.fee = fee
        self.max_in_flight = max_in_flight
        self.min_share = float(min_share)
        self.seed = seed
        self.submissions: list[Submission] = []
        self.counters: dict[str, int] = {"due": 0, "no_funds": 0, "in_flight_limit": 0, "no_node": 0,
                                         "resyncs": 0, "stale": 0}
        self._wallets: list[_Wallet] = []
        self._by_index: dict[int, _Wallet] = {}
        self._pending: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._cursor = 0
        self._node_cursor = 0

    @classmethod
    def check_plan(cls, params: Mapping[str, Any], plan: ScenarioPlan, where: str) -> None:
        shown = f"{where} ({cls.kind})"
        if plan.wallets <= 0:
            raise PlanError(f"{plan.source_of('wallets.count').location()}: {shown} needs wallets to send from, "
                            f"but wallets.count is {plan.wallets}",
                            "give the plan wallets: `[wallets] count = 50` in the scenario file, "
                            "or `.wallets(50)` in the builder")
        users = params.get("users")
        if users is not None and users > plan.wallets:
            source = plan.source_of(f"{where}.users")
            raise PlanError(f"{source.location()}: {shown}.users is {users}, more than the plan's "
                            f"{plan.wallets} wallets (wallets.count)",
                            f"set {where}.users ≤ {plan.wallets}, or raise wallets.count to at least {users}")

    def expectations(self) -> list[Expectation]:
        from nomos_testing.expectations.tx_inclusion import TxInclusion

        return [TxInclusion(min_share=self.min_share, source=self)]

    def per_second(self, block_interval: float) -> float:
        return self.tx_per_s if self.tx_per_s is not None else self.rate / block_interval

    # The run ---------------------------------------------------------------------------------------

    async def start(self, ctx: RunContext) -> None:
        adapter = ctx.topology.adapter
        rng = random.Random((self.seed if self.seed is not None else (ctx.plan.seed or 0)) ^ 0x7478)
        notes = adapter.genesis_notes(ctx.topology)
        wallets = ctx.wallets[: self.users] if self.users is not None else ctx.wallets
        self._wallets = [_Wallet(w.index, w.pk, w.secret_key, {notes[w.index].note_id: notes[w.index]})
                         for w in wallets]
        self._by_index = {w.index: w for w in self._wallets}
        per_second = self.per_second(ctx.block_interval)
        ctx.events.emit("tx.plan", per_second=round(per_second, 3), users=len(self._wallets), fee=self.fee,
                        amount=self.amount, duration_s=ctx.plan.duration_s)
        feed = ctx.block_feed.subscribe(replay=False)
        watcher = asyncio.create_task(self._watch(adapter, feed, ctx), name="tx-watch")
        semaphore = asyncio.Semaphore(self.max_in_flight)
        started = time.monotonic()
        stale_s = max(STALE_BLOCKS * ctx.block_interval, 30.0)
        try:
            while (elapsed := time.monotonic() - started) < ctx.plan.duration_s:
                due = int(elapsed * per_second) - self.counters["due"]
                for _ in range(max(0, due)):
                    self.counters["due"] += 1
                    self._send_one(ctx, adapter, rng, semaphore)
                self._drop_stale(ctx, stale_s)
                await asyncio.sleep(min(TICK_S, 1.0 / per_second))
            while self._tasks:
                await asyncio.wait(set(self._tasks))
        finally:
            for task in list(self._tasks):
                await cancel_and_wait(task)
            await cancel_and_wait(watcher)
            ctx.block_feed.unsubscribe(feed)
            accepted = sum(s.accepted for s in self.submissions)
            ctx.events.emit("tx.done", submitted=len(self.submissions), accepted=accepted,
                            refused=len(self.submissions) - accepted, **self.counters)

    def _send_one(self, ctx: RunContext, adapter: NodeAdapter, rng: random.Random,
                  semaphore: asyncio.Semaphore) -> None:
        if semaphore.locked():
            self.counters["in_flight_limit"] += 1
            return
        clients = ctx.running_clients()
        if not clients:
            self.counters["no_node"] += 1
            return
        need = self.amount + self.fee
        count = len(self._wallets)
        sender = None
        for step in range(count):
            wallet = self._wallets[(self._cursor + step) % count]
            if wallet.spendable(need):
                sender = wallet
                self._cursor = (self._cursor + step + 1) % count
                break
        if sender is None:
            self.counters["no_funds"] += 1
            return
        others = [w for w in self._wallets if w is not sender] or [sender]
        recipient = rng.choice(others)
        pending = self._build(adapter, sender, recipient, need)
        if pending is None:
            self.counters["no_funds"] += 1
            return
        client = clients[self._node_cursor % len(clients)]
        self._node_cursor += 1
        task = asyncio.create_task(self._submit(ctx, client, pending, semaphore))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _build(self, adapter: NodeAdapter, sender: _Wallet, recipient: _Wallet, need: int) -> _Pending | None:
        notes = sorted(sender.available.values(), key=lambda n: n.value, reverse=True)
        inputs: list[Note] = []
        total = 0
        for note in notes[:MAX_INPUTS]:  # largest first until the transfer is covered
            if total >= need:
                break
            inputs.append(note)
            total += note.value
        if total < need:
            return None
        chosen = {n.note_id for n in inputs}
        dust = [n for n in reversed(notes) if n.note_id not in chosen and n.value < need]
        dust = dust[:min(MAX_DUST_INPUTS, MAX_INPUTS - len(inputs))]
        inputs += dust
        total += sum(n.value for n in dust)
        change = total - need
        outputs: list[tuple[int, str]] = [(self.amount, recipient.pk)]
        owners = [recipient.index]
        held = len(sender.available) - len(inputs) + sender.incoming
        parts = 2 if change >= 2 and held < SPLIT_BELOW else 1 if change > 0 else 0
        for i in range(parts):
            outputs.append((change // parts + (1 if i < change % parts else 0), sender.pk))
            owners.append(sender.index)
        for note in inputs:
            del sender.available[note.note_id]
        transfer = adapter.transfer([(note, sender.secret) for note in inputs], outputs, self.fee)
        for owner in owners:
            self._wallet(owner).incoming += 1
        pending = _Pending(transfer, sender.index, tuple(owners), time.time())
        self._pending[transfer.tx_hash] = pending
        return pending

    def _wallet(self, index: int) -> _Wallet:
        return self._by_index[index]

    async def _submit(self, ctx: RunContext, client: NodeClient, pending: _Pending,
                      semaphore: asyncio.Semaphore) -> None:
        transfer = pending.transfer
        async with semaphore:
            pending.sent_at = sent_at = time.time()
            reason: str | None = None
            try:
                await client.submit_tx(transfer.tx)
            except NodeApiError as exc:
                reason = exc.code or ("unreachable" if exc.status is None else f"http_{exc.status}")
        accepted = reason is None
        self.submissions.append(Submission(transfer.tx_hash, client.name, sent_at, accepted, reason, transfer.fee))
        ctx.events.emit("tx.submit", tx=transfer.tx_hash, node=client.name, sent_at=round(sent_at, 6),
                        accepted=accepted, reason=reason, sender=pending.sender, fee=transfer.fee,
                        inputs=len(transfer.tx["inputs"]), took_ms=round((time.time() - sent_at) * 1000, 2))
        if accepted:
            pending.accepted = True
            return
        self._forget(transfer.tx_hash)
        # Whatever the refusal, the notes it tried to spend are the node's to tell: reload them (a mempool_full
        # refusal leaves them unspent, an unknown_input one shows the wallet's view was wrong).
        await self._resync(ctx, self._wallet(pending.sender))

    def _forget(self, tx_hash: str) -> None:
        pending = self._pending.pop(tx_hash, None)
        if pending is None:
            return
        for owner in pending.owners:
            self._wallet(owner).incoming -= 1

    async def _resync(self, ctx: RunContext, wallet: _Wallet) -> None:
        """The wallet's notes as a running node knows them, less those spent by our transactions in flight."""
        if wallet.resyncing:
            return
        wallet.resyncing = True
        self.counters["resyncs"] += 1
        try:
            clients = ctx.running_clients()
            if not clients:
                return
            try:
                notes = await clients[self._node_cursor % len(clients)].notes_of(wallet.pk)
            except NodeApiError:
                return
            locked = {note for p in self._pending.values() for note in p.transfer.tx["inputs"]}
            wallet.available = {str(n["note_id"]): Note(str(n["note_id"]), int(n["value"]), wallet.pk)
                                for n in notes if isinstance(n, dict) and n.get("note_id") not in locked}
        finally:
            wallet.resyncing = False

    def _drop_stale(self, ctx: RunContext, stale_s: float) -> None:
        cutoff = time.time() - stale_s
        stale = [h for h, p in self._pending.items() if p.accepted and p.sent_at < cutoff]
        for tx_hash in stale:
            sender = self._wallet(self._pending[tx_hash].sender)
            self._forget(tx_hash)
            self.counters["stale"] += 1
            task = asyncio.create_task(self._resync(ctx, sender))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _watch(self, adapter: NodeAdapter, feed: asyncio.Queue[BlockRecord], ctx: RunContext) -> None:
        """Outputs of our transactions become spendable once a block carrying them is seen."""
        while True:
            record = await feed.get()
            for tx in adapter.block_transactions(record.block):
                pending = self._pending.get(adapter.tx_hash(tx))
                if pending is None:
                    continue
                self._forget(pending.transfer.tx_hash)
                for owner, note in zip(pending.owners, pending.transfer.outputs, strict=True):
                    self._wallet(owner).available[note.note_id] = note
