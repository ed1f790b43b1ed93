"""Fixtures of the compose runner tests: a reachable Docker engine (else skip with the reason — a
failure under CI=true, see tests/conftest.py), the images built once per session, small topologies, and
`compose_cli`, which runs a test once per compose CLI (v1 `docker-compose`, v2 `docker compose`)."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator

import pytest

from nomos_testing.nodes.reference import image
from nomos_testing.runners.compose.compose_cli import (
    COMPOSE_CLI_VARIABLE,
    ComposeCli,
    compose_unavailable,
    find_compose,
)
from nomos_testing.runners.shared import images as shared_images
from nomos_testing.runners.shared.docker import RUN_LABEL, daemon_status

COMPOSE_CLIS = ("v1", "v2")


@pytest.fixture(scope="session")
def docker_engine() -> None:
    reachable, detail = daemon_status()
    if not reachable:
        pytest.skip(f"compose tests need a Docker engine: {detail} (start dockerd; .ci/run does)")


@pytest.fixture(params=COMPOSE_CLIS)
def compose_cli(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> ComposeCli:
    """The test runs with NOMOS_COMPOSE_CLI set to v1, then v2 (also in the processes it starts). A CLI
    that is missing skips the test with the reason and the fix (in CI a skip fails: CI installs both)."""
    monkeypatch.setenv(COMPOSE_CLI_VARIABLE, request.param)
    cli = find_compose()
    if cli is None:
        missing = compose_unavailable()
        pytest.skip(f"compose {request.param} is not available: {missing.message} (fix: {missing.remedy})")
    assert cli.generation == request.param, cli
    return cli


@pytest.fixture(scope="session")
def images(docker_engine: None) -> dict[str, str]:
    """Node and Prometheus images; the cold build (base image, wheelhouse) happens at most once."""
    return {"node": image.build_node_image(), "prometheus": shared_images.build_prometheus_image()}


@pytest.fixture(autouse=True)
def _dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")
    monkeypatch.delenv("COMPOSE_RUNNER_PRESERVE", raising=False)
    monkeypatch.delenv("TEST_FRAMEWORK_PROMETHEUS_PORT", raising=False)


@pytest.fixture
def unique_run_id(request: pytest.FixtureRequest) -> Iterator[str]:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))
    run_id = f"t-{name[:24].strip('-')}-{os.getpid()}-{os.urandom(3).hex()}"
    yield run_id
    # never leave anything behind, whatever the test did
    subprocess.run(["sh", "-c", f"docker rm -f -v $(docker ps -aq --filter label={RUN_LABEL}={run_id}) "
                                f"2>/dev/null; docker network rm $(docker network ls -q --filter "
                                f"label={RUN_LABEL}={run_id}) 2>/dev/null; docker volume rm $(docker volume ls -q "
                                f"--filter label={RUN_LABEL}={run_id}) 2>/dev/null"], check=False, timeout=120)
