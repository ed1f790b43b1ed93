"""The seam between the run core and the runners (host, compose, k8s).

A `Deployer` starts the nodes of a generated topology and returns a `Cluster`; readiness, workloads and
expectations then talk to the cluster only through `NodeEndpoint` URLs, its `NodeControl` (with declared
capabilities) and its intended node state. A cluster can outlive the process (`detach`, for `up`) and be
found again by another one through its run-state file (`Deployer.attach`, for `down`, `node` and `clean`).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.intent import IntendedState
from nomos_testing.runners.shared.state import NodeRecord, RunState, remove_state, write_state
from nomos_testing.topology.model import GeneratedTopology, Role

if TYPE_CHECKING:
    from nomos_testing.nodes.base import NodeAdapter
    from nomos_testing.runners.shared.control import NodeControl


@dataclass(frozen=True)
class Check:
    """One preflight prerequisite, as `doctor` prints it."""

    name: str
    ok: bool
    detail: str
    remedy: str = ""
    required: bool = True  # a failed optional check is a warning, not exit 2


@dataclass(frozen=True)
class Leftover:
    """Something an earlier run left on this machine."""

    what: str          # "process validator-0 (pid 123)", "container 3f2a…", "data dir …"
    live: bool = True  # a running process or container (a prerequisite problem); False: files only


@dataclass(frozen=True)
class NodeEndpoint:
    name: str
    role: Role
    index: int
    api_url: str
    testing_url: str


class Cluster(ABC):
    """The nodes of one run as a runner started them (or, after `attach`, found them)."""

    def __init__(self, run_id: str, runner: str, run_dir: Path, nodes: list[NodeEndpoint],
                 intent: IntendedState | None = None, prometheus_url: str | None = None,
                 extra_report: dict[str, Any] | None = None, detached: bool = False) -> None:
        self.run_id = run_id
        self.runner = runner
        self.run_dir = run_dir
        self.nodes = nodes
        self.intent = intent or IntendedState.all_running([n.name for n in nodes])
        self.prometheus_url = prometheus_url
        self.extra_report: dict[str, Any] = extra_report or {}
        self.detached = detached
        self.torn_down = False
        self.control: NodeControl | None = None
        # Events the deployer had to say before the run's history was open (kind, fields), e.g. an optional
        # service skipped and why: the run core records them in events.jsonl right after deploying.
        self.notices: list[tuple[str, dict[str, Any]]] = []

    def endpoint(self, name: str) -> NodeEndpoint:
        return next(node for node in self.nodes if node.name == name)

    # What every runner implements -----------------------------------------------------------------

    @abstractmethod
    async def exited(self) -> dict[str, str]:
        """Nodes whose process / container is not running: name -> reason with the tail of its log."""

    @abstractmethod
    async def collect_logs(self, logs_dir: Path) -> None:
        """Copy every node's log into logs_dir (named by the node adapter, e.g. nomos-node-<i>.log)."""

    @abstractmethod
    async def _stop_everything(self) -> None:
        """Stop and remove whatever this cluster started (processes, containers, data)."""

    @abstractmethod
    def node_runner_state(self, name: str) -> dict[str, Any]:
        """What this runner needs to find one node again from another process (pid, container…)."""

    def runner_state(self) -> dict[str, Any]:
        """What this runner needs to find the whole cluster again (compose project, files…)."""
        return {}

    def _after_detach(self) -> None:  # noqa: B027 - optional hook
        """Let go of what only this process holds (sockets, exit hooks) once the cluster is detached."""

    # Shared behaviour ------------------------------------------------------------------------------

    async def crashed(self) -> dict[str, str]:
        """Nodes that exited on their own: those not running although their intended state is running."""
        if self.torn_down:
            return {}
        return {name: reason for name, reason in (await self.exited()).items() if self.intent.should_run(name)}

    async def teardown(self) -> None:
        """Stop everything this cluster started. Idempotent; safe after a partial deploy. A detached cluster
        is left running: `down` attaches to it and calls `destroy`."""
        if not self.detached:
            await self.destroy()

    async def destroy(self) -> None:
        """Stop and remove everything of this cluster, detached or not. Idempotent."""
        if self.torn_down:
            return
        self.torn_down = True
        try:
            await self._stop_everything()
        finally:
            remove_state(self.run_dir)

    def run_state(self) -> RunState:
        records = [NodeRecord(n.name, n.role.value, n.index, n.api_url, n.testing_url, self.node_runner_state(n.name))
                   for n in self.nodes]
        return RunState(run_id=self.run_id, runner=self.runner, run_dir=self.run_dir, nodes=records,
                        intent=self.intent, detached=self.detached, prometheus_url=self.prometheus_url,
                        runner_state=self.runner_state())

    def save_state(self) -> Path:
        return write_state(self.run_state())

    def detach(self) -> None:
        """Leave the cluster running after this process exits (`up`); `down RUN_ID` stops it later."""
        self.detached = True
        self.save_state()
        index.mark_detached(self.run_id)
        self._after_detach()


class Deployer(ABC):
    name: ClassVar[str]
    # Node-control actions this runner offers (checked against what a scenario's workloads need).
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # Slot 0 starts this long after the configs are written, so that every node is up before the first slot.
    default_chain_start_lead_s: ClassVar[float] = 1.5

    def __init__(self, chain_start_lead_s: float | None = None) -> None:
        self.chain_start_lead_s = self.default_chain_start_lead_s if chain_start_lead_s is None \
            else chain_start_lead_s

    @classmethod
    def unavailable_capabilities(cls) -> dict[str, str]:
        """Capabilities this runner has but cannot offer on this machine now: capability -> why (e.g. network
        faults need root). Checked before deployment, so a scenario needing one stops with exit 2."""
        return {}

    def chain_start_time(self) -> float:
        return time.time() + self.chain_start_lead_s

    @abstractmethod
    def preflight(self, adapter: NodeAdapter | None = None) -> list[Check]:
        """Prerequisites of this runner for nodes of `adapter` (default: the reference node), without side
        effects (docs/runners.md)."""

    @abstractmethod
    async def deploy(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> Cluster:
        """Write configs into run_dir/configs, start every node in parallel, return at once (readiness is
        proven by the caller). On failure, stop what was started and raise DeploymentError."""

    @abstractmethod
    def attach(self, state: RunState, topology: GeneratedTopology | None = None) -> Cluster:
        """The cluster a run-state file describes, as a handle this process can control and tear down."""

    @abstractmethod
    def leftovers(self, entry: index.IndexEntry) -> list[Leftover]:
        """What a run of this runner still holds (processes, containers, kept data), without touching it."""

    @abstractmethod
    async def remove_leftovers(self, entry: index.IndexEntry) -> list[str]:
        """Remove what an abandoned run still holds, also what its run-state file does not know about."""

    @abstractmethod
    async def sweep(self, dry_run: bool = False) -> list[str]:
        """`clean --all`: what any run of this runner left on this machine whose owner process is gone,
        whether or not this user's run index knows it. Returns what was (or, dry, would be) removed."""
