"""Reporters: each turns a finished run's `RunReport` into one output. Plug-ins of one small interface
(entry point group `nomos_testing.reporters`): `report.json`, `junit.xml` and the console summary are the
built-in ones; an HTML report is one more class.

A reporter that fails is recorded and skipped; it never costs the run its other outputs or its verdict.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from xml.etree import ElementTree as ET

from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.report import REPORT_FILE, RunReport
from nomos_testing.plugins import Registries, default_registries

JUNIT_FILE = "junit.xml"


@dataclass(frozen=True)
class ReportTarget:
    """Where a report goes: the run directory (None when the run never got one) and the console."""

    run_dir: Path | None
    console: RunConsole | None = None


class Reporter(ABC):
    name: ClassVar[str]
    order: ClassVar[int] = 50  # lower runs first; the files before the console summary that points at them

    @abstractmethod
    def publish(self, report: RunReport, target: ReportTarget) -> list[Path]:
        """Write or show the report; returns the files written."""


class JsonReporter(Reporter):
    name = "json"
    order = 10

    def publish(self, report: RunReport, target: ReportTarget) -> list[Path]:
        if target.run_dir is None:
            return []
        path = target.run_dir / REPORT_FILE
        path.write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
        return [path]


# Characters XML 1.0 cannot hold (ANSI escapes, NUL... in node log tails); ElementTree writes them as they are.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", str(value))


def junit_xml(report: RunReport) -> str:
    """One testsuite per run: a testcase per expectation and per failed workload, plus a `run` case
    carrying the error when the run could not be judged."""
    results = report.expectations
    failed_workloads = report.failed_workloads()
    has_run_case = bool(report.error) or not results
    suite = ET.Element("testsuite", name=_xml_text(report.scenario),
                       tests=str(len(results) + len(failed_workloads) + has_run_case),
                       failures=str(len(report.failed_expectations())),
                       errors=str(len(failed_workloads) + (1 if report.error else 0)),
                       time=f"{report.timings.total():.3f}")
    properties = ET.SubElement(suite, "properties")
    for key, value in (("run_id", report.run_id), ("runner", report.runner), ("seed", report.seed),
                       ("interrupted", report.interrupted)):
        ET.SubElement(properties, "property", name=key, value=_xml_text(value))
    classname = _xml_text(f"nomos_testing.{report.scenario}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(result.name),
                             time=f"{result.duration_s:.3f}")
        if not result.passed:
            failure = ET.SubElement(case, "failure", message=_xml_text(result.message))
            failure.text = _xml_text(json.dumps(result.figures, indent=2, default=str))
        else:
            ET.SubElement(case, "system-out").text = _xml_text(result.message)
    for workload in failed_workloads:
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(f"workload:{workload.name}"))
        ET.SubElement(case, "error", message=_xml_text(workload.error or "failed"))
    if has_run_case:
        case = ET.SubElement(suite, "testcase", classname=classname, name="run")
        if report.error:
            ET.SubElement(case, "error", message=_xml_text(report.error))
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


class JUnitReporter(Reporter):
    name = "junit"
    order = 20

    def publish(self, report: RunReport, target: ReportTarget) -> list[Path]:
        if target.run_dir is None:
            return []
        path = target.run_dir / JUNIT_FILE
        path.write_text(junit_xml(report), encoding="utf-8")
        return [path]


class ConsoleReporter(Reporter):
    """The summary table, the verdict and where the run directory is."""

    name = "console"
    order = 90

    def publish(self, report: RunReport, target: ReportTarget) -> list[Path]:
        if target.console is None:
            return []
        if target.run_dir is not None and target.run_dir.is_dir():
            target.console.summary(report, target.run_dir)
        else:
            target.console.error(report.verdict)
            target.console.triage(report)
        return []


@dataclass(frozen=True)
class Published:
    files: list[Path]
    failures: dict[str, str]  # reporter name -> what went wrong


def publish(report: RunReport, target: ReportTarget, registries: Registries | None = None,
            only: list[str] | None = None) -> Published:
    """Run every installed reporter (or those named in `only`) in their order."""
    registry = (registries or default_registries()).reporters
    reporters: list[Reporter] = []
    failures: dict[str, str] = {}
    for name in only if only is not None else registry.names():
        try:
            reporters.append(registry.get(name)())
        except Exception as exc:  # a broken reporter plug-in must not cost the run its verdict
            failures[name] = f"{type(exc).__name__}: {exc}"
    files: list[Path] = []
    for reporter in sorted(reporters, key=lambda r: (r.order, r.name)):
        try:
            files += reporter.publish(report, target)
        except Exception as exc:  # e.g. a full disk: the console and the exit code still carry the verdict
            failures[reporter.name] = f"{type(exc).__name__}: {exc}"
            if target.console is not None:
                target.console.error(f"the {reporter.name} reporter failed: {exc}")
    return Published(files, failures)
