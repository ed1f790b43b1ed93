"""The compose runner: every node in its own container from a compose file generated per run."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import sys
import time
from pathlib import Path
from typing import ClassVar

from nomos_testing import settings
from nomos_testing.errors import DeploymentError, PlanError, PrerequisiteError
from nomos_testing.nodes.base import NodeAdapter, default_adapter
from nomos_testing.runners.base import Check, Deployer, Leftover, NodeEndpoint
from nomos_testing.runners.compose.cluster import ComposeCluster
from nomos_testing.runners.compose.compose_cli import (
    COMPOSE_CLI_VARIABLE,
    COMPOSE_COMMANDS,
    ComposeCli,
    compose_cli_choice,
    compose_unavailable,
    find_compose,
    probe_compose,
    to_deployment_error,
)
from nomos_testing.runners.compose.grafana import GRAFANA_PORT, GRAFANA_SERVICE
from nomos_testing.runners.compose.project import (
    ComposeProject,
    ContainerState,
    labelled_kinds,
    labelled_runs,
    remove_abandoned_runs,
    remove_by_label,
)
from nomos_testing.runners.compose.stack import (
    PINNED_COMPOSE_FILE,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    StackSpec,
    project_name,
    write_pinned_stack,
    write_stack,
)
from nomos_testing.runners.shared import images, index
from nomos_testing.runners.shared.control import BASIC_CAPABILITIES, NETWORK_CAPABILITIES
from nomos_testing.runners.shared.docker import RUN_LABEL, DockerCommandError, daemon_status, image_exists, run
from nomos_testing.runners.shared.grafana import grafana_check, grafana_choice, grafana_outcome, grafana_report
from nomos_testing.runners.shared.netfaults.engine import unavailable_capabilities
from nomos_testing.runners.shared.netfaults.preflight import network_faults_check
from nomos_testing.runners.shared.owner import owner_alive, owner_token
from nomos_testing.runners.shared.preflight import leftovers_check
from nomos_testing.runners.shared.prometheus import PROMETHEUS_CAPABILITY
from nomos_testing.runners.shared.state import RunState, read_state, remove_state
from nomos_testing.topology.model import GeneratedTopology, Role

MIN_FREE_DISK_GB = 2.0
FAILED_LOG_TAIL = 30


def runner_host() -> str:
    host = settings.raw("COMPOSE_RUNNER_HOST") or "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise PlanError(f"COMPOSE_RUNNER_HOST={host!r} is not an IP address",
                        "set COMPOSE_RUNNER_HOST to a host address such as 127.0.0.1") from exc
    if address.version != 4:  # `HOST::PORT` in a compose port binding: v1 cannot parse an IPv6 host there
        raise PlanError(f"COMPOSE_RUNNER_HOST={host!r} is an IPv6 address; published ports bind to IPv4 only",
                        "set COMPOSE_RUNNER_HOST to an IPv4 address such as 127.0.0.1")
    return host


def prometheus_port() -> int | None:
    port = settings.integer("TEST_FRAMEWORK_PROMETHEUS_PORT")
    if port is not None and not 1 <= port <= 65535:
        raise PlanError(f"TEST_FRAMEWORK_PROMETHEUS_PORT={port} is not a TCP port",
                        "set it to a port between 1 and 65535, or unset it for an ephemeral port")
    return port


def _url(container: ContainerState, port: int) -> str:
    url = container.url(port)
    if url is None:
        raise DeploymentError(f"{container.service}: container port {port} is not published "
                              f"(container status: {container.status})",
                              "read the container's log (docker logs) and the run's compose.yaml")
    return url


class ComposeDeployer(Deployer):
    name: ClassVar[str] = "compose"
    capabilities: ClassVar[frozenset[str]] = BASIC_CAPABILITIES | NETWORK_CAPABILITIES | {"pause", "join", "detach",
                                                                                          PROMETHEUS_CAPABILITY}
    # Slot 0 starts this long after the configs are written: containers take a moment to come up.
    default_chain_start_lead_s: ClassVar[float] = 2.0
    _chain_start: float = 0.0  # of the stack written last (write_stack)

    @classmethod
    def unavailable_capabilities(cls) -> dict[str, str]:
        return unavailable_capabilities(namespaces=True)

    # Preflight ---------------------------------------------------------------------------------------

    def preflight(self, adapter: NodeAdapter | None = None) -> list[Check]:
        adapter = adapter or default_adapter()
        reachable, detail = daemon_status()
        checks = [Check("Docker daemon reachable", reachable, detail,
                        "" if reachable else "start the Docker engine (`dockerd &` or `systemctl start docker`) "
                                             "and check `docker info`")]
        checks.append(self._compose_check())
        checks.append(self._settings_check())
        if reachable:
            checks += [self._node_image_check(adapter), self._prometheus_image_check(), grafana_check()]
        checks.append(self._disk_check(reachable))
        if reachable:
            checks.append(leftovers_check(self, required=False))
        checks.append(network_faults_check(namespaces=True))
        return checks

    @staticmethod
    def _compose_check() -> Check:
        try:
            cli = find_compose()
            if cli is None:
                raise compose_unavailable()
        except (PlanError, PrerequisiteError) as exc:  # a junk NOMOS_COMPOSE_CLI / the chosen CLI is missing
            return Check("compose CLI", False, exc.message, exc.remedy or "")
        return Check("compose CLI", True, f"{cli.display()} {cli.version} ({COMPOSE_CLI_VARIABLE}="
                                          f"{compose_cli_choice()})")

    @staticmethod
    def _settings_check() -> Check:
        try:
            host, port = runner_host(), prometheus_port()
            settings.flag("COMPOSE_RUNNER_PRESERVE")
        except PlanError as exc:
            return Check("compose runner settings", False, exc.message, exc.remedy or "")
        return Check("compose runner settings", True,
                     f"ports published on {host}; Prometheus host port {port or 'ephemeral'}")

    @staticmethod
    def _buildable() -> tuple[bool, str]:
        if image_exists(images.BASE_IMAGE):
            return True, f"buildable from the local base {images.BASE_IMAGE}"
        if images.debootstrap_available():
            return True, "buildable: official base if pullable, else a debootstrap base (about a minute, once)"
        return False, f"{images.OFFICIAL_PYTHON_IMAGE} must then be pullable (debootstrap is not installed)"

    def _node_image_check(self, adapter: NodeAdapter) -> Check:
        try:
            node_image = adapter.image()
            labels = node_image.labels()
        except PrerequisiteError as exc:
            return Check("node image", False, exc.message, exc.remedy or "")
        if labels is not None:
            return Check("node image", True, f"{node_image.tag} present (rebuilt on the next run when its sources "
                                             "changed)")
        ok, how = self._buildable()
        return Check("node image", ok, f"{node_image.tag} not built yet; {how}",
                     "" if ok else "apt-get install -y debootstrap, or run `nomos-testing image build` where the "
                                   "official python image can be pulled")

    def _prometheus_image_check(self) -> Check:
        tag = images.prometheus_image_tag()
        if image_exists(tag):
            return Check("Prometheus image", True, f"{tag} present")
        ok, how = self._buildable()
        return Check("Prometheus image", ok, f"{tag} not built yet; {how}",
                     "" if ok else "apt-get install -y debootstrap")

    @staticmethod
    def _disk_check(reachable: bool) -> Check:
        where = Path("/")
        if reachable:
            done = run(["docker", "info", "--format", "{{.DockerRootDir}}"], timeout=15, check=False)
            root = Path(done.stdout.strip())
            if done.returncode == 0 and root.is_dir():
                where = root
        free_gb = shutil.disk_usage(where).free / 1e9
        return Check("free disk", free_gb >= MIN_FREE_DISK_GB, f"{free_gb:.1f} GB free at {where}",
                     f"free at least {MIN_FREE_DISK_GB:g} GB (`docker system prune`, `nomos-testing clean`)")

    # Deploy ------------------------------------------------------------------------------------------

    async def deploy(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> ComposeCluster:
        if not topology.nodes:
            raise DeploymentError("the topology has no nodes", "configure at least one validator")
        run_dir = run_dir.resolve()
        reachable, detail = daemon_status()
        if not reachable:
            raise PrerequisiteError(f"Docker daemon not reachable: {detail}", "start dockerd; check `docker info`")
        cli = find_compose()  # a junk NOMOS_COMPOSE_CLI is a PlanError naming it
        if cli is None:
            raise compose_unavailable()
        # Every setting is read before a container exists: a malformed one must not strand a started stack.
        host, pinned_prometheus = runner_host(), prometheus_port()
        preserve = settings.flag("COMPOSE_RUNNER_PRESERVE")
        adapter = topology.adapter
        node_image = adapter.image()
        node_tag = await asyncio.to_thread(node_image.ensure, images.stderr_log)
        prometheus_image = await asyncio.to_thread(images.ensure_prometheus_image)
        grafana = await asyncio.to_thread(grafana_choice)  # never pulled: present locally, or skipped saying why
        labels = await asyncio.to_thread(node_image.labels) or {}
        spec = StackSpec(run_id=run_id, node_image=node_tag, prometheus_image=prometheus_image,
                         node_environment={**adapter.environment(), **adapter.container_environment(labels)},
                         owner=owner_token(), grafana_image=grafana.image)
        compose_file = self.write_stack(topology, spec, run_dir)
        chain_start = self._chain_start
        project = ComposeProject(run_id, project_name(run_id), compose_file, cli)
        log_names = {n.name: adapter.log_file_name(n) for n in topology.nodes}
        ports = adapter.container_ports
        try:
            await project.up()
            containers = {c.service: c for c in await project.containers()}
            exited = sorted(name for name, c in containers.items() if c.status in ("exited", "dead"))
            if exited:
                raise DeploymentError(f"{len(exited)} container(s) exited during start-up: {', '.join(exited)}",
                                      "read the log tail below; `nomos-node CONFIG` prints config errors itself")
            nodes = [NodeEndpoint(n.name, n.role, n.index, _url(self._get(containers, n.name), ports.api),
                                  _url(self._get(containers, n.name), ports.testing)) for n in topology.nodes]
            prometheus_url = _url(self._get(containers, PROMETHEUS_SERVICE), PROMETHEUS_PORT)
            grafana_url = _url(self._get(containers, GRAFANA_SERVICE), GRAFANA_PORT) if grafana.image else None
        except (DockerCommandError, DeploymentError) as exc:
            error = exc if isinstance(exc, DeploymentError) else to_deployment_error(exc, f"compose up of run {run_id}")
            await self._abort(project, run_dir, log_names, error)
            raise error from exc
        except BaseException:
            await asyncio.shield(self._abort(project, run_dir, log_names, None))
            raise
        pinned = {name: c.pinned_ports() for name, c in containers.items()}
        pinned_file = write_pinned_stack(topology, spec, run_dir, pinned)
        print(f"  compose project {project.name}: {compose_file}\n  prometheus {prometheus_url}\n  "
              f"{f'grafana {grafana_url}' if grafana_url else grafana.summary()}", file=sys.stderr, flush=True)
        cluster = ComposeCluster(
            run_id, run_dir, nodes, project, pinned_file, log_names, prometheus_url=prometheus_url,
            extra_report={"prometheus_url": prometheus_url, "compose_project": project.name,
                          "compose_file": str(compose_file), "compose_cli": f"{cli.display()} {cli.version}",
                          "node_image": node_tag, "prometheus_image": prometheus_image, "published_on": host,
                          "prometheus_port_pinned": pinned_prometheus is not None,
                          **grafana_report(grafana, grafana_url)},
            preserve=preserve)
        cluster.notices.append(grafana_outcome(grafana, grafana_url))
        cluster.joinable(topology, spec, chain_start, pinned)
        cluster.save_state()
        return cluster

    def write_stack(self, topology: GeneratedTopology, spec: StackSpec, run_dir: Path) -> Path:
        """Write node configs, Prometheus config and compose.yaml; returns the compose file."""
        self._chain_start = time.time() + self.chain_start_lead_s  # nodes that join later get the same genesis
        return write_stack(topology, spec, run_dir, self._chain_start)

    @staticmethod
    def _get(containers: dict[str, ContainerState], service: str) -> ContainerState:
        if service not in containers:
            raise DeploymentError(f"compose up finished but service {service} has no container",
                                  "read the run's compose.yaml and `docker ps -a`")
        return containers[service]

    @staticmethod
    async def _abort(project: ComposeProject, run_dir: Path, log_names: dict[str, str],
                     error: DeploymentError | None) -> None:
        """Add the failing containers' log tails to the error, keep every log, remove the stack."""
        try:
            for container in await project.containers():
                log = await project.logs(container.container_id)
                (run_dir / "logs").mkdir(parents=True, exist_ok=True)
                name = log_names.get(container.service, f"{container.service}.log")
                (run_dir / "logs" / name).write_text(log)
                if error is not None and container.status in ("exited", "dead", "created"):
                    tail = "\n".join(log.rstrip().splitlines()[-FAILED_LOG_TAIL:])
                    error.message += f"\n{container.service} ({container.status}, exit {container.exit_code}):\n{tail}"
        except (DockerCommandError, OSError, TimeoutError) as exc:
            print(f"could not read the containers of {project.name}: {exc}", file=sys.stderr)
        if settings.flag("COMPOSE_RUNNER_PRESERVE"):
            return
        with contextlib.suppress(DockerCommandError):
            await project.down()
        await asyncio.to_thread(remove_by_label, f"{RUN_LABEL}={project.run_id}")

    # Clusters of other processes --------------------------------------------------------------------

    def attach(self, state: RunState, topology: GeneratedTopology | None = None) -> ComposeCluster:
        recorded = state.runner_state
        cli = self._down_cli(recorded)
        if cli is None:
            raise compose_unavailable()
        project = ComposeProject(state.run_id, str(recorded["project"]), Path(str(recorded["compose_file"])), cli)
        nodes = [NodeEndpoint(r.name, Role(r.role), r.index, r.api_url, r.testing_url) for r in state.nodes]
        pinned_file = Path(str(recorded.get("pinned_file") or state.run_dir / PINNED_COMPOSE_FILE))
        return ComposeCluster(state.run_id, state.run_dir, nodes, project, pinned_file,
                              {r.name: str(r.runner.get("log", f"{r.name}.log")) for r in state.nodes},
                              prometheus_url=state.prometheus_url, extra_report=dict(recorded.get("extra_report", {})),
                              intent=state.intent, detached=state.detached, pinned=set(recorded.get("pinned", [])))

    def leftovers(self, entry: index.IndexEntry) -> list[Leftover]:
        if not daemon_status()[0]:
            return []
        return [Leftover(f"{kind} of run {entry.run_id}") for kind in labelled_kinds(entry.run_id)]

    async def remove_leftovers(self, entry: index.IndexEntry) -> list[str]:
        removed: list[str] = []
        state = read_state(entry.path)
        if state is not None and daemon_status()[0]:
            try:
                cluster = self.attach(state)
                await cluster.destroy()
                removed.append(f"compose project {cluster.project.name}")
            except (DockerCommandError, PrerequisiteError) as exc:
                removed.append(f"compose down failed ({exc}); removed by label instead")
        if daemon_status()[0]:
            removed += await asyncio.to_thread(remove_by_label, f"{RUN_LABEL}={entry.run_id}")
        remove_state(entry.path)
        return removed

    async def sweep(self, dry_run: bool = False) -> list[str]:
        if not daemon_status()[0]:
            return []
        if dry_run:
            return [f"resources of run {run_id}" for run_id, owner in sorted(labelled_runs().items())
                    if not (owner and owner_alive(owner))]
        return await asyncio.to_thread(remove_abandoned_runs)

    @staticmethod
    def _down_cli(recorded: dict[str, object]) -> ComposeCli | None:
        """The CLI that brought the stack up, when it still works and NOMOS_COMPOSE_CLI does not name
        another; else the one NOMOS_COMPOSE_CLI selects. Either removes the stack (both find it by the
        compose labels); whatever is left is removed by the run label."""
        recorded_argv = recorded.get("compose_cli")
        argv = tuple(str(word) for word in recorded_argv) if isinstance(recorded_argv, list) else ()
        kind = next((name for name, command in COMPOSE_COMMANDS.items() if command == argv), None)
        choice = compose_cli_choice()
        if kind is not None and choice in ("auto", kind):
            cli, _ = probe_compose(kind, strict=False)
            if cli is not None:
                return cli
        return find_compose()
