"""Authenticated handshake.

Both sides send HELLO {peer_id, public_key, genesis_id, advertise, nonce}; each then signs the other's nonce
(with both peer ids and the genesis id, so a signature cannot be replayed elsewhere) and verifies the
answer. The result is a peer id proven to belong to the key at the other end.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nomos_node.network.framing import FrameError, read_frame, write_frame
from nomos_node.network.identity import LocalIdentity, peer_id_of, verify_signature

PROTOCOL_VERSION = 1
HANDSHAKE_TIMEOUT_S = 5.0
_DOMAIN = b"nomos/handshake/v1"


class HandshakeRefused(Exception):
    """The peer cannot be accepted; `reason` is a short code, str(exc) the log line."""

    def __init__(self, reason: str, message: str, peer_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.peer_id = peer_id


@dataclass(frozen=True)
class RemoteHello:
    peer_id: str
    public_key: bytes
    genesis_id: str
    advertise: str | None


def _transcript(nonce: bytes, signer_peer_id: str, verifier_peer_id: str, genesis_id: str) -> bytes:
    return b"|".join((_DOMAIN, nonce, signer_peer_id.encode(), verifier_peer_id.encode(), genesis_id.encode()))


def _parse_hello(message: dict[str, Any]) -> tuple[RemoteHello, bytes]:
    try:
        if message["type"] != "hello":
            raise ValueError(f"expected hello, got {message['type']!r}")
        public_key = bytes.fromhex(message["public_key"])
        nonce = bytes.fromhex(message["nonce"])
        hello = RemoteHello(str(message["peer_id"]), public_key, str(message["genesis_id"]),
                            message.get("advertise") if isinstance(message.get("advertise"), str) else None)
    except (KeyError, TypeError, ValueError) as exc:
        raise HandshakeRefused("bad-hello", f"peer refused: malformed hello ({exc})") from exc
    if len(public_key) != 32 or len(nonce) != 32:
        raise HandshakeRefused("bad-hello", "peer refused: malformed hello (key or nonce length)")
    return hello, nonce


async def perform_handshake(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    identity: LocalIdentity,
    genesis_id: str,
    advertise: str | None,
    is_blocked: Callable[[str], bool],
) -> RemoteHello:
    """Run the handshake on a fresh connection. Raises HandshakeRefused, FrameError or OSError-family errors."""
    our_nonce = os.urandom(32)
    await write_frame(writer, {
        "type": "hello", "version": PROTOCOL_VERSION, "peer_id": identity.peer_id,
        "public_key": identity.public_key.hex(), "genesis_id": genesis_id, "advertise": advertise,
        "nonce": our_nonce.hex(),
    })
    hello, their_nonce = _parse_hello(await asyncio.wait_for(read_frame(reader), HANDSHAKE_TIMEOUT_S))
    if hello.genesis_id != genesis_id:
        raise HandshakeRefused("genesis-mismatch",
                               f"peer refused: genesis mismatch ours={genesis_id} theirs={hello.genesis_id} "
                               f"peer={hello.peer_id}", hello.peer_id)
    if peer_id_of(hello.public_key) != hello.peer_id:
        raise HandshakeRefused("bad-peer-id", f"peer refused: peer id {hello.peer_id} does not match its key")
    if hello.peer_id == identity.peer_id:
        raise HandshakeRefused("self", "peer refused: connected to ourselves", hello.peer_id)
    if is_blocked(hello.peer_id):
        raise HandshakeRefused("blocked", f"peer refused: blocked peer={hello.peer_id}", hello.peer_id)
    signature = identity.sign(_transcript(their_nonce, identity.peer_id, hello.peer_id, genesis_id))
    await write_frame(writer, {"type": "auth", "signature": signature.hex()})
    answer = await asyncio.wait_for(read_frame(reader), HANDSHAKE_TIMEOUT_S)
    try:
        their_signature = bytes.fromhex(answer["signature"]) if answer["type"] == "auth" else b""
    except (KeyError, TypeError, ValueError):
        their_signature = b""
    if not verify_signature(hello.public_key, _transcript(our_nonce, hello.peer_id, identity.peer_id, genesis_id),
                            their_signature):
        raise HandshakeRefused("bad-auth", f"peer refused: handshake signature invalid peer={hello.peer_id}",
                               hello.peer_id)
    return hello


__all__ = ["FrameError", "HandshakeRefused", "RemoteHello", "perform_handshake"]
