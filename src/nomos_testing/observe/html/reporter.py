"""The `html` reporter plug-in: `report.html` in the run directory, after report.json and before the console
summary that points at it."""

from __future__ import annotations

from pathlib import Path

from nomos_testing.observe.html.render import write_report_html
from nomos_testing.observe.report import RunReport
from nomos_testing.observe.reporters import Reporter, ReportTarget


class HtmlReporter(Reporter):
    name = "html"
    order = 30

    def publish(self, report: RunReport, target: ReportTarget) -> list[Path]:
        if target.run_dir is None:
            return []
        path, _ = write_report_html(target.run_dir, report)
        return [path]
