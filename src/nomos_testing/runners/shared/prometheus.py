"""The scrape configuration every runner's Prometheus uses: one job per node, each target labelled with the
topology node name (`node`) and its role, so a query reads `consensus_tip_height{node="nomos-node-0"}` on any
runner. Runners differ only in the address Prometheus reaches a node at."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCRAPE_INTERVAL = "2s"
# The runner capability a `metric` expectation requires: the run has a Prometheus scraping every node.
PROMETHEUS_CAPABILITY = "prometheus"
METRICS_PATH = "/metrics"


@dataclass(frozen=True)
class ScrapeTarget:
    node: str      # topology node name: the `node` label of every series
    role: str
    address: str   # host:port where Prometheus reaches the node's metrics endpoint


def prometheus_config(targets: Iterable[ScrapeTarget], scrape_interval: str = SCRAPE_INTERVAL) -> dict[str, Any]:
    """One scrape job per node, named after the node, so `consensus_tip_height{job="validator-1"}` works."""
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": target.node,
                "metrics_path": METRICS_PATH,
                "static_configs": [{"targets": [target.address],
                                    "labels": {"node": target.node, "role": target.role}}],
            }
            for target in targets
        ],
    }


def write_prometheus_config(path: Path, targets: Iterable[ScrapeTarget],
                            scrape_interval: str = SCRAPE_INTERVAL) -> Path:
    """Written in place (same inode): a running container's bind mount sees the new text after a join."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(prometheus_config(targets, scrape_interval), sort_keys=False), encoding="utf-8")
    path.chmod(0o644)
    return path
