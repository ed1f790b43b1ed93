"""What the HTTP APIs read from a running node (implemented by `nomos_node.node.Node`)."""

from __future__ import annotations

from typing import Any, Protocol

from nomos_node.ledger.mempool import Added
from nomos_node.metrics import NodeMetrics
from nomos_node.network import NetworkService


class UnknownBlock(KeyError):
    """A header id the node does not have."""


class DaUnavailable(Exception):
    """A DA request this node cannot serve (role, configuration, signer): HTTP status, code and detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


class NodeView(Protocol):
    metrics: NodeMetrics
    network: NetworkService

    def consensus_info(self) -> dict[str, Any]:
        """{"lib", "tip", "slot", "height", "mode"}."""

    def header_ids(self, from_id: str | None, to_id: str | None) -> list[str]:
        """Ids newest first from `from_id` (default tip) back to `to_id` (default LIB); raises UnknownBlock."""

    def block_json(self, block_id: str) -> dict[str, Any] | None:
        """The block in its JSON form, or None when unknown."""

    async def submit_transaction(self, document: Any) -> Added:
        """Admit a transaction to the mempool and gossip it when new; raises TxError with the refusal reason."""

    def transaction_status(self, tx_hash: str) -> str | dict[str, Any]:
        """"Pending", "Rejected", "Unknown" or {"InBlock": {"block": id}} on the canonical chain."""

    def mantle_status(self) -> dict[str, Any]:
        """{"pending", "ledger_height", "tip", "supply", "genesis_supply", "fees_burned", "unspent_notes"}."""

    def mantle_metrics(self) -> dict[str, Any]:
        """{"pending_items", "last_item_timestamp"}."""

    def notes_of(self, pk: str, limit: int) -> list[dict[str, Any]]:
        """The unspent notes of `pk` on the canonical chain: [{"note_id", "value", "pk"}]."""

    def channel_state(self, channel: str) -> dict[str, Any] | None:
        """{"last_msg_id", "owner", "messages"} of a channel on the canonical chain, None when it has none."""

    def da_membership(self) -> dict[str, Any]:
        """{"assignations": {"<subnet>": [peer_id, …]}, "addressbook": {peer_id: addr}} (empty without DA)."""

    def da_balancer_stats(self) -> dict[str, dict[str, int]]:
        """{"<subnet>": {"inbound", "outbound"}}: connections to the members of each subnetwork."""

    def da_commitments(self, blob_id: str) -> list[str] | None:
        """The row commitments of a blob this node holds a share of, or None."""

    def da_share(self, blob_id: str, share_idx: int) -> dict[str, Any] | None:
        """A share this node holds, as JSON, or None."""

    async def disperse_data(self, channel: str, parent: str, signer: str, data: bytes) -> dict[str, Any]:
        """Executor: {"blob_id", "tx_hash"}; raises DaUnavailable, DispersalError or TxError."""

    async def da_historic_sampling(self, block_id: str, blobs: list[str]) -> bool:
        """Whether the blobs (carried by that block) can be sampled now; raises UnknownBlock."""
