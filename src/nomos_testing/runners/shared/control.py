"""Node control: one interface for every runner, with the bookkeeping written once.

`NodeControl` checks the node name, updates the intended state (so a node stopped on purpose is not reported
as crashed, and expectations know it is down or cut off), records every action into the run's event history
with the mechanism that did it, and persists the new state (run-state file) — runners implement only the
mechanism: process / container actions here, network faults through a `netfaults.base.NetworkFaults`.

Capabilities (what a scenario may ask of a runner): stop, start, kill, restart, pause (pause and resume),
partition (partition, isolate, heal), delay, loss, join.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.errors import NodeControlError
from nomos_testing.observe.events import EventSink, record_event
from nomos_testing.runners.shared.intent import IntendedState, NetworkFault, NodeState
from nomos_testing.runners.shared.netfaults.base import NetworkFaultError, NetworkFaults

if TYPE_CHECKING:
    from nomos_testing.runners.base import NodeEndpoint
    from nomos_testing.topology.model import Role

BASIC_CAPABILITIES = frozenset({"stop", "start", "kill", "restart"})
NETWORK_CAPABILITIES = frozenset({"partition", "delay", "loss"})
ALL_CAPABILITIES = BASIC_CAPABILITIES | NETWORK_CAPABILITIES | {"pause", "join"}


class NodeControl(ABC):
    capabilities: ClassVar[frozenset[str]] = BASIC_CAPABILITIES
    mechanism: ClassVar[str] = ""  # how this runner acts on a node, recorded with every action

    def __init__(self, names: list[str], intent: IntendedState, run_id: str,
                 on_change: Callable[[], object] | None = None) -> None:
        self.names = list(names)
        self.intent = intent
        self.run_id = run_id
        self.events: EventSink | None = None
        self._on_change = on_change
        self._lock = asyncio.Lock()
        self.network: NetworkFaults | None = None  # set by runners that can act on the network
        self._fault_ids = itertools.count(1)
        self._joined: list[Callable[[NodeEndpoint], object]] = []

    def bind_events(self, events: EventSink | None) -> None:
        """Record every later action into this event history (the run core calls it)."""
        self.events = events

    # The interface workloads and the `node` command use -------------------------------------------

    async def stop(self, name: str) -> None:
        async with self._lock:
            await self._down(name, NodeState.STOPPED, "node.stop")

    async def kill(self, name: str) -> None:
        async with self._lock:
            await self._down(name, NodeState.KILLED, "node.kill")

    async def start(self, name: str) -> None:
        async with self._lock:
            await self._up(name, "node.start")

    async def restart(self, name: str) -> None:
        async with self._lock:
            began = time.monotonic()
            await self._down(name, NodeState.STOPPED, None)
            fields = await self._up(name, None)
            self._record("node.restart", name, took_s=round(time.monotonic() - began, 3), **fields)

    async def pause(self, name: str) -> None:
        async with self._lock:
            self._check(name)
            if self.intent.of(name) is not NodeState.RUNNING:
                raise NodeControlError(f"node control: {name} is {self.intent.of(name).value}, not running",
                                       f"start {name} before pausing it")
            self.intent.change(name, NodeState.PAUSED)
            try:
                fields = await self._pause_node(name)
            finally:
                self._changed()
            self._record("node.pause", name, **fields)

    async def resume(self, name: str) -> None:
        async with self._lock:
            self._check(name)
            if self.intent.of(name) is not NodeState.PAUSED:
                raise NodeControlError(f"node control: {name} is {self.intent.of(name).value}, not paused",
                                       f"pause {name} before resuming it")
            fields = await self._resume_node(name)
            self.intent.change(name, NodeState.RUNNING)
            self._changed()
            self._record("node.resume", name, **fields)

    async def partition(self, groups: Sequence[Sequence[str]]) -> str:
        """Cut the network between groups of nodes; nodes named in no group form one more group together.
        Returns the fault id that `heal(fault_id)` removes."""
        cleaned = self._groups(groups)
        links = [(a, b) for i, group in enumerate(cleaned) for other in cleaned[i + 1:] for a in group for b in other]
        return await self._network_fault("partition", links, {"groups": cleaned},
                                         lambda net, fid: net.partition(fid, links))

    async def isolate(self, name: str) -> str:
        """Cut one node off from every other node."""
        self._check(name)
        return await self.partition([[name]])

    async def delay(self, a: str, b: str, ms: float, jitter_ms: float = 0.0) -> str:
        self._link_check(a, b)
        if not 0 < ms <= 60_000 or not 0 <= jitter_ms <= ms:
            raise NodeControlError(f"node control: delay {ms} ms ± {jitter_ms} ms between {a} and {b}",
                                   "use 0 < ms ≤ 60000 and 0 ≤ jitter_ms ≤ ms")
        return await self._network_fault("delay", [(a, b)], {"ms": ms, "jitter_ms": jitter_ms},
                                         lambda net, fid: net.delay(fid, a, b, ms, jitter_ms))

    async def loss(self, a: str, b: str, percent: float) -> str:
        self._link_check(a, b)
        if not 0 < percent <= 100:
            raise NodeControlError(f"node control: loss of {percent} % between {a} and {b}", "use 0 < percent ≤ 100")
        return await self._network_fault("loss", [(a, b)], {"percent": percent},
                                         lambda net, fid: net.loss(fid, a, b, percent))

    async def heal(self, fault_id: str | None = None) -> list[str]:
        """Remove one network fault, or (no id) every network fault in force. Returns the ids removed."""
        async with self._lock:
            ids = list(self.intent.network) if fault_id is None else [fault_id]
            if fault_id is not None and fault_id not in self.intent.network:
                raise NodeControlError(f"node control: no network fault {fault_id!r} in force",
                                       f"faults in force: {', '.join(self.intent.network) or 'none'}")
            for fid in ids:
                fault = self.intent.network[fid]
                began = time.monotonic()
                net = self._network(fault.kind)
                try:
                    applied = await net.remove(fid)
                except NetworkFaultError as exc:
                    raise NodeControlError(f"node control: removing {fid}: {exc}", exc.remedy) from exc
                del self.intent.network[fid]
                self._changed()
                record_event(self.events, "net.heal", fault=fid, fault_kind=fault.kind, nodes=sorted(fault.nodes()),
                             mechanism=applied.mechanism, took_s=round(time.monotonic() - began, 4), **applied.detail)
            return ids

    async def join(self, role: Role, peers: Sequence[str] | None = None, in_genesis: bool = False) -> NodeEndpoint:
        """Start a new node mid-run. `in_genesis`: one of the topology's standby nodes, whose stake is in the
        genesis; otherwise a node with no stake. `peers`: the nodes it dials (default: the topology's rule)."""
        async with self._lock:
            self._usable()
            for peer in peers or ():
                self._check(peer)
            began = time.monotonic()
            endpoint, fields = await self._join_node(role, list(peers) if peers else None, in_genesis)
            self.names.append(endpoint.name)
            self.intent.add_node(endpoint.name)
            if self.network is not None:
                await self.network.node_added(endpoint.name)
            self._changed()
            self._record("node.join", endpoint.name, role=role.value, in_genesis=in_genesis,
                         peers=list(peers or []), took_s=round(time.monotonic() - began, 3), **fields)
        for listener in self._joined:
            listener(endpoint)
        return endpoint

    def on_join(self, listener: Callable[[NodeEndpoint], object]) -> None:
        """Call `listener` with the endpoint of every node that joins (the run core adds its client)."""
        self._joined.append(listener)

    async def restore_all(self) -> list[str]:
        """The final heal: every network fault removed, every paused node resumed, every stopped or killed
        node started. Returns what was done, e.g. ["heal partition-1", "resume validator-2"]."""
        done = [f"heal {fid}" for fid in await self.heal()] if self.intent.network else []
        for name in list(self.names):
            state = self.intent.of(name)
            if state is NodeState.PAUSED:
                await self.resume(name)
                done.append(f"resume {name}")
            elif state in (NodeState.STOPPED, NodeState.KILLED):
                await self.start(name)
                done.append(f"start {name}")
        return done

    def state_of(self, name: str) -> NodeState:
        self._check(name)
        return self.intent.of(name)

    def offered(self) -> frozenset[str]:
        """The capabilities usable on this cluster now (the network ones only with a working mechanism)."""
        network = self.network.capabilities() if self.network is not None else frozenset()
        return (self.capabilities - NETWORK_CAPABILITIES) | (self.capabilities & network)

    # What a runner implements ----------------------------------------------------------------------

    @abstractmethod
    async def _stop_node(self, name: str, graceful: bool) -> dict[str, Any]:
        """Stop one node (SIGTERM and wait, or SIGKILL when not graceful); returns fields for the event."""

    @abstractmethod
    async def _start_node(self, name: str) -> dict[str, Any]:
        """Start one stopped node with its config and data; returns fields for the event."""

    @abstractmethod
    async def _is_running(self, name: str) -> bool:
        """Whether the node's process / container runs now (as far as this process can tell)."""

    async def _pause_node(self, name: str) -> dict[str, Any]:
        """Freeze one node (SIGSTOP / `docker pause`); returns fields for the event."""
        raise NodeControlError(f"node control: this runner cannot pause {name}", "use a runner that offers pause")

    async def _resume_node(self, name: str) -> dict[str, Any]:
        raise NodeControlError(f"node control: this runner cannot resume {name}", "use a runner that offers pause")

    async def _join_node(self, role: Role, peers: list[str] | None,
                         in_genesis: bool) -> tuple[NodeEndpoint, dict[str, Any]]:
        """Create and start one more node; returns its endpoint and fields for the event."""
        raise NodeControlError("node control: this runner cannot add nodes mid-run", "use a runner that offers join")

    def _usable(self) -> None:  # noqa: B027 - optional hook
        """Raise NodeControlError when the cluster can no longer be controlled (e.g. torn down)."""

    # Bookkeeping -----------------------------------------------------------------------------------

    def _check(self, name: str) -> None:
        if name not in self.names:
            raise NodeControlError(f"node control: no node named {name!r} in run {self.run_id}",
                                   f"use one of: {', '.join(self.names)}")
        self._usable()

    def _link_check(self, a: str, b: str) -> None:
        self._check(a)
        self._check(b)
        if a == b:
            raise NodeControlError(f"node control: a link needs two different nodes, got {a} twice",
                                   "name two nodes")

    def _groups(self, groups: Sequence[Sequence[str]]) -> list[list[str]]:
        cleaned: list[list[str]] = []
        seen: set[str] = set()
        for group in groups:
            members = [str(name) for name in group]
            for name in members:
                self._check(name)
                if name in seen:
                    raise NodeControlError(f"node control: {name} is in two partition groups",
                                           "name every node at most once")
                seen.add(name)
            if members:
                cleaned.append(members)
        rest = [name for name in self.names if name not in seen]
        if rest:
            cleaned.append(rest)
        if len(cleaned) < 2:
            raise NodeControlError(f"node control: partition {groups!r} leaves every node on one side",
                                   "give at least two non-empty groups, or one group that leaves some nodes out")
        return cleaned

    def _network(self, kind: str) -> NetworkFaults:
        if self.network is None or kind not in self.network.capabilities():
            raise NodeControlError(f"node control: {kind} is not available on this cluster",
                                   "see `nomos-testing doctor` for what network faults need (root and iptables "
                                   "on the host runner)")
        return self.network

    async def _network_fault(self, kind: str, links: list[tuple[str, str]], params: dict[str, Any],
                             install: Callable[[NetworkFaults, str], Any]) -> str:
        async with self._lock:
            self._usable()
            net = self._network(kind)
            fault_id = f"{kind}-{next(self._fault_ids)}"
            while fault_id in self.intent.network:
                fault_id = f"{kind}-{next(self._fault_ids)}"
            began = time.monotonic()
            try:
                applied = await install(net, fault_id)
            except NetworkFaultError as exc:
                raise NodeControlError(f"node control: {kind} failed: {exc}", exc.remedy) from exc
            took = round(time.monotonic() - began, 4)
            self.intent.network[fault_id] = NetworkFault(fault_id, kind, tuple(links), params, applied.mechanism,
                                                         time.time())
            self._changed()
            record_event(self.events, f"net.{kind}", fault=fault_id, nodes=sorted({n for ln in links for n in ln}),
                         mechanism=applied.mechanism, took_s=took, **params, **applied.detail)
            return fault_id

    async def _down(self, name: str, state: NodeState, event: str | None) -> None:
        self._check(name)
        if self.intent.of(name) is NodeState.PAUSED:
            await self._resume_node(name)  # a frozen process cannot shut down cleanly
        self.intent.change(name, state)  # first: a node going down on purpose must never look like a crash
        try:
            fields = await self._stop_node(name, graceful=state is NodeState.STOPPED)
        finally:
            self._changed()
        if event:
            self._record(event, name, **fields)

    async def _up(self, name: str, event: str | None) -> dict[str, Any]:
        self._check(name)
        if await self._is_running(name):
            raise NodeControlError(f"node control: {name} is already running", f"stop {name} first")
        fields = await self._start_node(name)
        self.intent.change(name, NodeState.RUNNING)
        if self.network is not None:
            await self.network.node_restarted(name)
        self._changed()
        if event:
            self._record(event, name, **fields)
        return fields

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _record(self, kind: str, name: str, **fields: Any) -> None:
        record_event(self.events, kind, node=name, mechanism=self.mechanism, **fields)
