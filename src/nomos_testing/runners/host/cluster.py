"""A running host cluster: the node processes of one run, their reserved sockets and data directories."""

from __future__ import annotations

import atexit
import contextlib
import shutil
from pathlib import Path

from nomos_testing import settings
from nomos_testing.runners.base import Cluster, NodeEndpoint
from nomos_testing.runners.host import state
from nomos_testing.runners.host.process import NodeProcess, kill_now, stop_processes, tail

TEARDOWN_GRACE_S = 2.0


class HostCluster(Cluster):
    def __init__(self, run_id: str, run_dir: Path, processes: list[NodeProcess]) -> None:
        endpoints = [
            NodeEndpoint(name=p.name, role=p.identity.role, index=p.identity.index,
                         api_url=f"http://{p.sockets.addresses().api_listen}",
                         testing_url=f"http://{p.sockets.addresses().testing_listen}")
            for p in processes
        ]
        super().__init__(run_id=run_id, runner="host", nodes=endpoints)
        self.run_dir = run_dir
        self.processes: dict[str, NodeProcess] = {p.name: p for p in processes}
        self.detached = False
        self._torn_down = False
        from nomos_testing.control.host import HostNodeControl  # control depends on this module

        self.control = HostNodeControl(self)
        # Last resort if the interpreter exits without teardown (an unhandled exception in a sync caller).
        atexit.register(self._atexit)

    # Cluster API -------------------------------------------------------------------------------------

    async def crashed(self) -> dict[str, str]:
        crashed = {}
        for process in self.processes.values():
            code = process.returncode()
            if code is not None and not process.stopped_on_purpose:
                crashed[process.name] = (f"exited with code {code}; last lines of {process.log_path}:\n"
                                         f"{tail(process.log_path)}")
        return crashed

    async def collect_logs(self, logs_dir: Path) -> None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        for process in self.processes.values():
            target = logs_dir / process.identity.log_name
            if process.log_path.resolve() != target.resolve() and process.log_path.exists():
                shutil.copyfile(process.log_path, target)
            target.touch(exist_ok=True)  # every node has a file, even one that never wrote a line

    async def teardown(self) -> None:
        if self._torn_down or self.detached:
            return
        try:
            await stop_processes(self.processes.values(), TEARDOWN_GRACE_S)
        finally:
            self._release()

    # Host specifics ----------------------------------------------------------------------------------

    def start_all(self) -> None:
        """Start every node that is not running, without waiting for any of them; record them in cluster.json."""
        try:
            for process in self.processes.values():
                if not process.alive():
                    process.spawn()
        finally:
            self.save_state()

    def start_one(self, name: str) -> None:
        """Start one node (the sequential baseline of the benchmarks starts them one at a time)."""
        self.processes[name].spawn()
        self.save_state()

    @property
    def torn_down(self) -> bool:
        return self._torn_down

    def teardown_now(self) -> None:
        """Synchronous teardown (SIGKILL) for callers without an event loop, e.g. a signal handler."""
        if self._torn_down or self.detached:
            return
        try:
            kill_now(self.processes.values())
        finally:
            self._release()

    def record(self) -> list[dict[str, object]]:
        nodes = []
        for process in self.processes.values():
            entry = process.record()
            endpoint = next(n for n in self.nodes if n.name == process.name)
            entry.update(api_url=endpoint.api_url, testing_url=endpoint.testing_url)
            nodes.append(entry)
        return nodes

    def save_state(self, detached: bool = False) -> Path:
        return state.write_cluster_file(self.run_dir, self.run_id, detached, self.record())

    def detach(self) -> Path:
        path = self.save_state(detached=True)
        self.detached = True
        for process in self.processes.values():
            process.sockets.close()  # the children keep their inherited copies
        atexit.unregister(self._atexit)
        return path

    def _release(self) -> None:
        self._torn_down = True
        atexit.unregister(self._atexit)
        for process in self.processes.values():
            with contextlib.suppress(OSError):
                process.sockets.close()
        if not settings.keep_logs():
            state.remove_data_dirs(p.data_dir for p in self.processes.values())
        with contextlib.suppress(OSError):
            (self.run_dir / state.CLUSTER_FILE).unlink()

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            self.teardown_now()
