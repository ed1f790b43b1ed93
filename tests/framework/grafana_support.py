"""Reading the shipped Grafana dashboards in tests: every panel with queries, their PromQL, the metric names a
query selects, and a query made runnable outside Grafana (template variables replaced)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nomos_testing.runners.shared.grafana import dashboard_files, load_dashboard

RATE_INTERVAL = "30s"  # what `$__rate_interval` stands for when a test runs a query itself
# Grafana's own variables and the dashboards' `$node` (All = the regex `.*`, the variable's allValue)
SUBSTITUTIONS = {"$__rate_interval": RATE_INTERVAL, "$node": ".*"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
             "group_right", "inf", "nan"}


@dataclass(frozen=True)
class Query:
    dashboard: str  # file name
    panel: str      # panel title
    ref_id: str
    expr: str
    legend: str

    def runnable(self) -> str:
        expr = self.expr
        for variable, value in SUBSTITUTIONS.items():
            expr = expr.replace(variable, value)
        return expr

    def where(self) -> str:
        return f"{self.dashboard} / {self.panel!r} / {self.ref_id}"


def dashboards(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    return {path.name: load_dashboard(path) for path in dashboard_files(directory)}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(directory: Path | None = None) -> list[Query]:
    return [Query(name, panel["title"], target["refId"], target["expr"], target.get("legendFormat", ""))
            for name, dashboard in dashboards(directory).items()
            for panel in panels(dashboard) for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers left once strings, label matchers, ranges and
    grouping clauses are removed, other than functions (followed by `(`), keywords and numbers."""
    text = _STRING.sub('""', expr)
    text = _BRACES.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        rest = text[match.end():].lstrip()
        if rest.startswith("(") or match.group().lower() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def exposed_names(exposition: str) -> set[str]:
    """Every series name a /metrics text can hold: sample names, and from `# TYPE` lines the family (a labelled
    family with no children yet has no samples) with its counter / histogram suffixes."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(maxsplit=3)
            names.add(family)
            if kind == "histogram":
                names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names
