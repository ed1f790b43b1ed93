"""The seam between the run lifecycle and the runners (host, compose, k8s).

A Deployer starts the nodes of a generated topology and returns a Cluster; readiness, workloads and
expectations then talk to the cluster only through `NodeEndpoint` URLs (and `NodeControl` if offered).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

from nomos_testing.topology.model import GeneratedTopology, Role


@dataclass(frozen=True)
class Check:
    """One preflight prerequisite, as `doctor` prints it."""

    name: str
    ok: bool
    detail: str
    remedy: str = ""
    required: bool = True  # a failed optional check is a warning, not exit 2


@dataclass(frozen=True)
class NodeEndpoint:
    name: str
    role: Role
    index: int
    api_url: str
    testing_url: str


class NodeControl(Protocol):
    def bind_events(self, events: Any) -> None:
        """Record every later action (node.stop, node.start, node.kill, node.restart) into this event history."""

    async def restart(self, name: str) -> None: ...
    async def stop(self, name: str) -> None: ...
    async def start(self, name: str) -> None: ...
    async def kill(self, name: str) -> None: ...


@dataclass
class Cluster(ABC):
    run_id: str
    runner: str
    nodes: list[NodeEndpoint]
    control: NodeControl | None = None
    prometheus_url: str | None = None
    extra_report: dict[str, object] = field(default_factory=dict)

    @abstractmethod
    async def crashed(self) -> dict[str, str]:
        """Nodes that exited on their own: name -> reason with the tail of its log."""

    @abstractmethod
    async def collect_logs(self, logs_dir: Path) -> None:
        """Copy every node's log into logs_dir (nomos-node-<i>.log, nomos-executor-<i>.log)."""

    @abstractmethod
    async def teardown(self) -> None:
        """Stop everything this cluster started. Idempotent; safe after a partial deploy."""


class Deployer(ABC):
    name: ClassVar[str]

    @abstractmethod
    def preflight(self) -> list[Check]:
        """Prerequisites of this runner (DESIGN §6), without side effects."""

    @abstractmethod
    async def deploy(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> Cluster:
        """Write configs into run_dir/configs, start every node in parallel, return at once
        (readiness is proven by the caller). On failure, stop what was started and raise
        DeploymentError."""


class ManagedDeployer(Deployer):
    """A deployer whose clusters can outlive the process (`up` / `down RUN_ID`) and whose leftovers
    can be found again (`clean`)."""

    @abstractmethod
    def detach(self, cluster: Cluster, run_dir: Path) -> None:
        """Record what `down` needs into run_dir and let the cluster keep running after we exit."""

    @abstractmethod
    def down(self, run_dir: Path) -> list[str]:
        """Tear down a detached cluster recorded in run_dir; returns what was stopped."""

    @abstractmethod
    def clean(self) -> list[str]:
        """Remove whatever earlier runs of this runner left behind; returns what was removed."""
