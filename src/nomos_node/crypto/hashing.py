"""Blake2b helpers: every id, ticket and nonce in the node is a Blake2b digest."""

from __future__ import annotations

import hashlib

ZERO_HASH = bytes(32)


def blake2b_256(*parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=32)
    for part in parts:
        h.update(part)
    return h.digest()


def blake2b_512(*parts: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=64)
    for part in parts:
        h.update(part)
    return h.digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """Binary Blake2b-256 Merkle root; an odd node is paired with itself; no leaves → 32 zero bytes.

    Leaves and inner nodes are domain-separated so a leaf can never be passed off as an inner node.
    """
    if not leaves:
        return ZERO_HASH
    level = [blake2b_256(b"\x00", leaf) for leaf in leaves]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [blake2b_256(b"\x01", level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]
