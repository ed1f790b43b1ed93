"""Peer addresses: `host:port` or multiaddrs `/ip4|ip6|dns|dns4|dns6/<host>/tcp|udp/<port>[/quic-v1]`.

The transport is always TCP; a UDP/QUIC multiaddr is dialled as TCP on the same host and port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

_HOST_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")


class AddressError(ValueError):
    pass


@dataclass(frozen=True)
class PeerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def multiaddr(self) -> str:
        try:
            kind = "ip6" if ipaddress.ip_address(self.host).version == 6 else "ip4"
        except ValueError:
            kind = "dns"
        return f"/{kind}/{self.host}/tcp/{self.port}"


def _port(text: str, original: str, allow_zero: bool) -> int:
    if not text.isdigit() or not (0 if allow_zero else 1) <= int(text) < 65536:
        raise AddressError(f"expected a port in 1..65535 in {original!r}")
    return int(text)


def parse_address(text: str, allow_zero: bool = False) -> PeerAddress:
    """`allow_zero`: port 0 (let the OS choose) is valid for a listen address."""
    text = text.strip()
    if text.startswith("/"):
        parts = text.split("/")[1:]
        if len(parts) < 4 or parts[0] not in _HOST_PROTOCOLS or parts[2] not in ("tcp", "udp"):
            raise AddressError(f"expected /ip4/<ip>/tcp/<port> (or /dns/<name>/tcp/<port>), got {text!r}")
        return PeerAddress(parts[1], _port(parts[3], text, allow_zero))
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise AddressError(f"expected host:port or a multiaddr, got {text!r}")
    return PeerAddress(host.strip("[]"), _port(port, text, allow_zero))
