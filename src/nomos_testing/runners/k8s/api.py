"""The small interface the k8s runner needs from the Kubernetes API, and its implementation over kr8s.

The runner's decisions (what to apply in which order, when a pod counts as failed, what to log, what to delete)
are written against `KubeApi` only, so the unit tests drive them through an in-memory implementation
(tests/framework/k8s_fake.py) and the end-to-end tests (tests/k8s/) through `Kr8sApi` on a real cluster.
Objects travel as plain dicts, exactly as the manifests and the API server's JSON spell them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nomos_testing import settings

Manifest = dict[str, Any]

# apiVersion of every kind the runner touches (a delete or a get names only kind and name)
API_VERSIONS = {"Namespace": "v1", "ConfigMap": "v1", "Service": "v1", "Pod": "v1", "Event": "v1", "Node": "v1",
                "PersistentVolumeClaim": "v1", "StatefulSet": "apps/v1", "Deployment": "apps/v1",
                "NetworkPolicy": "networking.k8s.io/v1"}
CLUSTER_SCOPED = frozenset({"Namespace", "Node"})
CONNECT_TIMEOUT_S = 10.0


class KubeError(Exception):
    """The API server refused a request or could not be reached; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(KubeError):
    pass


class AlreadyExists(KubeError):
    pass


class Unreachable(KubeError):
    """No cluster could be reached: no kubeconfig, no such context, the server does not answer."""


@dataclass
class PortForward:
    """A local port forwarded to a pod's port; `stop` closes the listener and its connections."""

    local_port: int
    stop: Callable[[], Awaitable[None]]


class KubeApi(ABC):
    """What the runner asks of a cluster. Every method raises KubeError (or a subclass) on failure."""

    context: str = ""
    server: str = ""

    @abstractmethod
    async def server_version(self) -> str: ...

    @abstractmethod
    async def create(self, manifest: Manifest) -> Manifest:
        """Create one object (AlreadyExists when it does); returns it as the server stored it."""

    @abstractmethod
    async def delete(self, kind: str, name: str, namespace: str | None = None, grace_s: int | None = None) -> None:
        """Delete one object (NotFound when it does not exist); grace_s 0 kills a pod at once."""

    @abstractmethod
    async def get(self, kind: str, name: str, namespace: str | None = None) -> Manifest | None: ...

    @abstractmethod
    async def list(self, kind: str, namespace: str | None = None,
                   labels: Mapping[str, str] | None = None) -> list[Manifest]: ...

    @abstractmethod
    async def scale(self, kind: str, name: str, namespace: str, replicas: int) -> None: ...

    @abstractmethod
    async def pod_log(self, namespace: str, pod: str, previous: bool = False, tail_lines: int | None = None) -> str:
        """The log of the pod's container (`previous`: of the instance before the last restart)."""

    @abstractmethod
    async def port_forward(self, namespace: str, pod: str, port: int) -> PortForward: ...

    @abstractmethod
    async def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None) -> bool:
        """A SelfSubjectAccessReview: may the current user do `verb` on `resource`?"""

    async def close(self) -> None:  # noqa: B027 - optional
        """Let go of connections."""


# Kubeconfig, read without the network (doctor, error messages) --------------------------------------------

@dataclass(frozen=True)
class KubeTarget:
    """Which cluster the runner would talk to, from the kubeconfig alone."""

    kubeconfig: str          # the file(s) read, or "in-cluster service account"
    context: str | None      # None: no usable context
    server: str | None
    problem: str | None = None


def kubeconfig_paths() -> list[Path]:
    raw = settings.raw("KUBECONFIG")
    if raw:
        return [Path(part).expanduser() for part in raw.split(os.pathsep) if part]
    return [Path.home() / ".kube" / "config"]


def read_target() -> KubeTarget:
    """The context (K8S_RUNNER_CONTEXT, else the kubeconfig's current one) and its server, or the problem."""
    paths = kubeconfig_paths()
    shown = os.pathsep.join(str(p) for p in paths)
    wanted = settings.raw("K8S_RUNNER_CONTEXT")
    existing = [p for p in paths if p.is_file()]
    if not existing:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and Path("/var/run/secrets/kubernetes.io/serviceaccount/token"
                                                                ).is_file():
            host = os.environ["KUBERNETES_SERVICE_HOST"]
            return KubeTarget("in-cluster service account", "in-cluster",
                              f"https://{host}:{os.environ.get('KUBERNETES_SERVICE_PORT', '443')}")
        return KubeTarget(shown, None, None, f"no kubeconfig at {shown} and not inside a cluster")
    contexts: dict[str, dict[str, Any]] = {}
    clusters: dict[str, dict[str, Any]] = {}
    current = None
    for path in existing:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            return KubeTarget(shown, None, None, f"cannot read {path}: {exc}")
        for item in data.get("contexts") or []:
            contexts.setdefault(str(item.get("name")), dict(item.get("context") or {}))
        for item in data.get("clusters") or []:
            clusters.setdefault(str(item.get("name")), dict(item.get("cluster") or {}))
        current = current or data.get("current-context")
    name = wanted or current
    if not name:
        return KubeTarget(shown, None, None, f"{shown} sets no current-context")
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        return KubeTarget(shown, None, None, f"no context {name!r} in {shown} (contexts: {known})")
    cluster = clusters.get(str(contexts[name].get("cluster")), {})
    return KubeTarget(shown, name, cluster.get("server"))


def unreachable_message(target: KubeTarget, reason: str) -> str:
    where = f"context {target.context} ({target.server or 'no server'}) of {target.kubeconfig}" if target.context \
        else target.kubeconfig
    return f"no Kubernetes cluster reachable: {reason} [{where}]"


UNREACHABLE_REMEDY = ("create one (`kind create cluster`, `minikube start`, `k3d cluster create`) or point "
                      "KUBECONFIG / K8S_RUNNER_CONTEXT at a reachable cluster; `nomos-testing doctor --runner k8s` "
                      "checks it")


# kr8s -------------------------------------------------------------------------------------------------------

def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def _translate(exc: BaseException, what: str) -> KubeError:
    status = _status_of(exc)
    text = f"{what}: {exc}"
    if status == 404 or type(exc).__name__ == "NotFoundError":
        return NotFound(text, 404)
    if status == 409:
        return AlreadyExists(text, 409)
    if status is None and not isinstance(exc, KubeError):
        return Unreachable(text)
    return KubeError(text, status)


class Kr8sApi(KubeApi):
    """KubeApi over kr8s's asyncio API (the kubeconfig's context, or K8S_RUNNER_CONTEXT)."""

    def __init__(self, api: Any, context: str, server: str) -> None:
        self._api = api
        self.context = context
        self.server = server
        self._forwards: list[Any] = []

    @classmethod
    async def connect(cls, timeout_s: float = CONNECT_TIMEOUT_S) -> Kr8sApi:
        """Connect and ask the server its version: Unreachable (the message says why and where) otherwise."""
        target = read_target()
        if target.problem is not None:
            raise Unreachable(unreachable_message(target, target.problem))
        try:
            import kr8s.asyncio
        except ImportError as exc:  # pragma: no cover - a dependency of the project
            raise Unreachable(f"the Kubernetes client library kr8s is not installed ({exc})") from exc
        kubeconfig = settings.raw("KUBECONFIG")
        try:
            api = await asyncio.wait_for(kr8s.asyncio.api(kubeconfig=kubeconfig.split(os.pathsep)[0] if kubeconfig
                                                          else None, context=settings.raw("K8S_RUNNER_CONTEXT")),
                                         timeout_s)
            self = cls(api, str(getattr(api.auth, "active_context", "") or target.context or ""),
                       str(getattr(api.auth, "server", "") or target.server or ""))
            await asyncio.wait_for(self.server_version(), timeout_s)
        except TimeoutError as exc:
            raise Unreachable(unreachable_message(target, f"no answer within {timeout_s:g} s")) from exc
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unreachable(unreachable_message(target, reason[:300])) from exc
        return self

    def _object(self, manifest: Manifest) -> Any:
        from kr8s.asyncio.objects import object_from_spec

        return object_from_spec(manifest, api=self._api, allow_unknown_type=True)

    def _ref(self, kind: str, name: str, namespace: str | None) -> Any:
        metadata: dict[str, Any] = {"name": name}
        if namespace is not None and kind not in CLUSTER_SCOPED:
            metadata["namespace"] = namespace
        return self._object({"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": metadata})

    async def server_version(self) -> str:
        try:
            version = await self._api.version()
        except Exception as exc:
            raise _translate(exc, "version") from exc
        return str(version.get("gitVersion", "unknown"))

    async def create(self, manifest: Manifest) -> Manifest:
        obj = self._object(manifest)
        try:
            await obj.create()
        except Exception as exc:
            raise _translate(exc, f"create {manifest['kind']} {manifest['metadata']['name']}") from exc
        return dict(obj.to_dict())

    async def delete(self, kind: str, name: str, namespace: str | None = None, grace_s: int | None = None) -> None:
        obj = self._ref(kind, name, namespace)
        try:
            if grace_s == 0:
                await obj.delete(force=True)
            else:
                await obj.delete(grace_period=grace_s)
        except Exception as exc:
            raise _translate(exc, f"delete {kind} {name}") from exc

    async def get(self, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        found = await self.list(kind, namespace, field_name=name)
        return found[0] if found else None

    async def list(self, kind: str, namespace: str | None = None, labels: Mapping[str, str] | None = None,
                   field_name: str | None = None) -> list[Manifest]:
        import kr8s

        kwargs: dict[str, Any] = {"namespace": namespace if namespace is not None else kr8s.ALL}
        if labels:
            kwargs["label_selector"] = dict(labels)
        if field_name:
            kwargs["field_selector"] = {"metadata.name": field_name}
        try:
            found = await self._api.get(f"{kind.lower()}s" if kind != "NetworkPolicy" else "networkpolicies",
                                        **kwargs)
        except Exception as exc:
            raise _translate(exc, f"list {kind}") from exc
        return [dict(obj.to_dict()) for obj in found]

    async def scale(self, kind: str, name: str, namespace: str, replicas: int) -> None:
        try:
            await self._ref(kind, name, namespace).scale(replicas)
        except Exception as exc:
            raise _translate(exc, f"scale {kind} {name} to {replicas}") from exc

    async def pod_log(self, namespace: str, pod: str, previous: bool = False, tail_lines: int | None = None) -> str:
        obj = self._ref("Pod", pod, namespace)
        try:
            lines = [line async for line in obj.logs(previous=previous, tail_lines=tail_lines)]
        except Exception as exc:
            raise _translate(exc, f"log of pod {pod}") from exc
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    async def port_forward(self, namespace: str, pod: str, port: int) -> PortForward:
        forward = self._ref("Pod", pod, namespace).portforward(remote_port=port, local_port="auto")
        try:
            local = await forward.start()
        except Exception as exc:
            raise _translate(exc, f"port-forward to {pod}:{port}") from exc
        self._forwards.append(forward)

        async def stop() -> None:
            with contextlib.suppress(Exception):
                await forward.stop()

        return PortForward(int(local), stop)

    async def can_i(self, verb: str, resource: str, group: str = "", namespace: str | None = None) -> bool:
        attributes: dict[str, Any] = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attributes["namespace"] = namespace
        review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                  "metadata": {"name": "nomos-testing"}, "spec": {"resourceAttributes": attributes}}
        stored = await self.create(review)
        return bool((stored.get("status") or {}).get("allowed"))

    async def close(self) -> None:
        for forward in self._forwards:
            with contextlib.suppress(Exception):
                await forward.stop()
        self._forwards.clear()
