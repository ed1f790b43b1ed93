"""The metrics snapshot: before teardown, the series the run report plots are saved into `<run>/metrics/`
(range queries over the run window against the runner's Prometheus), so the report can be drawn after the
cluster is gone. The format is a contract (docs/observability.md):

    metrics/meta.json     {"format": 1, "source": "prometheus" | null, "prometheus_url", "start", "end", "step_s",
                           "series": {name: PromQL}, "errors": {name: message}}
    metrics/series.jsonl  one line per (series name, node): {"name", "node", "labels", "points": [[t, v], …]}

Without a Prometheus, meta.json has `"source": null`, no series and an `errors["prometheus"]` saying why;
series.jsonl is empty.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nomos_testing.observe.prometheus import PrometheusClient, PrometheusError

FORMAT = 1
METRICS_DIR = "metrics"
META_FILE = "meta.json"
SERIES_FILE = "series.jsonl"
MIN_STEP_S = 1.0       # the host runner scrapes every second (compose and k8s every 2 s)
MAX_POINTS = 1000      # per series; longer runs get a coarser step
SNAPSHOT_BUDGET_S = 30.0

# name -> PromQL. Counters are saved as counters (the report takes differences); cpu is CPU seconds per second.
SERIES: dict[str, str] = {
    "height": "consensus_tip_height",
    "lib": "consensus_lib_height",
    "peers": "network_peers",
    "blocks_imported": "consensus_blocks_imported_total",
    "reorgs": "consensus_reorgs_total",
    "mempool_pending": "mempool_pending",
    "transactions_included": "transactions_included_total",
    "da_shares_stored": "da_shares_stored",
    "da_shares_verified": "da_shares_verified_total",
    "cpu": "rate(process_cpu_seconds_total[10s])",
    "memory": "process_resident_memory_bytes",
}


@dataclass
class Snapshot:
    prometheus_url: str | None
    start: float
    end: float
    step_s: float
    series: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "source": "prometheus" if self.prometheus_url else None,
                "prometheus_url": self.prometheus_url, "start": self.start, "end": self.end, "step_s": self.step_s,
                "series": self.series, "errors": self.errors}

    def write(self, run_dir: Path) -> Path:
        folder = run_dir / METRICS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        (folder / META_FILE).write_text(json.dumps(self.meta(), indent=2) + "\n", encoding="utf-8")
        with (folder / SERIES_FILE).open("w", encoding="utf-8") as out:
            for line in self.lines:
                out.write(json.dumps(line, separators=(",", ":")) + "\n")
        return folder


def step_for(start: float, end: float) -> float:
    return max(MIN_STEP_S, math.ceil((end - start) / MAX_POINTS))


def node_of(labels: dict[str, str]) -> str:
    """The topology node name: every runner's scrape config labels targets `node`; else the scrape target."""
    return labels.get("node") or labels.get("instance") or labels.get("job") or ""


async def take_snapshot(prometheus_url: str | None, start: float, end: float, why_none: str = "",
                        series: dict[str, str] | None = None) -> Snapshot:
    """Every series over [start, end]; a query that fails is recorded in `errors`, the others are kept."""
    wanted = SERIES if series is None else series
    snapshot = Snapshot(prometheus_url, start, end, step_for(start, end))
    if not prometheus_url:
        snapshot.errors["prometheus"] = why_none or "the runner has no Prometheus"
        return snapshot
    snapshot.series = dict(wanted)
    client = PrometheusClient(prometheus_url)

    async def one(name: str, promql: str) -> None:
        try:
            found = await client.query_range(promql, start, end, snapshot.step_s)
        except PrometheusError as exc:
            snapshot.errors[name] = exc.cause
            return
        for item in sorted(found, key=lambda s: node_of(s.labels)):
            labels = {k: v for k, v in item.labels.items() if k not in ("node", "__name__")}
            snapshot.lines.append({"name": name, "node": node_of(item.labels), "labels": labels,
                                   "points": [[t, v] for t, v in item.points if math.isfinite(v)]})

    try:
        await asyncio.wait_for(asyncio.gather(*(one(n, q) for n, q in wanted.items())), SNAPSHOT_BUDGET_S)
    except TimeoutError:
        snapshot.errors["snapshot"] = f"Prometheus took longer than {SNAPSHOT_BUDGET_S:g} s; series may be missing"
    snapshot.lines.sort(key=lambda line: (list(wanted).index(line["name"]), line["node"]))
    return snapshot


async def save_snapshot(run_dir: Path, prometheus_url: str | None, start: float, end: float,
                        why_none: str = "") -> Path:
    snapshot = await take_snapshot(prometheus_url, start, end, why_none)
    return await asyncio.to_thread(snapshot.write, run_dir)
