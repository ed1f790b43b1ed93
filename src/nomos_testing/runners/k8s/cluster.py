"""A run's namespace as the run core sees it: endpoints (port-forwards or NodePorts), crashed pods, logs of every
pod (the previous container instance too), teardown (the namespace deleted, or kept with K8S_RUNNER_PRESERVE),
waiting for pods with a diagnosis that names the phase, the container state and the events."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nomos_testing.errors import DeploymentError
from nomos_testing.runners.base import Cluster, NodeEndpoint
from nomos_testing.runners.k8s import manifests as m
from nomos_testing.runners.k8s.api import KubeApi, KubeError, NotFound, PortForward
from nomos_testing.runners.k8s.diagnose import PodView, describe, events_about, view
from nomos_testing.runners.shared.intent import IntendedState

LOG_TAIL_LINES = 30
EARLIER_LOGS = Path("logs") / ".earlier"  # logs of pods deleted by node control (restart, stop, kill)
POLL_S = 1.0


async def pod_views(api: KubeApi, namespace: str, nodes: list[str]) -> dict[str, PodView]:
    pods = {str(p["metadata"]["name"]): p for p in await api.list("Pod", namespace, {m.MANAGED_BY[0]: m.MANAGED_BY[1]})}
    return {node: view(m.pod_name(node), pods.get(m.pod_name(node))) for node in nodes}


async def diagnosis(api: KubeApi, namespace: str, views: Mapping[str, PodView], with_logs: bool = True) -> str:
    """A paragraph per pod that is not running: phase, container state, events about it and its volume, log."""
    try:
        events = await api.list("Event", namespace)
    except KubeError:
        events = []
    parts = []
    for node, pod in views.items():
        if pod.running:
            continue
        tail = ""
        if with_logs and (pod.restarts or pod.state.startswith("terminated")):
            with contextlib.suppress(KubeError):
                tail = await api.pod_log(namespace, pod.name, previous=pod.restarts > 0, tail_lines=LOG_TAIL_LINES)
        lines = events_about(events, [pod.name, f"{m.DATA_VOLUME}-{pod.name}", node])
        parts.append(f"{node}: " + describe(pod, lines, tail))
    return "\n".join(parts)


async def wait_pods_running(api: KubeApi, namespace: str, nodes: list[str], timeout_s: float,
                            poll_s: float = POLL_S, not_uid: Mapping[str, str] | None = None) -> dict[str, PodView]:
    """Until every node's pod runs (and, for a node in `not_uid`, is another pod than that uid). A pod in a state
    waiting cannot fix (ImagePullBackOff, CrashLoopBackOff, …) fails at once; the timeout fails naming every
    pod that is not running, with its phase, container state, events and log tail."""
    deadline = time.monotonic() + timeout_s
    not_uid = dict(not_uid or {})
    while True:
        views = await pod_views(api, namespace, nodes)
        views = {n: (v if not (v.running and not_uid.get(n) == v.uid) else
                     PodView(v.name, v.phase, False, "the deleted pod is still there", None, v.restarts, v.last_exit,
                             v.uid)) for n, v in views.items()}
        if all(v.running for v in views.values()):
            return views
        fatal = {n: v for n, v in views.items() if v.fatal}
        if fatal or time.monotonic() >= deadline:
            waiting = {n: v for n, v in views.items() if not v.running}
            what = (f"{len(fatal)} pod(s) cannot start" if fatal
                    else f"{len(waiting)} of {len(nodes)} pod(s) not running after {timeout_s:g} s")
            raise DeploymentError(f"{what} in namespace {namespace}:\n{await diagnosis(api, namespace, waiting)}",
                                  f"kubectl -n {namespace} describe pods; K8S_RUNNER_DEPLOYMENT_TIMEOUT_SECS sets "
                                  "the wait")
        await asyncio.sleep(poll_s)


class K8sCluster(Cluster):
    def __init__(self, run_id: str, run_dir: Path, nodes: list[NodeEndpoint], api: KubeApi, namespace: str,
                 log_names: dict[str, str], *, prometheus_url: str | None = None,
                 extra_report: dict[str, Any] | None = None, preserve: bool = False,
                 intent: IntendedState | None = None, detached: bool = False,
                 forwards: dict[str, PortForward] | None = None, deploy_timeout_s: float = 180.0,
                 p2p_port: int = 3000) -> None:
        super().__init__(run_id, "k8s", run_dir, nodes, intent=intent, prometheus_url=prometheus_url,
                         extra_report=extra_report, detached=detached)
        self.api = api
        self.namespace = namespace
        self.log_names = log_names
        self.preserve = preserve
        self.forwards: dict[str, PortForward] = dict(forwards or {})
        self.deploy_timeout_s = deploy_timeout_s
        self.p2p_port = p2p_port
        self.restarts: dict[str, int] = {}  # restart count of each pod when it was last started on purpose
        from nomos_testing.runners.k8s.control import K8sNetworkFaults, K8sNodeControl

        self.control = K8sNodeControl(self)
        self.control.network = K8sNetworkFaults(self)

    @property
    def node_names(self) -> list[str]:
        return list(self.log_names)

    async def exited(self) -> dict[str, str]:
        """Pods of nodes not running, or whose container the kubelet restarted since it was last started on
        purpose (a crash: StatefulSet pods always restart, so an exit shows as a restart)."""
        views = await pod_views(self.api, self.namespace, self.node_names)
        found: dict[str, str] = {}
        for node, pod in views.items():
            crashed = pod.restarts > self.restarts.get(node, 0)
            if pod.running and not crashed:
                continue
            tail = ""
            with contextlib.suppress(KubeError):
                tail = await self.api.pod_log(self.namespace, pod.name, previous=crashed, tail_lines=LOG_TAIL_LINES)
            what = (f"container exited ({pod.last_exit or pod.state}) and was restarted by the kubelet "
                    f"({pod.restarts} restart(s))" if crashed else f"pod {pod.name}: phase {pod.phase}, {pod.state}")
            found[node] = f"{what}; last {LOG_TAIL_LINES} log lines:\n{tail.rstrip()}"
        return found

    async def keep_earlier_log(self, node: str) -> None:
        """Before node control deletes a pod: its log so far, so logs/ still holds every life of the node."""
        try:
            text = await self.api.pod_log(self.namespace, m.pod_name(node))
        except KubeError:
            return
        folder = self.run_dir / EARLIER_LOGS
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / f"{node}.log").open("a") as out:
            out.write(text)

    async def collect_logs(self, logs_dir: Path) -> None:
        """Every node pod's log into logs_dir under the adapter's name: earlier lives (pods node control deleted),
        the previous container instance (a crash the kubelet restarted), then the current one; Prometheus's log."""
        logs_dir.mkdir(parents=True, exist_ok=True)
        try:
            views = await pod_views(self.api, self.namespace, self.node_names)
        except KubeError as exc:
            print(f"k8s: cannot list the pods of {self.namespace} for their logs: {exc}", file=sys.stderr)
            return
        for node, pod in views.items():
            earlier = self.run_dir / EARLIER_LOGS / f"{node}.log"
            parts = [earlier.read_text()] if earlier.is_file() else []
            if pod.restarts:
                with contextlib.suppress(KubeError):
                    parts.append(await self.api.pod_log(self.namespace, pod.name, previous=True))
                    parts.append(f"--- container restarted by the kubelet ({pod.last_exit}) ---\n")
            if pod.phase != "absent":
                with contextlib.suppress(KubeError):
                    parts.append(await self.api.pod_log(self.namespace, pod.name))
            (logs_dir / self.log_names[node]).write_text("".join(parts))
        with contextlib.suppress(KubeError):
            for pod_obj in await self.api.list("Pod", self.namespace, {m.ROLE_LABEL: "prometheus"}):
                text = await self.api.pod_log(self.namespace, str(pod_obj["metadata"]["name"]))
                (logs_dir / "prometheus.log").write_text(text)

    async def teardown(self) -> None:
        if self.preserve and not self.detached and not self.torn_down:
            await self.stop_forwards()
            self.detach()  # kept on purpose: `down` (or `clean`) deletes it later
            print(preserved_message(self), file=sys.stderr, flush=True)
            return
        await super().teardown()

    async def stop_forwards(self) -> None:
        for forward in self.forwards.values():
            await forward.stop()
        self.forwards.clear()

    async def _stop_everything(self) -> None:
        await self.stop_forwards()
        try:
            await self.api.delete("Namespace", self.namespace)
        except NotFound:
            pass
        except KubeError as exc:
            raise DeploymentError(f"deleting namespace {self.namespace}: {exc}",
                                  f"kubectl delete namespace {self.namespace}; `nomos-testing clean` retries") from exc
        finally:
            await self.api.close()

    def node_runner_state(self, name: str) -> dict[str, Any]:
        return {"pod": m.pod_name(name), "statefulset": name, "log": self.log_names[name],
                "restarts": self.restarts.get(name, 0)}

    def runner_state(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "context": self.api.context, "server": self.api.server,
                "preserve": self.preserve, "extra_report": self.extra_report}


def kubectl_commands(namespace: str, context: str) -> list[str]:
    base = f"kubectl --context {context} -n {namespace}" if context else f"kubectl -n {namespace}"
    return [f"{base} get pods,svc,sts,pvc,netpol", f"{base} logs <pod, e.g. validator-0-0>",
            f"{base} port-forward pod/validator-0-0 18080", f"{base.split(' -n ')[0]} delete namespace {namespace}"]


def preserved_message(cluster: K8sCluster) -> str:
    look, logs, forward, delete = kubectl_commands(cluster.namespace, cluster.api.context)
    return "\n".join([
        f"K8S_RUNNER_PRESERVE=1: namespace {cluster.namespace} of run {cluster.run_id} is kept.",
        f"  look:    {look}",
        f"  logs:    {logs}",
        f"  API:     {forward}",
        f"  delete:  nomos-testing down {cluster.run_id}   or   {delete}",
        f"  manifests applied: {cluster.run_dir / m.MANIFEST_DIR}/",
    ])
