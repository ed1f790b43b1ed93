"""Grafana for a run: the shipped dashboards (`assets/grafana/dashboards/*.json`), the provisioning files that
point a Grafana at the run's Prometheus, and whether a Grafana image is there to run at all.

No image is pulled (a run never reaches a registry): `NOMOS_GRAFANA_IMAGE` names an image already loaded into
the local engine. Unset or missing, the run goes on without Grafana and says why once (docs/observability.md).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nomos_testing import settings
from nomos_testing.runners.base import Check
from nomos_testing.runners.shared.docker import image_exists
from nomos_testing.runners.shared.images import repo_root

IMAGE_VARIABLE = "NOMOS_GRAFANA_IMAGE"
DATASOURCE_UID = "nomos-prometheus"  # every dashboard panel names its datasource by this uid
DASHBOARDS_RELATIVE = Path("assets") / "grafana" / "dashboards"
DASHBOARD_FOLDER = "Nomos"
HOME_DASHBOARD = "nomos-consensus.json"


@dataclass(frozen=True)
class GrafanaChoice:
    """The Grafana image to run, or None with the reason it is skipped."""

    image: str | None
    reason: str = ""

    @property
    def skipped(self) -> bool:
        return self.image is None

    def summary(self) -> str:
        return f"Grafana skipped: {self.reason}" if self.image is None else f"Grafana from {self.image}"


def grafana_choice() -> GrafanaChoice:
    """`NOMOS_GRAFANA_IMAGE` when set and present in the local engine; otherwise why not."""
    image = settings.raw(IMAGE_VARIABLE)
    if image is None:
        return GrafanaChoice(None, f"{IMAGE_VARIABLE} is not set")
    if not image_exists(image):
        return GrafanaChoice(None, f"image {image} not found locally: docker load it (`docker load -i "
                                   "grafana.tar` on a machine without a registry)")
    return GrafanaChoice(image)


def dashboards_dir() -> Path:
    return repo_root() / DASHBOARDS_RELATIVE


def dashboard_files(directory: Path | None = None) -> list[Path]:
    return sorted((directory or dashboards_dir()).glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def datasource_provisioning(prometheus_url: str, scrape_interval: str) -> dict[str, Any]:
    """Grafana's datasource provisioning file: the run's Prometheus under the uid every panel names.
    `timeInterval` is the scrape interval, so `$__rate_interval` spans enough samples and no more."""
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": "Prometheus (nomos-testing run)",
            "uid": DATASOURCE_UID,
            "type": "prometheus",
            "access": "proxy",
            "url": prometheus_url,
            "isDefault": True,
            "editable": False,
            "jsonData": {"timeInterval": scrape_interval, "httpMethod": "POST"},
        }],
    }


def dashboard_provisioning(dashboards_path: str) -> dict[str, Any]:
    """Grafana's dashboard provider file: every JSON file under `dashboards_path` (inside the container)."""
    return {
        "apiVersion": 1,
        "providers": [{
            "name": "nomos-testing",
            "folder": DASHBOARD_FOLDER,
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 30,
            "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
        }],
    }


def write_provisioning(target: Path, prometheus_url: str, scrape_interval: str, dashboards_path: str) -> Path:
    """Write `<target>/provisioning/{datasources,dashboards}/nomos.yaml` and copy the dashboards into
    `<target>/dashboards/`, so the run directory holds everything its Grafana reads. Returns `target`."""
    provisioning = target / "provisioning"
    files = {
        provisioning / "datasources" / "nomos.yaml": datasource_provisioning(prometheus_url, scrape_interval),
        provisioning / "dashboards" / "nomos.yaml": dashboard_provisioning(dashboards_path),
    }
    for path, document in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    for empty in ("plugins", "alerting", "notifiers"):  # Grafana reads these too; present, it logs no error
        (provisioning / empty).mkdir(parents=True, exist_ok=True)
    copies = target / "dashboards"
    copies.mkdir(parents=True, exist_ok=True)
    for dashboard in dashboard_files():
        shutil.copyfile(dashboard, copies / dashboard.name)
    for path in target.rglob("*"):  # read by whichever user the image runs as
        path.chmod(0o755 if path.is_dir() else 0o644)
    target.chmod(0o755)
    return target


def grafana_check() -> Check:
    """`doctor`'s line: optional, so a skipped Grafana is a warning with the way to get one, never exit 2."""
    choice = grafana_choice()
    if choice.image is not None:
        return Check("Grafana (optional)", True, f"{choice.image} present: the stack provisions it with the "
                                                 "dashboards", required=False)
    return Check("Grafana (optional)", False, choice.summary(),
                 f"for dashboards, `docker load` a Grafana image and set {IMAGE_VARIABLE} to its tag",
                 required=False)


def grafana_outcome(choice: GrafanaChoice, url: str | None) -> tuple[str, dict[str, Any]]:
    """The run's one event about Grafana (kind, fields): where it answers, or why there is none."""
    if choice.image is None:
        return "grafana.skipped", {"reason": choice.reason}
    return "grafana.started", {"url": url, "image": choice.image}


def grafana_report(choice: GrafanaChoice, url: str | None) -> dict[str, Any]:
    """The report's `cluster` keys: `grafana_url` (null when skipped) and `grafana` (what happened)."""
    return {"grafana_url": url, "grafana": choice.summary() if url is None else f"{url} ({choice.image})"}
