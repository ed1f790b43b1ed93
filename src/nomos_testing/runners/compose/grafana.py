"""The compose stack's optional `grafana` service: provisioned with the run's Prometheus and the shipped
dashboards (runners/shared/grafana.py), anonymous read-only access, published on loopback like Prometheus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nomos_testing.runners.shared.grafana import HOME_DASHBOARD, write_provisioning

GRAFANA_SERVICE = "grafana"
GRAFANA_PORT = 3000
GRAFANA_DIR = Path("grafana")  # in the run directory: provisioning/ and dashboards/
PROVISIONING_IN_CONTAINER = "/etc/grafana/provisioning"
DASHBOARDS_IN_CONTAINER = "/etc/grafana/nomos-dashboards"

# Anonymous viewers, nothing phoned home (no registry or internet here), the consensus dashboard as home.
ENVIRONMENT = {
    "GF_AUTH_ANONYMOUS_ENABLED": "true",
    "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
    "GF_USERS_ALLOW_SIGN_UP": "false",
    "GF_ANALYTICS_REPORTING_ENABLED": "false",
    "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
    "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
    "GF_PATHS_PROVISIONING": PROVISIONING_IN_CONTAINER,
    "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": f"{DASHBOARDS_IN_CONTAINER}/{HOME_DASHBOARD}",
}


def write_grafana_files(run_dir: Path, prometheus_service: str, prometheus_port: int, scrape_interval: str) -> Path:
    """`<run>/grafana/`: provisioning pointing at the stack's Prometheus by service name, and the dashboards."""
    return write_provisioning(run_dir / GRAFANA_DIR, f"http://{prometheus_service}:{prometheus_port}",
                              scrape_interval, DASHBOARDS_IN_CONTAINER)


def grafana_service(image: str, published: str, network: str, depends_on: str,
                    labels: dict[str, str]) -> dict[str, Any]:
    """`published` is the port entry (`${COMPOSE_RUNNER_HOST:-127.0.0.1}::3000`, or a pinned host port)."""
    return {
        "image": image,
        "restart": "no",
        "environment": dict(ENVIRONMENT),
        "volumes": [
            {"type": "bind", "source": f"./{(GRAFANA_DIR / 'provisioning').as_posix()}",
             "target": PROVISIONING_IN_CONTAINER, "read_only": True},
            {"type": "bind", "source": f"./{(GRAFANA_DIR / 'dashboards').as_posix()}",
             "target": DASHBOARDS_IN_CONTAINER, "read_only": True},
        ],
        "ports": [published],
        "networks": [network],
        "depends_on": [depends_on],
        "labels": labels,
    }
