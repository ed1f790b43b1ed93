"""Node control: one interface for every runner, with the bookkeeping written once.

`NodeControl` checks the node name, updates the intended state (so a node stopped on purpose is not reported
as crashed, and expectations know it is down), records every action into the run's event history with the
mechanism that did it, and persists the new state (run-state file) — runners implement only the mechanism.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from nomos_testing.errors import NodeControlError
from nomos_testing.observe.events import EventSink, record_event
from nomos_testing.runners.shared.intent import IntendedState, NodeState

BASIC_CAPABILITIES = frozenset({"stop", "start", "kill", "restart"})


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

    def state_of(self, name: str) -> NodeState:
        self._check(name)
        return self.intent.of(name)

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

    def _usable(self) -> None:  # noqa: B027 - optional hook
        """Raise NodeControlError when the cluster can no longer be controlled (e.g. torn down)."""

    # Bookkeeping -----------------------------------------------------------------------------------

    def _check(self, name: str) -> None:
        if name not in self.names:
            raise NodeControlError(f"node control: no node named {name!r} in run {self.run_id}",
                                   f"use one of: {', '.join(self.names)}")
        self._usable()

    async def _down(self, name: str, state: NodeState, event: str | None) -> None:
        self._check(name)
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
        self._changed()
        if event:
            self._record(event, name, **fields)
        return fields

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def _record(self, kind: str, name: str, **fields: Any) -> None:
        record_event(self.events, kind, node=name, mechanism=self.mechanism, **fields)
