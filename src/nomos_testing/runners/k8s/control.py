"""Node control on Kubernetes: stop = scale the node's StatefulSet to 0 (SIGTERM, 5 s grace), kill = scale to 0
and delete the pod with grace 0 (SIGKILL), start = scale to 1, restart = delete the pod (the StatefulSet
brings it back with the same name, DNS name, config and data volume). Partition = a NetworkPolicy per node cut
off (manifests.partition_policy). No pause (Kubernetes cannot freeze a pod), no delay or loss (no policy can),
no join: such scenarios are refused before deployment (K8sDeployer.capabilities)."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.errors import DeploymentError, NodeControlError
from nomos_testing.runners.k8s import manifests as m
from nomos_testing.runners.k8s.api import KubeError, NotFound
from nomos_testing.runners.shared.control import BASIC_CAPABILITIES, NodeControl
from nomos_testing.runners.shared.intent import NodeState
from nomos_testing.runners.shared.netfaults.base import Applied, NetworkFaultError, NetworkFaults

if TYPE_CHECKING:
    from nomos_testing.runners.k8s.cluster import K8sCluster

CAPABILITIES = BASIC_CAPABILITIES | {"partition"}
GONE_TIMEOUT_S = 60.0


class K8sNodeControl(NodeControl):
    capabilities: ClassVar[frozenset[str]] = CAPABILITIES
    mechanism = "StatefulSet scale 0 / 1, pod delete (grace 0 for kill)"

    def __init__(self, cluster: K8sCluster) -> None:
        super().__init__(cluster.node_names, cluster.intent, cluster.run_id, on_change=cluster.save_state)
        self.cluster = cluster

    def _usable(self) -> None:
        if self.cluster.torn_down:
            raise NodeControlError(f"node control: namespace {self.cluster.namespace} of run {self.cluster.run_id} "
                                   "is deleted", "control nodes only while the run is active")

    async def _call(self, name: str, what: str, coro: Any) -> None:
        try:
            await coro
        except NotFound:
            pass
        except KubeError as exc:
            raise NodeControlError(f"node control: {what} of {name}: {exc}",
                                   f"kubectl -n {self.cluster.namespace} describe statefulset {name}") from exc

    async def _pod_uid(self, name: str) -> str | None:
        pod = await self.cluster.api.get("Pod", m.pod_name(name), self.cluster.namespace)
        return str(pod["metadata"].get("uid", "")) if pod else None

    async def _wait_gone(self, name: str) -> None:
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while await self._pod_uid(name) is not None:
            if time.monotonic() > deadline:
                raise NodeControlError(f"node control: pod {m.pod_name(name)} still exists {GONE_TIMEOUT_S:g} s after "
                                       "it was deleted", f"kubectl -n {self.cluster.namespace} get pod -o yaml")
            await _sleep(0.5)

    async def _wait_running(self, name: str, not_uid: str | None = None) -> dict[str, Any]:
        from nomos_testing.runners.k8s.cluster import wait_pods_running

        try:
            views = await wait_pods_running(self.cluster.api, self.cluster.namespace, [name],
                                            self.cluster.deploy_timeout_s, poll_s=0.5,
                                            not_uid={name: not_uid} if not_uid else None)
        except DeploymentError as exc:
            raise NodeControlError(f"node control: {exc.message}", exc.remedy) from exc
        self.cluster.restarts[name] = views[name].restarts
        return {"pod": views[name].name, "uid": views[name].uid}

    async def _is_running(self, name: str) -> bool:
        return await self._pod_uid(name) is not None

    async def _stop_node(self, name: str, graceful: bool) -> dict[str, Any]:
        await self.cluster.keep_earlier_log(name)
        await self._call(name, "scale to 0", self.cluster.api.scale("StatefulSet", name, self.cluster.namespace, 0))
        if not graceful:
            await self._call(name, "delete (grace 0)",
                             self.cluster.api.delete("Pod", m.pod_name(name), self.cluster.namespace, grace_s=0))
        await self._wait_gone(name)
        return {"via": "scale 0" + ("" if graceful else " + delete pod --grace-period=0")}

    async def _start_node(self, name: str) -> dict[str, Any]:
        await self._call(name, "scale to 1", self.cluster.api.scale("StatefulSet", name, self.cluster.namespace, 1))
        return {"via": "scale 1", **await self._wait_running(name)}

    async def restart(self, name: str) -> None:
        """Delete the pod: the StatefulSet recreates it with the same identity, config and data volume."""
        async with self._lock:
            self._check(name)
            began = time.monotonic()
            if self.intent.of(name) is not NodeState.RUNNING or not await self._is_running(name):
                raise NodeControlError(f"node control: {name} is not running", f"start {name} instead")
            old = await self._pod_uid(name)
            self.intent.change(name, NodeState.STOPPED)  # first: a restart must never look like a crash
            self._changed()
            await self.cluster.keep_earlier_log(name)
            await self._call(name, "delete pod", self.cluster.api.delete("Pod", m.pod_name(name),
                                                                         self.cluster.namespace))
            fields = await self._wait_running(name, not_uid=old)
            self.intent.change(name, NodeState.RUNNING)
            if self.network is not None:
                await self.network.node_restarted(name)
            self._changed()
            self._record("node.restart", name, took_s=round(time.monotonic() - began, 3), via="delete pod", **fields)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


class K8sNetworkFaults(NetworkFaults):
    """Partitions as NetworkPolicies: after every change, each node gets one policy holding every cut of the
    partitions in force (policies only ever allow, so two policies for one node would undo each other).
    Whether traffic is really cut depends on the cluster's network plugin (`doctor --runner k8s` says what it
    found); connections already open may survive on plugins that only filter new ones."""

    MECHANISM = "NetworkPolicy (ingress on the p2p port)"

    def __init__(self, cluster: K8sCluster) -> None:
        self.cluster = cluster
        self.applied: set[str] = set()  # nodes that have a policy now

    def capabilities(self) -> frozenset[str]:
        return frozenset({"partition"})

    def _links(self, extra: list[tuple[str, str]], without: str | None = None) -> list[tuple[str, str]]:
        links = [link for fault in self.cluster.intent.network.values()
                 if fault.kind == "partition" and fault.id != without for link in fault.links]
        return links + extra

    async def _sync(self, links: list[tuple[str, str]]) -> dict[str, Any]:
        cluster, api = self.cluster, self.cluster.api
        cuts = m.cut_links(links)
        spec = m.K8sSpec(run_id=cluster.run_id, namespace=cluster.namespace, node_image="",
                         owner=str(cluster.extra_report.get("owner", "")))
        folder = cluster.run_dir / m.MANIFEST_DIR
        known = set(self.applied) | {str(p["metadata"]["name"]).removeprefix("partition-")
                                     for p in await api.list("NetworkPolicy", cluster.namespace)}
        try:
            for node in sorted(known | set(cuts)):
                policy = m.policy_name(node)
                with contextlib.suppress(NotFound):
                    await api.delete("NetworkPolicy", policy, cluster.namespace)
                (folder / m.policy_file(node)).unlink(missing_ok=True)
                self.applied.discard(node)
                if node in cuts:
                    manifest = m.partition_policy(spec, node, cuts[node], cluster.p2p_port)
                    await api.create(manifest)
                    m.write_manifest_file(cluster.run_dir, spec, m.ManifestFile(m.policy_file(node), [manifest]))
                    self.applied.add(node)
        except KubeError as exc:
            raise NetworkFaultError(f"NetworkPolicy in {cluster.namespace}: {exc}",
                                    "kubectl auth can-i create networkpolicies; `doctor --runner k8s`") from exc
        return {"policies": sorted(m.policy_name(n) for n in cuts)}

    async def partition(self, fault_id: str, links: list[tuple[str, str]]) -> Applied:
        return Applied(self.MECHANISM, await self._sync(self._links(links)))

    async def remove(self, fault_id: str) -> Applied:
        return Applied(self.MECHANISM, await self._sync(self._links([], without=fault_id)))

    async def delay(self, fault_id: str, a: str, b: str, ms: float, jitter_ms: float) -> Applied:
        raise NetworkFaultError("the k8s runner cannot delay traffic (no NetworkPolicy does)",
                                "use the host or compose runner for delay")

    async def loss(self, fault_id: str, a: str, b: str, percent: float) -> Applied:
        raise NetworkFaultError("the k8s runner cannot drop a share of packets (no NetworkPolicy does)",
                                "use the host or compose runner for loss")

    async def close(self) -> None:
        """The policies go with the namespace."""
