"""Node control for the compose runner: `compose stop` / `compose kill` / `compose up` of one node's service,
`docker pause` / `unpause` of its container (the cgroup freezer: the process and its sockets stay, nothing
runs), and joining a node (`ComposeCluster.join_node`: a service added to the run's compose files).

Starting again goes through `compose.pinned.yaml` (the host ports the first `up` got), because Docker picks
a new ephemeral host port each time a container with an unpinned port starts, and the node's URLs must not
change under the workloads. Data volume and mounted config survive, so the node catches up. The first such
start recreates the container; its log so far is kept in logs/.earlier/ so the run's logs hold both lives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.errors import NodeControlError
from nomos_testing.runners.compose.compose_cli import COMPOSE_SERVICE_LABEL
from nomos_testing.runners.compose.project import STOP_GRACE_S
from nomos_testing.runners.shared.control import BASIC_CAPABILITIES, NETWORK_CAPABILITIES, NodeControl
from nomos_testing.runners.shared.docker import RUN_LABEL, DockerCommandError, arun

if TYPE_CHECKING:
    from nomos_testing.runners.base import NodeEndpoint
    from nomos_testing.runners.compose.cluster import ComposeCluster
    from nomos_testing.topology.model import Role

RUNNING = "running"
PAUSED = "paused"  # docker's status of a frozen container: its process exists, so it is not an exit


class ComposeNodeControl(NodeControl):
    capabilities: ClassVar[frozenset[str]] = BASIC_CAPABILITIES | NETWORK_CAPABILITIES | {"pause", "join"}
    mechanism = "docker compose stop / kill -s SIGKILL / up (pinned host ports); docker pause / unpause"

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
        return any(c.service == name and c.status in (RUNNING, PAUSED) for c in containers)

    async def _docker_on_container(self, name: str, action: str) -> dict[str, Any]:
        """`docker pause` / `unpause` of the node's container, found by its labels (one docker call each)."""
        try:
            _, ids, _ = await arun(["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={self.cluster.run_id}",
                                    "--filter", f"label={COMPOSE_SERVICE_LABEL}={name}"])
            if not ids.split():
                raise NodeControlError(f"node control: {name} has no container to {action}",
                                       f"start {name} first (`docker ps -a` lists the run's containers)")
            await arun(["docker", action, *ids.split()])
        except DockerCommandError as exc:
            raise NodeControlError(f"node control: docker {action} of {name}: {exc}",
                                   "check `docker info` (pause needs the cgroup freezer)") from exc
        return {"via": f"docker {action}", "container": ids.split()[0][:12]}

    async def _pause_node(self, name: str) -> dict[str, Any]:
        return await self._docker_on_container(name, "pause")

    async def _resume_node(self, name: str) -> dict[str, Any]:
        return await self._docker_on_container(name, "unpause")

    async def _join_node(self, role: Role, peers: list[str] | None,
                         in_genesis: bool) -> tuple[NodeEndpoint, dict[str, Any]]:
        return await self.cluster.join_node(role, peers, in_genesis)

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
