"""The mempool: transactions valid on the canonical tip, waiting for a block.

Bounded, deduplicated by transaction hash, validated on entry against the canonical state *with every pending
transaction applied* (so a wallet may chain spends of change it has not yet seen included). When the canonical
state moves, included transactions leave the pool, transactions of blocks rolled back by a reorg come back
(first, in chain order) and every pending transaction is judged again: those no longer valid are dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nomos_node.ledger.state import Ledger, LedgerMove, StateView
from nomos_node.ledger.transaction import Transaction, TxError, TxReason, parse_transaction

DEFAULT_MAX_PENDING = 10_000
REJECTED_MEMORY = 10_000

AddStatus = Literal["accepted", "pending", "included"]


@dataclass(frozen=True)
class Added:
    tx: Transaction
    status: AddStatus  # accepted: new in the pool; pending: already there; included: already in the chain

    @property
    def is_new(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class Revalidation:
    included: int  # transactions newly in the canonical chain
    returned: int  # transactions of rolled-back blocks back in the pool
    dropped: dict[str, int]  # pending or rolled-back transactions not kept (invalid now, or no room), by reason
    returned_txs: tuple[Transaction, ...] = field(default=(), compare=False)  # the returned ones


class Mempool:
    def __init__(self, ledger: Ledger, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.ledger = ledger
        self.max_pending = max_pending
        self._pending: OrderedDict[str, Transaction] = OrderedDict()
        self._view: StateView = ledger.view()
        self._rejected: OrderedDict[str, str] = OrderedDict()  # recent refusals: tx hash -> reason
        self._owners: dict[str, tuple[str, ...]] = {}  # pending tx hash -> the owners of its inputs
        self.last_added_at: float | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._pending

    def candidates(self) -> Iterator[Transaction]:
        """Pending transactions in arrival order (a leader packs them in this order)."""
        return iter(list(self._pending.values()))

    def add(self, document: Any, now: float | None = None) -> Added:
        """Judge and admit one transaction document; TxError (with its reason) when refused, nothing changed."""
        try:
            tx = parse_transaction(document)
        except TxError as exc:
            self._remember_rejection(exc)
            raise
        if tx.hash in self._pending:
            held = self._pending[tx.hash]
            if tx.gossip_id != held.gossip_id:  # the same transfer with other signatures: they must verify too
                self.ledger.verify_signatures(tx, self._owners[tx.hash])
            return Added(held, "pending")
        if self.ledger.included_in(tx.hash) is not None:
            return Added(tx, "included")
        try:  # judged before the bound: a transaction that can never pass gets its own reason, not "retry"
            notes = self.ledger.check(tx, self._view)
        except TxError as exc:
            self._remember_rejection(exc)
            raise
        if len(self._pending) >= self.max_pending:
            raise TxError(TxReason.MEMPOOL_FULL, f"{len(self._pending)} transactions pending, the limit is "
                          f"{self.max_pending}; retry after the next blocks", tx.hash)
        self._view.apply_tx(tx)
        self._pending[tx.hash] = tx
        self._owners[tx.hash] = tuple(note.pk for note in notes)
        self._rejected.pop(tx.hash, None)
        if now is not None:
            self.last_added_at = now
        return Added(tx, "accepted")

    def status(self, tx_hash: str) -> str | dict[str, Any]:
        """"Pending", {"InBlock": {"block": id}} (canonical chain), "Rejected" (recently refused) or "Unknown"."""
        if tx_hash in self._pending:
            return "Pending"
        block = self.ledger.included_in(tx_hash)
        if block is not None:
            return {"InBlock": {"block": block}}
        if tx_hash in self._rejected:
            return "Rejected"
        return "Unknown"

    def revalidate(self, moves: Sequence[LedgerMove]) -> Revalidation:
        """Follow the canonical state's moves: drop what is now included, take back what a reorg rolled back,
        judge everything again on the new state."""
        if not moves:
            return Revalidation(0, 0, {})
        included = sum(len(move.included) for move in moves)
        returned = [tx for move in moves for tx in move.reverted]
        already = set(self._pending)
        view = self.ledger.view()
        kept: OrderedDict[str, Transaction] = OrderedDict()
        owners: dict[str, tuple[str, ...]] = {}
        dropped: dict[str, int] = {}
        back: list[Transaction] = []
        for tx in _unique(returned + list(self._pending.values())):
            if self.ledger.included_in(tx.hash) is not None:
                continue
            # A rolled-back transaction that cannot come back is lost like a pending one: counted too.
            if len(kept) >= self.max_pending:
                dropped[str(TxReason.MEMPOOL_FULL)] = dropped.get(str(TxReason.MEMPOOL_FULL), 0) + 1
                continue
            try:
                owners[tx.hash] = tuple(note.pk for note in self.ledger.check(tx, view))
            except TxError as exc:
                dropped[str(exc.reason)] = dropped.get(str(exc.reason), 0) + 1
                self._remember_rejection(exc)  # its status is "Rejected" from now on, not "Unknown"
                continue
            view.apply_tx(tx)
            kept[tx.hash] = tx
            if tx.hash not in already:
                back.append(tx)
        self._pending, self._view, self._owners = kept, view, owners
        return Revalidation(included, len(back), dropped, tuple(back))

    def _remember_rejection(self, exc: TxError) -> None:
        if exc.tx_hash is None or exc.reason == TxReason.MEMPOOL_FULL:
            return
        self._rejected[exc.tx_hash] = str(exc.reason)
        self._rejected.move_to_end(exc.tx_hash)
        if len(self._rejected) > REJECTED_MEMORY:
            self._rejected.popitem(last=False)


def _unique(txs: Iterable[Transaction]) -> Iterator[Transaction]:
    seen: set[str] = set()
    for tx in txs:
        if tx.hash not in seen:
            seen.add(tx.hash)
            yield tx
