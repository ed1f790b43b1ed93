"""The host runner: every node is a local child process (DESIGN §1, §6)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import ClassVar

import yaml

from nomos_testing import settings
from nomos_testing.errors import DeploymentError, PrerequisiteError
from nomos_testing.preflight import pol_dev_mode_check, versions_check
from nomos_testing.runners.base import Check, Cluster, ManagedDeployer
from nomos_testing.runners.host import state
from nomos_testing.runners.host.binaries import resolve
from nomos_testing.runners.host.cluster import HostCluster
from nomos_testing.runners.host.process import NodeProcess
from nomos_testing.runners.host.sockets import NodeSockets
from nomos_testing.topology.model import GeneratedTopology, Role
from nomos_testing.topology.render import render_node_config

DEFAULT_RUNS_ROOT = Path(".runs")
# Slot 0 starts this long after the configs are written, so that every node is up before the first slot.
CHAIN_START_LEAD_S = 1.5

class HostDeployer(ManagedDeployer):
    name: ClassVar[str] = "host"

    def __init__(self, runs_root: Path = DEFAULT_RUNS_ROOT, chain_start_lead_s: float = CHAIN_START_LEAD_S) -> None:
        self.runs_root = runs_root
        self.chain_start_lead_s = chain_start_lead_s

    # Preflight ---------------------------------------------------------------------------------------

    def preflight(self) -> list[Check]:
        return [*self._binary_checks(), pol_dev_mode_check(), versions_check(), self._leftovers_check()]

    def _binary_checks(self) -> list[Check]:
        checks = []
        for role in (Role.VALIDATOR, Role.EXECUTOR):
            found = resolve(role)
            label = "nomos-node binary" if role is Role.VALIDATOR else "nomos-executor binary"
            detail = f"{found.path} ({found.source})" if found.path else found.source
            checks.append(Check(label, found.path is not None, detail, found.remedy))
        return checks

    def _leftovers_check(self) -> Check:
        leftovers = state.find_leftovers(self.runs_root)
        orphans = leftovers.orphans
        detached = len(leftovers.processes) - len(orphans)
        extra = f"; {detached} node(s) of clusters left up with `up`" if detached else ""
        if orphans:
            names = ", ".join(p.describe() for p in orphans[:5])
            return Check("no leftovers of earlier runs", False,
                         f"{len(orphans)} node process(es) of earlier runs still running: {names}{extra}",
                         "run `nomos-testing clean`")
        return Check("no leftovers of earlier runs", True,
                     f"no stray node processes under {self.runs_root}{extra}; "
                     f"{len(leftovers.data_dirs)} kept data dir(s)")

    # Deploy ------------------------------------------------------------------------------------------

    async def deploy(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> HostCluster:
        cluster = self.prepare(topology, run_id, run_dir)
        try:
            cluster.start_all()  # Popen returns as soon as each child exists: every node starts at once
        except OSError as exc:
            cluster.teardown_now()
            raise DeploymentError(f"could not start the nodes of run {run_id}: {exc}",
                                  "check the node binaries and free disk space; run `nomos-testing doctor`") from exc
        return cluster

    def prepare(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> HostCluster:
        """Everything but starting: binaries resolved, sockets reserved, configs and data dirs written."""
        if not topology.nodes:
            raise DeploymentError("the topology has no nodes", "configure at least one validator")
        binaries = {}
        for role in {node.role for node in topology.nodes}:
            found = resolve(role)
            if found.path is None:
                raise PrerequisiteError(found.source, found.remedy)
            binaries[role] = found.path
        run_dir = run_dir.resolve()
        try:
            processes = self._prepare(topology, run_id, run_dir, binaries)
        except OSError as exc:
            raise DeploymentError(f"could not prepare run {run_id} in {run_dir}: {exc}",
                                  "check free disk space, permissions and open-file limits (ulimit -n)") from exc
        return HostCluster(run_id, run_dir, processes)

    def _prepare(self, topology: GeneratedTopology, run_id: str, run_dir: Path,
                 binaries: dict[Role, Path]) -> list[NodeProcess]:
        configs_dir, logs_dir, data_root = run_dir / "configs", run_dir / "logs", run_dir / "data"
        for folder in (configs_dir, logs_dir, data_root):
            folder.mkdir(parents=True, exist_ok=True)
        reserved: dict[str, NodeSockets] = {}
        try:
            for node in topology.nodes:
                reserved[node.name] = NodeSockets.reserve()
            return self._write_configs(topology, run_id, run_dir, binaries, reserved)
        except OSError:
            for sockets in reserved.values():
                sockets.close()
            raise

    def _write_configs(self, topology: GeneratedTopology, run_id: str, run_dir: Path, binaries: dict[Role, Path],
                       reserved: dict[str, NodeSockets]) -> list[NodeProcess]:
        configs_dir, logs_dir, data_root = run_dir / "configs", run_dir / "logs", run_dir / "data"
        addresses = {name: sockets.addresses() for name, sockets in reserved.items()}
        chain_start = time.time() + self.chain_start_lead_s
        env = self._node_env(run_id, run_dir, logs_dir)
        processes = []
        for node in topology.nodes:
            data_dir = data_root / node.name
            state.mark_data_dir(data_dir, run_id)
            config = render_node_config(topology, node, addresses, chain_start, str(data_dir))
            config_path = configs_dir / f"{node.name}.yaml"
            config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
            processes.append(NodeProcess(node, binaries[node.role], config_path, data_dir,
                                         logs_dir / node.log_name, reserved[node.name], env))
        return processes

    @staticmethod
    def _node_env(run_id: str, run_dir: Path, logs_dir: Path) -> dict[str, str]:
        env = dict(os.environ)  # passes POL_PROOF_DEV_MODE, NOMOS_LOG_LEVEL, NOMOS_LOG_FILTER through
        env["NOMOS_LOG_DIR"] = str(logs_dir)
        env[state.ENV_RUN_ID] = run_id
        env[state.ENV_RUN_DIR] = str(run_dir)
        env[state.ENV_OWNER] = state.owner_token()
        return env

    # Managed clusters ------------------------------------------------------------------------------

    def detach(self, cluster: Cluster, run_dir: Path) -> None:
        if not isinstance(cluster, HostCluster):
            raise TypeError(f"HostDeployer.detach needs a HostCluster, got {type(cluster).__name__}")
        cluster.detach()

    def down(self, run_dir: Path) -> list[str]:
        recorded = state.read_cluster_file(run_dir)
        if recorded is None:
            raise DeploymentError(f"no {state.CLUSTER_FILE} in {run_dir}: nothing to tear down",
                                  "pass the RUN_ID printed by `nomos-testing up` (see `ls .runs`)")
        stopped = state.stop_recorded(state.recorded_processes(run_dir))
        data_dirs = [Path(node["data_dir"]) for node in recorded.get("nodes", []) if node.get("data_dir")]
        if not settings.keep_logs():
            state.remove_data_dirs(data_dirs)
        (run_dir / state.CLUSTER_FILE).unlink(missing_ok=True)
        return stopped

    def clean(self) -> list[str]:
        leftovers = state.find_leftovers(self.runs_root)
        removed = [f"process {name}" for name in state.stop_recorded(leftovers.processes)]
        removed += [f"data dir {path}" for path in state.remove_data_dirs(leftovers.data_dirs)]
        for run_dir in {process.run_dir for process in leftovers.processes}:
            (run_dir / state.CLUSTER_FILE).unlink(missing_ok=True)
        return removed
