"""The generated stack: one run directory holds configs, Prometheus config and a compose file that the
compose CLI itself accepts, with the run's label on every container, network and volume."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from compose_helpers import make_topology

from nomos_testing.errors import PlanError
from nomos_testing.runners.compose import deployer as compose_deployer
from nomos_testing.runners.compose.docker import RUN_LABEL, find_compose
from nomos_testing.runners.compose.stack import (
    API_PORT,
    PROMETHEUS_SERVICE,
    TESTING_PORT,
    StackSpec,
    project_name,
    write_pinned_stack,
    write_stack,
)


def _spec(run_id: str = "smoke-20260101-abc") -> StackSpec:
    return StackSpec(run_id=run_id, node_image="nomos-testing-node:test", prometheus_image="prom:test",
                     node_environment={"POL_PROOF_DEV_MODE": "true"})


def test_project_names_are_per_run_and_valid() -> None:
    assert project_name("Smoke_2026.01 x") == "nomos-smoke_2026-01-x"
    assert project_name("a") != project_name("b")
    with pytest.raises(ValueError, match="run id"):
        project_name("...")


def test_stack_files_in_run_dir(tmp_path: Path) -> None:
    topology = make_topology(validators=2, executors=1)
    compose_file = write_stack(topology, _spec(), tmp_path, chain_start_time=1000.0)
    assert compose_file == tmp_path / "compose.yaml"
    document = yaml.safe_load(compose_file.read_text())
    nodes = ["validator-0", "validator-1", "executor-0"]
    assert list(document["services"]) == [*nodes, PROMETHEUS_SERVICE]
    for name in nodes:
        service = document["services"][name]
        config = yaml.safe_load((tmp_path / "configs" / f"{name}.yaml").read_text())
        # listen everywhere inside the container, advertise the service name, no inherited sockets
        assert config["api"] == {"listen": f"0.0.0.0:{API_PORT}", "listen_fd": None}
        assert config["network"]["advertise"] == f"{name}:3000"
        assert config["storage"]["data_dir"] == "/data"
        assert config["genesis"]["chain_start_time"] == 1000.0
        mount = service["volumes"][0]
        assert mount["source"] == f"./configs/{name}.yaml" and mount["read_only"] is True
        assert service["command"][0] == ("nomos-executor" if name.startswith("executor") else "nomos-node")
        assert service["environment"]["POL_PROOF_DEV_MODE"] == "true"
        assert "NOMOS_LOG_DIR" not in service["environment"]
        assert service["ports"] == [f"${{COMPOSE_RUNNER_HOST:-127.0.0.1}}::{API_PORT}",
                                    f"${{COMPOSE_RUNNER_HOST:-127.0.0.1}}::{TESTING_PORT}"]
        assert service["restart"] == "no"
    hub_dials = yaml.safe_load((tmp_path / "configs" / "validator-1.yaml").read_text())["network"]["initial_peers"]
    assert hub_dials == ["validator-0:3000"]
    for section in ("services", "networks", "volumes"):
        for name, entry in document[section].items():
            assert entry["labels"][RUN_LABEL] == "smoke-20260101-abc", f"{section}.{name} lacks the run label"
    prometheus = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in prometheus["scrape_configs"]}
    assert jobs == {name: [f"{name}:{API_PORT}"] for name in nodes}
    assert document["services"][PROMETHEUS_SERVICE]["ports"] == [
        "${COMPOSE_RUNNER_HOST:-127.0.0.1}:${TEST_FRAMEWORK_PROMETHEUS_PORT:-}:9090"]


def test_pinned_copy_fixes_the_discovered_ports(tmp_path: Path) -> None:
    topology = make_topology(validators=1)
    write_stack(topology, _spec(), tmp_path, chain_start_time=1.0)
    pinned = write_pinned_stack(topology, _spec(), tmp_path, {"validator-0": {API_PORT: 40001, TESTING_PORT: 40002},
                                                             PROMETHEUS_SERVICE: {9090: 40003}})
    services = yaml.safe_load(pinned.read_text())["services"]
    assert services["validator-0"]["ports"] == ["${COMPOSE_RUNNER_HOST:-127.0.0.1}:40001:18080",
                                                "${COMPOSE_RUNNER_HOST:-127.0.0.1}:40002:18081"]
    assert services[PROMETHEUS_SERVICE]["ports"] == ["${COMPOSE_RUNNER_HOST:-127.0.0.1}:40003:9090"]


def test_compose_cli_accepts_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli = find_compose()
    if cli is None:
        pytest.skip("no compose CLI (docker compose / docker-compose) to validate the file with")
    compose_file = write_stack(make_topology(validators=2), _spec(), tmp_path, chain_start_time=1.0)
    monkeypatch.setenv("COMPOSE_RUNNER_HOST", "127.0.0.2")
    monkeypatch.setenv("TEST_FRAMEWORK_PROMETHEUS_PORT", "45999")
    done = subprocess.run([*cli.argv, "-p", "nomos-validate", "-f", str(compose_file), "config"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    prometheus_ports = resolved["services"][PROMETHEUS_SERVICE]["ports"]
    assert any(str(p.get("published") if isinstance(p, dict) else p).find("45999") >= 0 for p in prometheus_ports)
    assert "127.0.0.2" in done.stdout
    assert str(tmp_path / "configs" / "validator-0.yaml") in done.stdout  # relative mounts resolve to the run dir


@pytest.mark.parametrize(("name", "value", "field"), [
    ("COMPOSE_RUNNER_HOST", "localhost:80", "COMPOSE_RUNNER_HOST"),
    ("TEST_FRAMEWORK_PROMETHEUS_PORT", "70000", "TEST_FRAMEWORK_PROMETHEUS_PORT"),
    ("TEST_FRAMEWORK_PROMETHEUS_PORT", "nine", "TEST_FRAMEWORK_PROMETHEUS_PORT"),
])
def test_bad_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(PlanError, match=field):
        compose_deployer.runner_host()
        compose_deployer.prometheus_port()
