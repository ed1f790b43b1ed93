"""Grafana in the compose stack: chosen only when NOMOS_GRAFANA_IMAGE names an image the engine has (never
pulled), otherwise skipped with the reason; with one, the generated stack has a `grafana` service that both
compose CLIs accept, provisioned from files in the run directory with the run's Prometheus and the dashboards.

No Grafana image can be obtained on this project's machines (no registry), so Grafana itself never runs here:
the deploy test starts the service from a stand-in image (the stack's Prometheus image, which stays up) to
prove the wiring — container, mounts, published port, report and event — and tests/framework/
test_grafana_queries.py runs every dashboard query against a real Prometheus scraping real nodes.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nomos_testing.runners.compose.compose_cli import ComposeCli
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.compose.grafana import (
    DASHBOARDS_IN_CONTAINER,
    GRAFANA_PORT,
    GRAFANA_SERVICE,
    PROVISIONING_IN_CONTAINER,
)
from nomos_testing.runners.compose.stack import (
    PROMETHEUS_PORT,
    PROMETHEUS_SERVICE,
    StackSpec,
    write_pinned_stack,
    write_stack,
)
from nomos_testing.runners.shared.docker import RUN_LABEL
from nomos_testing.runners.shared.grafana import (
    DATASOURCE_UID,
    IMAGE_VARIABLE,
    dashboard_files,
    grafana_check,
    grafana_choice,
)
from tests.compose.compose_helpers import leftovers, make_topology

ABSENT_IMAGE = "nomos-testing-no-such-grafana:0"


def _spec(grafana_image: str | None, run_id: str = "grafana-20261201-abc") -> StackSpec:
    return StackSpec(run_id=run_id, node_image="nomos-testing-node:test", prometheus_image="prom:test",
                     grafana_image=grafana_image)


def test_grafana_is_skipped_with_the_reason_unless_the_image_is_local(
        images: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IMAGE_VARIABLE, raising=False)
    unset = grafana_choice()
    assert unset.skipped and unset.summary() == "Grafana skipped: NOMOS_GRAFANA_IMAGE is not set"
    check = grafana_check()
    assert (check.name, check.ok, check.required) == ("Grafana (optional)", False, False)
    assert check.detail == unset.summary() and IMAGE_VARIABLE in check.remedy

    monkeypatch.setenv(IMAGE_VARIABLE, ABSENT_IMAGE)
    absent = grafana_choice()
    assert absent.skipped and absent.reason.startswith(f"image {ABSENT_IMAGE} not found locally: docker load it")

    monkeypatch.setenv(IMAGE_VARIABLE, images["prometheus"])  # any local image counts as present
    present = grafana_choice()
    assert present.image == images["prometheus"] and grafana_check().ok


def test_no_grafana_service_without_an_image(tmp_path: Path) -> None:
    compose_file = write_stack(make_topology(validators=1), _spec(None), tmp_path, chain_start_time=1.0)
    assert GRAFANA_SERVICE not in yaml.safe_load(compose_file.read_text())["services"]
    assert not (tmp_path / "grafana").exists()


def test_grafana_service_is_accepted_by_the_compose_cli(compose_cli: ComposeCli, tmp_path: Path) -> None:
    topology = make_topology(validators=2)
    compose_file = write_stack(topology, _spec("grafana-standin:1"), tmp_path, chain_start_time=1.0)
    done = subprocess.run([*compose_cli.argv, "-p", "nomos-validate", "-f", str(compose_file), "config"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    service: dict[str, Any] = yaml.safe_load(done.stdout)["services"][GRAFANA_SERVICE]
    assert service["image"] == "grafana-standin:1"
    assert service["labels"][RUN_LABEL] == "grafana-20261201-abc"
    assert service["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert service["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    depends = service["depends_on"]
    assert list(depends) == [PROMETHEUS_SERVICE]  # v1 prints a list, v2 a mapping
    mounts = {volume["target"]: volume for volume in service["volumes"]}
    assert set(mounts) == {PROVISIONING_IN_CONTAINER, DASHBOARDS_IN_CONTAINER}
    assert all(volume.get("read_only") for volume in mounts.values())
    provisioning = Path(mounts[PROVISIONING_IN_CONTAINER]["source"])
    dashboards = Path(mounts[DASHBOARDS_IN_CONTAINER]["source"])
    assert provisioning.parent == dashboards.parent == tmp_path / "grafana"  # relative mounts: the run dir
    assert sorted(p.name for p in dashboards.iterdir()) == [p.name for p in dashboard_files()]
    [source] = yaml.safe_load((provisioning / "datasources" / "nomos.yaml").read_text())["datasources"]
    assert (source["uid"], source["url"]) == (DATASOURCE_UID, f"http://{PROMETHEUS_SERVICE}:{PROMETHEUS_PORT}")
    [provider] = yaml.safe_load((provisioning / "dashboards" / "nomos.yaml").read_text())["providers"]
    assert provider["options"]["path"] == DASHBOARDS_IN_CONTAINER
    [port] = service["ports"]
    published = (port["host_ip"], str(port.get("published") or ""), int(port["target"])) if isinstance(port, dict) \
        else tuple(port.split("/")[0].rsplit(":", 2))
    assert published in {("127.0.0.1", "", GRAFANA_PORT), ("127.0.0.1", "", str(GRAFANA_PORT))}, port
    pinned = write_pinned_stack(topology, _spec("grafana-standin:1"), tmp_path,
                                {GRAFANA_SERVICE: {GRAFANA_PORT: 40123}})
    assert yaml.safe_load(pinned.read_text())["services"][GRAFANA_SERVICE]["ports"] == [
        f"${{COMPOSE_RUNNER_HOST:-127.0.0.1}}:40123:{GRAFANA_PORT}"]


async def test_deploy_starts_grafana_and_reports_its_url(images: dict[str, str], tmp_path: Path,
                                                         unique_run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(IMAGE_VARIABLE, images["prometheus"])  # a stand-in: no Grafana image can be had here
    cluster = await ComposeDeployer().deploy(make_topology(validators=1), unique_run_id, tmp_path)
    try:
        url = cluster.extra_report["grafana_url"]
        assert url.startswith("http://127.0.0.1:"), cluster.extra_report
        assert cluster.notices == [("grafana.started", {"url": url, "image": images["prometheus"]})]
        containers = {c.service: c for c in await cluster.project.containers()}
        assert containers[GRAFANA_SERVICE].status == "running"
        inspected = json.loads(subprocess.run(["docker", "inspect", containers[GRAFANA_SERVICE].container_id],
                                              capture_output=True, text=True, check=True, timeout=30).stdout)[0]
        assert {m["Destination"]: m["Source"] for m in inspected["Mounts"]} == {
            PROVISIONING_IN_CONTAINER: str(tmp_path / "grafana" / "provisioning"),
            DASHBOARDS_IN_CONTAINER: str(tmp_path / "grafana" / "dashboards")}
        await cluster.collect_logs(tmp_path / "logs")
        assert (tmp_path / "logs" / "grafana.log").read_text(), "the Grafana container's log is kept"
    finally:
        await cluster.teardown()
    assert leftovers(unique_run_id) == {}
