"""A running compose stack as the run core sees it: endpoints, exit detection, log collection, teardown."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from nomos_testing.runners.base import Cluster, NodeEndpoint
from nomos_testing.runners.compose.control import ComposeNodeControl
from nomos_testing.runners.compose.project import ComposeProject, remove_by_label
from nomos_testing.runners.compose.stack import PROMETHEUS_SERVICE
from nomos_testing.runners.shared.docker import RUN_LABEL, DockerCommandError
from nomos_testing.runners.shared.intent import IntendedState

LOG_TAIL_LINES = 30
EARLIER_LOGS = Path("logs") / ".earlier"  # logs of containers replaced by their pinned twin


class ComposeCluster(Cluster):
    def __init__(self, run_id: str, run_dir: Path, nodes: list[NodeEndpoint], project: ComposeProject,
                 pinned_file: Path, log_names: dict[str, str], prometheus_url: str | None = None,
                 extra_report: dict[str, Any] | None = None, preserve: bool = False,
                 intent: IntendedState | None = None, detached: bool = False,
                 pinned: set[str] | None = None) -> None:
        super().__init__(run_id, "compose", run_dir, nodes, intent=intent, prometheus_url=prometheus_url,
                         extra_report=extra_report, detached=detached)
        self.project = project
        self.pinned_file = pinned_file
        self.log_names = log_names  # node name -> nomos-node-<i>.log / nomos-executor-<i>.log
        self.preserve = preserve
        self.pinned: set[str] = set(pinned or ())  # services already recreated from the pinned file
        self.control = ComposeNodeControl(self)

    async def exited(self) -> dict[str, str]:
        exited: dict[str, str] = {}
        for container in await self.project.containers():
            if container.service not in self.log_names:
                continue
            if container.status in ("exited", "dead"):
                tail = (await self.project.logs(container.container_id, tail=LOG_TAIL_LINES)).rstrip()
                exited[container.service] = (f"container exited with code {container.exit_code}; "
                                             f"last {LOG_TAIL_LINES} log lines:\n{tail}")
        return exited

    async def keep_earlier_log(self, service: str) -> None:
        for container in await self.project.containers():
            if container.service == service:
                folder = self.run_dir / EARLIER_LOGS
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{service}.log").write_text(await self.project.logs(container.container_id))

    async def collect_logs(self, logs_dir: Path) -> None:
        """Every container's full log (stdout and stderr, in order) into logs_dir, earlier lives first."""
        logs_dir.mkdir(parents=True, exist_ok=True)
        for container in await self.project.containers():
            if container.service in self.log_names:
                target = logs_dir / self.log_names[container.service]
            elif container.service == PROMETHEUS_SERVICE:
                target = logs_dir / "prometheus.log"
            else:
                continue
            earlier = self.run_dir / EARLIER_LOGS / f"{container.service}.log"
            before = earlier.read_text() if earlier.is_file() else ""
            target.write_text(before + await self.project.logs(container.container_id))

    async def teardown(self) -> None:
        if self.preserve and not self.detached and not self.torn_down:
            self.detach()  # kept running on purpose: `down` (or `clean`) removes it later
            print(preserved_message(self.project, self.run_dir), file=sys.stderr, flush=True)
            return
        await super().teardown()

    async def _stop_everything(self) -> None:
        # Logs are already collected and volumes are deleted: no graceful stop needed. Removing the
        # containers in one docker call first makes `down` (which stops them one by one in v1) quick.
        await self.project.remove_containers()
        try:
            await self.project.down()
        except DockerCommandError as exc:
            print(f"compose down of {self.project.name} failed ({exc}); removing by label", file=sys.stderr)
        remove_by_label(f"{RUN_LABEL}={self.run_id}")  # whatever `down` missed (e.g. a half-created stack)

    def node_runner_state(self, name: str) -> dict[str, Any]:
        return {"service": name, "log": self.log_names[name]}

    def runner_state(self) -> dict[str, Any]:
        return {"project": self.project.name, "compose_file": str(self.project.compose_file),
                "pinned_file": str(self.pinned_file), "compose_cli": list(self.project.cli.argv),
                "compose_version": self.project.cli.version, "pinned": sorted(self.pinned),
                "preserve": self.preserve, "extra_report": self.extra_report}


def preserved_message(project: ComposeProject, run_dir: Path) -> str:
    compose = f"{project.cli.display()} -p {project.name} -f {project.compose_file}"
    return "\n".join([
        f"COMPOSE_RUNNER_PRESERVE=1: the compose stack of run {project.run_id} is kept running.",
        f"  list:    docker ps -a --filter label={RUN_LABEL}={project.run_id}",
        f"  status:  {compose} ps",
        f"  logs:    {compose} logs <service>      (services: validator-0, …, prometheus)",
        f"  remove:  nomos-testing down {project.run_id}   or   {compose} down -v",
        "  all leftovers of finished runs:  nomos-testing clean",
    ])
