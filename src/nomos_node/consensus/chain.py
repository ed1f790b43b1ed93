"""The Cryptarchia chain engine: validation, fork choice, LIB, pruning, orphans, leadership and persistence.

Not thread-safe: call it from one thread (the node's event loop). Only :func:`prove_leadership` is meant to
run elsewhere.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from nomos_node.config import ConsensusConfig, GenesisConfig
from nomos_node.consensus.block import (
    MAX_TRANSACTIONS,
    ZERO_ID,
    Block,
    Header,
    Leader,
    block_root,
    genesis_block,
    sign_header,
    signature_valid,
)
from nomos_node.consensus.clock import EpochSchedule, SlotClock
from nomos_node.consensus.epoch import (
    BlockPosition,
    EpochState,
    EpochTracker,
    genesis_nonce,
    next_ledger_nonce,
)
from nomos_node.consensus.fork_choice import genesis_window, maxvalid_bg, maxvalid_mc
from nomos_node.consensus.leader import LeaderTicket
from nomos_node.consensus.lottery import wins
from nomos_node.consensus.modes import MODES, LastActivity, Mode, start_mode
from nomos_node.consensus.pol import DEFAULT_POL_DIFFICULTY_BITS, pol_accepted
from nomos_node.consensus.rejections import RejectedBlocks
from nomos_node.consensus.stake import LeaderKeys, StakeSnapshot
from nomos_node.consensus.vrf import vrf_evaluate, vrf_verify
from nomos_node.crypto.keys import NodeKeys
from nomos_node.ledger import BlockDiff, Ledger, LedgerError, LedgerMove, Transaction
from nomos_node.storage.blocks import BlockStore, StoreError

ImportStatus = Literal["imported", "duplicate", "orphan", "rejected"]


class RejectReason(StrEnum):
    BAD_ID = "bad_id"
    BAD_BLOCK_ROOT = "bad_block_root"
    BAD_SIGNATURE = "bad_signature"
    FUTURE_SLOT = "future_slot"
    FOREIGN_GENESIS = "foreign_genesis"
    SLOT_NOT_AFTER_PARENT = "slot_not_after_parent"
    BAD_HEIGHT = "bad_height"
    FORK_BELOW_LIB = "fork_below_lib"  # would reorganise past the LIB, i.e. more than k blocks deep
    UNKNOWN_LEADER = "unknown_leader"  # leader.key is not a declared leader key, or vrf_pk is not its VRF key
    INELIGIBLE_NOTE = "ineligible_note"  # leader.note is not leader.key's in the epoch's stake distribution snapshot
    SPENT_NOTE = "spent_note"  # leader.note is spent on the branch the block extends
    BAD_VRF = "bad_vrf"
    LOTTERY_LOST = "lottery_lost"
    MISSING_POL = "missing_pol"
    BAD_POL = "bad_pol"
    BAD_TRANSACTION = "bad_transaction"  # a transaction not valid on the block's branch (detail names it)
    INVALID_PARENT = "invalid_parent"  # the parent was rejected (remembered): refused without re-validation


class UnknownBlockError(KeyError):
    """A block id the chain does not hold."""


@dataclass(frozen=True)
class ImportResult:
    block_id: str
    status: ImportStatus
    reason: RejectReason | None = None
    missing_parent: str | None = None
    detail: str | None = None
    tip_changed: bool = False
    reorg_depth: int = 0  # blocks rolled back from the old tip when the tip moved to another branch
    lib_changed: bool = False
    connected: tuple[ImportResult, ...] = ()  # cached orphans that this block made importable
    remembered: bool = False  # refused from the memory of rejected blocks, without re-validation

    @property
    def imported(self) -> bool:
        return self.status == "imported"


@dataclass(frozen=True)
class _Entry:
    block: Block
    ledger_nonce: bytes

    def position(self) -> BlockPosition:
        return BlockPosition(self.block.id, self.block.parent, self.block.slot, self.ledger_nonce)


class Chain:
    def __init__(
        self,
        genesis: GenesisConfig,
        consensus: ConsensusConfig,
        store: BlockStore,
        pol_dev_mode: bool,
        *,
        pol_difficulty_bits: int = DEFAULT_POL_DIFFICULTY_BITS,
        started_at: float | None = None,
    ) -> None:
        self.genesis = genesis
        self.consensus = consensus
        self.store = store
        self.pol_dev_mode = pol_dev_mode
        self.pol_difficulty_bits = pol_difficulty_bits
        self.clock = SlotClock.from_genesis(genesis)
        self.schedule = EpochSchedule.from_genesis(genesis)
        self.k = genesis.security_param
        self.genesis_window = genesis_window(genesis.security_param, genesis.active_slot_coeff)  # s = 3·⌊k/f⌋
        self.leader_keys = LeaderKeys.from_genesis(genesis)
        self.started_at = time.time() if started_at is None else started_at
        self.mode: Mode = "Bootstrapping"
        genesis_blk = genesis_block(genesis)
        self.genesis_id = genesis_blk.id
        self._entries: dict[str, _Entry] = {self.genesis_id: _Entry(genesis_blk, genesis_nonce(self.genesis_id))}
        self._children: dict[str, set[str]] = {}
        self._canonical: list[str] = [self.genesis_id]  # index = height, along the current tip's branch
        self._lib_id = self.genesis_id
        self._orphans: OrderedDict[str, Block] = OrderedDict()
        self.rejected = RejectedBlocks()
        self._epochs = EpochTracker(self.schedule, self.genesis_id, self._position, self._stake_snapshot_at)
        self.ledger = Ledger(self.genesis_id, genesis.wallet_notes, genesis.stake_notes)
        self._ledger_moves: list[LedgerMove] = []
        store.bind_genesis(self.genesis_id)
        self._restore()
        self._last_recorded = self.started_at
        self._resume_mode()
        self.record_activity(self.started_at)

    # ------------------------------------------------------------------ views

    @property
    def tip(self) -> Block:
        return self._entries[self._canonical[-1]].block

    @property
    def lib(self) -> Block:
        return self._entries[self._lib_id].block

    @property
    def height(self) -> int:
        return len(self._canonical) - 1

    def current_slot(self, now: float | None = None) -> int:
        return self.clock.slot_at(now)

    def get_block(self, block_id: str) -> Block | None:
        entry = self._entries.get(block_id)
        return None if entry is None else entry.block

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def is_canonical(self, block_id: str) -> bool:
        entry = self._entries.get(block_id)
        if entry is None:
            return False
        height = entry.block.height
        return height < len(self._canonical) and self._canonical[height] == block_id

    def info(self, now: float | None = None) -> dict[str, Any]:
        """The body of ``/cryptarchia/info``."""
        return {
            "lib": self._lib_id,
            "tip": self.tip.id,
            "slot": self.current_slot(now),
            "height": self.height,
            "mode": self.mode,
        }

    def headers(self, from_id: str | None = None, to_id: str | None = None) -> list[str]:
        """Ids from ``from_id`` (default tip) back to ``to_id`` (default LIB) inclusive, newest first.

        Stops at genesis when ``to_id`` is not an ancestor of ``from_id``.
        """
        start = self.tip.id if from_id is None else from_id
        stop = self._lib_id if to_id is None else to_id
        if start not in self._entries:
            raise UnknownBlockError(start)
        if stop not in self._entries:
            raise UnknownBlockError(stop)
        ids = []
        block = self._entries[start].block
        while True:
            ids.append(block.id)
            if block.id == stop or block.id == self.genesis_id:
                return ids
            block = self._entries[block.parent].block

    def ancestors(self, block_id: str, limit: int) -> list[Block]:
        """``block_id`` and its ancestors, newest first, at most ``limit`` blocks."""
        if block_id not in self._entries:
            raise UnknownBlockError(block_id)
        blocks: list[Block] = []
        current: str | None = block_id
        while current is not None and current in self._entries and len(blocks) < limit:
            block = self._entries[current].block
            blocks.append(block)
            current = None if block.id == self.genesis_id else block.parent
        return blocks

    def blocks_from_slot(self, slot: int, limit: int, after: str | None = None) -> list[Block]:
        """Blocks held on every branch (not genesis, not cached orphans) in (slot, id) order: those with a slot
        ``>= slot``, or with ``after`` those after the position (``slot``, ``after``); at most ``limit``.

        Serves sync's range requests (the specification's ``blocks_by_slot``). A child's slot is above its
        parent's, so parents come first. One pass over the held blocks per call.
        """
        if limit <= 0:
            return []
        position = (slot, after or "")
        chosen = heapq.nsmallest(limit, (
            (entry.block.slot, block_id) for block_id, entry in self._entries.items()
            if entry.block.slot >= slot and (entry.block.slot, block_id) > position and block_id != self.genesis_id))
        return [self._entries[block_id].block for _, block_id in chosen]

    # ------------------------------------------------------------------ mode

    def tick(self, now: float | None = None) -> bool:
        """Switch to Online once ``prolonged_bootstrap_period`` has elapsed; True when the mode changed. Records
        the node as active every ``state_recording_interval`` seconds (the restart rule, consensus/modes.py)."""
        now = time.time() if now is None else now
        if now - self._last_recorded >= self.consensus.state_recording_interval:
            self.record_activity(now)
        if self.mode == "Bootstrapping" and now - self.started_at >= self.consensus.prolonged_bootstrap_period:
            self.switch_to_online()
            self.record_activity(now)
            return True
        return False

    def switch_to_online(self) -> None:
        if self.mode == "Online":
            return
        self.mode = "Online"
        moved, pruned = self._advance_lib()
        if moved:
            self.store.commit(remove=pruned, tip=self.tip.id, lib=self._lib_id)

    def record_activity(self, now: float | None = None) -> None:
        """Store (now, mode): a restart within ``offline_grace_period`` of it resumes in that mode."""
        self._last_recorded = time.time() if now is None else now
        self.store.record_activity(self._last_recorded, self.mode)

    def _resume_mode(self) -> None:
        """The start mode by the real node's rule (consensus/modes.py): Online unless the LIB is genesis, the
        config forces bootstrapping or the node was offline longer than its grace period."""
        recorded = self.store.last_activity()
        last = None
        if recorded is not None and recorded[1] in MODES:
            last = LastActivity(at=recorded[0], mode="Online" if recorded[1] == "Online" else "Bootstrapping")
        mode = start_mode(lib_is_genesis=self._lib_id == self.genesis_id,
                          force_bootstrap=self.consensus.force_bootstrap,
                          offline_grace_period=self.consensus.offline_grace_period, last=last, now=self.started_at)
        if mode == "Online":
            self.switch_to_online()

    # ------------------------------------------------------------------ import

    def import_block(self, block: Block, now: float | None = None) -> ImportResult:
        result = self._import_one(block, now)
        if not result.imported:
            return result
        connected = self._connect_orphans(block.id, now)
        if not connected:
            return result
        return ImportResult(
            block_id=result.block_id,
            status=result.status,
            tip_changed=result.tip_changed or any(r.tip_changed for r in connected),
            reorg_depth=max([result.reorg_depth, *(r.reorg_depth for r in connected)]),
            lib_changed=result.lib_changed or any(r.lib_changed for r in connected),
            connected=tuple(connected),
        )

    def orphan_ids(self) -> list[str]:
        return list(self._orphans)

    def _import_one(self, block: Block, now: float | None) -> ImportResult:
        if block.id in self._entries:
            return ImportResult(block.id, "duplicate")
        remembered = self._remembered_rejection(block)
        if remembered is not None:
            return remembered
        result = self._validate_and_import(block, now)
        if result.status == "rejected" and result.reason is not None:
            self._remember_rejection(block.id, result.reason, result.detail)
        return result

    def _validate_and_import(self, block: Block, now: float | None) -> ImportResult:
        if block.parent == ZERO_ID or block.height == 0:
            return ImportResult(block.id, "rejected", RejectReason.FOREIGN_GENESIS)
        reason = self._check_standalone(block, now)
        if reason is not None:
            return ImportResult(block.id, "rejected", reason)
        if block.parent not in self._entries:
            self._remember_orphan(block)
            return ImportResult(block.id, "orphan", missing_parent=block.parent)
        reason = self._check_against_parent(block)
        if reason is not None:
            return ImportResult(block.id, "rejected", reason)
        try:
            diff = self.ledger.block_diff(block.id, block.parent, block.height, block.transactions)
        except LedgerError as exc:
            return ImportResult(block.id, "rejected", RejectReason.BAD_TRANSACTION, detail=str(exc))
        return self._accept(block, diff)

    def _check_standalone(self, block: Block, now: float | None) -> RejectReason | None:
        if block.header.compute_id() != block.id:
            return RejectReason.BAD_ID
        if block_root(block.transactions) != block.header.block_root:
            return RejectReason.BAD_BLOCK_ROOT
        if block.slot > self.current_slot(now):
            return RejectReason.FUTURE_SLOT
        if not signature_valid(block):
            return RejectReason.BAD_SIGNATURE
        return None

    def _check_against_parent(self, block: Block) -> RejectReason | None:
        parent = self._entries[block.parent].block
        if not self._descends_from_lib(parent.id):
            return RejectReason.FORK_BELOW_LIB
        if block.slot <= parent.slot:
            return RejectReason.SLOT_NOT_AFTER_PARENT
        if block.height != parent.height + 1:
            return RejectReason.BAD_HEIGHT
        leader = block.header.leader
        if self.leader_keys.vrf_pk(leader.key) != leader.vrf_pk:
            return RejectReason.UNKNOWN_LEADER
        epoch = self._epochs.state_for(parent.id, block.slot)
        note = epoch.stake.note(leader.note)
        if note is None or note.pk != leader.key:
            return RejectReason.INELIGIBLE_NOTE
        if not self.ledger.unspent_at(parent.id, leader.note):
            return RejectReason.SPENT_NOTE
        vrf_output, vrf_proof = bytes.fromhex(leader.vrf_output), bytes.fromhex(leader.vrf_proof)
        if not vrf_verify(bytes.fromhex(leader.vrf_pk), epoch.nonce, block.slot, bytes.fromhex(leader.note),
                          vrf_output, vrf_proof):
            return RejectReason.BAD_VRF
        if not wins(vrf_output, note.value, epoch.stake.total_stake, self.genesis.active_slot_coeff):
            return RejectReason.LOTTERY_LOST
        pol_problem = pol_accepted(leader.proof, vrf_output, block.slot, self.pol_dev_mode, self.pol_difficulty_bits)
        if pol_problem is not None:
            return RejectReason(pol_problem)
        return None

    def _accept(self, block: Block, diff: BlockDiff) -> ImportResult:
        parent_entry = self._entries[block.parent]
        nonce = next_ledger_nonce(parent_entry.ledger_nonce, bytes.fromhex(block.header.leader.vrf_output), block.slot)
        self._entries[block.id] = _Entry(block, nonce)
        self._children.setdefault(block.parent, set()).add(block.id)
        self._orphans.pop(block.id, None)
        self.ledger.add(diff)

        tip_changed, reorg_depth = False, 0
        if self._fork_choice(block.id) == block.id:
            lca_height = self._lca_height_with_canonical(block.id)
            reorg_depth = self.height - lca_height
            self._set_tip(block.id, lca_height)
            self._move_ledger()
            tip_changed = True
        lib_moved, pruned = self._advance_lib() if tip_changed else (False, set())
        self.store.commit(add=block, remove=pruned, tip=self.tip.id, lib=self._lib_id)
        return ImportResult(
            block.id, "imported", tip_changed=tip_changed, reorg_depth=reorg_depth, lib_changed=lib_moved
        )

    def _connect_orphans(self, parent_id: str, now: float | None) -> list[ImportResult]:
        results: list[ImportResult] = []
        pending = [parent_id]
        while pending:
            current = pending.pop()
            children = [orphan for orphan in self._orphans.values() if orphan.parent == current]
            for orphan in children:
                self._orphans.pop(orphan.id, None)
                result = self._import_one(orphan, now)
                results.append(result)
                if result.imported:
                    pending.append(orphan.id)
        return results

    def _remembered_rejection(self, block: Block) -> ImportResult | None:
        """The refusal of a block the memory of rejected blocks already condemns: its own id, or its parent's."""
        known = self.rejected.get(block.id)
        if known is not None:
            return ImportResult(block.id, "rejected", RejectReason(known.reason), detail=known.detail, remembered=True)
        parent = self.rejected.get(block.parent)
        if parent is None or block.header.compute_id() != block.id:  # a forged id is left to validation (bad_id)
            return None
        detail = f"parent {block.parent} was rejected: {parent.reason}"
        self._remember_rejection(block.id, RejectReason.INVALID_PARENT, detail)
        return ImportResult(block.id, "rejected", RejectReason.INVALID_PARENT, detail=detail)

    def _remember_rejection(self, block_id: str, reason: RejectReason, detail: str | None) -> None:
        """Remember a permanent rejection; cached orphans below the block are dropped and remembered too."""
        pending = [block_id] if self.rejected.remember(block_id, reason, detail) else []
        while pending:
            parent_id = pending.pop()
            for orphan in [o for o in self._orphans.values() if o.parent == parent_id]:
                del self._orphans[orphan.id]
                self.rejected.remember(orphan.id, RejectReason.INVALID_PARENT, f"parent {parent_id} was rejected")
                pending.append(orphan.id)

    def _remember_orphan(self, block: Block) -> None:
        self._orphans[block.id] = block
        self._orphans.move_to_end(block.id)
        while len(self._orphans) > self.consensus.orphan_cache_size:
            self._orphans.popitem(last=False)

    # ------------------------------------------------------------------ fork choice, LIB, pruning

    def _fork_choice(self, candidate_id: str) -> str:
        """The tip to follow between the current tip and a new leaf: maxvalid_mc when Online, maxvalid_bg when
        Bootstrapping (fork_choice.py); equal heights by ``consensus.tie_break``."""
        tie_break = self.consensus.tie_break
        if self.mode == "Online":
            return maxvalid_mc(self.tip.id, [candidate_id], self.k, self._block_of, tie_break)
        return maxvalid_bg(self.tip.id, [candidate_id], self.k, self.genesis_window, self._block_of, tie_break)

    def _block_of(self, block_id: str) -> Block:
        return self._entries[block_id].block

    def fork_tips(self) -> list[str]:
        """Tips of the branches held besides the canonical one (the specification's ``forks``)."""
        tip = self.tip.id
        return [block_id for block_id in self._entries if block_id != tip and not self._children.get(block_id)]

    def _lca_height_with_canonical(self, block_id: str) -> int:
        block = self._entries[block_id].block
        while not (block.height < len(self._canonical) and self._canonical[block.height] == block.id):
            block = self._entries[block.parent].block
        return block.height

    def _descends_from_lib(self, block_id: str) -> bool:
        return self._lca_height_with_canonical(block_id) >= self.lib.height

    def _set_tip(self, tip_id: str, lca_height: int) -> None:
        branch: list[str] = []
        block = self._entries[tip_id].block
        while block.height > lca_height:
            branch.append(block.id)
            block = self._entries[block.parent].block
        del self._canonical[lca_height + 1 :]
        self._canonical.extend(reversed(branch))

    def _move_ledger(self) -> None:
        move = self.ledger.move_to(self.tip.id)
        if move.reverted or move.included:
            self._ledger_moves.append(move)

    def take_ledger_moves(self) -> list[LedgerMove]:
        """The canonical ledger's moves since the last call (for the mempool and the metrics)."""
        moves, self._ledger_moves = self._ledger_moves, []
        return moves

    def pack_transactions(self, parent_id: str, candidates: Iterable[Transaction], limit: int = MAX_TRANSACTIONS,
                          admissible: Callable[[Transaction], bool] | None = None) -> list[Transaction]:
        """Up to ``limit`` of ``candidates``, in order, valid together on ``parent_id``'s branch (and
        ``admissible`` when given)."""
        return self.ledger.pack(parent_id, candidates, min(limit, MAX_TRANSACTIONS), admissible)

    def _advance_lib(self) -> tuple[bool, set[str]]:
        """Online: move the LIB to the k-th ancestor of the tip and prune forks below it: (moved, pruned ids)."""
        if self.mode != "Online":
            return False, set()
        target_height = max(0, self.height - self.k)
        old_height = self.lib.height
        if target_height <= old_height:
            return False, set()
        pruned: set[str] = set()
        for height in range(old_height, target_height):
            keep = self._canonical[height + 1]
            for child in self._children.get(self._canonical[height], set()) - {keep}:
                pruned |= self._subtree(child)
        for block_id in pruned:
            entry = self._entries.pop(block_id)
            self._children.pop(block_id, None)
            self._children.get(entry.block.parent, set()).discard(block_id)
        self._epochs.forget(pruned)
        self.ledger.forget(pruned)
        self._lib_id = self._canonical[target_height]
        return True, pruned

    def _subtree(self, root: str) -> set[str]:
        found, stack = set(), [root]
        while stack:
            block_id = stack.pop()
            found.add(block_id)
            stack.extend(self._children.get(block_id, ()))
        return found

    def _position(self, block_id: str) -> BlockPosition:
        return self._entries[block_id].position()

    def _stake_snapshot_at(self, block_id: str) -> StakeSnapshot:
        """The eligible notes of the ledger state after ``block_id``: those owned by declared leader keys."""
        return StakeSnapshot.of(block_id, self.ledger.notes_at(block_id, self.leader_keys.can_lead))

    def epoch_state(self, slot: int, parent_id: str | None = None) -> EpochState:
        """The epoch state (nonce, stake distribution snapshot) of a block at ``slot`` on ``parent_id`` (or the
        tip)."""
        return self._epochs.state_for(self.tip.id if parent_id is None else parent_id, slot)

    # ------------------------------------------------------------------ leadership

    def leadership(self, slot: int, keys: NodeKeys, parent_id: str | None = None) -> LeaderTicket | None:
        """Cheap check whether one of ``keys``' eligible notes wins ``slot`` on the tip's branch (or ``parent_id``'s):
        one VRF evaluation and lottery draw per note of the stake distribution snapshot still unspent there."""
        parent = self.tip if parent_id is None else self._entries[parent_id].block
        if slot <= parent.slot or self.leader_keys.vrf_pk(keys.signing_pk_hex) != keys.vrf_pk_hex:
            return None
        epoch = self._epochs.state_for(parent.id, slot)
        for note_id, note in epoch.stake.notes_of(keys.signing_pk_hex):
            if not self.ledger.unspent_at(parent.id, note_id):
                continue
            vrf = vrf_evaluate(keys.vrf_sk, epoch.nonce, slot, bytes.fromhex(note_id))
            if wins(vrf.output, note.value, epoch.stake.total_stake, self.genesis.active_slot_coeff):
                return LeaderTicket(
                    slot=slot,
                    parent_id=parent.id,
                    parent_height=parent.height,
                    vrf_pk=keys.vrf_pk_hex,
                    signing_pk=keys.signing_pk_hex,
                    note_id=note_id,
                    vrf_output=vrf.output,
                    vrf_proof=vrf.proof,
                )
        return None

    def build_block(
        self, ticket: LeaderTicket, proof: str, keys: NodeKeys, transactions: Iterable[Mapping[str, Any]] = ()
    ) -> Block:
        """A signed block for ``ticket`` on the ticket's parent. ``proof`` is "" in dev mode, else the PoL."""
        txs = tuple(transactions)
        header = Header(
            id="",
            parent=ticket.parent_id,
            slot=ticket.slot,
            height=ticket.parent_height + 1,
            block_root=block_root(txs),
            leader=Leader(
                key=keys.signing_pk_hex,
                vrf_pk=keys.vrf_pk_hex,
                note=ticket.note_id,
                vrf_output=ticket.vrf_output.hex(),
                vrf_proof=ticket.vrf_proof.hex(),
                proof=proof,
            ),
        ).with_computed_id()
        return Block(header=header, signature=sign_header(header, keys), transactions=txs)

    # ------------------------------------------------------------------ restart

    def _restore(self) -> None:
        """Rebuild from the store. Own store is trusted: ids, links, heights and slots are re-checked,
        VRFs, signatures and PoLs are not (they were checked when the blocks were accepted)."""
        for block in self.store.load_blocks():
            if block.id == self.genesis_id:
                continue
            parent = self._entries.get(block.parent)
            if parent is None or block.height != parent.block.height + 1 or block.slot <= parent.block.slot:
                raise StoreError(f"{self.store.location}: stored block {block.id} does not extend a stored parent")
            nonce = next_ledger_nonce(parent.ledger_nonce, bytes.fromhex(block.header.leader.vrf_output), block.slot)
            self.ledger.move_to(block.parent)  # keeps every path short: blocks come in ascending height
            try:
                diff = self.ledger.block_diff(block.id, block.parent, block.height, block.transactions, verify=False)
            except LedgerError as exc:
                raise StoreError(f"{self.store.location}: stored block {block.id}: {exc}") from None
            self.ledger.add(diff)
            self._entries[block.id] = _Entry(block, nonce)
            self._children.setdefault(block.parent, set()).add(block.id)
        tip_id, lib_id = self.store.heads()
        if tip_id not in self._entries:
            tip_id = max(self._entries.values(), key=lambda e: e.block.height).block.id
        self._set_tip(tip_id, 0)
        self.ledger.move_to(tip_id)
        if lib_id is not None and self.is_canonical(lib_id):
            self._lib_id = lib_id
