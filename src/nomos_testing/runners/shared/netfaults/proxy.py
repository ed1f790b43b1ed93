"""The delay proxy: this kernel has no netem, so a delayed link is a TCP proxy the framework controls.

iptables (nat OUTPUT) DNATs new connections between the two nodes to the proxy's listener in the dialling
node's namespace. The proxy reads where the connection was going (SO_ORIGINAL_DST), connects onward from the
original source address with SO_MARK set (the DNAT rules skip marked packets), and forwards every chunk after
`ms` ± `jitter_ms`, never reordering: a chunk is never delivered before the one read before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from dataclasses import dataclass, field

from nomos_testing.runners.shared.netfaults.base import NetworkFaultError
from nomos_testing.runners.shared.netfaults.namespace import Namespace

SO_ORIGINAL_DST = 80
CHUNK = 65_536
QUEUE_CHUNKS = 256  # per direction: reading stops (TCP backpressure) while this many wait to be delivered
CONNECT_TIMEOUT_S = 5.0


def original_destination(sock: socket.socket) -> tuple[str, int]:
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port, packed = struct.unpack_from("!2xH4s", raw)
    return socket.inet_ntoa(packed), int(port)


def abort(writer: asyncio.StreamWriter) -> None:
    """Close with a reset, so the node on the other side notices at once."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for task in self.tasks:
            task.cancel()
        abort(self.client)
        if self.upstream is not None:
            abort(self.upstream)


class DelayProxy:
    """One listener (in `ns`, on `address`) delaying every connection DNATed to it."""

    def __init__(self, ns: Namespace, address: str, ms: float, jitter_ms: float, mark: int,
                 rng: random.Random | None = None) -> None:
        self.ns = ns
        self.address = address
        self.ms = ms
        self.jitter_ms = jitter_ms
        self.mark = mark
        self.rng = rng or random.Random()
        self.port = 0
        self.proxied = 0  # connections accepted so far
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"

    async def start(self) -> None:
        sock = await self.ns.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address, 0))
            sock.listen(128)
            sock.setblocking(False)
            self._server = await asyncio.start_server(self._accept, sock=sock)
        except BaseException:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])

    def open_links(self) -> int:
        return len(self._links)

    async def close(self) -> None:
        """Stop listening and reset every proxied connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.abort()
        self._links.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _delay_s(self) -> float:
        spread = self.rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
        return max(0.0, self.ms + spread) / 1000

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        link = _Link(writer)
        self._links.add(link)
        self.proxied += 1
        try:
            await self._serve(link, reader, writer)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, NetworkFaultError):
            pass
        except asyncio.CancelledError:
            pass  # close(): ending quietly, asyncio would log a cancelled connection callback as an error
        finally:
            link.abort()
            self._links.discard(link)
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client_sock: socket.socket = writer.get_extra_info("socket")
        source = writer.get_extra_info("peername")[0]
        destination = original_destination(client_sock)
        upstream = await self.ns.socket()
        try:
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, self.mark)
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream.bind((source, 0))
            upstream.setblocking(False)
            await asyncio.wait_for(asyncio.get_running_loop().sock_connect(upstream, destination), CONNECT_TIMEOUT_S)
        except BaseException:
            upstream.close()
            raise
        with contextlib.suppress(OSError):
            client_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up_reader, up_writer = await asyncio.open_connection(sock=upstream)
        link.upstream = up_writer
        link.tasks = [asyncio.create_task(self._pump(reader, up_writer)),
                      asyncio.create_task(self._pump(up_reader, writer))]
        done, _ = await asyncio.wait(link.tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(task.exception() is not None for task in done if not task.cancelled()):
            return  # one side failed: the finally of _accept resets both
        await asyncio.gather(*link.tasks, return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Forward one direction: each chunk delivered at read time + delay, never before the previous one."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not chunk:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        last = 0.0
        try:
            while True:
                chunk = await reader.read(CHUNK)
                last = max(loop.time() + self._delay_s(), last)
                await queue.put((last, chunk))
                if not chunk:
                    break
            await sender
        finally:
            sender.cancel()
