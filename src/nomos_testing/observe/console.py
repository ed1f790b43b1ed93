"""What the user sees while a run goes: phases, readiness per node, a countdown with live heights,
and at the end a summary table and the run directory. Rich on a terminal, plain lines otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.report import RunReport
from nomos_testing.runners.base import Check
from nomos_testing.tasks import cancel_and_wait

PLAIN_PROGRESS_EVERY_S = 5.0


class RunConsole:
    def __init__(self, stream: IO[str] | None = None, force_plain: bool = False) -> None:
        stream = stream if stream is not None else sys.stdout
        self.rich = Console(file=stream, highlight=False, soft_wrap=True)
        self.fancy = self.rich.is_terminal and not force_plain

    def phase(self, text: str) -> None:
        self.rich.print(f"[bold cyan]▶[/] {text}" if self.fancy else f"> {text}")

    def line(self, text: str) -> None:
        self.rich.print(text, markup=self.fancy)

    def error(self, text: str) -> None:
        self.rich.print(f"[bold red]error:[/] {text}" if self.fancy else f"error: {text}", markup=self.fancy)

    def checks(self, checks: list[Check]) -> None:
        for check in checks:
            status = "ok" if check.ok else ("missing" if check.required else "warning")
            colour = {"ok": "green", "missing": "red", "warning": "yellow"}[status]
            head = f"[{colour}]{status:>7}[/]" if self.fancy else f"{status:>7}"
            self.rich.print(f"{head}  {check.name}: {check.detail}", markup=self.fancy)
            if not check.ok and check.remedy:
                self.rich.print(f"         fix: {check.remedy}", markup=False)

    def node_ready(self, name: str, ready_s: float) -> None:
        self.line(f"  ready  {name} after {ready_s:.2f} s")

    @contextlib.asynccontextmanager
    async def live_run(self, feed: BlockFeed, duration_s: float, label: str = "run") -> AsyncIterator[None]:
        """Show a countdown and every node's height while the body runs."""
        started = time.monotonic()
        async with contextlib.AsyncExitStack() as stack:
            if self.fancy:
                live = stack.enter_context(Live(self._table(feed, started, duration_s, label), console=self.rich,
                                                refresh_per_second=4, transient=True))
                ticker = self._refresh(live, feed, started, duration_s, label)
            else:
                ticker = self._plain(feed, started, duration_s, label)
            task = asyncio.create_task(ticker)
            try:
                yield
            finally:
                await cancel_and_wait(task)

    async def _refresh(self, live: Live, feed: BlockFeed, started: float, duration_s: float, label: str) -> None:
        while True:
            await asyncio.sleep(0.25)
            live.update(self._table(feed, started, duration_s, label))

    async def _plain(self, feed: BlockFeed, started: float, duration_s: float, label: str) -> None:
        while True:
            await asyncio.sleep(PLAIN_PROGRESS_EVERY_S)
            elapsed = time.monotonic() - started
            heights = " ".join(f"{v.name}={v.height if v.height is not None else '?'}" for v in feed.views.values())
            self.line(f"  {label} {elapsed:5.1f}/{duration_s:g} s  heights: {heights}")

    @staticmethod
    def _table(feed: BlockFeed, started: float, duration_s: float, label: str) -> Table:
        remaining = max(0.0, duration_s - (time.monotonic() - started))
        table = Table(title=f"{label}: {remaining:5.1f} s left of {duration_s:g} s  ·  {len(feed.blocks)} blocks seen",
                      title_justify="left")
        for column in ("node", "height", "tip", "lib", "mode", "errors"):
            table.add_column(column)
        for view in feed.views.values():
            table.add_row(view.name, str(view.height if view.height is not None else "?"), (view.tip or "")[:12],
                          (view.lib or "")[:12], view.mode or "", str(view.poll_errors or ""))
        return table

    def summary(self, report: RunReport, run_dir: Path) -> None:
        table = Table(title=f"run {report.run_id} · {report.runner} · seed {report.seed}", title_justify="left")
        for column in ("expectation", "result", "message"):
            table.add_column(column, overflow="fold")
        for result in report.expectations:
            table.add_row(result.name, self._verdict_cell(result.passed), result.message)
        for workload in report.failed_workloads():
            table.add_row(f"workload:{workload.name}", self._verdict_cell(False), workload.error or "failed")
        if table.row_count:
            self.rich.print(table)
        nodes = Table(title="nodes", title_justify="left")
        for column in ("node", "role", "state", "ready s", "height", "tip", "lib"):
            nodes.add_column(column)
        for node in report.nodes:
            ready = f"{node.ready_s:.2f}" if node.ready_s is not None else "-"
            height = str(node.height) if node.height is not None else "-"
            nodes.add_row(node.name, node.role, node.state or "-", ready, height, (node.tip or "")[:12],
                          (node.lib or "")[:12])
        if report.nodes:
            self.rich.print(nodes)
        timings = ", ".join(f"{key[:-2]} {value:.1f} s" for key, value in report.timings.model_dump().items())
        self.line(f"timings: {timings}")
        if self.fancy:
            self.rich.print(f"[bold {'green' if report.passed else 'red'}]{report.verdict}[/]")
        else:
            self.line(report.verdict)
        self.triage(report)
        self.line(f"run directory: {run_dir}")
        if (run_dir / "report.html").is_file():
            self.line(f"report: {run_dir / 'report.html'}")

    def triage(self, report: RunReport) -> None:
        """The failure category, and the next step to take (observe/triage.py)."""
        if report.triage is None:
            return
        head = f"triage: {report.triage.category.replace('_', ' ')}"
        self.rich.print(f"[bold yellow]{head}[/]" if self.fancy else head, markup=self.fancy)
        self.rich.print(f"  next step: {report.triage.next_step}", markup=False)
        for node in report.triage.details.get("nodes", []):
            if node.get("log_tail"):
                self.rich.print(f"  last lines of {node['node']}:", markup=False)
                for tail_line in str(node["log_tail"]).splitlines()[-5:]:
                    self.rich.print(f"    {tail_line}", markup=False)

    def _verdict_cell(self, passed: bool) -> str:
        text = "PASS" if passed else "FAIL"
        return f"[{'green' if passed else 'red'}]{text}[/]" if self.fancy else text
