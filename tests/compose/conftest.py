"""Fixtures of the compose runner tests: a reachable Docker engine (else skip with the reason — a
failure under CI=true, see tests/conftest.py), the images built once per session, small topologies."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from nomos_testing.runners.compose import image
from nomos_testing.runners.compose.docker import RUN_LABEL, daemon_status, find_compose

pytestmark = pytest.mark.compose


@pytest.fixture(scope="session")
def docker_engine() -> None:
    reachable, detail = daemon_status()
    if not reachable:
        pytest.skip(f"compose tests need a Docker engine: {detail} (start dockerd; .ci/run does)")
    if find_compose() is None:
        pytest.skip("compose tests need `docker compose` or `docker-compose`")


@pytest.fixture(scope="session")
def images(docker_engine: None) -> dict[str, str]:
    """Node and Prometheus images; the cold build (base image, wheelhouse) happens at most once."""
    return {"node": image.build_node_image(), "prometheus": image.build_prometheus_image()}


@pytest.fixture(autouse=True)
def _dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")
    monkeypatch.delenv("COMPOSE_RUNNER_PRESERVE", raising=False)
    monkeypatch.delenv("TEST_FRAMEWORK_PROMETHEUS_PORT", raising=False)


@pytest.fixture
def unique_run_id(request: pytest.FixtureRequest) -> Iterator[str]:
    run_id = f"t-{request.node.name[:20]}-{os.getpid()}-{os.urandom(3).hex()}".lower().replace("_", "-")
    yield run_id
    # never leave anything behind, whatever the test did
    subprocess.run(["sh", "-c", f"docker rm -f -v $(docker ps -aq --filter label={RUN_LABEL}={run_id}) "
                                f"2>/dev/null; docker network rm $(docker network ls -q --filter "
                                f"label={RUN_LABEL}={run_id}) 2>/dev/null; docker volume rm $(docker volume ls -q "
                                f"--filter label={RUN_LABEL}={run_id}) 2>/dev/null"], check=False, timeout=120)
