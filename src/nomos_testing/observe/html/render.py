"""`report.html`: one self-contained page per run (plotly.js inlined once, no network), from a Jinja2 template
(`templates/report.html.j2`) and the run directory.

Every section is built on its own: one that fails (a corrupt file, an odd figure) shows why in its place and
the rest of the page is still written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import plotly.io

from nomos_testing.observe.html import figures
from nomos_testing.observe.html.rundir import RunData, load_run
from nomos_testing.observe.report import RunReport
from nomos_testing.observe.rerun import rerun_commands

HTML_FILE = "report.html"
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class Section:
    title: str
    plots: list[str] = field(default_factory=list)   # HTML of each rendered figure
    notes: list[str] = field(default_factory=list)   # why a figure is absent, or how to read it


class _Plots:
    """Turns figure specs into HTML; plotly.js goes into the first one only."""

    def __init__(self) -> None:
        self.count = 0

    def html(self, figure: figures.Figure) -> str:
        assert figure.spec is not None
        html: str = plotly.io.to_html(figure.spec, include_plotlyjs=self.count == 0, full_html=False, validate=False,
                                 config=_PLOT_CONFIG, div_id=f"plot-{figure.key}")
        self.count += 1
        return html

    def add(self, section: Section, figure: figures.Figure | None) -> None:
        if figure is None:
            return
        if figure.spec is not None:
            section.plots.append(self.html(figure))
        if figure.note:
            section.notes.append(f"{figure.title}: {figure.note}")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("nomos_testing.observe.html", "templates"),
                              autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


def verdict_class(report: RunReport | None) -> str:
    if report is None:
        return "unknown"
    if report.interrupted:
        return "interrupted"
    if report.passed:
        return "passed"
    return "error" if report.error else "failed"


def log_file(data: RunData, node: str, role: str) -> str | None:
    """logs/<file> of a node, relative to the run directory: nomos-node-<i>.log for validator-<i>,
    nomos-executor-<i>.log for executor-<i>, else a file named after the node."""
    index = node.rsplit("-", 1)[-1]
    candidates = [f"{node}.log"]
    if index.isdigit():
        candidates.insert(0, f"nomos-{'executor' if role == 'executor' else 'node'}-{index}.log")
    for name in candidates:
        if (data.run_dir / "logs" / name).is_file():
            return f"logs/{name}"
    return None


def config_file(data: RunData, node: str) -> str | None:
    configs = data.run_dir / "configs"
    for suffix in (".yaml", ".yml", ".json", ".toml"):
        if (configs / f"{node}{suffix}").is_file():
            return f"configs/{node}{suffix}"
    return None


def _scalars(values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(key, f"{value:g}" if isinstance(value, float) else str(value)) for key, value in values.items()
            if isinstance(value, str | int | float | bool) or value is None]


def _expectations(report: RunReport) -> list[dict[str, Any]]:
    return [{"name": r.name, "passed": r.passed, "message": r.message, "duration_s": r.duration_s,
             "scalars": _scalars(r.figures),
             "nested": json.dumps({k: v for k, v in r.figures.items() if isinstance(v, dict | list)}, indent=2,
                                  default=str) if any(isinstance(v, dict | list) for v in r.figures.values()) else ""}
            for r in report.expectations]


def _nodes(data: RunData, report: RunReport) -> list[dict[str, Any]]:
    return [{"name": n.name, "role": n.role, "state": n.state or "", "ready_s": n.ready_s, "height": n.height,
             "tip": n.tip or "", "lib": n.lib or "", "log": log_file(data, n.name, n.role),
             "config": config_file(data, n.name)} for n in report.nodes]


def node_files(data: RunData) -> list[str]:
    """Every file in logs/ and configs/, relative: what there is to read when no node reached the node table."""
    found = []
    for folder in ("logs", "configs"):
        directory = data.run_dir / folder
        if directory.is_dir():
            found += sorted(f"{folder}/{path.name}" for path in directory.iterdir() if path.is_file())
    return found


def _plan(report: RunReport) -> dict[str, Any]:
    plan = report.plan or {}
    return {"topology": plan.get("topology"), "consensus": plan.get("consensus"), "duration": plan.get("duration"),
            "seed": report.seed, "workloads": _one_per_line(plan.get("workloads")),
            "expectations": _one_per_line(plan.get("expectations"))}


def _one_per_line(items: Any) -> str:
    if not isinstance(items, list) or not items:
        return "none"
    return "\n".join(json.dumps(item, default=str) for item in items)


def _guarded(sections: list[Section], title: str, build: Callable[[Section], None]) -> None:
    section = Section(title)
    try:
        build(section)
    except Exception as exc:  # one broken section must not cost the page
        section.plots.clear()
        section.notes.append(f"this section could not be drawn: {type(exc).__name__}: {exc}")
    sections.append(section)


def _sections(data: RunData) -> list[Section]:
    plots = _Plots()
    sections: list[Section] = []
    _guarded(sections, "Timeline", lambda s: plots.add(s, figures.height_timeline(data)))

    def transactions(section: Section) -> None:
        plots.add(section, figures.transactions(data))
        plots.add(section, figures.inclusion_latency(data))

    if any(e.get("kind") == "tx.submit" for e in data.events) or figures.latency_figures(data):
        _guarded(sections, "Transactions", transactions)
    if any(e.get("kind") == "da.disperse" for e in data.events):
        _guarded(sections, "Data availability", lambda s: plots.add(s, figures.dispersals(data)))

    def resources(section: Section) -> None:
        plots.add(section, figures.metric_series(data, "cpu", "CPU per node", "CPU seconds per second"))
        plots.add(section, figures.metric_series(data, "memory", "Memory per node (RSS)", "MiB", 1 / 2**20))
        if data.series:
            plots.add(section, figures.metric_series(data, "peers", "Peers per node", "peers"))

    _guarded(sections, "CPU and memory", resources)
    return sections


def render_html(data: RunData) -> str:
    report = data.report
    context: dict[str, Any] = {
        "report": report, "verdict_class": verdict_class(report), "run_dir": str(data.run_dir),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "problems": sorted(data.problems.items()), "sections": _sections(data),
        "expectations": _expectations(report) if report else [],
        "nodes": _nodes(data, report) if report else [], "node_files": node_files(data),
        "plan": _plan(report) if report else None,
        "rerun": rerun_commands(report.run_dir or str(data.run_dir), report.runner, report.seed, report.plan)
        if report else None,
        "triage_details": json.dumps(report.triage.details, indent=2, default=str)
        if report and report.triage and report.triage.details else "",
        "started": _started(data), "stuck": _stuck(data, report),
        "prometheus": data.metrics_meta.get("prometheus_url") if data.metrics_meta else None,
    }
    return environment().get_template("report.html.j2").render(context)


def _stuck(data: RunData, report: RunReport | None) -> list[dict[str, Any]]:
    """The nodes a readiness timeout names, each with its log."""
    if report is None or report.triage is None:
        return []
    rows = report.triage.details.get("not_ready") or []
    return [{**row, "log": log_file(data, str(row.get("node")),
                                    "executor" if str(row.get("node")).startswith("executor") else "validator")}
            for row in rows if isinstance(row, dict)]


def _started(data: RunData) -> str:
    start = data.start_time
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if start else "unknown"


def write_report_html(run_dir: Path, report: RunReport | None = None) -> tuple[Path, float]:
    """Render `run_dir/report.html` (from `report`, else report.json); returns the path and the seconds taken."""
    began = time.perf_counter()
    path = run_dir / HTML_FILE
    html = render_html(load_run(run_dir, report))
    path.write_text(html, encoding="utf-8")
    return path, time.perf_counter() - began
