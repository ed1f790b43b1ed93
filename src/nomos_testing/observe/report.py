"""report.json (DESIGN §4) and junit.xml (one testcase per expectation) of a run."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

REPORT_FILE = "report.json"
JUNIT_FILE = "junit.xml"


@dataclass(frozen=True)
class ExpectationResult:
    name: str
    passed: bool
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "message": self.message, "figures": self.figures,
                "duration_s": round(self.duration_s, 3)}


@dataclass(frozen=True)
class NodeSummary:
    name: str
    role: str
    ready_s: float | None
    height: int | None
    tip: str | None
    lib: str | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "ready_s": self.ready_s, "height": self.height,
                "tip": self.tip, "lib": self.lib}


TIMING_KEYS = ("preflight_s", "deploy_s", "readiness_s", "run_s", "teardown_s")


def build_report(*, run_id: str, runner: str, scenario: str, seed: int | None, validators: int, executors: int,
                 passed: bool, verdict: str, timings: dict[str, float], nodes: list[NodeSummary],
                 expectations: list[ExpectationResult], error: str | None = None, interrupted: bool = False,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = {
        "run_id": run_id,
        "runner": runner,
        "scenario": scenario,
        "seed": seed,
        "passed": passed,
        "verdict": verdict,
        "error": error,
        "interrupted": interrupted,
        "topology": {"validators": validators, "executors": executors},
        "timings": {key: round(timings.get(key, 0.0), 3) for key in TIMING_KEYS},
        "nodes": [node.to_json() for node in nodes],
        "expectations": [result.to_json() for result in expectations],
    }
    report.update(extra or {})
    return report


# Characters XML 1.0 cannot hold (ANSI escapes, NUL... in node log tails); ElementTree writes them as they are.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", str(value))


def junit_xml(report: dict[str, Any]) -> str:
    results = report.get("expectations", [])
    has_run_case = bool(report.get("error")) or not results
    suite = ET.Element("testsuite", name=_xml_text(report.get("scenario", "scenario")),
                       tests=str(len(results) + has_run_case),
                       failures=str(sum(1 for r in results if not r["passed"])),
                       errors="1" if report.get("error") else "0",
                       time=f"{sum(report.get('timings', {}).values()):.3f}")
    ET.SubElement(suite, "properties")
    for key in ("run_id", "runner", "seed"):
        ET.SubElement(suite.find("properties"), "property", name=key, value=_xml_text(report.get(key)))  # type: ignore[arg-type]
    classname = _xml_text(f"nomos_testing.{report.get('scenario', 'scenario')}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(result["name"]),
                             time=f"{result.get('duration_s', 0.0):.3f}")
        if not result["passed"]:
            failure = ET.SubElement(case, "failure", message=_xml_text(result["message"]))
            failure.text = _xml_text(json.dumps(result.get("figures", {}), indent=2, default=str))
        else:
            ET.SubElement(case, "system-out").text = _xml_text(result["message"])
    if has_run_case:
        case = ET.SubElement(suite, "testcase", classname=classname, name="run")
        if report.get("error"):
            ET.SubElement(case, "error", message=_xml_text(report["error"]))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def write_report(run_dir: Path, report: dict[str, Any]) -> None:
    (run_dir / REPORT_FILE).write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (run_dir / JUNIT_FILE).write_text(junit_xml(report), encoding="utf-8")
