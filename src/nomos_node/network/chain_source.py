"""A :class:`~nomos_node.consensus.chain.Chain` as sync's :class:`~nomos_node.network.sync.SyncSource`."""

from __future__ import annotations

from typing import Any

from nomos_node.consensus.chain import Chain
from nomos_node.network.sync import TipSummary


class ChainSyncSource:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def tip_summary(self) -> TipSummary:
        tip = self.chain.tip
        return TipSummary(tip.id, tip.height, tip.slot, tip.header.leader.vrf_output)

    def prefers(self, theirs: TipSummary) -> bool:
        """Higher, or (with the `lower_vrf` tie rule) as high with a lower VRF output; `keep_current` keeps ours."""
        ours = self.tip_summary()
        if theirs.height != ours.height:
            return theirs.height > ours.height
        if self.chain.consensus.tie_break != "lower_vrf" or theirs.id in self.chain:
            return False
        return (theirs.vrf_output, theirs.id) < (ours.vrf_output, ours.id)

    def has_block(self, block_id: str) -> bool:
        return block_id in self.chain

    def is_rejected(self, block_id: str) -> bool:
        return block_id in self.chain.rejected

    def blocks_from_slot(self, slot: int, after: str | None, limit: int) -> list[dict[str, Any]]:
        return [block.to_json() for block in self.chain.blocks_from_slot(slot, limit, after)]

    def ancestors(self, block_id: str, limit: int) -> list[dict[str, Any]]:
        if block_id not in self.chain:
            return []
        return [block.to_json() for block in self.chain.ancestors(block_id, limit)]
