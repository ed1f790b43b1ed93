"""The memory of rejected blocks (the specification's `rejected_blocks` of sync).

A block refused for a reason that holds forever is remembered by id, with its reason, in a bounded LRU; the
block is then refused again without re-validation, and so is every block whose parent is remembered (the
descendants of an invalid block are invalid: `invalid_parent`). Only reasons bound to the block id are
remembered: the id hashes the header, and the header commits to the parent, the slot, the leader proof and the
transactions (through `block_root`). A bad signature or a body that does not match the header's root is not
remembered: the signature and the body lie outside the id, so a peer could otherwise make the node refuse an
honest block by relaying a corrupted copy of it. `future_slot` is not remembered either (it becomes valid).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_CAPACITY = 4096

# RejectReason values (chain.py) that are a property of the block id on its branch, for good. Not
# bad_transaction: transaction hashes leave the signatures out, so a copy of an honest block with a corrupted
# transaction signature has the honest block's id, and remembering it would let a peer get the honest one refused.
PERMANENT_REASONS = frozenset({
    "foreign_genesis", "slot_not_after_parent", "bad_height", "fork_below_lib", "unknown_leader", "ineligible_note",
    "spent_note", "bad_vrf", "lottery_lost", "missing_pol", "bad_pol", "invalid_parent",
})


@dataclass(frozen=True)
class Rejection:
    reason: str
    detail: str | None = None


class RejectedBlocks:
    """Bounded id → :class:`Rejection` memory; the least recently used entry goes first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, Rejection] = OrderedDict()

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, block_id: str) -> Rejection | None:
        rejection = self._entries.get(block_id)
        if rejection is not None:
            self._entries.move_to_end(block_id)
        return rejection

    def remember(self, block_id: str, reason: str, detail: str | None = None) -> bool:
        """Remember `block_id` when `reason` is permanent; True when it was remembered."""
        if reason not in PERMANENT_REASONS:
            return False
        self._entries[block_id] = Rejection(reason, detail)
        self._entries.move_to_end(block_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return True
