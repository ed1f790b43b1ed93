"""What the HTTP APIs read from a running node (implemented by `nomos_node.node.Node`)."""

from __future__ import annotations

from typing import Any, Protocol

from nomos_node.metrics import NodeMetrics
from nomos_node.network import NetworkService


class UnknownBlock(KeyError):
    """A header id the node does not have."""


class NodeView(Protocol):
    metrics: NodeMetrics
    network: NetworkService

    def consensus_info(self) -> dict[str, Any]:
        """{"lib", "tip", "slot", "height", "mode"}."""

    def header_ids(self, from_id: str | None, to_id: str | None) -> list[str]:
        """Ids newest first from `from_id` (default tip) back to `to_id` (default LIB); raises UnknownBlock."""

    def block_json(self, block_id: str) -> dict[str, Any] | None:
        """The block in its JSON form, or None when unknown."""
