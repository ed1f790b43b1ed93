"""A finished run directory read for the HTML report: every piece optional, every problem said.

Nothing here raises for a missing or corrupt file: the piece is empty and `problems` says why, so the report
shows the rest and names what it could not show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nomos_testing.observe.report import REPORT_FILE, RunReport, load_report

METRICS_DIR = "metrics"


@dataclass
class RunData:
    run_dir: Path
    report: RunReport | None = None
    run_meta: dict[str, Any] = field(default_factory=dict)     # run.json
    events: list[dict[str, Any]] = field(default_factory=list)
    views: list[dict[str, Any]] = field(default_factory=list)  # views.jsonl: every node's answer to every poll
    blocks: list[dict[str, Any]] = field(default_factory=list)
    metrics_meta: dict[str, Any] | None = None
    series: list[dict[str, Any]] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)     # file -> why it could not be read (or is absent)

    @property
    def start_time(self) -> float | None:
        """Unix time the run's clock starts at: its `run.start` event, else run.json's, else the first sample."""
        for event in self.events:
            if event.get("kind") == "run.start" and isinstance(event.get("time"), int | float):
                return float(event["time"])
        started = self.run_meta.get("started")
        if isinstance(started, int | float):
            return float(started)
        times = [float(v["time"]) for v in self.views[:1] if isinstance(v.get("time"), int | float)]
        return times[0] if times else None


def read_jsonl(path: Path, problems: dict[str, str]) -> list[dict[str, Any]]:
    """The objects of a JSON-lines file; a missing file or corrupt lines are noted in `problems`."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        problems[path.name] = "absent"
        return []
    except OSError as exc:
        problems[path.name] = f"unreadable: {exc.strerror or exc}"
        return []
    out: list[dict[str, Any]] = []
    corrupt = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            corrupt += 1
            continue
        if isinstance(value, dict):
            out.append(value)
        else:
            corrupt += 1
    if corrupt:
        problems[path.name] = f"{corrupt} corrupt line(s) skipped"
    return out


def read_json(path: Path, problems: dict[str, str]) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems[path.name] = "absent"
        return None
    except (OSError, ValueError) as exc:
        problems[path.name] = f"unreadable: {exc}"
        return None
    if not isinstance(value, dict):
        problems[path.name] = "not a JSON object"
        return None
    return value


def read_report(run_dir: Path) -> RunReport:
    """report.json as the typed model; raises FileNotFoundError / ValueError (pydantic's) when it cannot."""
    return load_report((run_dir / REPORT_FILE).read_text(encoding="utf-8"))


def load_run(run_dir: Path, report: RunReport | None = None) -> RunData:
    data = RunData(run_dir)
    problems = data.problems
    if report is None:
        try:
            report = read_report(run_dir)
        except FileNotFoundError:
            problems[REPORT_FILE] = "absent (the run is in progress or ended before reporting)"
        except (OSError, ValueError, ValidationError) as exc:
            problems[REPORT_FILE] = f"unreadable: {str(exc).splitlines()[0]}"
    data.report = report
    data.run_meta = read_json(run_dir / "run.json", problems) or {}
    data.events = read_jsonl(run_dir / "events.jsonl", problems)
    data.views = read_jsonl(run_dir / "views.jsonl", problems)
    data.blocks = read_jsonl(run_dir / "blocks.jsonl", problems)
    metrics = run_dir / METRICS_DIR
    if metrics.is_dir():
        data.metrics_meta = read_json(metrics / "meta.json", problems)
        data.series = read_jsonl(metrics / "series.jsonl", problems)
    return data
