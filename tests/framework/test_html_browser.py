"""report.html in a real browser: the system's headless Chromium, driven by Playwright, opens the report of a
real passing host run and of a real failing one (from the file system, offline) and checks that the plots
rendered with their data, the verdict and the triage, and that the page logged no error and fetched nothing.
Screenshots go to .test-output/html-report/ (printed).

Without Playwright or Chromium the tests skip with the reason; under CI=true a skip is a failure
(tests/conftest.py), and .ci/run installs both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nomos_testing.observe.html.render import HTML_FILE, write_report_html

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / ".test-output" / "html-report"
RUN_TIMEOUT_S = 150

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PASSING = """
name = "browser-pass"
duration = 8
[topology]
validators = 2
executors = 0
layout = "star"
[consensus]
slot_duration = 1.0
[[expectations]]
kind = "consensus_liveness"
"""
# tx_inclusion cannot hold without transactions ("no transaction was submitted"); the pause draws a fault band
FAILING = """
name = "browser-fail"
duration = 8
[topology]
validators = 2
executors = 0
layout = "star"
[consensus]
slot_duration = 0.5
security_param = 5
[wallets]
count = 4
[[workloads]]
kind = "nemesis"
recovery = 1
[[workloads.faults]]
at = "2s"
fault = "pause"
node = "validator-1"
duration = "2s"
[[expectations]]
kind = "consensus_liveness"
[[expectations]]
kind = "tx_inclusion"
"""


def chromium_path() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright is not installed (it is a dev dependency: pip install -e '.[dev]')")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on PATH (Debian: apt-get install chromium)")
    return path


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real passing and one real failing host run, side by side."""
    chromium_path()
    base = tmp_path_factory.mktemp("browser-runs")
    env = {**os.environ, "POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}
    env.pop("NOMOS_NODE_BIN", None)
    env.pop("NOMOS_EXECUTOR_BIN", None)
    started = {}
    for name, text in (("pass", PASSING), ("fail", FAILING)):
        (base / f"{name}.toml").write_text(text, encoding="utf-8")
        started[name] = subprocess.Popen(
            [sys.executable, "-m", "nomos_testing.cli", "run", str(base / f"{name}.toml"), "--out", str(base / name),
             "--seed", "11"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
    for name, process in started.items():
        output, _ = process.communicate(timeout=RUN_TIMEOUT_S)
        assert process.returncode == {"pass": 0, "fail": 1}[name], output
    return {name: base / name for name in started}


@pytest.fixture(scope="module")
def browser(run_dirs: dict[str, Path]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield launched
        launched.close()


class OpenedReport:
    """A report.html opened from the file system, with every console message, page error and request seen."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.problems: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.problems.append(f"fetched {r.url}")
                     if not r.url.startswith(("file:", "data:", "blob:")) else None)
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_selector("#plot-heights .main-svg", timeout=15_000)

    def trace_points(self, plot: str) -> dict[str, int]:
        """name -> data points of each trace plotly drew in that plot (from the graph div's own data)."""
        points: dict[str, int] = self.page.evaluate(
            "id => Object.fromEntries(document.getElementById(id).data.map(t => [t.name, (t.x || []).length]))",
            plot)
        return points

    def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        return path


def check_common(report: OpenedReport, run_dir: Path) -> None:
    page = report.page
    drawn = page.locator("#plot-heights .scatterlayer .trace").count()
    assert drawn >= 2, f"the height timeline drew {drawn} traces"
    heights = report.trace_points("plot-heights")
    assert {"validator-0", "validator-1"} <= set(heights)
    assert heights["validator-0"] >= 3 and heights["validator-1"] >= 3, heights
    paths = page.eval_on_selector_all("#plot-heights .scatterlayer .trace .js-line",
                                      "els => els.map(e => (e.getAttribute('d') || '').length)")
    assert paths and max(paths) > 20, f"the height lines have no drawn path: {paths}"
    link = page.locator("#nodes a", has_text="log").first.get_attribute("href")
    assert link and (run_dir / link).is_file(), link
    assert "nomos-testing replay" in page.locator("#rerun").inner_text()
    assert report.problems == [], report.problems


def check_resources(report: OpenedReport, run_dir: Path) -> None:
    """CPU and memory plotted from the metrics snapshot when the runner had Prometheus, else said why not."""
    if not (run_dir / "metrics" / "series.jsonl").is_file():
        assert "no Prometheus" in report.page.content()
        return
    for plot in ("plot-cpu", "plot-memory"):
        report.page.wait_for_selector(f"#{plot} .main-svg")
        points = report.trace_points(plot)
        assert set(points) == {"validator-0", "validator-1"} and min(points.values()) >= 3, (plot, points)


def test_the_report_of_a_passing_run(browser: Any, run_dirs: dict[str, Path]) -> None:
    report = OpenedReport(browser, run_dirs["pass"] / HTML_FILE)
    verdict = report.page.locator("#verdict").inner_text()
    assert verdict.startswith("PASSED"), verdict
    assert report.page.locator("#triage").count() == 0
    check_common(report, run_dirs["pass"])
    check_resources(report, run_dirs["pass"])
    report.screenshot("passing-run")


def test_the_report_of_a_failing_run(browser: Any, run_dirs: dict[str, Path]) -> None:
    report = OpenedReport(browser, run_dirs["fail"] / HTML_FILE)
    page = report.page
    assert page.locator("#verdict").inner_text().startswith("FAILED: tx_inclusion: no transaction was submitted")
    triage = page.locator("#triage").inner_text()
    assert "EXPECTATION FAILED" in triage.upper() and "Next step:" in triage and "tx.submit" in triage
    check_common(report, run_dirs["fail"])
    bands = page.evaluate("() => document.getElementById('plot-heights').layout.shapes"
                          ".filter(s => s.type === 'rect').length")
    assert bands == 1, f"{bands} fault bands, expected the pause"
    assert page.locator("#plot-heights .shapelayer path").count() >= 1  # drawn, not only specified
    assert "pause validator-1" in page.locator("#plot-heights").inner_text()
    check_resources(report, run_dirs["fail"])
    report.screenshot("failing-run")
    _, took = write_report_html(run_dirs["fail"])
    print(f"report.html rendered again in {took * 1000:.0f} ms, "
          f"{(run_dirs['fail'] / HTML_FILE).stat().st_size / 1e6:.2f} MB")
    assert took < 1.0
