"""A running compose stack as the run core sees it: endpoints, exit detection, log collection, teardown, and
nodes that join mid-run (a service added to the run's compose files, then `up` on its own)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nomos_testing.errors import NodeControlError
from nomos_testing.runners.base import Cluster, NodeEndpoint
from nomos_testing.runners.compose.control import ComposeNodeControl
from nomos_testing.runners.compose.grafana import GRAFANA_SERVICE
from nomos_testing.runners.compose.netfaults import ComposeNetworkFaults
from nomos_testing.runners.compose.project import UP_TIMEOUT_S, ComposeProject, ContainerState, remove_by_label
from nomos_testing.runners.compose.stack import PROMETHEUS_SERVICE, StackSpec, add_node_to_stack, write_pinned_stack
from nomos_testing.runners.shared.docker import RUN_LABEL, DockerCommandError, arun
from nomos_testing.runners.shared.intent import IntendedState, NodeState
from nomos_testing.runners.shared.joining import wait_api_answers
from nomos_testing.runners.shared.netfaults.base import NetworkFaultError
from nomos_testing.topology.join import plan_join, with_joined
from nomos_testing.topology.model import GeneratedTopology, Role

LOG_TAIL_LINES = 30
EARLIER_LOGS = Path("logs") / ".earlier"  # logs of containers replaced by their pinned twin


class ComposeCluster(Cluster):
    def __init__(self, run_id: str, run_dir: Path, nodes: list[NodeEndpoint], project: ComposeProject,
                 pinned_file: Path, log_names: dict[str, str], prometheus_url: str | None = None,
                 extra_report: dict[str, Any] | None = None, preserve: bool = False,
                 intent: IntendedState | None = None, detached: bool = False,
                 pinned: set[str] | None = None) -> None:
        super().__init__(run_id, "compose", run_dir, nodes, intent=intent, prometheus_url=prometheus_url,
                         extra_report=extra_report, detached=detached)
        self.project = project
        self.pinned_file = pinned_file
        self.log_names = log_names  # node name -> nomos-node-<i>.log / nomos-executor-<i>.log
        self.preserve = preserve
        self.pinned: set[str] = set(pinned or ())  # services already recreated from the pinned file
        # What adding a node needs; set by the deployer (a cluster attached from run-state cannot add nodes)
        self.topology: GeneratedTopology | None = None
        self.stack: StackSpec | None = None
        self.chain_start_time: float | None = None
        self.pinned_ports: dict[str, dict[int, int]] = {}
        self.control = ComposeNodeControl(self)
        self.control.network = ComposeNetworkFaults(run_id)

    def joinable(self, topology: GeneratedTopology, stack: StackSpec, chain_start_time: float,
                 pinned_ports: dict[str, dict[int, int]]) -> None:
        """Keep what adding nodes later needs; the topology's standby validators are down on purpose."""
        self.topology, self.stack, self.chain_start_time = topology, stack, chain_start_time
        self.pinned_ports = {name: dict(ports) for name, ports in pinned_ports.items()}
        for node in topology.standby:
            self.intent.add_node(node.name, NodeState.STANDBY)

    async def exited(self) -> dict[str, str]:
        exited: dict[str, str] = {}
        for container in await self.project.containers():
            if container.service not in self.log_names:
                continue
            if container.status in ("exited", "dead"):
                tail = (await self.project.logs(container.container_id, tail=LOG_TAIL_LINES)).rstrip()
                exited[container.service] = (f"container exited with code {container.exit_code}; "
                                             f"last {LOG_TAIL_LINES} log lines:\n{tail}")
        return exited

    async def join_node(self, role: Role, peers: Sequence[str] | None,
                        in_genesis: bool) -> tuple[NodeEndpoint, dict[str, Any]]:
        if self.topology is None or self.stack is None or self.chain_start_time is None:
            raise NodeControlError(f"node control: run {self.run_id} was attached from its run-state file; only "
                                   "the process that deployed it can add nodes",
                                   "join nodes from the scenario run (a workload, or the run core's deployed())")
        present = [node.name for node in self.nodes]
        running = [name for name in present if self.intent.should_run(name)]
        joining = plan_join(self.topology, role, peers, in_genesis, present, running)
        node = joining.node
        topology = with_joined(self.topology, node, joining.peers)
        compose_file = await asyncio.to_thread(add_node_to_stack, topology, node, self.stack, self.run_dir,
                                               self.chain_start_time, self.pinned_ports)
        self.topology = topology
        self.log_names[node.name] = topology.adapter.log_file_name(node)
        try:
            await self.project.compose("up", "-d", "--no-deps", "--no-build", node.name, timeout=UP_TIMEOUT_S)
            container = next((c for c in await self.project.containers() if c.service == node.name), None)
        except DockerCommandError as exc:
            raise NodeControlError(f"node control: compose up of the joined node {node.name}: {exc}",
                                   f"read {compose_file} and `docker info`") from exc
        ports = topology.adapter.container_ports
        api, testing = (container.url(ports.api), container.url(ports.testing)) if container else (None, None)
        if container is None or api is None or testing is None:
            tail = await self.project.logs(container.container_id, tail=LOG_TAIL_LINES) if container else ""
            raise NodeControlError(f"node control: joined node {node.name} has no running container "
                                   f"({container.status if container else 'none'}):\n{tail.rstrip()}",
                                   f"read {compose_file} and the node's log")
        endpoint = NodeEndpoint(node.name, node.role, node.index, api, testing)
        self.nodes.append(endpoint)
        self.pinned_ports[node.name] = container.pinned_ports()
        await asyncio.to_thread(write_pinned_stack, topology, self.stack, self.run_dir, self.pinned_ports)
        await self._reload_prometheus()
        api_s = await wait_api_answers(topology.adapter, endpoint, lambda: self._exit_of(node.name))
        return endpoint, {"dials": list(joining.peers), "service": node.name, "api_answered_s": api_s,
                          "via": f"service added to {compose_file.name}, compose up -d --no-deps"}

    async def _exit_of(self, service: str) -> str | None:
        return (await self.exited()).get(service)

    async def _reload_prometheus(self) -> None:
        """Prometheus re-reads its config (now with the joined node's scrape job) on SIGHUP."""
        found: list[ContainerState] = [c for c in await self.project.containers() if c.service == PROMETHEUS_SERVICE]
        for container in found:
            await arun(["docker", "kill", "-s", "HUP", container.container_id], check=False)

    async def keep_earlier_log(self, service: str) -> None:
        for container in await self.project.containers():
            if container.service == service:
                folder = self.run_dir / EARLIER_LOGS
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{service}.log").write_text(await self.project.logs(container.container_id))

    async def collect_logs(self, logs_dir: Path) -> None:
        """Every container's full log (stdout and stderr, in order) into logs_dir, earlier lives first."""
        logs_dir.mkdir(parents=True, exist_ok=True)
        for container in await self.project.containers():
            if container.service in self.log_names:
                target = logs_dir / self.log_names[container.service]
            elif container.service in (PROMETHEUS_SERVICE, GRAFANA_SERVICE):
                target = logs_dir / f"{container.service}.log"
            else:
                continue
            earlier = self.run_dir / EARLIER_LOGS / f"{container.service}.log"
            before = earlier.read_text() if earlier.is_file() else ""
            target.write_text(before + await self.project.logs(container.container_id))

    async def teardown(self) -> None:
        if self.preserve and not self.detached and not self.torn_down:
            self.detach()  # kept running on purpose: `down` (or `clean`) removes it later
            print(preserved_message(self.project, self.run_dir), file=sys.stderr, flush=True)
            return
        await super().teardown()

    async def _stop_everything(self) -> None:
        if self.control is not None and self.control.network is not None:
            try:  # the delay proxies; the rules go with the containers' namespaces anyway
                await self.control.network.close()
            except NetworkFaultError as exc:
                print(f"removing the network faults of {self.project.name}: {exc}", file=sys.stderr)
        # Logs are already collected and volumes are deleted: no graceful stop needed. Removing the
        # containers in one docker call first makes `down` (which stops them one by one in v1) quick.
        await self.project.remove_containers()
        try:
            await self.project.down()
        except DockerCommandError as exc:
            print(f"compose down of {self.project.name} failed ({exc}); removing by label", file=sys.stderr)
        remove_by_label(f"{RUN_LABEL}={self.run_id}")  # whatever `down` missed (e.g. a half-created stack)

    def node_runner_state(self, name: str) -> dict[str, Any]:
        return {"service": name, "log": self.log_names[name]}

    def runner_state(self) -> dict[str, Any]:
        return {"project": self.project.name, "compose_file": str(self.project.compose_file),
                "pinned_file": str(self.pinned_file), "compose_cli": list(self.project.cli.argv),
                "compose_version": self.project.cli.version, "pinned": sorted(self.pinned),
                "preserve": self.preserve, "extra_report": self.extra_report}


def preserved_message(project: ComposeProject, run_dir: Path) -> str:
    compose = f"{project.cli.display()} -p {project.name} -f {project.compose_file}"
    return "\n".join([
        f"COMPOSE_RUNNER_PRESERVE=1: the compose stack of run {project.run_id} is kept running.",
        f"  list:    docker ps -a --filter label={RUN_LABEL}={project.run_id}",
        f"  status:  {compose} ps",
        f"  logs:    {compose} logs <service>      (services: validator-0, …, prometheus)",
        f"  remove:  nomos-testing down {project.run_id}   or   {compose} down -v",
        "  all leftovers of finished runs:  nomos-testing clean",
    ])
