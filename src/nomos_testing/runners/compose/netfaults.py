"""Network faults on the compose runner: the shared engine acting inside each node container's own network
namespace (entered by the container's pid), between the containers' addresses on the run's network.

`docker inspect` gives each container's pid and IP; they are cached until a node starts again, since a
recreated container has a new process (so a new namespace) and may get a new IP — then the faults involving
it are installed again (`node_restarted`). A stopped container has neither: its rules wait for its start.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from nomos_testing.runners.compose.compose_cli import COMPOSE_SERVICE_LABEL
from nomos_testing.runners.shared.docker import RUN_LABEL, DockerCommandError, arun
from nomos_testing.runners.shared.netfaults.base import NetworkFaultError
from nomos_testing.runners.shared.netfaults.engine import Endpoint, IptablesNetworkFaults
from nomos_testing.runners.shared.netfaults.namespace import Namespace

WHERE = "inside each container's network namespace"
INSPECT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Placement:
    service: str
    container: str
    pid: int
    address: str


async def inspect_run(run_id: str) -> dict[str, Placement]:
    """The running containers of a run by service: pid and IP on the run's network (two docker calls)."""
    try:
        _, ids, _ = await arun(["docker", "ps", "-q", "--filter", f"label={RUN_LABEL}={run_id}"],
                               timeout=INSPECT_TIMEOUT_S)
        if not ids.split():
            return {}
        _, raw, _ = await arun(["docker", "inspect", *ids.split()], timeout=INSPECT_TIMEOUT_S)
    except DockerCommandError as exc:
        raise NetworkFaultError(f"cannot find the containers of run {run_id}: {exc}", "check `docker info`") from exc
    found: dict[str, Placement] = {}
    for item in json.loads(raw):
        service = (item.get("Config", {}).get("Labels") or {}).get(COMPOSE_SERVICE_LABEL)
        state = item.get("State") or {}
        networks = (item.get("NetworkSettings") or {}).get("Networks") or {}
        addresses = [net.get("IPAddress") for net in networks.values() if net.get("IPAddress")]
        if service and state.get("Running") and state.get("Pid") and addresses:
            found[service] = Placement(service, str(item.get("Id", ""))[:12], int(state["Pid"]), addresses[0])
    return found


class ComposeNetworkFaults(IptablesNetworkFaults):
    def __init__(self, run_id: str) -> None:
        self._placements: dict[str, Placement] = {}
        self._refresh_lock = asyncio.Lock()
        super().__init__(run_id, self._resolve, WHERE, namespaces=True)

    async def _resolve(self, name: str) -> Endpoint | None:
        placement = self._placements.get(name)
        if placement is None:
            async with self._refresh_lock:  # one docker inspect for every node a fault names
                if name not in self._placements:
                    self._placements = await inspect_run(self.run_id)
                placement = self._placements.get(name)
        if placement is None:
            return None
        return Endpoint(Namespace.of_pid(placement.pid, f"{name} ({placement.container})"), placement.address)

    def placement(self, name: str) -> Placement | None:
        return self._placements.get(name)

    async def node_restarted(self, name: str) -> None:
        self._placements.pop(name, None)  # a new process, maybe a new IP: ask docker again
        await super().node_restarted(name)
