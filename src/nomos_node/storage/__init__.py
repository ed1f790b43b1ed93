"""Persistent block storage."""

from nomos_node.storage.blocks import BlockStore, StoreError

__all__ = ["BlockStore", "StoreError"]
