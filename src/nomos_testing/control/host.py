"""Node control for the host runner: stop, start, kill and restart one node by name.

A restarted node gets the same config, the same data directory (it catches up from its own store) and the
same listening sockets (the runner keeps them open, so the node's address never changes and connections
that arrive while it is down wait in the socket's backlog)."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import TYPE_CHECKING

from nomos_testing.errors import PlanError
from nomos_testing.readiness.sink import EventSink, record_event
from nomos_testing.runners.host.process import NodeProcess, stop_processes

if TYPE_CHECKING:
    from nomos_testing.runners.host.cluster import HostCluster

STOP_GRACE_S = 2.0


class HostNodeControl:
    def __init__(self, cluster: HostCluster, events: EventSink | None = None) -> None:
        self.cluster = cluster
        self.events = events
        self._lock = asyncio.Lock()

    def bind_events(self, events: EventSink | None) -> None:
        """Record every later action into this event history (the run lifecycle calls it)."""
        self.events = events

    async def stop(self, name: str) -> None:
        async with self._lock:
            await self._stop(self._process(name), "node.stop", signal.SIGTERM)

    async def kill(self, name: str) -> None:
        async with self._lock:
            await self._stop(self._process(name), "node.kill", signal.SIGKILL)

    async def start(self, name: str) -> None:
        async with self._lock:
            self._start(self._process(name), "node.start")

    async def restart(self, name: str) -> None:
        async with self._lock:
            process = self._process(name)
            began = time.monotonic()
            await self._stop(process, None, signal.SIGTERM)
            self._start(process, None)
            record_event(self.events, "node.restart", node=name, pid=process.pid,
                         took_s=round(time.monotonic() - began, 3))

    def running(self, name: str) -> bool:
        return self._process(name).alive()

    # -------------------------------------------------------------------------------------------------

    def _process(self, name: str) -> NodeProcess:
        try:
            return self.cluster.processes[name]
        except KeyError:
            known = ", ".join(sorted(self.cluster.processes))
            raise PlanError(f"node control: unknown node {name!r}", f"use one of: {known}") from None

    async def _stop(self, process: NodeProcess, kind: str | None, sig: signal.Signals) -> None:
        process.stopped_on_purpose = True
        pid = process.pid
        if sig is signal.SIGKILL:
            process.send(signal.SIGKILL)
            await stop_processes([process], grace_s=0.5)
        else:
            await stop_processes([process], grace_s=STOP_GRACE_S)
        if process.popen is not None and process.popen.returncode is not None:
            process.exit_codes.append(process.popen.returncode)
        if kind:
            record_event(self.events, kind, node=process.name, pid=pid, exit_code=process.returncode())

    def _start(self, process: NodeProcess, kind: str | None) -> None:
        if process.alive():
            raise PlanError(f"node control: {process.name} is already running", f"stop {process.name} first")
        if self.cluster.torn_down:
            raise PlanError(f"node control: the cluster of run {self.cluster.run_id} is torn down",
                            "control nodes only while the run is active")
        process.spawn()
        self.cluster.save_state(detached=self.cluster.detached)
        if kind:
            record_event(self.events, kind, node=process.name, pid=process.pid)
