"""The generated stack: one run directory holds configs, Prometheus config and a compose file that the
compose CLI itself accepts, with the run's label on every container, network and volume."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nomos_testing.errors import PlanError
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.runners.compose import deployer as compose_deployer
from nomos_testing.runners.compose.compose_cli import ComposeCli
from nomos_testing.runners.compose.stack import (
    PROMETHEUS_SERVICE,
    StackSpec,
    project_name,
    write_pinned_stack,
    write_stack,
)
from nomos_testing.runners.shared.docker import RUN_LABEL
from tests.compose.compose_helpers import make_topology

API_PORT = ReferenceNodeAdapter.container_ports.api
TESTING_PORT = ReferenceNodeAdapter.container_ports.testing


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
        assert config["api"] == {"listen": f"0.0.0.0:{API_PORT}"}
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


def _binding(entry: str | dict[str, object]) -> tuple[str, str, int]:
    """(host ip, host port or "" for ephemeral, container port) of a port as `config` prints it:
    v1 `127.0.0.1::9090/tcp`, v2 `{host_ip: 127.0.0.1, target: 9090, published: "45999"}`."""
    if isinstance(entry, dict):
        return str(entry.get("host_ip", "")), str(entry.get("published", "") or ""), int(str(entry["target"]))
    host_ip, published, target = entry.split("/")[0].rsplit(":", 2)
    return host_ip, published, int(target)


def test_compose_cli_accepts_the_file(compose_cli: ComposeCli, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    compose_file = write_stack(make_topology(validators=2), _spec(), tmp_path, chain_start_time=1.0)

    def resolved() -> dict[str, Any]:
        done = subprocess.run([*compose_cli.argv, "-p", "nomos-validate", "-f", str(compose_file), "config"],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert str(tmp_path / "configs" / "validator-0.yaml") in done.stdout  # relative mounts resolve to the run dir
        return yaml.safe_load(done.stdout)["services"]

    # unset: `${TEST_FRAMEWORK_PROMETHEUS_PORT:-}` interpolates to nothing, an ephemeral port on the default host
    services = resolved()
    assert [_binding(p) for p in services[PROMETHEUS_SERVICE]["ports"]] == [("127.0.0.1", "", 9090)]
    assert sorted(_binding(p) for p in services["validator-0"]["ports"]) == [("127.0.0.1", "", API_PORT),
                                                                              ("127.0.0.1", "", TESTING_PORT)]
    monkeypatch.setenv("COMPOSE_RUNNER_HOST", "127.0.0.2")
    monkeypatch.setenv("TEST_FRAMEWORK_PROMETHEUS_PORT", "45999")
    services = resolved()
    assert [_binding(p) for p in services[PROMETHEUS_SERVICE]["ports"]] == [("127.0.0.2", "45999", 9090)]
    assert {_binding(p)[0] for p in services["validator-1"]["ports"]} == {"127.0.0.2"}


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
