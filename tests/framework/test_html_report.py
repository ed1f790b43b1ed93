"""report.html from a run directory (observe/html/): a complete one, one missing pieces, corrupt files; the
`report` and `runs` commands. The page in a real browser: tests/framework/test_html_browser.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nomos_testing.cli import app
from nomos_testing.observe.html.figures import fault_bands, height_timeline
from nomos_testing.observe.html.render import HTML_FILE, write_report_html
from nomos_testing.observe.html.rundir import load_run
from nomos_testing.observe.report import REPORT_FILE, RunReport, Triage
from nomos_testing.observe.reporters import ReportTarget, publish
from nomos_testing.observe.triage import triage
from tests.framework.test_report import sample_report

T0 = 1_800_000_000.0
NODES = ("validator-0", "validator-1")


def jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def failed_report(run_dir: Path) -> RunReport:
    report = sample_report(run_dir=str(run_dir), exit_code=1,
                           plan={"name": "smoke", "seed": 5, "duration": 30,
                                 "topology": {"validators": 2, "executors": 0, "layout": "star"},
                                 "sources": {"name": "scenarios/smoke.toml:3", "duration": "flag --duration"},
                                 "workloads": [{"kind": "nemesis"}], "expectations": [{"kind": "tx_inclusion"}]})
    report.expectations[1].figures["latency"] = {"count": 3, "p50_s": 1.2, "p95_s": 4.9, "max_s": 11.6,
                                                 "p50_slots": 0.7, "p95_slots": 2.3, "max_slots": 8.7}
    report.triage = triage(report)
    return report


def full_run_dir(run_dir: Path) -> RunReport:
    """A run directory with every piece: events with a fault and a kill, views, blocks, metrics, logs, configs."""
    report = failed_report(run_dir)
    (run_dir / REPORT_FILE).parent.mkdir(parents=True, exist_ok=True)
    (run_dir / REPORT_FILE).write_text(json.dumps(report.to_json()), encoding="utf-8")
    (run_dir / "run.json").write_text(json.dumps({"run_id": report.run_id, "runner": "host", "started": T0}))
    jsonl(run_dir / "events.jsonl", [
        {"time": T0, "kind": "run.start"},
        {"time": T0 + 1, "kind": "node.start", "node": "validator-0"},
        {"time": T0 + 3, "kind": "phase.drive"},
        {"time": T0 + 5, "kind": "fault.apply", "fault": "partition", "index": 0, "targets": list(NODES),
         "params": {"groups": [["validator-0"], ["validator-1"]]}},
        {"time": T0 + 9, "kind": "fault.remove", "fault": "partition", "index": 0},
        {"time": T0 + 11, "kind": "node.kill", "node": "validator-1", "mechanism": "signals"},
        {"time": T0 + 14, "kind": "node.start", "node": "validator-1"},
        {"time": T0 + 12, "kind": "tx.submit", "sent_at": T0 + 12, "accepted": True},
        {"time": T0 + 13, "kind": "da.disperse", "sent_at": T0 + 12.5, "executor": "executor-0", "latency_ms": 80.0,
         "ok": True, "blob_id": "ab" * 16},
        {"time": T0 + 15, "kind": "da.disperse", "sent_at": T0 + 14.5, "executor": "executor-0", "latency_ms": 900.0,
         "ok": False, "error": "timeout"},
    ])
    jsonl(run_dir / "views.jsonl", [{"time": T0 + t, "node": node, "height": t // 2, "poll": t}
                                    for t in range(2, 30) for node in NODES])
    jsonl(run_dir / "blocks.jsonl", [{"node": "validator-0", "height": h, "time": T0 + 2 * h, "tx_count": 1}
                                     for h in range(1, 14)])
    jsonl(run_dir / "metrics" / "series.jsonl", [
        {"name": name, "node": node, "labels": {}, "points": [[T0 + t, value * (t + 1)] for t in range(0, 30, 2)]}
        for node in NODES for name, value in (("cpu", 0.01), ("memory", 50e6), ("peers", 1))])
    (run_dir / "metrics" / "meta.json").write_text(json.dumps({"format": 1, "source": "prometheus",
                                                               "prometheus_url": "http://127.0.0.1:9090",
                                                               "series": {}, "errors": {}}))
    for i, node in enumerate(NODES):
        jsonl(run_dir / "logs" / f"nomos-node-{i}.log", [])
        (run_dir / "configs").mkdir(exist_ok=True)
        (run_dir / "configs" / f"{node}.yaml").write_text("x: 1\n")
    return report


def test_a_complete_run_directory(tmp_path: Path) -> None:
    report = full_run_dir(tmp_path)
    path, took = write_report_html(tmp_path)
    html = path.read_text(encoding="utf-8")
    assert took < 1.0, f"rendering took {took:.2f} s"
    for plot in ("plot-heights", "plot-transactions", "plot-latency", "plot-dispersals", "plot-cpu", "plot-memory",
                 "plot-peers"):
        assert f'id="{plot}"' in html, plot
    assert html.count("* plotly.js v") == 1  # plotly.js inlined, once
    assert "<script src=" not in html  # nothing to fetch
    assert "partition validator-0 | validator-1" in html  # the fault band's label
    assert "executor-0 (failed)" in html  # a failed dispersal is its own series
    assert 'href="logs/nomos-node-0.log"' in html and 'href="configs/validator-0.yaml"' in html
    assert report.triage is not None and "expectation failed" in html
    assert "too few &lt;inclusions&gt; &amp; &#34;quotes&#34;" in html  # escaped
    assert f"nomos-testing replay {tmp_path} --runner host" in html
    assert "nomos-testing run scenarios/smoke.toml --runner host -t 30 --seed 5" in html
    assert "Missing or damaged" not in html


def test_missing_and_corrupt_pieces_cost_only_their_sections(tmp_path: Path) -> None:
    full_run_dir(tmp_path)
    (tmp_path / "views.jsonl").write_text('{"time": 1800000002, "node": "validator-0", "height": 1}\n{"tru')
    (tmp_path / "events.jsonl").unlink()
    (tmp_path / "blocks.jsonl").unlink()
    for path in (tmp_path / "metrics").iterdir():
        path.unlink()
    (tmp_path / "metrics").rmdir()
    html = write_report_html(tmp_path)[0].read_text(encoding="utf-8")
    assert "<code>views.jsonl</code> (1 corrupt line(s) skipped)" in html
    assert "<code>events.jsonl</code> (absent)" in html
    assert "metrics/series.jsonl is absent: the runner had no Prometheus" in html
    assert 'id="plot-heights"' in html  # dated by its first view without events.jsonl and run.json
    assert "FAIL" in html and "Nodes" in html


def test_a_run_directory_without_report_json(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"run_id": "r", "runner": "host", "started": T0}))
    jsonl(tmp_path / "views.jsonl", [{"time": T0 + 1, "node": "validator-0", "height": 1}])
    html = write_report_html(tmp_path)[0].read_text(encoding="utf-8")
    assert "no report.json" in html and 'id="plot-heights"' in html
    (tmp_path / REPORT_FILE).write_text("{ not json")
    html = write_report_html(tmp_path)[0].read_text(encoding="utf-8")
    assert "<code>report.json</code> (unreadable" in html


def test_the_html_reporter_is_a_plugin_that_runs_after_report_json(tmp_path: Path) -> None:
    published = publish(failed_report(tmp_path), ReportTarget(tmp_path))
    assert published.failures == {}
    assert {p.name for p in published.files} >= {REPORT_FILE, "junit.xml", HTML_FILE}


def test_report_command_renders_again_and_names_what_is_missing(tmp_path: Path) -> None:
    full_run_dir(tmp_path / "run")
    runner = CliRunner()
    result = runner.invoke(app, ["report", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'run' / HTML_FILE}" in result.output
    result = runner.invoke(app, ["report", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and f"{tmp_path / 'nowhere'} is not a directory" in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["report", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "has no report.json" in result.output


def test_report_open_uses_the_web_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full_run_dir(tmp_path)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--open"])
    assert result.exit_code == 0, result.output
    assert opened == [(tmp_path / HTML_FILE).resolve().as_uri()]


def test_runs_lists_newest_first_and_a_run_without_report_as_such(tmp_path: Path) -> None:
    for name, started, passed in (("old", T0, True), ("new", T0 + 60, False)):
        run_dir = tmp_path / name
        run_dir.mkdir()
        (run_dir / "run.json").write_text(json.dumps({"run_id": name, "runner": "host", "started": started}))
        report = sample_report(passed=passed).model_copy(update={"run_id": name, "verdict": "PASSED: 1" if passed
                                                                  else "FAILED: x"})
        (run_dir / REPORT_FILE).write_text(json.dumps(report.to_json()))
    going = tmp_path / "going"
    going.mkdir()
    (going / "run.json").write_text(json.dumps({"run_id": "going", "runner": "compose", "started": T0 + 120}))
    (going / "plan.json").write_text(json.dumps({"name": "chaos"}))
    (tmp_path / "not-a-run").mkdir()
    result = CliRunner().invoke(app, ["runs", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["RUN", "ID", "VERDICT", "SCENARIO", "RUNNER", "DURATION", "STARTED", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == ["going", "new", "old"]
    assert lines[1].split()[1:5] == ["NO", "REPORT", "chaos", "compose"]
    assert lines[2].split()[1:5] == ["FAILED", "smoke", "host", "33.1"]
    assert "2027-01-15 08:00:00" in lines[3]
    missing = CliRunner().invoke(app, ["runs", "--dir", str(tmp_path / "absent")])
    assert missing.exit_code == 2 and "is not a directory" in missing.output


def test_a_run_that_never_reached_its_nodes_links_what_they_left(tmp_path: Path) -> None:
    """A readiness failure has no node table (report.nodes is empty): the page links logs/ and configs/ instead,
    and says an empty metrics snapshot is empty rather than absent."""
    report = sample_report(error="1 of 1 node(s) not ready").model_copy(update={"nodes": [], "expectations": []})
    report.triage = Triage(category="readiness_timeout", summary="1 node(s) not ready", next_step="read its log",
                           details={"not_ready": [{"node": "validator-0", "probe": "height", "seen": "height=0",
                                                   "last_error": None}]})
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "nomos-node-0.log").write_text("boom\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "series.jsonl").write_text("")
    html = write_report_html(tmp_path, report)[0].read_text(encoding="utf-8")
    assert '<a href="logs/nomos-node-0.log">' in html
    stuck = '<td>validator-0</td><td>height</td><td>height=0</td><td></td>\n    <td><a href="logs/nomos-node-0.log">'
    assert stuck in html  # the readiness triage names the probe and links the node's log
    assert "the metrics snapshot holds no series" in html


def test_fault_bands_last_while_the_fault_is_in_force(tmp_path: Path) -> None:
    """A restart is a line at its moment; a fault without its removal event lasts until the final heal."""
    jsonl(tmp_path / "events.jsonl", [
        {"time": T0, "kind": "run.start"},
        {"time": T0 + 2, "kind": "fault.apply", "fault": "restart", "index": 0, "targets": ["validator-0"]},
        {"time": T0 + 4, "kind": "fault.apply", "fault": "pause", "index": 1, "targets": ["validator-1"]},
        {"time": T0 + 9, "kind": "phase.heal"},
    ])
    jsonl(tmp_path / "views.jsonl", [{"time": T0 + t, "node": "validator-0", "height": t} for t in range(1, 20)])
    data = load_run(tmp_path, sample_report())
    restart, pause = fault_bands(data, T0)
    assert restart.instant and not pause.instant
    assert pause.start == 4 and pause.end == 9
    spec = height_timeline(data).spec
    assert spec is not None
    faults = [shape for shape in spec["layout"]["shapes"] if shape.get("layer") == "below"]
    assert [(shape["type"], shape["x0"], shape["x1"]) for shape in faults] == [("line", 2, 2), ("rect", 4, 9)]


def test_a_run_without_prometheus_says_the_snapshots_reason(tmp_path: Path) -> None:
    """The host runner without Prometheus writes meta.json with source null and errors.prometheus: the CPU and
    memory sections give that reason, not a generic one."""
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "series.jsonl").write_text("")
    meta = {"format": 1, "source": None, "errors": {"prometheus": "disabled by NOMOS_HOST_PROMETHEUS=false"}}
    (tmp_path / "metrics" / "meta.json").write_text(json.dumps(meta))
    html = write_report_html(tmp_path, sample_report())[0].read_text(encoding="utf-8")
    assert "no metrics: disabled by NOMOS_HOST_PROMETHEUS=false" in html
