"""The host runner: every node is a local child process (docs/runners.md)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from nomos_testing.errors import DeploymentError, PrerequisiteError
from nomos_testing.nodes.base import NodeAdapter, default_adapter
from nomos_testing.runners.base import Check, Deployer, Leftover, NodeEndpoint
from nomos_testing.runners.host import prometheus
from nomos_testing.runners.host.addresses import AddressBlock, choose_block
from nomos_testing.runners.host.cluster import HostCluster
from nomos_testing.runners.host.markers import (
    MarkedProcess,
    mark_data_dir,
    marked_data_dirs,
    marked_processes,
    marker_environment,
    orphaned,
    remove_data_dirs,
)
from nomos_testing.runners.host.netfaults import chains_left, remove_run_chains, sweep_chains
from nomos_testing.runners.host.process import NodeProcess, stop_processes
from nomos_testing.runners.host.prometheus import HostPrometheus
from nomos_testing.runners.host.sockets import NodeSockets
from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.control import BASIC_CAPABILITIES, NETWORK_CAPABILITIES
from nomos_testing.runners.shared.netfaults.base import NetworkFaultError
from nomos_testing.runners.shared.netfaults.engine import unavailable_capabilities
from nomos_testing.runners.shared.netfaults.preflight import network_faults_check
from nomos_testing.runners.shared.owner import owner_token
from nomos_testing.runners.shared.preflight import leftovers_check
from nomos_testing.runners.shared.prometheus import PROMETHEUS_CAPABILITY
from nomos_testing.runners.shared.state import RunState, read_state, remove_state
from nomos_testing.topology.model import GeneratedTopology, Role

ADOPTED_GRACE_S = 2.0


class HostDeployer(Deployer):
    name: ClassVar[str] = "host"
    capabilities: ClassVar[frozenset[str]] = BASIC_CAPABILITIES | NETWORK_CAPABILITIES | {"pause", "join", "detach",
                                                                                          PROMETHEUS_CAPABILITY}
    _chain_start: float = 0.0  # of the configs written last (_write_configs)

    @classmethod
    def unavailable_capabilities(cls) -> dict[str, str]:
        missing = dict(unavailable_capabilities())
        reason = prometheus.unavailable_reason()
        if reason is not None:
            missing[PROMETHEUS_CAPABILITY] = f"{reason}; {prometheus.remedy()}"
        return missing

    # Preflight ---------------------------------------------------------------------------------------

    def preflight(self, adapter: NodeAdapter | None = None) -> list[Check]:
        adapter = adapter or default_adapter()
        checks = []
        for role in (Role.VALIDATOR, Role.EXECUTOR):
            found = adapter.resolve_binary(role)
            detail = f"{found.path} ({found.source})" if found.path else found.source
            checks.append(Check(f"{found.binary} binary", found.path is not None, detail, found.remedy))
        checks.append(leftovers_check(self))
        checks.append(network_faults_check())
        checks.append(prometheus.prometheus_check())
        return checks

    # Deploy ------------------------------------------------------------------------------------------

    async def deploy(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> HostCluster:
        cluster = self.prepare(topology, run_id, run_dir)
        try:
            cluster.start_all()  # Popen returns as soon as each child exists: every node starts at once
        except OSError as exc:
            cluster.teardown_now()
            raise DeploymentError(f"could not start the nodes of run {run_id}: {exc}",
                                  "check the node binaries and free disk space; run `nomos-testing doctor`") from exc
        try:
            await cluster.start_prometheus()  # while the nodes boot
        except BaseException:
            cluster.teardown_now()
            raise
        return cluster

    def prepare(self, topology: GeneratedTopology, run_id: str, run_dir: Path) -> HostCluster:
        """Everything but starting: binaries resolved, sockets reserved, configs and data dirs written."""
        if not topology.nodes:
            raise DeploymentError("the topology has no nodes", "configure at least one validator")
        adapter = topology.adapter
        binaries = {}
        for role in {node.role for node in topology.nodes}:
            found = adapter.resolve_binary(role)
            if found.path is None:
                raise PrerequisiteError(found.source, found.remedy)
            binaries[role] = found.path
        run_dir = run_dir.resolve()
        reserved: dict[str, NodeSockets] = {}
        block = choose_block()
        try:
            for folder in ("configs", "logs", "data"):
                (run_dir / folder).mkdir(parents=True, exist_ok=True)
            for slot, node in enumerate(topology.nodes):
                reserved[node.name] = NodeSockets.reserve(block.address(slot))
            processes = self._write_configs(topology, run_id, run_dir, binaries, reserved)
        except (OSError, DeploymentError) as exc:
            for sockets in reserved.values():
                sockets.close()
            if isinstance(exc, DeploymentError):
                raise
            raise DeploymentError(f"could not prepare run {run_id} in {run_dir}: {exc}",
                                  "check free disk space, permissions and open-file limits (ulimit -n)") from exc
        endpoints = [NodeEndpoint(node.name, node.role, node.index,
                                  f"http://{reserved[node.name].addresses().api_listen}",
                                  f"http://{reserved[node.name].addresses().testing_listen}")
                     for node in topology.nodes]
        log_names = {node.name: adapter.log_file_name(node) for node in topology.nodes}
        cluster = HostCluster(run_id, run_dir, endpoints, processes, log_names, block=block)
        cluster.joinable(topology, self._chain_start)
        return cluster

    def _write_configs(self, topology: GeneratedTopology, run_id: str, run_dir: Path, binaries: dict[Role, Path],
                       reserved: dict[str, NodeSockets]) -> list[NodeProcess]:
        adapter = topology.adapter
        addresses = {name: sockets.addresses() for name, sockets in reserved.items()}
        chain_start = self._chain_start = self.chain_start_time()  # nodes that join later get the same genesis
        env = {**adapter.environment(), **adapter.log_dir_environment(run_dir / "logs")}
        owner = owner_token()
        processes = []
        for node in topology.nodes:
            data_dir = run_dir / "data" / node.name
            mark_data_dir(data_dir, run_id)
            config_path = run_dir / "configs" / adapter.config_file_name(node)
            config_path.write_text(adapter.render_config(topology, node, addresses, chain_start, str(data_dir)),
                                   encoding="utf-8")
            sockets = reserved[node.name]
            processes.append(NodeProcess(
                name=node.name, argv=adapter.command(str(binaries[node.role]), str(config_path)),
                config_path=config_path, data_dir=data_dir, log_path=run_dir / "logs" / adapter.log_file_name(node),
                env={**env, **marker_environment(run_id, run_dir, owner, node.name)}, sockets=sockets,
                handover=adapter.socket_handover(sockets.by_listener())))
        return processes

    # Clusters of other processes --------------------------------------------------------------------

    def attach(self, state: RunState, topology: GeneratedTopology | None = None) -> HostCluster:
        processes = [NodeProcess.adopt(record.name, record.runner) for record in state.nodes]
        endpoints = [NodeEndpoint(r.name, Role(r.role), r.index, r.api_url, r.testing_url) for r in state.nodes]
        log_names = {p.name: p.log_path.name for p in processes}
        block = AddressBlock.parse(str(state.runner_state.get("address_block", "")))
        recorded = state.runner_state.get("prometheus")
        return HostCluster(state.run_id, state.run_dir, endpoints, processes, log_names, intent=state.intent,
                           detached=True, block=block,
                           prometheus=HostPrometheus.adopt(recorded) if isinstance(recorded, dict) else None)

    def leftovers(self, entry: index.IndexEntry) -> list[Leftover]:
        found = [Leftover(f"process {p.describe()}") for p in marked_processes(entry.path)]
        found += [Leftover(f"data dir {path}", live=False) for path in marked_data_dirs(entry.path)]
        found += [Leftover(item.describe(), live=False) for item in chains_left(entry.run_id)]
        return found

    async def remove_leftovers(self, entry: index.IndexEntry) -> list[str]:
        removed: list[str] = []
        data_dirs = marked_data_dirs(entry.path)
        state = read_state(entry.path)
        if state is not None:
            cluster = self.attach(state)
            removed += [f"process {entry.run_id}/{p.name} (pid {p.pid})" for p in cluster.processes.values()
                        if p.alive()]
            await cluster.destroy()
        removed += await _stop_marked(marked_processes(entry.path))
        remove_data_dirs(data_dirs)  # also the ones NOMOS_TESTS_KEEP_LOGS kept: `clean` is an explicit removal
        removed += [f"data dir {path}" for path in data_dirs if not path.exists()]
        removed += await _remove_chains(entry.run_id)
        remove_state(entry.path)
        return removed

    async def sweep(self, dry_run: bool = False) -> list[str]:
        strays = orphaned(marked_processes())
        if dry_run:
            return [f"process {p.describe()}" for p in strays] + await _sweep_chains(dry_run=True)
        removed = await _stop_marked(strays)
        for run_dir in {p.run_dir for p in strays}:
            removed += [f"data dir {path}" for path in remove_data_dirs(marked_data_dirs(run_dir))]
            remove_state(run_dir)
        return removed + await _sweep_chains(dry_run=False)


async def _remove_chains(run_id: str) -> list[str]:
    try:
        return await remove_run_chains(run_id)
    except NetworkFaultError as exc:
        raise DeploymentError(f"could not remove the iptables chains of run {run_id}: {exc}", exc.remedy) from exc


async def _sweep_chains(dry_run: bool) -> list[str]:
    try:
        return await sweep_chains(dry_run)
    except NetworkFaultError as exc:
        raise DeploymentError(f"could not sweep iptables chains: {exc}", exc.remedy) from exc


async def _stop_marked(found: list[MarkedProcess]) -> list[str]:
    adopted = []
    for marked in found:
        process = NodeProcess.adopt(marked.name, {"pid": marked.pid, "create_time": marked.started_at,
                                                  "config": "", "data_dir": "", "log": ""})
        adopted.append(process)
    alive = [p for p in adopted if p.alive()]
    await stop_processes(alive, ADOPTED_GRACE_S)
    return [f"process {marked.describe()}" for marked, process in zip(found, adopted, strict=True)
            if process in alive]

