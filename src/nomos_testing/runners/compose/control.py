"""Node control for the compose runner: restart / stop / start / kill one node's container.

Starting again goes through `compose.pinned.yaml` (the host ports the first `up` got), because Docker
picks a new ephemeral host port each time a container with an unpinned port starts, and the node's URLs
must not change under the workloads. Data volume and mounted config survive, so the node catches up.
The first such start recreates the container, so its log so far is kept in `earlier_logs` first.
"""

from __future__ import annotations

import time
from pathlib import Path

from nomos_testing.errors import PlanError
from nomos_testing.readiness.sink import EventSink, record_event
from nomos_testing.runners.compose.docker import DockerCommandError, to_deployment_error
from nomos_testing.runners.compose.project import STOP_GRACE_S, ComposeProject


class ComposeNodeControl:
    def __init__(self, project: ComposeProject, pinned_file: Path, node_names: list[str]) -> None:
        self._project = project
        self._pinned_file = pinned_file
        self._names = list(node_names)
        self.intentionally_down: set[str] = set()  # stopped or killed on purpose: not a crash
        self.earlier_logs: dict[str, str] = {}  # logs of containers replaced by their pinned twin
        self._pinned: set[str] = set()
        self.events: EventSink | None = None

    def bind_events(self, events: EventSink | None) -> None:
        """Record every later action into this event history (the run lifecycle calls it)."""
        self.events = events

    def _check(self, name: str) -> None:
        if name not in self._names:
            raise PlanError(f"node control: no node named {name!r} in run {self._project.run_id}",
                            f"use one of: {', '.join(self._names)}")

    async def _compose(self, name: str, *args: str, pinned: bool = False) -> None:
        try:
            await self._project.compose(*args, compose_file=self._pinned_file if pinned else None)
        except DockerCommandError as exc:
            raise to_deployment_error(exc, f"node control on {name}") from exc

    async def stop(self, name: str) -> None:
        self._check(name)
        self.intentionally_down.add(name)
        await self._compose(name, "stop", "--timeout", str(STOP_GRACE_S), name)
        record_event(self.events, "node.stop", node=name)

    async def kill(self, name: str) -> None:
        self._check(name)
        self.intentionally_down.add(name)
        await self._compose(name, "kill", "-s", "SIGKILL", name)
        record_event(self.events, "node.kill", node=name)

    async def start(self, name: str) -> None:
        self._check(name)
        if name not in self._pinned:
            for container in await self._project.containers():
                if container.service == name:
                    self.earlier_logs[name] = await self._project.logs(container.container_id)
        await self._compose(name, "up", "-d", "--no-deps", "--no-build", name, pinned=True)
        self._pinned.add(name)
        self.intentionally_down.discard(name)
        record_event(self.events, "node.start", node=name)

    async def restart(self, name: str) -> None:
        began = time.monotonic()
        await self.stop(name)
        await self.start(name)
        record_event(self.events, "node.restart", node=name, took_s=round(time.monotonic() - began, 3))
