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
from nomos_testing.runners.base import Check, Cluster, ManagedDeployer, NodeEndpoint
from nomos_testing.runners.compose import image
from nomos_testing.runners.compose.cluster import ComposeCluster, load_state, save_state
from nomos_testing.runners.compose.control import ComposeNodeControl
from nomos_testing.runners.compose.docker import (
    RUN_LABEL,
    ComposeCli,
    DockerCommandError,
    daemon_status,
    find_compose,
    image_exists,
    owner_alive,
    owner_token,
    run,
    to_deployment_error,
)
from nomos_testing.runners.compose.project import (
    ComposeProject,
    ContainerState,
    labelled_runs,
    remove_abandoned_runs,
    remove_by_label,
)
from nomos_testing.runners.compose.stack import (
    API_PORT,
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    TESTING_PORT,
    StackSpec,
    project_name,
    write_pinned_stack,
    write_stack,
)
from nomos_testing.topology.model import GeneratedTopology

# Slot 0 starts this long after the configs are written: containers take a moment to come up.
CHAIN_START_LEAD_S = 2.0
MIN_FREE_DISK_GB = 2.0
FAILED_LOG_TAIL = 30


def runner_host() -> str:
    host = settings.raw("COMPOSE_RUNNER_HOST") or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise PlanError(f"COMPOSE_RUNNER_HOST={host!r} is not an IP address",
                        "set COMPOSE_RUNNER_HOST to a host address such as 127.0.0.1") from exc
    return host


def prometheus_port() -> int | None:
    port = settings.integer("TEST_FRAMEWORK_PROMETHEUS_PORT")
    if port is not None and not 1 <= port <= 65535:
        raise PlanError(f"TEST_FRAMEWORK_PROMETHEUS_PORT={port} is not a TCP port",
                        "set it to a port between 1 and 65535, or unset it for an ephemeral port")
    return port


def _node_environment() -> dict[str, str]:
    env = {"POL_PROOF_DEV_MODE": "true" if settings.pol_dev_mode() else "false"}
    for name in ("NOMOS_LOG_LEVEL", "NOMOS_LOG_FILTER"):
        value = settings.raw(name)
        if value is not None:
            env[name] = value
    return env


def _client_host(bound_ip: str) -> str:
    """A wildcard binding is reached through loopback."""
    return "127.0.0.1" if bound_ip in ("", "0.0.0.0", "::") else bound_ip


def _url(container: ContainerState, port: int) -> str:
    if port not in container.ports:
        raise DeploymentError(f"{container.service}: container port {port} is not published "
                              f"(container status: {container.status})",
                              "read the container's log (docker logs) and the run's compose.yaml")
    ip, host_port = container.ports[port]
    host = _client_host(ip)
    return f"http://[{host}]:{host_port}" if ":" in host else f"http://{host}:{host_port}"


class ComposeDeployer(ManagedDeployer):
    name: ClassVar[str] = "compose"

    def __init__(self, chain_start_lead_s: float = CHAIN_START_LEAD_S) -> None:
        self.chain_start_lead_s = chain_start_lead_s

    # Preflight ---------------------------------------------------------------------------------------

    def preflight(self) -> list[Check]:
        reachable, detail = daemon_status()
        checks = [Check("Docker daemon reachable", reachable, detail,
                        "" if reachable else "start the Docker engine (`dockerd &` or `systemctl start docker`) "
                                             "and check `docker info`")]
        cli = find_compose()
        if cli is not None:
            checks.append(Check("compose CLI", True, f"{cli.display()} {cli.version}"))
        else:
            checks.append(Check("compose CLI", False, "neither `docker compose` nor `docker-compose` works",
                                "apt-get install docker-compose (v1) or install the compose v2 plugin"))
        checks.append(self._settings_check())
        if reachable:
            checks += [self._node_image_check(), self._prometheus_image_check()]
        checks.append(self._disk_check(reachable))
        if reachable:
            checks.append(self._leftovers_check())
        return checks

    @staticmethod
    def _settings_check() -> Check:
        try:
            host, port = runner_host(), prometheus_port()
            settings.pol_dev_mode()
        except PlanError as exc:
            return Check("compose runner settings", False, exc.message, exc.remedy or "")
        return Check("compose runner settings", True,
                     f"ports published on {host}; Prometheus host port {port or 'ephemeral'}")

    @staticmethod
    def _buildable() -> tuple[bool, str]:
        if image_exists(image.BASE_IMAGE):
            return True, f"buildable from the local base {image.BASE_IMAGE}"
        if image.debootstrap_available():
            return True, "buildable: official base if pullable, else a debootstrap base (about a minute, once)"
        return False, f"{image.OFFICIAL_PYTHON_IMAGE} must then be pullable (debootstrap is not installed)"

    def _node_image_check(self) -> Check:
        try:
            tag = image.node_image_tag()
        except PrerequisiteError as exc:
            return Check("node image", False, exc.message, exc.remedy or "")
        if image_exists(tag):
            current = image.node_image_is_current(tag)
            return Check("node image", True, f"{tag} present" + ("" if current else
                                                                 " (sources changed: rebuilt quickly on the next run)"))
        ok, how = self._buildable()
        return Check("node image", ok, f"{tag} not built yet; {how}",
                     "" if ok else "apt-get install -y debootstrap, or run `nomos-testing image build` where the "
                                   "official python image can be pulled")

    def _prometheus_image_check(self) -> Check:
        tag = image.prometheus_image_tag()
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

    @staticmethod
    def _leftovers_check() -> Check:
        runs = labelled_runs()
        abandoned = sorted(run_id for run_id, owner in runs.items() if not (owner and owner_alive(owner)))
        live = len(runs) - len(abandoned)
        extra = f"; {live} run(s) in progress" if live else ""
        if abandoned:
            return Check("no leftovers of earlier runs", False,
                         f"containers/networks/volumes of {len(abandoned)} earlier run(s): "
                         f"{', '.join(abandoned[:5])}{extra}",
                         "run `nomos-testing clean` (or `down RUN_ID` for a cluster kept with `up`)", required=False)
        return Check("no leftovers of earlier runs", True, f"no labelled leftovers{extra}")

    # Deploy ------------------------------------------------------------------------------------------

    async def deploy(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> ComposeCluster:
        if not topology.nodes:
            raise DeploymentError("the topology has no nodes", "configure at least one validator")
        run_dir = run_dir.resolve()
        reachable, detail = daemon_status()
        if not reachable:
            raise PrerequisiteError(f"Docker daemon not reachable: {detail}", "start dockerd; check `docker info`")
        cli = find_compose()
        if cli is None:
            raise PrerequisiteError("no compose CLI (docker compose / docker-compose)",
                                    "apt-get install docker-compose")
        # Every setting is read before a container exists: a malformed one must not strand a started stack.
        host, pinned_prometheus = runner_host(), prometheus_port()
        preserve = settings.flag("COMPOSE_RUNNER_PRESERVE")
        node_image = await asyncio.to_thread(image.ensure_node_image)
        prometheus_image = await asyncio.to_thread(image.ensure_prometheus_image)
        labels = await asyncio.to_thread(image.image_labels, node_image)
        spec = StackSpec(
            run_id=run_id, node_image=node_image, prometheus_image=prometheus_image,
            node_environment=_node_environment(), owner=owner_token(),
            kzg_params_path=image.KZG_PARAMS_IN_IMAGE if (labels or {}).get(image.KZG_LABEL) == "present" else None,
        )
        compose_file = self.write_stack(topology, spec, run_dir)
        project = ComposeProject(run_id, project_name(run_id), compose_file, cli)
        save_state(project, run_dir)
        log_names = {n.name: n.log_name for n in topology.nodes}
        try:
            await project.up()
            containers = {c.service: c for c in await project.containers()}
            exited = sorted(name for name, c in containers.items() if c.status in ("exited", "dead"))
            if exited:
                raise DeploymentError(f"{len(exited)} container(s) exited during start-up: {', '.join(exited)}",
                                      "read the log tail below; `nomos-node CONFIG` prints config errors itself")
            nodes = [NodeEndpoint(n.name, n.role, n.index, _url(self._get(containers, n.name), API_PORT),
                                  _url(self._get(containers, n.name), TESTING_PORT)) for n in topology.nodes]
            prometheus_url = _url(self._get(containers, PROMETHEUS_SERVICE), PROMETHEUS_PORT)
        except (DockerCommandError, DeploymentError) as exc:
            error = exc if isinstance(exc, DeploymentError) else to_deployment_error(exc, f"compose up of run {run_id}")
            await self._abort(project, run_dir, log_names, error)
            raise error from exc
        except BaseException:
            await asyncio.shield(self._abort(project, run_dir, log_names, None))
            raise
        pinned = {name: {port: binding[1] for port, binding in c.ports.items()} for name, c in containers.items()}
        pinned_file = write_pinned_stack(topology, spec, run_dir, pinned)
        control = ComposeNodeControl(project, pinned_file, [n.name for n in topology.nodes])
        print(f"  compose project {project.name}: {compose_file}\n  prometheus {prometheus_url}",
              file=sys.stderr, flush=True)
        return ComposeCluster(
            run_id=run_id, runner=self.name, nodes=nodes, control=control, prometheus_url=prometheus_url,
            extra_report={"prometheus_url": prometheus_url, "compose_project": project.name,
                          "compose_file": str(compose_file), "compose_cli": f"{cli.display()} {cli.version}",
                          "node_image": node_image,
                          "prometheus_image": prometheus_image, "published_on": host,
                          "prometheus_port_pinned": pinned_prometheus is not None},
            project=project, run_dir=run_dir, log_names=log_names,
            preserve=preserve,
        )

    def write_stack(self, topology: GeneratedTopology, spec: StackSpec, run_dir: Path) -> Path:
        """Write node configs, Prometheus config and compose.yaml; returns the compose file."""
        return write_stack(topology, spec, run_dir, time.time() + self.chain_start_lead_s)

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

    # Managed clusters ------------------------------------------------------------------------------

    def detach(self, cluster: Cluster, run_dir: Path) -> None:
        if not isinstance(cluster, ComposeCluster):
            raise TypeError(f"ComposeDeployer.detach needs a ComposeCluster, got {type(cluster).__name__}")
        cluster.detached = True
        save_state(cluster.project, run_dir.resolve())

    def down(self, run_dir: Path) -> list[str]:
        recorded = load_state(run_dir)
        if recorded is None:
            raise DeploymentError(f"no compose-run.json in {run_dir}: nothing to tear down",
                                  "pass the RUN_ID printed by `nomos-testing up` (see `ls .runs`)")
        run_id, project, compose_file = str(recorded["run_id"]), str(recorded["project"]), recorded["compose_file"]
        cli = find_compose() or ComposeCli(tuple(recorded.get("compose_cli", ["docker-compose"])), "?")  # type: ignore[arg-type]
        stopped: list[str] = []
        if Path(str(compose_file)).is_file():
            try:
                ComposeProject(run_id, project, Path(str(compose_file)), cli).down_sync()
                stopped.append(f"compose project {project}")
            except DockerCommandError as exc:
                stopped.append(f"compose down failed ({exc}); removed by label instead")
        stopped += remove_by_label(f"{RUN_LABEL}={run_id}")
        (run_dir / "compose-run.json").unlink(missing_ok=True)
        return stopped

    def clean(self) -> list[str]:
        reachable, _ = daemon_status()
        if not reachable:
            return []
        return remove_abandoned_runs()
