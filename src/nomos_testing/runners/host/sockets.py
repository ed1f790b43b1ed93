"""Listening sockets the runner binds itself and hands to node processes (`pass_fds`, and the node adapter's
hand-over variable, e.g. `NOMOS_LISTEN_FDS`).

Each node's three sockets are bound on the node's own loopback address (addresses.py), port 0. Binding in
this process and keeping the socket open until teardown means there is no window in
which another process could take the port, no retry is ever needed, and a restarted node gets the very same
socket (connections that arrive while it is down wait in the backlog).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from nomos_testing.nodes.base import NodeAddresses

LOOPBACK = "127.0.0.1"
BACKLOG = 128


def listen_loopback(host: str = LOOPBACK) -> socket.socket:
    return socket.create_server((host, 0), backlog=BACKLOG)


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


@dataclass
class NodeSockets:
    api: socket.socket
    testing: socket.socket
    p2p: socket.socket

    @classmethod
    def reserve(cls, host: str = LOOPBACK) -> NodeSockets:
        opened: list[socket.socket] = []
        try:
            for _ in range(3):
                opened.append(listen_loopback(host))
        except OSError:
            for sock in opened:
                sock.close()
            raise
        return cls(*opened)

    def all(self) -> tuple[socket.socket, socket.socket, socket.socket]:
        return self.api, self.testing, self.p2p

    def fds(self) -> tuple[int, ...]:
        return tuple(sock.fileno() for sock in self.all())

    def by_listener(self) -> dict[str, int]:
        """Inherited descriptors by listener name, as node adapters hand them over."""
        return {"api": self.api.fileno(), "testing_api": self.testing.fileno(), "network": self.p2p.fileno()}

    @property
    def host(self) -> str:
        return str(self.p2p.getsockname()[0])

    def addresses(self) -> NodeAddresses:
        return NodeAddresses(api_listen=_address(self.api), testing_listen=_address(self.testing),
                             p2p_listen=_address(self.p2p), p2p_advertise=_address(self.p2p))

    def close(self) -> None:
        for sock in self.all():
            sock.close()
