"""A running compose stack as the lifecycle sees it: endpoints, crash detection, log collection, teardown."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nomos_testing.runners.base import Cluster
from nomos_testing.runners.compose.control import ComposeNodeControl
from nomos_testing.runners.compose.docker import RUN_LABEL, DockerCommandError
from nomos_testing.runners.compose.project import ComposeProject, remove_by_label
from nomos_testing.runners.compose.stack import PROMETHEUS_SERVICE

LOG_TAIL_LINES = 30
STATE_FILE = "compose-run.json"


@dataclass(kw_only=True)
class ComposeCluster(Cluster):
    project: ComposeProject
    run_dir: Path
    log_names: dict[str, str]  # node name -> nomos-node-<i>.log / nomos-executor-<i>.log
    preserve: bool = False
    detached: bool = False
    torn_down: bool = field(default=False, init=False)

    def _intentionally_down(self) -> set[str]:
        return self.control.intentionally_down if isinstance(self.control, ComposeNodeControl) else set()

    async def crashed(self) -> dict[str, str]:
        if self.torn_down:
            return {}
        crashed: dict[str, str] = {}
        skip = self._intentionally_down()
        for container in await self.project.containers():
            if container.service not in self.log_names or container.service in skip:
                continue
            if container.status in ("exited", "dead"):
                tail = (await self.project.logs(container.container_id, tail=LOG_TAIL_LINES)).rstrip()
                crashed[container.service] = (f"container exited with code {container.exit_code}; "
                                              f"last {LOG_TAIL_LINES} log lines:\n{tail}")
        return crashed

    async def collect_logs(self, logs_dir: Path) -> None:
        """Every container's full log (stdout and stderr, in order) into logs_dir."""
        logs_dir.mkdir(parents=True, exist_ok=True)
        for container in await self.project.containers():
            if container.service in self.log_names:
                target = logs_dir / self.log_names[container.service]
            elif container.service == PROMETHEUS_SERVICE:
                target = logs_dir / "prometheus.log"
            else:
                continue
            earlier = self.control.earlier_logs.get(container.service, "") \
                if isinstance(self.control, ComposeNodeControl) else ""
            target.write_text(earlier + await self.project.logs(container.container_id))

    async def teardown(self) -> None:
        if self.torn_down or self.detached:
            return
        self.torn_down = True
        if self.preserve:
            print(preserved_message(self.project, self.run_dir), file=sys.stderr, flush=True)
            return
        # Logs are already collected and volumes are deleted: no graceful stop needed. Removing the
        # containers in one docker call first makes `down` (which stops them one by one in v1) quick.
        await self.project.remove_containers()
        try:
            await self.project.down()
        except DockerCommandError as exc:
            print(f"compose down of {self.project.name} failed ({exc}); removing by label", file=sys.stderr)
        remove_by_label(f"{RUN_LABEL}={self.run_id}")  # whatever `down` missed (e.g. a half-created stack)
        (self.run_dir / STATE_FILE).unlink(missing_ok=True)


def preserved_message(project: ComposeProject, run_dir: Path) -> str:
    compose = f"{project.cli.display()} -p {project.name} -f {project.compose_file}"
    return "\n".join([
        f"COMPOSE_RUNNER_PRESERVE=1: the compose stack of run {project.run_id} is kept running.",
        f"  list:    docker ps -a --filter label={RUN_LABEL}={project.run_id}",
        f"  status:  {compose} ps",
        f"  logs:    {compose} logs <service>      (services: validator-0, …, prometheus)",
        f"  remove:  nomos-testing down {run_dir}   or   {compose} down -v",
        "  all leftovers of finished runs:  nomos-testing clean",
    ])


def save_state(project: ComposeProject, run_dir: Path) -> None:
    (run_dir / STATE_FILE).write_text(json.dumps({
        "run_id": project.run_id, "project": project.name, "compose_file": str(project.compose_file),
        "compose_cli": list(project.cli.argv), "compose_version": project.cli.version,
    }, indent=2) + "\n")


def load_state(run_dir: Path) -> dict[str, object] | None:
    path = run_dir / STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None
