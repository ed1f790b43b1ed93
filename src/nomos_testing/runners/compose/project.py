"""Operations on one run's compose project: up/down and per-service control through the compose CLI
(v1 or v2), container queries through the docker CLI (one call for all containers, fast even with v1)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nomos_testing.runners.compose.compose_cli import COMPOSE_SERVICE_LABEL, ComposeCli
from nomos_testing.runners.shared.docker import OWNER_LABEL, RUN_LABEL, DockerCommandError, arun, run
from nomos_testing.runners.shared.owner import owner_alive

UP_TIMEOUT_S = 180.0
DOWN_TIMEOUT_S = 120.0
CONTROL_TIMEOUT_S = 60.0
STOP_GRACE_S = 5


@dataclass(frozen=True)
class ContainerState:
    container_id: str
    service: str
    status: str          # created | running | exited | dead | …
    exit_code: int
    ports: dict[int, tuple[str, int]]  # container port -> (host ip, host port)

    def url(self, port: int) -> str | None:
        """http://host:port of a published container port (a wildcard binding through loopback), or None."""
        if port not in self.ports:
            return None
        ip, host_port = self.ports[port]
        host = "127.0.0.1" if ip in ("", "0.0.0.0", "::") else ip
        return f"http://[{host}]:{host_port}" if ":" in host else f"http://{host}:{host_port}"

    def pinned_ports(self) -> dict[int, int]:
        """container port -> the host port it got (pinned into compose.pinned.yaml)."""
        return {port: binding[1] for port, binding in self.ports.items()}


@dataclass(frozen=True)
class ComposeProject:
    run_id: str
    name: str
    compose_file: Path
    cli: ComposeCli

    def _argv(self, *args: str, compose_file: Path | None = None) -> list[str]:
        return [*self.cli.argv, "-p", self.name, "-f", str(compose_file or self.compose_file), *args]

    def _env(self) -> dict[str, str]:
        """v2 writes a progress line per container and step to stderr (four per container for `up`): an
        error's tail would be those lines, with the daemon's message last. Quiet keeps only the message;
        v1 ignores the variable."""
        return {**os.environ, "COMPOSE_PROGRESS": "quiet"}

    async def compose(self, *args: str, timeout: float = CONTROL_TIMEOUT_S,
                      compose_file: Path | None = None) -> str:
        _, out, _ = await arun(self._argv(*args, compose_file=compose_file), timeout=timeout, env=self._env())
        return out

    async def up(self) -> None:
        await self.compose("up", "-d", "--no-build", timeout=UP_TIMEOUT_S)

    def down_sync(self) -> None:
        run(self._argv("down", "-v", "--remove-orphans", "--timeout", str(STOP_GRACE_S)), timeout=DOWN_TIMEOUT_S,
            env=self._env())

    async def down(self) -> None:
        await self.compose("down", "-v", "--remove-orphans", "--timeout", str(STOP_GRACE_S), timeout=DOWN_TIMEOUT_S)

    async def remove_containers(self) -> None:
        _, ids, _ = await arun(["docker", "ps", "-aq", "--filter", f"label={RUN_LABEL}={self.run_id}"], check=False)
        if ids.split():
            await arun(["docker", "rm", "-f", "-v", *ids.split()], timeout=DOWN_TIMEOUT_S, check=False)

    async def containers(self) -> list[ContainerState]:
        """Every container of this run (any state), found by the run label."""
        _, ids, _ = await arun(["docker", "ps", "-aq", "--no-trunc", "--filter", f"label={RUN_LABEL}={self.run_id}"])
        if not ids.split():
            return []
        _, raw, _ = await arun(["docker", "inspect", *ids.split()])
        return [_container_state(item) for item in json.loads(raw)]

    async def logs(self, container_id: str, tail: int | None = None) -> str:
        argv = ["docker", "logs", *(["--tail", str(tail)] if tail else []), container_id]
        _, out, _ = await arun(argv, timeout=CONTROL_TIMEOUT_S, check=False, merge_stderr=True)
        return out


def _container_state(item: dict[str, Any]) -> ContainerState:
    ports: dict[int, tuple[str, int]] = {}
    for key, bindings in (item.get("NetworkSettings", {}).get("Ports") or {}).items():
        if bindings:
            ports[int(key.split("/")[0])] = (bindings[0]["HostIp"], int(bindings[0]["HostPort"]))
    state = item.get("State", {})
    return ContainerState(
        container_id=item["Id"],
        service=item.get("Config", {}).get("Labels", {}).get(COMPOSE_SERVICE_LABEL, item.get("Name", "").lstrip("/")),
        status=state.get("Status", "unknown"),
        exit_code=int(state.get("ExitCode", 0)),
        ports=ports,
    )


def remove_by_label(label_filter: str) -> list[str]:
    """Remove every container, network and volume matching a label filter (`key` or `key=value`)."""
    removed: list[str] = []
    label = f"label={label_filter}"
    kinds = (
        ("container", ["docker", "ps", "-aq", "--filter", label], ["docker", "rm", "-f", "-v"]),
        ("network", ["docker", "network", "ls", "-q", "--filter", label], ["docker", "network", "rm"]),
        ("volume", ["docker", "volume", "ls", "-q", "--filter", label], ["docker", "volume", "rm", "-f"]),
    )
    for kind, listing, removal in kinds:
        found = run(listing, timeout=30).stdout.split()
        if not found:
            continue
        try:
            run([*removal, *found], timeout=DOWN_TIMEOUT_S)
        except DockerCommandError as exc:  # report what could not be removed, keep going
            removed.append(f"{kind} removal failed: {exc}")
            continue
        removed += [f"{kind} {ident[:12]}" for ident in found]
    return removed


def labelled_kinds(run_id: str) -> list[str]:
    """What of one run is left on the engine: "container 3f2a…", "network …", "volume …"."""
    label = f"label={RUN_LABEL}={run_id}"
    found = []
    for kind, listing in (("container", ["docker", "ps", "-aq", "--filter", label]),
                          ("network", ["docker", "network", "ls", "-q", "--filter", label]),
                          ("volume", ["docker", "volume", "ls", "-q", "--filter", label])):
        found += [f"{kind} {ident[:12]}" for ident in run(listing, timeout=30, check=False).stdout.split()]
    return found


def labelled_runs() -> dict[str, str]:
    """run id -> owner token of every run that has a container, network or volume left."""
    fmt = f'{{{{.Label "{RUN_LABEL}"}}}}|{{{{.Label "{OWNER_LABEL}"}}}}'
    runs: dict[str, str] = {}
    for listing in (["docker", "ps", "-a"], ["docker", "network", "ls"], ["docker", "volume", "ls"]):
        done = run([*listing, "--filter", f"label={RUN_LABEL}", "--format", fmt], timeout=30)
        for line in done.stdout.splitlines():
            run_id, _, owner = line.partition("|")
            if run_id:
                runs.setdefault(run_id, owner)
    return runs


def remove_abandoned_runs() -> list[str]:
    """Everything of runs whose framework process is gone (finished, killed, or `up` that detached).
    A run still being driven by a live process is left alone, so `clean` is safe during another run."""
    removed: list[str] = []
    for run_id, owner in sorted(labelled_runs().items()):
        if owner and owner_alive(owner):
            continue
        removed += [f"{item} (run {run_id})" for item in remove_by_label(f"{RUN_LABEL}={run_id}")]
    return removed
