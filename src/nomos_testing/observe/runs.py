"""Earlier runs under a directory (`nomos-testing runs`): one line each from its report.json, or from run.json and
plan.json when the run has not reported (still going, or killed before it could)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nomos_testing.observe.report import REPORT_FILE, load_report

RUN_MARKERS = ("report.json", "run.json", "plan.json")
NO_REPORT = "NO REPORT"


@dataclass(frozen=True)
class RunEntry:
    run_dir: Path
    run_id: str
    verdict: str          # PASSED, FAILED, ERROR, INTERRUPTED, or NO REPORT (in progress / killed)
    scenario: str
    runner: str
    duration_s: float | None
    started: float | None  # unix time
    detail: str = ""      # the verdict line, or why there is none

    def started_text(self) -> str:
        if self.started is None:
            return "-"
        return datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _verdict_word(verdict: str, interrupted: bool) -> str:
    if interrupted:
        return "INTERRUPTED"
    word = verdict.split(":", 1)[0].strip().upper()
    return word if word in ("PASSED", "FAILED", "ERROR") else (word or "UNKNOWN")


def read_entry(run_dir: Path) -> RunEntry:
    meta = _json(run_dir / "run.json")
    plan = _json(run_dir / "plan.json")
    started = float(meta["started"]) if isinstance(meta.get("started"), int | float) else None
    run_id, scenario, runner = str(meta.get("run_id") or run_dir.name), str(plan.get("name") or "-"), \
        str(meta.get("runner") or "-")
    report_path = run_dir / REPORT_FILE
    if not report_path.is_file():
        return RunEntry(run_dir, run_id, NO_REPORT, scenario, runner, None, started,
                        "no report.json: in progress, or stopped before it could report")
    try:
        report = load_report(report_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, ValidationError) as exc:
        return RunEntry(run_dir, run_id, NO_REPORT, scenario, runner, None, started,
                        f"report.json unreadable: {str(exc).splitlines()[0]}")
    return RunEntry(run_dir, report.run_id, _verdict_word(report.verdict, report.interrupted), report.scenario,
                    report.runner, round(report.timings.total(), 1), started, report.verdict)


def list_runs(root: Path) -> list[RunEntry]:
    """Every run directory directly under `root`, newest first (undated ones last)."""
    entries = [read_entry(path) for path in root.iterdir()
               if path.is_dir() and any((path / marker).is_file() for marker in RUN_MARKERS)]
    return sorted(entries, key=lambda e: (e.started is not None, e.started or 0.0, e.run_id), reverse=True)


def format_runs(entries: list[RunEntry]) -> list[str]:
    """Aligned columns, one line per run, with a header."""
    rows = [("RUN ID", "VERDICT", "SCENARIO", "RUNNER", "DURATION", "STARTED (UTC)")]
    rows += [(e.run_id, e.verdict, e.scenario, e.runner, "-" if e.duration_s is None else f"{e.duration_s:.1f} s",
              e.started_text()) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
