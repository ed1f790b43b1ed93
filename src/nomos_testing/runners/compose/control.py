"""Node control for the compose runner: `compose stop` / `compose kill` / `compose up` of one node's service.

Starting again goes through `compose.pinned.yaml` (the host ports the first `up` got), because Docker picks
a new ephemeral host port each time a container with an unpinned port starts, and the node's URLs must not
change under the workloads. Data volume and mounted config survive, so the node catches up. The first such
start recreates the container; its log so far is kept in logs/.earlier/ so the run's logs hold both lives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nomos_testing.errors import NodeControlError
from nomos_testing.runners.compose.project import STOP_GRACE_S
from nomos_testing.runners.shared.control import NodeControl
from nomos_testing.runners.shared.docker import DockerCommandError

if TYPE_CHECKING:
    from nomos_testing.runners.compose.cluster import ComposeCluster

RUNNING = "running"


class ComposeNodeControl(NodeControl):
    mechanism = "docker compose stop / kill -s SIGKILL / up (pinned host ports)"

    def __init__(self, cluster: ComposeCluster) -> None:
        super().__init__([n.name for n in cluster.nodes], cluster.intent, cluster.run_id, on_change=cluster.save_state)
        self.cluster = cluster

    def _usable(self) -> None:
        if self.cluster.torn_down:
            raise NodeControlError(f"node control: the stack of run {self.cluster.run_id} is removed",
                                   "control nodes only while the run is active")

    async def _compose(self, name: str, *args: str, pinned: bool = False) -> None:
        try:
            await self.cluster.project.compose(*args, compose_file=self.cluster.pinned_file if pinned else None)
        except DockerCommandError as exc:
            raise NodeControlError(f"node control on {name}: {exc}",
                                   "check `docker info` and the run's compose.yaml") from exc

    async def _is_running(self, name: str) -> bool:
        containers = await self.cluster.project.containers()
        return any(c.service == name and c.status == RUNNING for c in containers)

    async def _stop_node(self, name: str, graceful: bool) -> dict[str, Any]:
        if graceful:
            await self._compose(name, "stop", "--timeout", str(STOP_GRACE_S), name)
        else:
            await self._compose(name, "kill", "-s", "SIGKILL", name)
        return {}

    async def _start_node(self, name: str) -> dict[str, Any]:
        if name not in self.cluster.pinned:
            await self.cluster.keep_earlier_log(name)
        await self._compose(name, "up", "-d", "--no-deps", "--no-build", name, pinned=True)
        self.cluster.pinned.add(name)
        return {}
