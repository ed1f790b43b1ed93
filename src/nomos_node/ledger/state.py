"""The ledger state per block, following fork choice.

Every block known to the chain has a :class:`BlockDiff` (notes it spent, notes it created, fees burned, channel
states its operations moved: before and after each op). The
ledger holds one materialised UTXO set, the one at its *cursor* (the canonical tip); the state at any other
block is reached by undoing diffs back to the common ancestor and applying diffs forward. Validating a block
on a side branch does that on a :class:`StateView` (copy-on-write overrides over the materialised sets), so the
canonical state is only ever moved by :meth:`Ledger.move_to`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nomos_node.codec import canonical_json
from nomos_node.config import StakeNote, WalletNote
from nomos_node.crypto.hashing import blake2b_256
from nomos_node.crypto.keys import verify_ed25519
from nomos_node.ledger.notes import Note, genesis_stake_transaction, genesis_transaction, note_id
from nomos_node.ledger.transaction import ZERO_MSG_ID, ChannelOp, Transaction, TxError, TxReason, parse_transaction

VERIFIED_CACHE_SIZE = 65536


class LedgerError(ValueError):
    """A block whose transactions are not valid on its branch."""

    def __init__(self, index: int, error: TxError) -> None:
        super().__init__(f"transactions[{index}]: {error}")
        self.index = index
        self.error = error


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A channel on one branch: its last message, its owner (the signer of its first message), its length."""

    last_msg_id: str
    owner: str
    messages: int

    def after(self, op: ChannelOp) -> ChannelState:
        return ChannelState(op.msg_id, self.owner, self.messages + 1)


ChannelMove = tuple[str, ChannelState | None, ChannelState]  # (channel, state before, state after) of one op


def channel_after(before: ChannelState | None, op: ChannelOp) -> ChannelState:
    return ChannelState(op.msg_id, op.signer, 1) if before is None else before.after(op)


@dataclass(frozen=True)
class BlockDiff:
    block_id: str
    parent: str | None
    height: int
    spent: tuple[tuple[str, Note, str], ...]  # (note id, note, spending tx hash)
    created: tuple[tuple[str, Note], ...]
    fees: int
    transactions: tuple[Transaction, ...]
    channels: tuple[ChannelMove, ...] = ()  # in op order


@dataclass(frozen=True)
class LedgerMove:
    """What a move of the canonical state changed: transactions of blocks rolled back (not re-applied),
    and the hashes of transactions newly included."""

    reverted: tuple[Transaction, ...] = ()
    included: tuple[str, ...] = ()


class StateView:
    """Overrides (None = absent) over the ledger's materialised unspent and spent sets and channel states."""

    __slots__ = ("_base_channels", "_base_spent", "_base_utxo", "channels", "spent", "utxo")

    def __init__(self, utxo: Mapping[str, Note], spent: Mapping[str, str],
                 channels: Mapping[str, ChannelState] | None = None) -> None:
        self._base_utxo, self._base_spent = utxo, spent
        self._base_channels: Mapping[str, ChannelState] = {} if channels is None else channels
        self.utxo: dict[str, Note | None] = {}
        self.spent: dict[str, str | None] = {}
        self.channels: dict[str, ChannelState | None] = {}

    def channel(self, channel: str) -> ChannelState | None:
        return self.channels[channel] if channel in self.channels else self._base_channels.get(channel)

    def note(self, nid: str) -> Note | None:
        return self.utxo[nid] if nid in self.utxo else self._base_utxo.get(nid)

    def spender(self, nid: str) -> str | None:
        return self.spent[nid] if nid in self.spent else self._base_spent.get(nid)

    def apply_tx(self, tx: Transaction) -> list[ChannelMove]:
        """Apply a transaction already judged valid on this view; returns the channel moves of its ops."""
        for nid in tx.inputs:
            self.utxo[nid] = None
            self.spent[nid] = tx.hash
        for nid, note in zip(tx.output_ids(), tx.outputs, strict=True):
            self.utxo[nid] = note
        moves: list[ChannelMove] = []
        for op in tx.ops:
            before = self.channel(op.channel)
            after = channel_after(before, op)
            self.channels[op.channel] = after
            moves.append((op.channel, before, after))
        return moves

    # A block may spend a note it creates itself: apply creates before spending, undo unspends before deleting.
    def apply(self, diff: BlockDiff) -> None:
        for nid, note in diff.created:
            self.utxo[nid] = note
        for nid, _note, by in diff.spent:
            self.utxo[nid] = None
            self.spent[nid] = by
        for channel, _before, after in diff.channels:
            self.channels[channel] = after

    def undo(self, diff: BlockDiff) -> None:
        for nid, note, _by in diff.spent:
            self.utxo[nid] = note
            self.spent[nid] = None
        for nid, _note in diff.created:
            self.utxo[nid] = None
        for channel, before, _after in reversed(diff.channels):
            self.channels[channel] = before


@dataclass
class _Totals:
    supply: int = 0
    fees_burned: int = 0
    included: dict[str, str] = field(default_factory=dict)  # tx hash -> block id, on the cursor's branch


class Ledger:
    def __init__(self, genesis_id: str, wallet_notes: Sequence[WalletNote],
                 stake_notes: Sequence[StakeNote] = ()) -> None:
        genesis_tx = genesis_transaction(wallet_notes)
        self.genesis_tx_hash = blake2b_256(canonical_json(genesis_tx))
        created = tuple((note_id(self.genesis_tx_hash, i), Note(n.value, n.pk)) for i, n in enumerate(wallet_notes))
        if stake_notes:
            stake_tx_hash = blake2b_256(canonical_json(genesis_stake_transaction(stake_notes)))
            created += tuple((note_id(stake_tx_hash, i), Note(n.value, n.signing_pk))
                             for i, n in enumerate(stake_notes))
        self.genesis_id = genesis_id
        self.genesis_supply = sum(note.value for _, note in created)
        self._utxo: dict[str, Note] = dict(created)
        self._spent: dict[str, str] = {}
        self._channels: dict[str, ChannelState] = {}
        self._totals = _Totals(supply=self.genesis_supply)
        self._diffs: dict[str, BlockDiff] = {genesis_id: BlockDiff(genesis_id, None, 0, (), created, 0, ())}
        self.cursor = genesis_id
        self._verified: OrderedDict[str, None] = OrderedDict()

    # ------------------------------------------------------------------ views of the canonical state

    @property
    def supply(self) -> int:
        return self._totals.supply

    @property
    def fees_burned(self) -> int:
        return self._totals.fees_burned

    @property
    def unspent_count(self) -> int:
        return len(self._utxo)

    @property
    def height(self) -> int:
        return self._diffs[self.cursor].height

    def note(self, nid: str) -> Note | None:
        return self._utxo.get(nid)

    def included_in(self, tx_hash: str) -> str | None:
        """The block of the canonical branch that includes ``tx_hash``, or None."""
        return self._totals.included.get(tx_hash)

    def notes_of(self, pk: str, limit: int) -> list[tuple[str, Note]]:
        found = []
        for nid, note in self._utxo.items():
            if note.pk == pk:
                found.append((nid, note))
                if len(found) >= limit:
                    break
        return found

    def unspent(self) -> dict[str, Note]:
        return dict(self._utxo)

    def channel(self, channel: str) -> ChannelState | None:
        """The channel's state on the canonical branch, or None when it has no message there."""
        return self._channels.get(channel)

    def channels(self) -> dict[str, ChannelState]:
        return dict(self._channels)

    def unspent_at(self, block_id: str, nid: str) -> bool:
        """Whether note ``nid`` exists unspent in the state after ``block_id`` (cheap at the cursor)."""
        if block_id == self.cursor:
            return nid in self._utxo
        return self.view_at(block_id).note(nid) is not None

    def notes_at(self, block_id: str, owned_by: Callable[[str], bool]) -> dict[str, Note]:
        """The unspent notes after ``block_id`` whose owner key passes ``owned_by`` (one pass over the UTXO set)."""
        view = self.view_at(block_id)
        found = {nid: note for nid, note in self._utxo.items() if owned_by(note.pk) and nid not in view.utxo}
        found.update((nid, note) for nid, note in view.utxo.items() if note is not None and owned_by(note.pk))
        return found

    def view(self) -> StateView:
        """A scratch view of the canonical state (the mempool's pending transactions live in one)."""
        return StateView(self._utxo, self._spent, self._channels)

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._diffs

    # ------------------------------------------------------------------ validation

    def check(self, tx: Transaction, view: StateView, verify: bool = True) -> list[Note]:
        """Judge ``tx`` on ``view``: its input notes, or TxError. Changes nothing."""
        notes: list[Note] = []
        for nid in tx.inputs:
            spender = view.spender(nid)
            if spender is not None:
                raise TxError(TxReason.DOUBLE_SPEND, f"note {nid} is already spent by {spender}", tx.hash)
            note = view.note(nid)
            if note is None:
                raise TxError(TxReason.UNKNOWN_INPUT, f"no note {nid} on this branch", tx.hash)
            notes.append(note)
        total_in = sum(note.value for note in notes)
        total_out = tx.output_value + tx.fee
        if total_out > total_in:
            raise TxError(TxReason.OVERSPEND, f"outputs + fee = {total_out} > inputs = {total_in}", tx.hash)
        if total_out < total_in:
            raise TxError(TxReason.OVERSPEND, f"outputs + fee = {total_out} < inputs = {total_in}: the difference "
                          "would be burned; add it to the fee or to a change output", tx.hash)
        self._check_ops(tx, view)
        if verify:
            self.verify_signatures(tx, [note.pk for note in notes])
        return notes

    def verify_signatures(self, tx: Transaction, owners: Sequence[str]) -> None:
        """TxError bad_signature unless signature i is by ``owners[i]`` (the owner of input i) for each input, then
        by each op's signer, over the tx hash."""
        if tx.gossip_id in self._verified:
            return
        for i, (owner, signature) in enumerate(zip(owners, tx.signatures, strict=False)):
            if not verify_ed25519(owner, tx.hash_bytes, signature):
                raise TxError(TxReason.BAD_SIGNATURE, f"signatures[{i}] is not by the owner of input {i}", tx.hash)
        for j, op in enumerate(tx.ops):
            i = len(owners) + j
            if not verify_ed25519(op.signer, tx.hash_bytes, tx.signatures[i]):
                raise TxError(TxReason.BAD_SIGNATURE, f"signatures[{i}] is not by ops[{j}].signer {op.signer}",
                              tx.hash)
        # A note id fixes its note (it hashes the creating transaction) and an op names its signer, so the verdict
        # holds on every branch.
        self._verified[tx.gossip_id] = None
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)

    @staticmethod
    def _check_ops(tx: Transaction, view: StateView) -> None:
        """Each op follows its channel's last message (earlier ops of the same transaction included) and is
        signed for by the channel's owner (anyone may open a channel)."""
        local: dict[str, ChannelState] = {}
        for j, op in enumerate(tx.ops):
            state = local[op.channel] if op.channel in local else view.channel(op.channel)
            expected = ZERO_MSG_ID if state is None else state.last_msg_id
            if op.parent != expected:
                where = "the channel has no message yet" if state is None else \
                    f"the channel's last message is {expected}"
                raise TxError(TxReason.BAD_PARENT, f"ops[{j}].parent is {op.parent} but {where} on this branch",
                              tx.hash)
            if state is not None and op.signer != state.owner:
                raise TxError(TxReason.NOT_CHANNEL_OWNER, f"ops[{j}].signer {op.signer} is not the owner "
                              f"{state.owner} of channel {op.channel}", tx.hash)
            local[op.channel] = channel_after(state, op)

    def view_at(self, block_id: str) -> StateView:
        """The state after ``block_id`` as a view over the canonical state."""
        view = self.view()
        undo, apply = self._path(self.cursor, block_id)
        for diff in undo:
            view.undo(diff)
        for diff in apply:
            view.apply(diff)
        return view

    def block_diff(self, block_id: str, parent_id: str, height: int, documents: Iterable[Any],
                   verify: bool = True) -> BlockDiff:
        """The diff of a block given its parent; LedgerError when a transaction is not valid on that branch."""
        view = self.view_at(parent_id)
        spent: list[tuple[str, Note, str]] = []
        created: list[tuple[str, Note]] = []
        channels: list[ChannelMove] = []
        txs: list[Transaction] = []
        fees = 0
        for index, document in enumerate(documents):
            try:
                tx = parse_transaction(document)
                notes = self.check(tx, view, verify)
            except TxError as exc:
                raise LedgerError(index, exc) from None
            channels.extend(view.apply_tx(tx))
            spent.extend((nid, note, tx.hash) for nid, note in zip(tx.inputs, notes, strict=True))
            created.extend(zip(tx.output_ids(), tx.outputs, strict=True))
            fees += tx.fee
            txs.append(tx)
        return BlockDiff(block_id, parent_id, height, tuple(spent), tuple(created), fees, tuple(txs),
                         tuple(channels))

    def pack(self, parent_id: str, candidates: Iterable[Transaction], limit: int,
             admissible: Callable[[Transaction], bool] | None = None) -> list[Transaction]:
        """Up to ``limit`` of ``candidates``, in order, that are valid together on ``parent_id`` (and
        ``admissible``, when given: the DA rule that a blob is packed only once sampled); others skipped."""
        view = self.view_at(parent_id)
        chosen: list[Transaction] = []
        for tx in candidates:
            if len(chosen) >= limit:
                break
            if admissible is not None and not admissible(tx):
                continue
            try:
                self.check(tx, view)
            except TxError:
                continue
            view.apply_tx(tx)
            chosen.append(tx)
        return chosen

    # ------------------------------------------------------------------ diffs and the canonical cursor

    def add(self, diff: BlockDiff) -> None:
        self._diffs[diff.block_id] = diff

    def forget(self, block_ids: Iterable[str]) -> None:
        """Drop the diffs of pruned blocks (never the cursor's branch)."""
        for block_id in block_ids:
            if block_id != self.cursor:
                self._diffs.pop(block_id, None)

    def move_to(self, block_id: str) -> LedgerMove:
        """Make the state after ``block_id`` the canonical one (roll back to the fork point, forward to it)."""
        if block_id == self.cursor:
            return LedgerMove()
        undo, apply = self._path(self.cursor, block_id)
        totals = self._totals
        reverted: dict[str, Transaction] = {}
        for diff in undo:  # the same order as StateView.undo
            for nid, note, _by in diff.spent:
                self._utxo[nid] = note
                del self._spent[nid]
            for nid, _note in diff.created:
                del self._utxo[nid]
            for channel, before, _after in reversed(diff.channels):
                if before is None:
                    del self._channels[channel]
                else:
                    self._channels[channel] = before
            totals.supply += sum(n.value for _, n, _ in diff.spent) - sum(n.value for _, n in diff.created)
            totals.fees_burned -= diff.fees
            for tx in diff.transactions:
                totals.included.pop(tx.hash, None)
                reverted[tx.hash] = tx
        included: list[str] = []
        for diff in apply:  # the same order as StateView.apply
            for nid, note in diff.created:
                self._utxo[nid] = note
            for nid, _note, by in diff.spent:
                del self._utxo[nid]
                self._spent[nid] = by
            for channel, _before, after in diff.channels:
                self._channels[channel] = after
            totals.supply += sum(n.value for _, n in diff.created) - sum(n.value for _, n, _ in diff.spent)
            totals.fees_burned += diff.fees
            for tx in diff.transactions:
                totals.included[tx.hash] = diff.block_id
                if reverted.pop(tx.hash, None) is None:
                    included.append(tx.hash)
        self.cursor = block_id
        return LedgerMove(tuple(reverted.values()), tuple(included))

    def _path(self, from_id: str, to_id: str) -> tuple[list[BlockDiff], list[BlockDiff]]:
        """Diffs to undo (newest first) and to apply (oldest first) to go from one block's state to another's."""
        undo: list[BlockDiff] = []
        apply: list[BlockDiff] = []
        a, b = self._diffs[from_id], self._diffs[to_id]
        while a.block_id != b.block_id:
            if a.height >= b.height:
                undo.append(a)
                a = self._diffs[a.parent] if a.parent is not None else a
            else:
                apply.append(b)
                b = self._diffs[b.parent] if b.parent is not None else b
        apply.reverse()
        return undo, apply
