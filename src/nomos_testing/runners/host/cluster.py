"""A running host cluster: the node processes of one run, their reserved sockets and data directories."""

from __future__ import annotations

import atexit
import contextlib
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nomos_testing import settings
from nomos_testing.runners.base import Cluster, NodeEndpoint
from nomos_testing.runners.host.addresses import AddressBlock
from nomos_testing.runners.host.control import HostNodeControl
from nomos_testing.runners.host.markers import remove_data_dirs
from nomos_testing.runners.host.netfaults import HostNetworkFaults, remove_chains_now
from nomos_testing.runners.host.process import NodeProcess, kill_now, stop_processes, tail
from nomos_testing.runners.host.prometheus import HostPrometheus, unavailable_reason
from nomos_testing.runners.shared.intent import IntendedState, NodeState
from nomos_testing.runners.shared.owner import owner_token
from nomos_testing.runners.shared.state import remove_state
from nomos_testing.topology.model import GeneratedTopology

TEARDOWN_GRACE_S = 2.0


class HostCluster(Cluster):
    def __init__(self, run_id: str, run_dir: Path, endpoints: list[NodeEndpoint], processes: list[NodeProcess],
                 log_names: dict[str, str], intent: IntendedState | None = None, detached: bool = False,
                 block: AddressBlock | None = None, prometheus: HostPrometheus | None = None) -> None:
        super().__init__(run_id, "host", run_dir, endpoints, intent=intent, detached=detached,
                         prometheus_url=prometheus.url if prometheus is not None else None)
        self.processes: dict[str, NodeProcess] = {p.name: p for p in processes}
        self.prometheus = prometheus  # host/prometheus.py: not a node, stopped with them
        self.block = block  # the run's loopback block (None: a run-state from before per-node addresses)
        self.log_names = log_names  # node -> file name in logs/ (from the node adapter)
        # What adding a node needs (host/join.py); set by the deployer, not by attach
        self.topology: GeneratedTopology | None = None
        self.chain_start_time: float | None = None
        self.control = HostNodeControl(self)
        if block is not None:  # every node on its own address: faults can act between two of them
            self.control.network = HostNetworkFaults(self)
        self._exit_hook = False
        if not detached:
            # Last resort if the interpreter exits without teardown (an unhandled exception in a sync caller,
            # or a second Ctrl-C that force-quits).
            atexit.register(self._atexit)
            self._exit_hook = True

    # Cluster ---------------------------------------------------------------------------------------

    async def exited(self) -> dict[str, str]:
        exited = {}
        for process in self.processes.values():
            if not process.alive():
                code = process.returncode()
                how = f"exited with code {code}" if code is not None else "is not running"
                exited[process.name] = f"{how}; last lines of {process.log_path}:\n{tail(process.log_path)}"
        return exited

    async def collect_logs(self, logs_dir: Path) -> None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        for process in self.processes.values():
            target = logs_dir / self.log_names[process.name]
            if process.log_path.resolve() != target.resolve() and process.log_path.exists():
                shutil.copyfile(process.log_path, target)
            target.touch(exist_ok=True)  # every node has a file, even one that never wrote a line

    async def _stop_everything(self) -> None:
        try:
            await stop_processes([*self.processes.values(), *self._prometheus_process()], TEARDOWN_GRACE_S)
        finally:
            try:
                if self.control is not None and self.control.network is not None:
                    await self.control.network.close()
            finally:
                self._release()

    def node_runner_state(self, name: str) -> dict[str, Any]:
        return self.processes[name].record()

    def runner_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"address_block": self.block.cidr} if self.block is not None else {}
        if self.prometheus is not None:
            state["prometheus"] = self.prometheus.record()
        return state

    def address(self, name: str) -> str:
        """The node's own loopback address (it listens and dials there)."""
        host = urlsplit(self.endpoint(name).api_url).hostname
        if host is None:
            raise KeyError(name)
        return host

    def _after_detach(self) -> None:
        for process in self.processes.values():
            if process.sockets is not None:
                process.sockets.close()  # the children keep their inherited copies
                process.sockets = None
        self._unhook()

    # Host specifics --------------------------------------------------------------------------------

    def joinable(self, topology: GeneratedTopology, chain_start_time: float) -> None:
        """Keep what adding nodes later needs; the topology's standby validators are down on purpose."""
        self.topology, self.chain_start_time = topology, chain_start_time
        for node in topology.standby:
            self.intent.add_node(node.name, NodeState.STANDBY)

    def start_all(self) -> None:
        """Start every node that is not running, without waiting for any of them; record them in run-state."""
        try:
            for process in self.processes.values():
                if not process.alive():
                    process.spawn()
        finally:
            self.save_state()

    async def start_prometheus(self) -> None:
        """Prometheus scraping every node, unless disabled or not installed; a Prometheus that fails to start
        leaves the run without one (the report says why), never the run failed."""
        reason = unavailable_reason()
        if reason is None:
            try:
                self.prometheus = HostPrometheus.spawn(self.run_id, self.run_dir, owner_token(), self.nodes)
                self.save_state()  # known to `down` / `clean` before it answers
                await self.prometheus.wait_ready()
            except OSError as exc:
                reason = f"it did not start: {exc}"
                if self.prometheus is not None:
                    await self.prometheus.stop()
                    self.prometheus = None
        if self.prometheus is not None:
            self.prometheus_url = self.prometheus.url
            self.extra_report["prometheus_url"] = self.prometheus.url
            self.notices.append(("prometheus.started", {"url": self.prometheus.url}))
        else:
            self.extra_report["prometheus"] = f"no Prometheus: {reason}"
            self.notices.append(("prometheus.skipped", {"reason": reason}))
        self.save_state()

    def rescrape(self) -> None:
        """The node set changed (a join): Prometheus scrapes the new one too."""
        if self.prometheus is not None:
            self.prometheus.rescrape(self.nodes)

    def _prometheus_process(self) -> list[NodeProcess]:
        return [self.prometheus.process] if self.prometheus is not None else []

    def start_one(self, name: str) -> None:
        """Start one node (the sequential baseline of the benchmarks starts them one at a time)."""
        self.processes[name].spawn()
        self.save_state()

    def teardown_now(self) -> None:
        """Synchronous teardown (SIGKILL) for callers without an event loop, e.g. an exit hook."""
        if self.torn_down or self.detached:
            return
        self.torn_down = True
        try:
            kill_now([*self.processes.values(), *self._prometheus_process()])
        finally:
            self._release()
            if self.block is not None:
                remove_chains_now(self.run_id)  # the delay proxies die with this process
            with contextlib.suppress(OSError):
                remove_state(self.run_dir)

    def _release(self) -> None:
        self._unhook()
        for process in self.processes.values():
            if process.sockets is not None:
                with contextlib.suppress(OSError):
                    process.sockets.close()
        if not settings.keep_logs():
            remove_data_dirs(p.data_dir for p in self.processes.values())
            if self.prometheus is not None and not self.prometheus.process.alive():
                self.prometheus.remove_data()  # metrics/ keeps what the report needs

    def _unhook(self) -> None:
        if self._exit_hook:
            atexit.unregister(self._atexit)
            self._exit_hook = False

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.teardown_now()
