"""Build and serve the base API and the testing API, each on its own listener (host:port or inherited fd)."""

from __future__ import annotations

import socket

from aiohttp import web

from nomos_node.api.base import NODE_KEY, add_base_routes
from nomos_node.api.da import add_da_routes, add_da_testing_routes
from nomos_node.api.errors import error_middleware
from nomos_node.api.mantle import add_mantle_routes
from nomos_node.api.server_log import install_one_line_filter
from nomos_node.api.view import NodeView

MAX_BODY_BYTES = 1024 * 1024


def build_base_app(node: NodeView) -> web.Application:
    app = web.Application(middlewares=[error_middleware(node.metrics)], client_max_size=MAX_BODY_BYTES)
    app[NODE_KEY] = node
    add_base_routes(app)
    add_mantle_routes(app)
    add_da_routes(app)
    return app


def build_testing_app(node: NodeView) -> web.Application:
    # The testing routes of docs/node-api.md (DA membership and historic sampling), on their own listener.
    app = web.Application(middlewares=[error_middleware(node.metrics)], client_max_size=MAX_BODY_BYTES)
    app[NODE_KEY] = node
    add_da_testing_routes(app)
    return app


class ApiServer:
    """One aiohttp app on one listener. `bound` is the actual host:port after `start()`."""

    def __init__(self, app: web.Application, host: str, port: int, fd: int | None) -> None:
        install_one_line_filter()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        self._host, self._port, self._fd = host, port, fd
        self.bound: str = ""

    async def start(self) -> None:
        await self._runner.setup()
        site: web.BaseSite
        if self._fd is not None:
            sock = socket.socket(fileno=self._fd)
            sock.setblocking(False)
            site = web.SockSite(self._runner, sock)
        else:
            # SO_REUSEADDR (asyncio's default on POSIX, explicit here): a node restarted on the same port binds
            # at once even while connections of the previous process linger in TIME_WAIT.
            site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        addresses = self._runner.addresses
        self.bound = f"{addresses[0][0]}:{addresses[0][1]}" if addresses else f"{self._host}:{self._port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
