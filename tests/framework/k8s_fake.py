"""An in-memory Kubernetes for the k8s runner's unit tests: the runner's `KubeApi` interface over dicts, with a
StatefulSet controller small enough to read (replicas 1 → a pod `<name>-0` with a new uid; scale 0 or delete →
gone; a deleted pod of a StatefulSet of 1 comes back), namespaces that take their objects with them, label
selectors, logs per pod and container instance, port-forwards on made-up local ports, and knobs for what a real
cluster does wrong (a waiting reason such as ImagePullBackOff, an unschedulable pod, a crash)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from nomos_testing.runners.k8s.api import CLUSTER_SCOPED, AlreadyExists, KubeApi, Manifest, NotFound, PortForward

Key = tuple[str, str | None, str]  # kind, namespace, name


class FakeKube(KubeApi):
    def __init__(self) -> None:
        self.context, self.server = "kind-fake", "https://127.0.0.1:6443"
        self.objects: dict[Key, Manifest] = {}
        self.created: list[tuple[str, str]] = []          # (kind, name) in order
        self.calls: list[tuple[Any, ...]] = []            # scale / delete / port_forward, in order
        self.logs: dict[tuple[str, bool], str] = {}       # (pod, previous) -> text
        self.waiting: dict[str, tuple[str, str]] = {}     # statefulset -> (reason, message) its pods get
        self.unschedulable: set[str] = set()
        self.events: list[Manifest] = []
        self.allowed = True
        self.images: list[str] = []
        self.stopped_forwards: list[int] = []
        self._uids = itertools.count(1)
        self._ports = itertools.count(40001)

    # helpers -------------------------------------------------------------------------------------------

    def _key(self, kind: str, name: str, namespace: str | None) -> Key:
        return kind, None if kind in CLUSTER_SCOPED else namespace, name

    def pod(self, name: str, namespace: str) -> Manifest | None:
        return self.objects.get(("Pod", namespace, name))

    def crash(self, pod: str, namespace: str, exit_code: int = 1) -> None:
        """The container exited and the kubelet restarted it."""
        status = self.objects[("Pod", namespace, pod)]["status"]["containerStatuses"][0]
        status["restartCount"] += 1
        status["lastState"] = {"terminated": {"exitCode": exit_code, "reason": "Error"}}

    def _make_pod(self, sts: Manifest) -> None:
        namespace, name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        template = sts["spec"]["template"]
        if name in self.unschedulable:
            status: dict[str, Any] = {"phase": "Pending", "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/1 nodes are available: 1 Insufficient cpu."}]}
        elif name in self.waiting:
            reason, message = self.waiting[name]
            status = {"phase": "Pending", "containerStatuses": [
                {"name": "node", "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}]}
        else:
            status = {"phase": "Running", "containerStatuses": [
                {"name": "node", "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}
        pod_name = f"{name}-0"
        self.objects[("Pod", namespace, pod_name)] = {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": namespace, "uid": f"uid-{next(self._uids)}",
                         "labels": dict(template["metadata"]["labels"])},
            "spec": template["spec"], "status": status}

    # KubeApi ---------------------------------------------------------------------------------------------

    async def server_version(self) -> str:
        return "v1.33.1"

    async def create(self, manifest: Manifest) -> Manifest:
        kind, metadata = manifest["kind"], manifest["metadata"]
        if kind == "SelfSubjectAccessReview":
            return {**manifest, "status": {"allowed": self.allowed}}
        key = self._key(kind, metadata["name"], metadata.get("namespace"))
        if key in self.objects:
            raise AlreadyExists(f"{kind} {metadata['name']} exists", 409)
        if kind != "Namespace" and ("Namespace", None, metadata.get("namespace")) not in self.objects:
            raise NotFound(f"namespace {metadata.get('namespace')} not found", 404)
        self.objects[key] = {**manifest, "metadata": {**metadata, "uid": f"uid-{next(self._uids)}"}}
        self.created.append((kind, metadata["name"]))
        if kind == "StatefulSet" and manifest["spec"]["replicas"] == 1:
            self._make_pod(manifest)
        if kind == "Deployment":
            pod = f"{metadata['name']}-abc12"
            self.objects[("Pod", metadata["namespace"], pod)] = {
                "kind": "Pod", "metadata": {"name": pod, "namespace": metadata["namespace"], "uid": "p",
                                            "labels": dict(manifest["spec"]["template"]["metadata"]["labels"])},
                "status": {"phase": "Running"}}
        if kind == "Service" and manifest["spec"].get("type") == "NodePort":
            for port in manifest["spec"]["ports"]:
                port["nodePort"] = 30000 + int(port["port"]) % 1000
        return self.objects[key]

    async def delete(self, kind: str, name: str, namespace: str | None = None, grace_s: int | None = None) -> None:
        self.calls.append(("delete", kind, name, grace_s))
        key = self._key(kind, name, namespace)
        if key not in self.objects:
            raise NotFound(f"{kind} {name} not found", 404)
        del self.objects[key]
        if kind == "Namespace":
            for other in [k for k in self.objects if k[1] == name]:
                del self.objects[other]
        if kind == "Pod":
            sts = self.objects.get(("StatefulSet", namespace, name.rsplit("-", 1)[0]))
            if sts is not None and sts["spec"]["replicas"] == 1:
                self._make_pod(sts)

    async def get(self, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        return self.objects.get(self._key(kind, name, namespace))

    async def list(self, kind: str, namespace: str | None = None,
                   labels: Mapping[str, str] | None = None) -> list[Manifest]:
        if kind == "Event":
            return [e for e in self.events if e["metadata"]["namespace"] == namespace]
        if kind == "Node":
            return [{"metadata": {"name": "kind-control-plane"},
                     "status": {"images": [{"names": list(self.images)}]}}]
        found = []
        for (k, ns, _), obj in self.objects.items():
            if k != kind or (namespace is not None and ns != namespace):
                continue
            have = obj["metadata"].get("labels") or {}
            if all(have.get(key) == value for key, value in (labels or {}).items()):
                found.append(obj)
        return found

    async def scale(self, kind: str, name: str, namespace: str, replicas: int) -> None:
        self.calls.append(("scale", kind, name, replicas))
        sts = self.objects[(kind, namespace, name)]
        sts["spec"]["replicas"] = replicas
        pod_key = ("Pod", namespace, f"{name}-0")
        if replicas == 0:
            self.objects.pop(pod_key, None)
        elif pod_key not in self.objects:
            self._make_pod(sts)

    async def pod_log(self, namespace: str, pod: str, previous: bool = False, tail_lines: int | None = None) -> str:
        if ("Pod", namespace, pod) not in self.objects:
            raise NotFound(f"pod {pod} not found", 404)
        text = self.logs.get((pod, previous), f"{'previous ' if previous else ''}log of {pod}\n")
        return "".join(text.splitlines(keepends=True)[-tail_lines:]) if tail_lines else text

    async def port_forward(self, namespace: str, pod: str, port: int) -> PortForward:
        if ("Pod", namespace, pod) not in self.objects:
            raise NotFound(f"pod {pod} not found", 404)
        local = next(self._ports)
        self.calls.append(("port_forward", pod, port, local))

        async def stop() -> None:
            self.stopped_forwards.append(local)

        return PortForward(local, stop)

    async def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None) -> bool:
        return self.allowed
