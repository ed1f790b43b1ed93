"""Length-prefixed JSON frames: a 4-byte big-endian length, then that many bytes of UTF-8 JSON."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

MAX_FRAME_BYTES = 8 * 1024 * 1024
_HEADER = struct.Struct(">I")


class FrameError(Exception):
    """The peer sent something that is not a valid frame (too large, not JSON, not an object)."""


async def read_frame(reader: asyncio.StreamReader, max_bytes: int = MAX_FRAME_BYTES) -> dict[str, Any]:
    """Read one frame. Raises `asyncio.IncompleteReadError` on EOF and `FrameError` on a bad frame."""
    header = await reader.readexactly(_HEADER.size)
    (length,) = _HEADER.unpack(header)
    if length > max_bytes:
        raise FrameError(f"frame of {length} bytes exceeds the maximum of {max_bytes}")
    body = await reader.readexactly(length)
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"frame is not JSON: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # e.g. an integer of > 4300 digits, or nesting too deep
        raise FrameError(f"frame cannot be decoded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise FrameError("frame is not a JSON object with a string 'type'")
    return message


def encode_frame(message: dict[str, Any], max_bytes: int = MAX_FRAME_BYTES) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > max_bytes:
        raise FrameError(f"refusing to send a frame of {len(body)} bytes (maximum {max_bytes})")
    return _HEADER.pack(len(body)) + body


async def write_frame(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(encode_frame(message))
    await writer.drain()
