"""Canonical encoding used for hashing, and hex helpers (lowercase out, optional ``0x`` accepted in)."""

from __future__ import annotations

import json
import re
from typing import Any

_HEX_DIGITS = re.compile("[0-9a-fA-F]*")  # fullmatch: half the cost of a set of the characters (a hot path)


class HexError(ValueError):
    """A string is not the hex encoding the caller expected."""


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8, no NaN/Infinity."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def to_hex(data: bytes) -> str:
    return data.hex()


def strip_0x(text: str) -> str:
    return text[2:] if text[:2] in ("0x", "0X") else text


def is_hex(text: object, n_bytes: int | None = None) -> bool:
    if not isinstance(text, str):
        return False
    body = strip_0x(text)
    if len(body) % 2 or _HEX_DIGITS.fullmatch(body) is None:
        return False
    return n_bytes is None or len(body) == 2 * n_bytes


def from_hex(text: object, n_bytes: int | None = None, what: str = "value") -> bytes:
    """Decode hex (``0x`` prefix optional, any case); ``n_bytes`` pins the decoded length."""
    if not isinstance(text, str):
        raise HexError(f"{what}: expected a hex string, got {type(text).__name__}")
    if not is_hex(text):
        raise HexError(f"{what}: expected hex digits, got {text[:80]!r}")
    data = bytes.fromhex(strip_0x(text))
    if n_bytes is not None and len(data) != n_bytes:
        raise HexError(f"{what}: expected {n_bytes} bytes ({2 * n_bytes} hex chars), got {len(data)} bytes")
    return data


def normalize_hex(text: object, n_bytes: int | None = None, what: str = "value") -> str:
    """Validate and return the canonical (lowercase, no ``0x``) form."""
    return from_hex(text, n_bytes, what).hex()
