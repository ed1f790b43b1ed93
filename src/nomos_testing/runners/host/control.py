"""Node control for the host runner: signals to the node's process group, and a new process with the same
config, data directory and (while the run's process holds them) the same listening sockets."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.errors import NodeControlError
from nomos_testing.runners.host.join import join_node
from nomos_testing.runners.host.process import stop_processes
from nomos_testing.runners.shared.control import BASIC_CAPABILITIES, NETWORK_CAPABILITIES, NodeControl

if TYPE_CHECKING:
    from nomos_testing.runners.base import NodeEndpoint
    from nomos_testing.runners.host.cluster import HostCluster
    from nomos_testing.topology.model import Role

STOP_GRACE_S = 2.0
KILL_REAP_S = 0.5


class HostNodeControl(NodeControl):
    capabilities: ClassVar[frozenset[str]] = BASIC_CAPABILITIES | NETWORK_CAPABILITIES | {"pause", "join"}
    mechanism = "process signals (SIGTERM, SIGKILL, SIGSTOP, SIGCONT) to the node's process group"

    def __init__(self, cluster: HostCluster) -> None:
        super().__init__(list(cluster.processes), cluster.intent, cluster.run_id, on_change=cluster.save_state)
        self.cluster = cluster

    def _usable(self) -> None:
        if self.cluster.torn_down:
            raise NodeControlError(f"node control: the cluster of run {self.cluster.run_id} is torn down",
                                   "control nodes only while the run is active")

    async def _is_running(self, name: str) -> bool:
        return self.cluster.processes[name].alive()

    async def _stop_node(self, name: str, graceful: bool) -> dict[str, Any]:
        process = self.cluster.processes[name]
        pid = process.pid
        if not graceful:
            process.send(signal.SIGKILL)
        await stop_processes([process], grace_s=STOP_GRACE_S if graceful else KILL_REAP_S)
        code = process.returncode()
        if code is not None:
            process.exit_codes.append(code)
        return {"pid": pid, "exit_code": code}

    async def _join_node(self, role: Role, peers: list[str] | None,
                         in_genesis: bool) -> tuple[NodeEndpoint, dict[str, Any]]:
        joined = await join_node(self.cluster, role, peers, in_genesis)
        self.cluster.rescrape()
        return joined

    async def _start_node(self, name: str) -> dict[str, Any]:
        process = self.cluster.processes[name]
        try:
            process.spawn()
        except OSError as exc:
            raise NodeControlError(f"node control: cannot start {name}: {exc}",
                                   f"check {process.argv[0] if process.argv else 'the node binary'} and free disk "
                                   "space") from exc
        return {"pid": process.pid, "sockets": "inherited" if process.sockets is not None else "bound by the node"}

    async def _pause_node(self, name: str) -> dict[str, Any]:
        return self._signal(name, signal.SIGSTOP)

    async def _resume_node(self, name: str) -> dict[str, Any]:
        return self._signal(name, signal.SIGCONT)

    def _signal(self, name: str, sig: signal.Signals) -> dict[str, Any]:
        process = self.cluster.processes[name]
        if not process.alive():
            raise NodeControlError(f"node control: {name} is not running (cannot send {sig.name})",
                                   f"start {name} first")
        process.send(sig)  # the whole process group: the node and anything it started
        return {"pid": process.pid, "signal": sig.name}
