"""Thin wrappers around the `docker` command line (sync for builds and preflight, async for the run core) and the
labels every runner puts on what it creates. Every command runs in its own process group, killed whole on a
timeout or a cancellation; every failure carries the command and the tail of its stderr."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Sequence

LABEL_PREFIX = "org.nomos-testing"

RUN_LABEL = f"{LABEL_PREFIX}.run-id"

OWNER_LABEL = f"{LABEL_PREFIX}.owner"  # "<pid>:<process start time>" of the framework process


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

def image_labels(tag: str) -> dict[str, str] | None:
    """The image's labels, or None when the image is not present locally."""
    done = run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", tag], timeout=30, check=False)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip() or "null") or {}

def image_exists(tag: str) -> bool:
    return image_labels(tag) is not None
