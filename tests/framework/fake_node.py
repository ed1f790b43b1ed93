"""A small but real stand-in for a node, for the host runner's own mechanics (sockets, process groups,
teardown, detach, clean, node control): a separate process that honours the node config contract
(docs/node-config.md: sockets handed over in NOMOS_LISTEN_FDS or bound from `listen`, `initial_peers`,
NOMOS_LOG_DIR) and serves `/cryptarchia/info` and `/network/info`.

Switches (environment): FAKE_NODE_EXIT=<name>|all exits 3 at start; FAKE_NODE_DEAF=<name> never talks p2p;
FAKE_NODE_SLOW_EXIT=<seconds> makes SIGTERM take that long (a teardown long enough to interrupt).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from typing import Any

import yaml
from aiohttp import web


def inherited_sockets() -> dict[str, int]:
    text = os.environ.get("NOMOS_LISTEN_FDS", "")
    return {name: int(fd) for name, _, fd in (item.partition("=") for item in text.split(",") if item)}


def listener(config: dict[str, Any], section: str, fds: dict[str, int]) -> socket.socket:
    if section in fds:
        return socket.socket(fileno=fds[section])
    host, port = config[section]["listen"].rsplit(":", 1)
    return socket.create_server((host, int(port)), reuse_port=False)


class FakeNode:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.name = config["node"]["name"]
        self.genesis = config["genesis"]
        self.peers: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    async def greet(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"HELLO {self.name}\n".encode())
        await writer.drain()
        line = await reader.readline()
        if not line.startswith(b"HELLO "):
            writer.close()
            return
        peer = line.split()[1].decode()
        self.peers.add(peer)
        try:
            await reader.read()
        finally:
            self.peers.discard(peer)
            writer.close()

    async def dial(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        while True:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
                await self.greet(reader, writer)
            except OSError:
                pass
            await asyncio.sleep(0.2)

    async def info(self, request: web.Request) -> web.Response:
        elapsed = time.time() - self.genesis["chain_start_time"]
        height = max(0, int(elapsed / self.genesis["slot_duration"]) + 1)
        return web.json_response({"height": height, "slot": height, "tip": "ab" * 32, "lib": "00" * 32,
                                  "mode": "Online"})

    async def network(self, request: web.Request) -> web.Response:
        return web.json_response({"n_peers": len(self.peers), "n_connections": len(self.peers), "peer_id": self.name,
                                  "listen_addresses": [self.config["network"]["listen"]],
                                  "n_pending_connections": 0})

    async def run(self, deaf: bool) -> None:
        fds = inherited_sockets()
        app = web.Application()
        app.add_routes([web.get("/cryptarchia/info", self.info), web.get("/network/info", self.network)])
        runner = web.AppRunner(app)
        await runner.setup()
        await web.SockSite(runner, listener(self.config, "api", fds)).start()
        await web.SockSite(runner, listener(self.config, "testing_api", fds)).start()
        if not deaf:
            await asyncio.start_server(self.greet, sock=listener(self.config, "network", fds))
            for address in self.config["network"]["initial_peers"]:
                self.tasks.add(asyncio.create_task(self.dial(address)))
        print(f"fake node {self.name} ready", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    name = config["node"]["name"]
    print(f"fake node {name} starting pid={os.getpid()}", flush=True)
    if os.environ.get("FAKE_NODE_EXIT") in (name, "all"):
        print(f"fatal: {name} refuses to start (FAKE_NODE_EXIT)", flush=True)
        sys.exit(3)
    slow_exit = float(os.environ.get("FAKE_NODE_SLOW_EXIT") or 0)
    if slow_exit:
        signal.signal(signal.SIGTERM, lambda *_: (time.sleep(slow_exit), sys.exit(0)))
    asyncio.run(FakeNode(config).run(deaf=os.environ.get("FAKE_NODE_DEAF") == name))


if __name__ == "__main__":
    main()
