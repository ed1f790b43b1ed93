"""The p2p service: listener, dialer with backoff, authenticated connections, flood gossip and
request/response.

Duplicate connections between the same pair (both sides dialled at once) are resolved the same way on both
ends: the connection dialled by the smaller peer id survives. A blocked peer is disconnected and neither
dialled nor accepted until unblocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from nomos_node.logs import event
from nomos_node.network.addresses import PeerAddress, parse_address
from nomos_node.network.framing import FrameError, encode_frame, read_frame, write_frame
from nomos_node.network.handshake import HandshakeRefused, perform_handshake
from nomos_node.network.identity import LocalIdentity
from nomos_node.network.seen_cache import SeenCache

log = logging.getLogger("nomos_node.network")

GossipHandler = Callable[[Any, str], Awaitable[bool]]
"""(payload, from_peer_id) → True when the message is valid and should be relayed."""
RequestHandler = Callable[[Any, str], Awaitable[Any]]
"""(params, from_peer_id) → JSON result; raise `RequestRejected` to answer with an error."""

REQUEST_TIMEOUT_S = 10.0
DIAL_TIMEOUT_S = 3.0
BACKOFF_INITIAL_S = 0.25
BACKOFF_MAX_S = 5.0
BLOCKED_POLL_S = 0.5
DISCOVERY_INTERVAL_S = 2.0
DISCOVERY_TARGET_PEERS = 6  # dial learned addresses only while we have fewer connections than this
MAX_SHARED_ADDRESSES = 32
METHOD_PEERS = "peers"


class RequestRejected(Exception):
    pass


class RequestFailed(Exception):
    """A request to a peer timed out, was answered with an error, or the peer went away."""


@dataclass(eq=False)
class Connection:
    peer_id: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    outbound: bool
    remote: str
    advertise: str | None
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await write_frame(self.writer, message)

    async def send_frame(self, frame: bytes) -> None:
        """Send an already encoded frame (a broadcast encodes once for every peer)."""
        async with self.send_lock:
            self.writer.write(frame)
            await self.writer.drain()

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()


class NetworkService:
    def __init__(
        self,
        identity: LocalIdentity,
        genesis_id: str,
        listen: str,
        listen_fd: int | None = None,
        advertise: str | None = None,
        initial_peers: list[str] | tuple[str, ...] = (),
        on_peers_changed: Callable[[int], None] | None = None,
        on_peer_connected: Callable[[str], None] | None = None,
    ) -> None:
        self.identity = identity
        self.genesis_id = genesis_id
        self._listen = parse_address(listen, allow_zero=True)
        self._listen_fd = listen_fd
        self._advertise = advertise
        self._dial_targets = [parse_address(peer) for peer in initial_peers]
        self._on_peers_changed = on_peers_changed
        self._on_peer_connected = on_peer_connected
        self._connections: dict[str, Connection] = {}
        self._address_book: dict[str, str] = {}
        self._target_peer: dict[PeerAddress, str] = {}
        self._blocked: set[str] = set()
        self._discovery_dials: set[str] = set()  # addresses being dialled because a peer told us about them
        self._pending = 0
        self._topics: dict[str, GossipHandler] = {}
        self._methods: dict[str, RequestHandler] = {}
        self._seen = SeenCache(8192)
        self._request_ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.listen_addresses: list[str] = []
        self._dial_from: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None

    # -- registration -------------------------------------------------------------------------------------
    def register_topic(self, topic: str, handler: GossipHandler) -> None:
        self._topics[topic] = handler

    def register_method(self, method: str, handler: RequestHandler) -> None:
        self._methods[method] = handler

    # -- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._listen_fd is not None:
            sock = socket.socket(fileno=self._listen_fd)
            sock.setblocking(False)
            self._server = await asyncio.start_server(self._accept, sock=sock)
        else:
            # reuse_address: see ApiServer.start (a restart on the same port while old connections are in TIME_WAIT)
            self._server = await asyncio.start_server(self._accept, self._listen.host, self._listen.port,
                                                      reuse_address=True)
        bound = [s.getsockname() for s in self._server.sockets]
        self.listen_addresses = [PeerAddress(addr[0], addr[1]).multiaddr() for addr in bound]
        if self._advertise is None and bound:
            self._advertise = str(PeerAddress(bound[0][0], bound[0][1]))
        self._dial_from = _specific_address(bound)
        for target in self._dial_targets:
            self._spawn(self._dial_loop(target))
        self.register_method(METHOD_PEERS, self._serve_peers)
        self._spawn(self._discovery_loop())

    async def stop(self) -> None:
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections.values()):
            conn.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- public queries -----------------------------------------------------------------------------------
    def peers(self) -> list[str]:
        return sorted(self._connections)

    def info(self) -> dict[str, Any]:
        return {
            "listen_addresses": list(self.listen_addresses),
            "peer_id": self.identity.peer_id,
            "n_peers": len(self._connections),
            "n_connections": len(self._connections),
            "n_pending_connections": self._pending,
        }

    def connection_directions(self) -> dict[str, bool]:
        """Connected peer id -> True when we dialled the connection (outbound), False when it was accepted."""
        return {peer_id: conn.outbound for peer_id, conn in self._connections.items()}

    def is_connected(self, peer_id: str) -> bool:
        return peer_id in self._connections

    def add_peer(self, address: str) -> bool:
        """Keep a connection to ``address`` (host:port) from now on, like an initial peer. False when it already
        is a dial target. Only after start()."""
        target = parse_address(address)
        if target in self._dial_targets or self._stopping:
            return False
        self._dial_targets.append(target)
        self._spawn(self._dial_loop(target))
        return True

    def blocked_peers(self) -> list[str]:
        return sorted(self._blocked)

    def block_peer(self, peer_id: str) -> bool:
        """Block and disconnect `peer_id`. True when it was not blocked before."""
        newly = peer_id not in self._blocked
        self._blocked.add(peer_id)
        conn = self._connections.get(peer_id)
        if conn is not None:
            conn.close()
        if newly:
            event(log, logging.INFO, "peer blocked", peer=peer_id, was_connected=conn is not None)
        return newly

    def unblock_peer(self, peer_id: str) -> bool:
        if peer_id not in self._blocked:
            return False
        self._blocked.discard(peer_id)
        event(log, logging.INFO, "peer unblocked", peer=peer_id)
        return True

    # -- gossip -------------------------------------------------------------------------------------------
    async def publish(self, topic: str, msg_id: str, payload: Any) -> int:
        """Flood a message we originate. Returns the number of peers it was sent to."""
        self._seen.add(f"{topic}/{msg_id}")
        return await self._broadcast({"type": "gossip", "topic": topic, "msg_id": msg_id, "payload": payload})

    async def _broadcast(self, message: dict[str, Any], exclude: str | None = None) -> int:
        targets = [c for pid, c in self._connections.items() if pid != exclude]
        if not targets:
            return 0
        try:
            frame = encode_frame(message)
        except (FrameError, TypeError, ValueError):
            return 0  # too large, or not JSON: no peer gets it (as when every send failed on its own)
        results = await asyncio.gather(*(c.send_frame(frame) for c in targets), return_exceptions=True)
        return sum(1 for result in results if not isinstance(result, BaseException))

    async def _on_gossip(self, conn: Connection, message: dict[str, Any]) -> None:
        topic, msg_id = message.get("topic"), message.get("msg_id")
        handler = self._topics.get(topic) if isinstance(topic, str) else None
        if handler is None or not isinstance(msg_id, str) or not self._seen.add(f"{topic}/{msg_id}"):
            return
        try:
            relay = await handler(message.get("payload"), conn.peer_id)
        except Exception:
            log.exception("gossip handler failed topic=%s peer=%s", topic, conn.peer_id)
            return
        if relay:
            await self._broadcast(message, exclude=conn.peer_id)

    # -- request / response -------------------------------------------------------------------------------
    async def request(self, peer_id: str, method: str, params: Any, timeout: float = REQUEST_TIMEOUT_S) -> Any:
        conn = self._connections.get(peer_id)
        if conn is None:
            raise RequestFailed(f"not connected to {peer_id}")
        request_id = next(self._request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        conn.pending[request_id] = future
        try:
            await conn.send({"type": "req", "id": request_id, "method": method, "params": params})
            return await asyncio.wait_for(future, timeout)
        except (TimeoutError, ConnectionError, FrameError) as exc:
            raise RequestFailed(f"{method} to {peer_id}: {type(exc).__name__} {exc}") from exc
        finally:
            conn.pending.pop(request_id, None)

    async def _serve_request(self, conn: Connection, message: dict[str, Any]) -> None:
        request_id, method = message.get("id"), message.get("method")
        handler = self._methods.get(method) if isinstance(method, str) else None
        reply: dict[str, Any] = {"type": "resp", "id": request_id}
        if handler is None:
            reply["error"] = f"unknown method {method!r:.80}"
        else:
            try:
                reply["result"] = await handler(message.get("params"), conn.peer_id)
            except RequestRejected as exc:
                reply["error"] = str(exc)
            except Exception as exc:
                log.exception("request handler failed method=%s peer=%s", message.get("method"), conn.peer_id)
                reply["error"] = f"internal error: {type(exc).__name__}"
        with contextlib.suppress(ConnectionError, FrameError, RuntimeError):
            await conn.send(reply)

    def _on_response(self, conn: Connection, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        future = conn.pending.get(request_id) if isinstance(request_id, int) else None
        if future is None or future.done():
            return
        if "error" in message:
            future.set_exception(RequestFailed(str(message["error"])))
        else:
            future.set_result(message.get("result"))

    # -- discovery ----------------------------------------------------------------------------------------
    # Like identify + a routing table: every peer tells the addresses its peers announced in their HELLO, and
    # a node with few connections dials some of them, so a star becomes a mesh and survives its hub.
    async def _serve_peers(self, params: Any, peer_id: str) -> list[dict[str, str]]:
        shared = [{"peer_id": pid, "addr": conn.advertise} for pid, conn in self._connections.items()
                  if pid != peer_id and conn.advertise]
        return shared[:MAX_SHARED_ADDRESSES]

    async def _discovery_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(DISCOVERY_INTERVAL_S)
            for peer_id in list(self._connections):
                if self._wants_more_peers():
                    await self._discover_from(peer_id)

    def _wants_more_peers(self) -> bool:
        return len(self._connections) + len(self._discovery_dials) < DISCOVERY_TARGET_PEERS

    async def _discover_from(self, peer_id: str) -> None:
        try:
            entries = await self.request(peer_id, METHOD_PEERS, None, timeout=DIAL_TIMEOUT_S)
        except RequestFailed as exc:
            log.debug("peer exchange with %s failed: %s", peer_id, exc)
            return
        for entry in entries[:MAX_SHARED_ADDRESSES] if isinstance(entries, list) else ():
            if not self._wants_more_peers():
                return
            learned, addr = (entry.get("peer_id"), entry.get("addr")) if isinstance(entry, dict) else (None, None)
            if not isinstance(learned, str) or not isinstance(addr, str) or addr in self._discovery_dials:
                continue
            if learned == self.identity.peer_id or learned in self._connections or learned in self._blocked:
                continue
            try:
                target = parse_address(addr)
            except ValueError:
                continue
            self._discovery_dials.add(addr)
            self._spawn(self._dial_discovered(target, addr))

    async def _dial_discovered(self, target: PeerAddress, addr: str) -> None:
        """One attempt (no retry loop: the address is learned again while it stays relevant)."""
        try:
            conn = await self._dial(target)
        finally:
            self._discovery_dials.discard(addr)
        if conn is not None:
            event(log, logging.DEBUG, "discovered peer dialled", peer=conn.peer_id, addr=addr)
            await self._run_connection(conn)

    # -- connections --------------------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.close()
            return
        remote = writer.get_extra_info("peername")
        remote_text = f"{remote[0]}:{remote[1]}" if remote else "?"
        conn = await self._handshake(reader, writer, outbound=False, remote=remote_text)
        if conn is not None:
            await self._run_connection(conn)

    async def _dial_loop(self, target: PeerAddress) -> None:
        backoff = BACKOFF_INITIAL_S
        while not self._stopping:
            known = self._target_peer.get(target)
            if known is not None and (known in self._blocked or known in self._connections):
                await asyncio.sleep(BLOCKED_POLL_S)
                continue
            conn = await self._dial(target)
            if conn is None:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = BACKOFF_INITIAL_S
            await self._run_connection(conn)

    async def _dial(self, target: PeerAddress) -> Connection | None:
        self._pending += 1
        try:
            reader, writer = await asyncio.wait_for(self._connect(target), DIAL_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            log.debug("dial failed addr=%s error=%s", target, exc)
            return None
        finally:
            self._pending -= 1
        return await self._handshake(reader, writer, outbound=True, remote=str(target), target=target)

    async def _connect(self, target: PeerAddress) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, local = await self._route(target)
        return await asyncio.open_connection(host, target.port, local_addr=local)

    async def _route(self, target: PeerAddress) -> tuple[str, tuple[str, int] | None]:
        """Where to connect and from which local address: a node listening on one specific IP dials from it too,
        so its peers (and the network rules of a test framework) see one address per node. A target of another
        family or scope (loopback vs not) is dialled from whatever address the kernel picks."""
        source = self._dial_from
        if source is None:
            return target.host, None
        try:
            candidates = [ipaddress.ip_address(target.host)]
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
            candidates = [ipaddress.ip_address(info[4][0]) for info in infos]
        for candidate in candidates:
            if candidate.version == source.version and candidate.is_loopback == source.is_loopback:
                return str(candidate), (str(source), 0)
        return target.host, None

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, outbound: bool,
                         remote: str, target: PeerAddress | None = None) -> Connection | None:
        self._pending += 1
        try:
            hello = await perform_handshake(reader, writer, self.identity, self.genesis_id, self._advertise,
                                            self._blocked.__contains__)
        except HandshakeRefused as exc:
            if target is not None and exc.peer_id is not None:
                self._target_peer[target] = exc.peer_id
            level = logging.WARNING if exc.reason in ("genesis-mismatch", "bad-auth", "bad-peer-id") else logging.DEBUG
            event(log, level, str(exc), addr=remote, direction="out" if outbound else "in")
            await _close(writer)
            return None
        except (FrameError, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.debug("handshake failed addr=%s error=%s", remote, exc or type(exc).__name__)
            await _close(writer)
            return None
        finally:
            self._pending -= 1
        if target is not None:
            self._target_peer[target] = hello.peer_id
        if hello.advertise:
            self._address_book[hello.peer_id] = hello.advertise
        conn = Connection(hello.peer_id, reader, writer, outbound, remote, hello.advertise)
        if not self._admit(conn):
            await _close(writer)
            return None
        return conn

    def _admit(self, conn: Connection) -> bool:
        existing = self._connections.get(conn.peer_id)
        if self._stopping or conn.peer_id in self._blocked:
            return False
        if existing is not None:
            if self._preferred(conn) is existing:
                log.debug("duplicate connection dropped peer=%s", conn.peer_id)
                return False
            existing.close()
        self._connections[conn.peer_id] = conn
        event(log, logging.INFO, "peer connected", peer=conn.peer_id, addr=conn.remote,
              direction="out" if conn.outbound else "in", peers=len(self._connections))
        self._peers_changed()
        if self._on_peer_connected is not None:
            self._on_peer_connected(conn.peer_id)
        return True

    def _preferred(self, new: Connection) -> Connection:
        """Of `new` and the live connection to the same peer, the one dialled by the smaller peer id."""
        existing = self._connections[new.peer_id]
        ours = self.identity.peer_id
        smaller_is_us = ours < new.peer_id

        def dialled_by_smaller(conn: Connection) -> bool:
            return conn.outbound == smaller_is_us

        if dialled_by_smaller(new) and not dialled_by_smaller(existing):
            return new
        return existing

    async def _run_connection(self, conn: Connection) -> None:
        try:
            while not self._stopping:
                message = await read_frame(conn.reader)
                kind = message["type"]
                if kind == "gossip":
                    await self._on_gossip(conn, message)
                elif kind == "req":
                    self._spawn(self._serve_request(conn, message))
                elif kind == "resp":
                    self._on_response(conn, message)
                elif kind == "ping":
                    await conn.send({"type": "pong"})
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except FrameError as exc:
            event(log, logging.WARNING, "peer sent a bad frame", peer=conn.peer_id, error=exc)
        except Exception:
            # Whatever a peer sends must cost it the connection only: the caller (a dial loop) keeps running.
            log.exception("connection failed peer=%s", conn.peer_id)
        finally:
            await self._drop(conn)

    async def _drop(self, conn: Connection) -> None:
        for future in conn.pending.values():
            if not future.done():
                future.set_exception(RequestFailed(f"connection to {conn.peer_id} closed"))
        if self._connections.get(conn.peer_id) is conn:
            del self._connections[conn.peer_id]
            event(log, logging.INFO, "peer disconnected", peer=conn.peer_id, peers=len(self._connections))
            self._peers_changed()
        await _close(conn.writer)
        conn.closed.set()

    def _peers_changed(self) -> None:
        if self._on_peers_changed is not None:
            self._on_peers_changed(len(self._connections))


def _specific_address(bound: list[Any]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The one IP the listener is bound to, or None when it listens on several or on a wildcard (0.0.0.0, ::)."""
    if len(bound) != 1:
        return None
    try:
        address = ipaddress.ip_address(str(bound[0][0]).split("%", 1)[0])
    except ValueError:
        return None
    return None if address.is_unspecified else address


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)
