"""Verified DA shares held by this node, by (blob id, share index), in memory and bounded: the blobs received
longest ago are forgotten first (a restarted node holds none; docs/data-availability.md, "Node services")."""

from __future__ import annotations

from collections import OrderedDict

from nomos_da.share import Share

DEFAULT_MAX_BLOBS = 10_000


class ShareStore:
    def __init__(self, max_blobs: int = DEFAULT_MAX_BLOBS) -> None:
        self.max_blobs = max_blobs
        self._blobs: OrderedDict[str, dict[int, Share]] = OrderedDict()
        self._count = 0

    def __len__(self) -> int:
        """Shares held."""
        return self._count

    def add(self, share: Share) -> bool:
        """Hold ``share`` (already verified); False when that (blob, index) was held already."""
        blob_id = share.blob_id.hex()
        shares = self._blobs.get(blob_id)
        if shares is None:
            shares = self._blobs[blob_id] = {}
            while len(self._blobs) > self.max_blobs:
                _, dropped = self._blobs.popitem(last=False)
                self._count -= len(dropped)
        if share.share_idx in shares:
            return False
        shares[share.share_idx] = share
        self._count += 1
        return True

    def get(self, blob_id: str, share_idx: int) -> Share | None:
        shares = self._blobs.get(blob_id)
        return None if shares is None else shares.get(share_idx)

    def commitments(self, blob_id: str) -> tuple[bytes, ...] | None:
        """The row commitments of a blob this node holds a share of (every share carries them)."""
        shares = self._blobs.get(blob_id)
        if not shares:
            return None
        return next(iter(shares.values())).rows_commitments
