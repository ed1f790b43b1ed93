"""Thin wrappers around the `docker` and compose command lines (sync for builds and preflight,
async for the run lifecycle). Every failure carries the command and the tail of its stderr."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import psutil

from nomos_testing.errors import DeploymentError, PrerequisiteError

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


def run(argv: Sequence[str], *, timeout: float = 60.0, input_bytes: bytes | None = None,
        check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(list(argv), input=input_bytes.decode() if input_bytes is not None else None,
                              capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DockerCommandError(argv, None, str(exc.stderr or "")) from exc
    except FileNotFoundError as exc:
        raise DockerCommandError(argv, 127, f"{argv[0]}: not found") from exc
    if check and done.returncode != 0:
        raise DockerCommandError(argv, done.returncode, done.stderr or done.stdout)
    return done


async def arun(argv: Sequence[str], *, timeout: float = 60.0, check: bool = True) -> tuple[int, str, str]:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError as exc:
        raise DockerCommandError(argv, 127, f"{argv[0]}: not found") from exc
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise DockerCommandError(argv, None, "") from exc
    code = process.returncode if process.returncode is not None else -1
    stdout, stderr = out.decode(errors="replace"), err.decode(errors="replace")
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


@dataclass(frozen=True)
class ComposeCli:
    """The compose command line found on this machine: the v2 plugin or the v1 standalone tool."""

    argv: tuple[str, ...]
    version: str

    @property
    def is_v1(self) -> bool:
        return self.argv == ("docker-compose",)

    def display(self) -> str:
        return " ".join(self.argv)


@cache
def find_compose() -> ComposeCli | None:
    candidates: list[tuple[str, ...]] = []
    if docker_binary():
        candidates.append(("docker", "compose"))
    if shutil.which("docker-compose"):
        candidates.append(("docker-compose",))
    for argv in candidates:
        try:
            done = run([*argv, "version", "--short"], timeout=20, check=False)
        except DockerCommandError:
            continue
        if done.returncode == 0 and done.stdout.strip():
            return ComposeCli(argv, done.stdout.strip().splitlines()[0])
    return None


def require_compose() -> ComposeCli:
    cli = find_compose()
    if cli is None:
        raise PrerequisiteError("no compose CLI found (neither `docker compose` nor `docker-compose`)",
                                "install the compose v2 plugin or `apt-get install docker-compose`")
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
