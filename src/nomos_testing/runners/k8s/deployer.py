"""The Kubernetes runner: every node a StatefulSet of one pod in a namespace per run (manifests.py), reached
through port-forwards the framework manages (or NodePorts on K8S_RUNNER_NODE_HOST) behind the same
`NodeEndpoint` URLs as on the other runners; control through the API (control.py); `clean` deletes the
namespaces of runs whose owner process is gone."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from nomos_testing import settings
from nomos_testing.errors import DeploymentError, FrameworkError, PlanError, PrerequisiteError
from nomos_testing.nodes.base import NodeAdapter, default_adapter
from nomos_testing.runners.base import Check, Deployer, Leftover, NodeEndpoint
from nomos_testing.runners.k8s import manifests as m
from nomos_testing.runners.k8s.api import (
    UNREACHABLE_REMEDY,
    AlreadyExists,
    KubeApi,
    KubeError,
    NotFound,
    PortForward,
    Unreachable,
    read_target,
    unreachable_message,
)
from nomos_testing.runners.k8s.cluster import K8sCluster, pod_views, wait_pods_running
from nomos_testing.runners.k8s.control import CAPABILITIES
from nomos_testing.runners.k8s.images import how_to_load, local_cluster, nodes_having
from nomos_testing.runners.shared import images, index
from nomos_testing.runners.shared.docker import OWNER_LABEL, RUN_LABEL
from nomos_testing.runners.shared.owner import owner_alive, owner_token
from nomos_testing.runners.shared.preflight import leftovers_check
from nomos_testing.runners.shared.prometheus import PROMETHEUS_CAPABILITY
from nomos_testing.runners.shared.state import RunState, remove_state
from nomos_testing.topology.model import GeneratedTopology, Role

T = TypeVar("T")
PULL_POLICIES = {"ifnotpresent": "IfNotPresent", "always": "Always", "never": "Never"}
# Network plugins known to enforce NetworkPolicy, by a pod name prefix in kube-system.
ENFORCING_PLUGINS = ("calico", "cilium", "weave-net", "kube-router", "antrea", "canal")
CHECK_TIMEOUT_S = 8.0


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code, also when an event loop is already running in this
    thread (doctor's checks, `leftovers` called from `clean`): in a thread of its own."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


async def connect_kr8s() -> KubeApi:
    from nomos_testing.runners.k8s.api import Kr8sApi

    return await Kr8sApi.connect()


def pull_policy() -> str:
    variable = next(v for v in settings.VARIABLES if v.name == "NOMOS_TESTNET_IMAGE_PULL_POLICY")
    return PULL_POLICIES[settings.choice(variable).lower()]


def namespace_for(run_id: str) -> str:
    pinned = settings.raw("K8S_RUNNER_NAMESPACE")
    name = pinned or m.namespace_name(run_id)
    problem = m.check_namespace(name)
    if problem:
        raise PlanError(f"K8S_RUNNER_NAMESPACE={name!r} cannot be a namespace: {problem}",
                        "set K8S_RUNNER_NAMESPACE to a DNS label such as nomos-mine, or unset it")
    return name


def deploy_timeout_s() -> float:
    return settings.number("K8S_RUNNER_DEPLOYMENT_TIMEOUT_SECS", 180.0) * settings.slow_factor()


class K8sDeployer(Deployer):
    """Kubernetes: a namespace per run, a StatefulSet of one pod per node, port-forwards or NodePorts."""

    name: ClassVar[str] = "k8s"
    # No pause (Kubernetes cannot freeze a pod), delay or loss (no NetworkPolicy can), join, or detach (the
    # port-forwards end with the process): a scenario needing one is refused before deployment.
    capabilities: ClassVar[frozenset[str]] = CAPABILITIES | {PROMETHEUS_CAPABILITY}
    # Slot 0 starts this long after the configs are written: pods are scheduled and their volumes bound first.
    default_chain_start_lead_s: ClassVar[float] = 8.0

    def __init__(self, chain_start_lead_s: float | None = None,
                 connect: Callable[[], Awaitable[KubeApi]] | None = None) -> None:
        super().__init__(chain_start_lead_s)
        self.connect = connect or connect_kr8s

    async def _api(self) -> KubeApi:
        try:
            return await self.connect()
        except Unreachable as exc:
            raise PrerequisiteError(str(exc.args[0]), UNREACHABLE_REMEDY) from exc

    # Preflight ---------------------------------------------------------------------------------------

    def preflight(self, adapter: NodeAdapter | None = None) -> list[Check]:
        return run_sync(lambda: self.preflight_async(adapter or default_adapter()))

    async def preflight_async(self, adapter: NodeAdapter) -> list[Check]:
        checks = [self._library_check(), self._settings_check()]
        target = read_target()
        checks.append(Check("kubeconfig and context", target.problem is None,
                            target.problem or f"context {target.context}, server {target.server} ({target.kubeconfig})",
                            "" if target.problem is None else "see `cluster reachable`"))
        try:
            api = await asyncio.wait_for(self.connect(), CHECK_TIMEOUT_S * 2)
        except (Unreachable, TimeoutError) as exc:
            message = str(exc.args[0]) if isinstance(exc, Unreachable) else unreachable_message(target, "timed out")
            checks.append(Check("cluster reachable", False, message, UNREACHABLE_REMEDY))
            return checks
        try:
            checks.append(Check("cluster reachable", True,
                                f"Kubernetes {await api.server_version()} at {api.server} (context {api.context})"))
            checks.append(await self._permission_check(api))
            checks.append(await self._image_check(api, adapter))
            checks.append(await self._network_policy_check(api))
        finally:
            await api.close()
        checks.append(leftovers_check(self, required=False))
        return checks

    @staticmethod
    def _library_check() -> Check:
        try:
            from importlib.metadata import version

            import kr8s  # noqa: F401

            return Check("Kubernetes client library", True, f"kr8s {version('kr8s')}")
        except ImportError as exc:
            return Check("Kubernetes client library", False, f"kr8s is not importable ({exc})",
                         "pip install -e . (kr8s is a dependency of nomos-testing)")

    @staticmethod
    def _settings_check() -> Check:
        try:
            policy = pull_policy()
            pinned = settings.raw("K8S_RUNNER_NAMESPACE")
            if pinned:
                namespace_for("x")
            timeout = deploy_timeout_s()
            settings.flag("K8S_RUNNER_PRESERVE")
        except PlanError as exc:
            return Check("k8s runner settings", False, exc.message, exc.remedy or "")
        access = f"NodePorts on {settings.raw('K8S_RUNNER_NODE_HOST')}" if settings.raw("K8S_RUNNER_NODE_HOST") \
            else "port-forwards"
        return Check("k8s runner settings", True, f"namespace {pinned or 'nomos-<run id>'}; pull policy {policy}; "
                                                  f"nodes reached through {access}; pods may take {timeout:g} s")

    @staticmethod
    async def _permission_check(api: KubeApi) -> Check:
        wanted = [("create", "namespaces", ""), ("create", "statefulsets", "apps"), ("create", "pods/portforward", ""),
                  ("create", "networkpolicies", "networking.k8s.io"), ("delete", "namespaces", "")]
        try:
            denied = [f"{verb} {resource}" for verb, resource, group in wanted if not await api.can_i(verb, resource,
                                                                                                      group)]
        except KubeError as exc:
            return Check("permission to create namespaces", False, f"cannot ask the API server: {exc}",
                         "kubectl auth can-i create namespaces")
        if denied:
            return Check("permission to create namespaces", False, f"the context's user may not: {', '.join(denied)}",
                         "use a context whose user may create and delete namespaces and what goes in them "
                         "(cluster-admin on a test cluster)")
        return Check("permission to create namespaces", True, "create/delete namespaces, statefulsets, "
                                                              "networkpolicies, pods/portforward allowed")

    @staticmethod
    async def _image_check(api: KubeApi, adapter: NodeAdapter) -> Check:
        tag = adapter.image().tag
        wanted = [tag] if settings.raw("NOMOS_K8S_EXTERNAL_PROMETHEUS") else [tag, images.prometheus_image_tag()]
        remedy = how_to_load(api.context, wanted)
        try:
            nodes = await api.list("Node")
        except KubeError as exc:
            return Check("node image visible to the cluster", False, f"cannot list the cluster's nodes to look for "
                         f"{tag} ({exc}); cannot know", remedy, required=False)
        missing = [image for image in wanted if not nodes_having(nodes, image)]
        if not missing:
            return Check("node image visible to the cluster", True, f"{', '.join(wanted)} on the cluster's nodes")
        policy = pull_policy()
        local = local_cluster(api.context)
        detail = (f"{', '.join(missing)} not on any of the {len(nodes)} node(s) of context {api.context}"
                  + ("" if local else f"; with pull policy {policy} the cluster must pull it from a registry"))
        return Check("node image visible to the cluster", False, detail, remedy, required=local is not None)

    @staticmethod
    async def _network_policy_check(api: KubeApi) -> Check:
        name = "partitions (NetworkPolicy enforced)"
        try:
            pods = await api.list("Pod", "kube-system")
        except KubeError:
            pods = []
        found = sorted({plugin for pod in pods for plugin in ENFORCING_PLUGINS
                        if str(pod["metadata"]["name"]).startswith(plugin)})
        if found:
            return Check(name, True, f"network plugin {', '.join(found)} enforces NetworkPolicy")
        return Check(name, False, "cannot know whether this cluster's network plugin enforces NetworkPolicy (none of "
                     f"{', '.join(ENFORCING_PLUGINS)} found in kube-system); partitions may not cut traffic",
                     "use a plugin that enforces it (e.g. kind with Calico: docs/runners.md)", required=False)

    # Deploy ------------------------------------------------------------------------------------------

    def spec_for(self, topology: GeneratedTopology, run_id: str, node_image: str, labels: dict[str, str]) -> m.K8sSpec:
        adapter = topology.adapter
        external = settings.raw("NOMOS_K8S_EXTERNAL_PROMETHEUS")
        return m.K8sSpec(
            run_id=run_id, namespace=namespace_for(run_id), node_image=node_image, pull_policy=pull_policy(),
            owner=owner_token(), prometheus_image=None if external else images.prometheus_image_tag(),
            external_prometheus=external, node_ports=settings.raw("K8S_RUNNER_NODE_HOST") is not None,
            storage_class=settings.raw("K8S_RUNNER_STORAGE_CLASS"),
            node_environment={**adapter.environment(), **adapter.container_environment(labels)})

    async def deploy(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> K8sCluster:
        if not topology.nodes:
            raise DeploymentError("the topology has no nodes", "configure at least one validator")
        run_dir = run_dir.resolve()
        # Every setting is read before anything exists in the cluster.
        preserve = settings.flag("K8S_RUNNER_PRESERVE")
        timeout = deploy_timeout_s()
        node_host = settings.raw("K8S_RUNNER_NODE_HOST")
        adapter = topology.adapter
        node_image = adapter.image()
        labels: dict[str, str] = {}
        with contextlib.suppress(Exception):  # no docker here: the image is the cluster's business
            found = await asyncio.to_thread(node_image.labels)
            labels = dict(found or {})
        spec = self.spec_for(topology, run_id, node_image.tag, labels)
        api = await self._api()
        chain_start = self.chain_start_time()
        files = m.write_run(topology, spec, run_dir, chain_start)
        log_names = {n.name: adapter.log_file_name(n) for n in topology.nodes}
        names = [n.name for n in topology.nodes]
        forwards: dict[str, PortForward] = {}
        cluster: K8sCluster | None = None
        print(f"  k8s namespace {spec.namespace} (context {api.context}); manifests in {run_dir / m.MANIFEST_DIR}/",
              file=sys.stderr, flush=True)
        try:
            await apply_all(api, files)
            await wait_pods_running(api, spec.namespace, names, timeout)
            ports = adapter.container_ports
            if node_host is None:
                urls = await forward_nodes(api, spec.namespace, names, (ports.api, ports.testing), forwards)
                prometheus_url = await self._prometheus_forward(api, spec, forwards, timeout)
            else:
                urls = await node_port_urls(api, spec.namespace, names, node_host, (ports.api, ports.testing))
                prometheus_url = await self._prometheus_node_port(api, spec, node_host)
            nodes = [NodeEndpoint(n.name, n.role, n.index, *urls[n.name]) for n in topology.nodes]
            cluster = K8sCluster(
                run_id, run_dir, nodes, api, spec.namespace, log_names, prometheus_url=prometheus_url,
                extra_report={"namespace": spec.namespace, "context": api.context, "server": api.server,
                              "node_image": node_image.tag, "pull_policy": spec.pull_policy, "owner": spec.owner,
                              "prometheus_url": prometheus_url, "access": "NodePort" if node_host else "port-forward",
                              "manifests": str(run_dir / m.MANIFEST_DIR)},
                preserve=preserve, forwards=forwards, deploy_timeout_s=timeout, p2p_port=ports.p2p)
            for node, view in (await pod_views(api, spec.namespace, names)).items():
                cluster.restarts[node] = view.restarts
            cluster.save_state()
            return cluster
        except BaseException as exc:
            await asyncio.shield(self._abort(api, spec, run_dir, run_id, log_names, forwards, preserve))
            if isinstance(exc, KubeError):
                raise DeploymentError(f"k8s deployment of run {run_id} in {spec.namespace}: {exc}",
                                      f"read {run_dir / m.MANIFEST_DIR}/ and `kubectl -n {spec.namespace} get "
                                      "events`") from exc
            raise

    @staticmethod
    async def _abort(api: KubeApi, spec: m.K8sSpec, run_dir: Path, run_id: str, log_names: dict[str, str],
                     forwards: dict[str, PortForward], preserve: bool) -> None:
        """Keep the logs of what started, then delete the namespace (unless K8S_RUNNER_PRESERVE)."""
        probe = K8sCluster(run_id, run_dir, [], api, spec.namespace, log_names, preserve=preserve, forwards=forwards)
        try:
            await probe.collect_logs(run_dir / "logs")
        except Exception as exc:  # the namespace may not even exist
            print(f"k8s: could not collect the logs of {spec.namespace}: {exc}", file=sys.stderr)
        await probe.stop_forwards()
        if preserve:
            print(f"K8S_RUNNER_PRESERVE=1: namespace {spec.namespace} is kept; delete it with `kubectl delete "
                  f"namespace {spec.namespace}`", file=sys.stderr)
            return
        with contextlib.suppress(KubeError):
            await api.delete("Namespace", spec.namespace)
        with contextlib.suppress(Exception):
            await api.close()

    @staticmethod
    async def _prometheus_forward(api: KubeApi, spec: m.K8sSpec, forwards: dict[str, PortForward],
                                  timeout: float) -> str | None:
        if spec.prometheus_image is None:
            return spec.external_prometheus
        pod = await wait_prometheus(api, spec.namespace, timeout)
        forwards[m.PROMETHEUS_NAME] = await api.port_forward(spec.namespace, pod, m.PROMETHEUS_PORT)
        return f"http://127.0.0.1:{forwards[m.PROMETHEUS_NAME].local_port}"

    @staticmethod
    async def _prometheus_node_port(api: KubeApi, spec: m.K8sSpec, host: str) -> str | None:
        if spec.prometheus_image is None:
            return spec.external_prometheus
        service = await api.get("Service", m.PROMETHEUS_NAME, spec.namespace)
        port = node_port_of(service, m.PROMETHEUS_PORT) if service else None
        return f"http://{host}:{port}" if port else None

    # Clusters of other processes --------------------------------------------------------------------

    def attach(self, state: RunState, topology: GeneratedTopology | None = None) -> K8sCluster:
        recorded = state.runner_state
        nodes = [NodeEndpoint(r.name, Role(r.role), r.index, r.api_url, r.testing_url) for r in state.nodes]
        cluster = K8sCluster(state.run_id, state.run_dir, nodes, _Deferred(self), str(recorded["namespace"]),
                             {r.name: str(r.runner.get("log", f"{r.name}.log")) for r in state.nodes},
                             prometheus_url=state.prometheus_url, extra_report=dict(recorded.get("extra_report", {})),
                             intent=state.intent, detached=state.detached, deploy_timeout_s=deploy_timeout_s())
        cluster.restarts = {r.name: int(r.runner.get("restarts", 0)) for r in state.nodes}
        return cluster

    def leftovers(self, entry: index.IndexEntry) -> list[Leftover]:
        try:
            found = run_sync(lambda: self._run_namespaces(entry.run_id))
        except (FrameworkError, KubeError):
            return []
        return [Leftover(f"namespace {name} of run {entry.run_id}") for name in found]

    async def _run_namespaces(self, run_id: str) -> list[str]:
        api = await self._api()
        try:
            return [str(ns["metadata"]["name"]) for ns in
                    await api.list("Namespace", labels={RUN_LABEL: m.label_value(run_id)})
                    if (ns["metadata"].get("annotations") or {}).get(RUN_LABEL, run_id) == run_id]
        finally:
            await api.close()

    async def remove_leftovers(self, entry: index.IndexEntry) -> list[str]:
        api = await self._api()  # unreachable: a PrerequisiteError, so `clean` keeps the run in the index
        removed = []
        try:
            for ns in await api.list("Namespace", labels={RUN_LABEL: m.label_value(entry.run_id)}):
                name = str(ns["metadata"]["name"])
                with contextlib.suppress(NotFound):
                    await api.delete("Namespace", name)
                    removed.append(f"namespace {name}")
        except KubeError as exc:
            raise PrerequisiteError(f"k8s: removing the namespaces of run {entry.run_id}: {exc}",
                                    "check the cluster (`nomos-testing doctor --runner k8s`)") from exc
        finally:
            await api.close()
        remove_state(entry.path)
        return removed

    async def sweep(self, dry_run: bool = False) -> list[str]:
        """Namespaces of runs started on this machine whose owner process is gone (an owner on another machine
        cannot be judged from here: those are left alone)."""
        try:
            api = await asyncio.wait_for(self.connect(), CHECK_TIMEOUT_S)
        except (Unreachable, TimeoutError):
            return []
        try:
            return await sweep_namespaces(api, dry_run)
        finally:
            await api.close()


async def sweep_namespaces(api: KubeApi, dry_run: bool, host: str | None = None) -> list[str]:
    host = host or m.owner_host()
    removed = []
    for ns in await api.list("Namespace", labels={m.MANAGED_BY[0]: m.MANAGED_BY[1], m.HOST_LABEL: host}):
        metadata = ns["metadata"]
        owner = str((metadata.get("annotations") or {}).get(OWNER_LABEL, ""))
        phase = str((ns.get("status") or {}).get("phase", ""))
        if (owner and owner_alive(owner)) or phase == "Terminating":
            continue
        name = str(metadata["name"])
        run = (metadata.get("annotations") or {}).get(RUN_LABEL, "?")
        if not dry_run:
            with contextlib.suppress(NotFound):
                await api.delete("Namespace", name)
        removed.append(f"namespace {name} (run {run})")
    return removed


async def apply_all(api: KubeApi, files: list[m.ManifestFile]) -> None:
    """Create every object in file order, each file's objects in apply order. The namespace must be new: an
    existing one (a pinned K8S_RUNNER_NAMESPACE, or a namespace still being deleted) is an error naming it."""
    for file in files:
        for manifest in m.apply_order(file.objects):
            try:
                await api.create(manifest)
            except AlreadyExists as exc:
                if manifest["kind"] == "Namespace":
                    name = manifest["metadata"]["name"]
                    raise DeploymentError(f"namespace {name} already exists",
                                          f"another run uses it, or it is still being deleted: `kubectl delete "
                                          f"namespace {name}`, or unset K8S_RUNNER_NAMESPACE") from exc
                raise


async def forward_nodes(api: KubeApi, namespace: str, names: list[str], ports: tuple[int, int],
                        forwards: dict[str, PortForward]) -> dict[str, tuple[str, str]]:
    """A port-forward per node and port (API, testing API); the URLs every client of the run uses."""
    urls = {}
    for name in names:
        local = []
        for port in ports:
            forward = await api.port_forward(namespace, m.pod_name(name), port)
            forwards[f"{name}:{port}"] = forward
            local.append(f"http://127.0.0.1:{forward.local_port}")
        urls[name] = (local[0], local[1])
    return urls


def node_port_of(service: dict[str, Any], port: int) -> int | None:
    for entry in (service.get("spec") or {}).get("ports") or []:
        if int(entry.get("port", 0)) == port and entry.get("nodePort"):
            return int(entry["nodePort"])
    return None


async def node_port_urls(api: KubeApi, namespace: str, names: list[str], host: str,
                         ports: tuple[int, int]) -> dict[str, tuple[str, str]]:
    urls = {}
    for name in names:
        service = await api.get("Service", m.api_service_name(name), namespace)
        found = [node_port_of(service, port) if service else None for port in ports]
        if None in found:
            raise DeploymentError(f"service {m.api_service_name(name)} has no NodePort for {ports}",
                                  f"kubectl -n {namespace} get svc {m.api_service_name(name)} -o yaml")
        urls[name] = (f"http://{host}:{found[0]}", f"http://{host}:{found[1]}")
    return urls


async def wait_prometheus(api: KubeApi, namespace: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        pods = await api.list("Pod", namespace, {m.ROLE_LABEL: "prometheus"})
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        if running:
            return str(running[0]["metadata"]["name"])
        if time.monotonic() > deadline:
            raise DeploymentError(f"the Prometheus pod of {namespace} is not running after {timeout:g} s",
                                  f"kubectl -n {namespace} describe pods -l {m.ROLE_LABEL}=prometheus; or set "
                                  "NOMOS_K8S_EXTERNAL_PROMETHEUS")
        await asyncio.sleep(1.0)


class _Deferred(KubeApi):
    """The API of an attached cluster, connected on first use (attach is synchronous)."""

    def __init__(self, deployer: K8sDeployer) -> None:
        self._deployer = deployer
        self._real: KubeApi | None = None

    async def _get(self) -> KubeApi:
        if self._real is None:
            self._real = await self._deployer._api()
            self.context, self.server = self._real.context, self._real.server
        return self._real

    async def server_version(self) -> str:
        return await (await self._get()).server_version()

    async def create(self, manifest: m.Manifest) -> m.Manifest:
        return await (await self._get()).create(manifest)

    async def delete(self, kind: str, name: str, namespace: str | None = None, grace_s: int | None = None) -> None:
        await (await self._get()).delete(kind, name, namespace, grace_s)

    async def get(self, kind: str, name: str, namespace: str | None = None) -> m.Manifest | None:
        return await (await self._get()).get(kind, name, namespace)

    async def list(self, kind: str, namespace: str | None = None,
                   labels: Any = None) -> list[m.Manifest]:
        return await (await self._get()).list(kind, namespace, labels)

    async def scale(self, kind: str, name: str, namespace: str, replicas: int) -> None:
        await (await self._get()).scale(kind, name, namespace, replicas)

    async def pod_log(self, namespace: str, pod: str, previous: bool = False, tail_lines: int | None = None) -> str:
        return await (await self._get()).pod_log(namespace, pod, previous, tail_lines)

    async def port_forward(self, namespace: str, pod: str, port: int) -> PortForward:
        return await (await self._get()).port_forward(namespace, pod, port)

    async def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None) -> bool:
        return await (await self._get()).can_i(verb, resource, group, namespace)

    async def close(self) -> None:
        if self._real is not None:
            await self._real.close()
