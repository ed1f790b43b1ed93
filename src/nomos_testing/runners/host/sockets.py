"""Listening sockets the runner binds itself and hands to node processes (`listen_fd`, `pass_fds`).

Binding port 0 in this process and keeping the socket open until teardown means there is no window in
which another process could take the port, and no retry is ever needed.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from nomos_testing.topology.render import NodeAddresses

LOOPBACK = "127.0.0.1"
BACKLOG = 128


def listen_loopback() -> socket.socket:
    sock = socket.create_server((LOOPBACK, 0), backlog=BACKLOG)
    return sock


@dataclass
class NodeSockets:
    api: socket.socket
    testing: socket.socket
    p2p: socket.socket

    @classmethod
    def reserve(cls) -> NodeSockets:
        opened: list[socket.socket] = []
        try:
            for _ in range(3):
                opened.append(listen_loopback())
        except OSError:
            for sock in opened:
                sock.close()
            raise
        return cls(*opened)

    def all(self) -> tuple[socket.socket, socket.socket, socket.socket]:
        return self.api, self.testing, self.p2p

    def fds(self) -> tuple[int, ...]:
        return tuple(sock.fileno() for sock in self.all())

    def addresses(self) -> NodeAddresses:
        def where(sock: socket.socket) -> str:
            host, port = sock.getsockname()[:2]
            return f"{host}:{port}"

        return NodeAddresses(
            api_listen=where(self.api), testing_listen=where(self.testing),
            p2p_listen=where(self.p2p), p2p_advertise=where(self.p2p),
            api_fd=self.api.fileno(), testing_fd=self.testing.fileno(), p2p_fd=self.p2p.fileno(),
        )

    def close(self) -> None:
        for sock in self.all():
            sock.close()
