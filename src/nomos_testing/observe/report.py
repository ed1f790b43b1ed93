"""The run report as a typed model: what `report.json` holds (schema: docs/report.md, docs/report.schema.json).

Reporters (`observe/reporters.py`) read this model, never loose dict keys. The JSON form is backward
compatible: the keys of earlier versions keep their names, types and order; new keys are appended.
`python -m nomos_testing.observe.report` prints the JSON Schema generated from the model.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

REPORT_FILE = "report.json"
TIMING_KEYS = ("preflight_s", "deploy_s", "readiness_s", "run_s", "teardown_s")
SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TopologyCounts(_Model):
    validators: int
    executors: int


class Timings(_Model):
    """Seconds spent in each phase of the run (0 for a phase never reached)."""

    preflight_s: float = 0.0
    deploy_s: float = 0.0
    readiness_s: float = 0.0
    run_s: float = 0.0
    teardown_s: float = 0.0

    @classmethod
    def of(cls, seconds: dict[str, float]) -> Timings:
        return cls(**{key: round(seconds.get(key, 0.0), 3) for key in TIMING_KEYS})

    def total(self) -> float:
        return float(sum(getattr(self, key) for key in TIMING_KEYS))


class NodeSummary(_Model):
    name: str
    role: str
    ready_s: float | None = None
    height: int | None = None
    tip: str | None = None
    lib: str | None = None
    state: str | None = Field(None, description="the node's intended state at the end: running, stopped, killed, "
                                                "paused (see docs/architecture.md, intended node state)")


class ExpectationResult(_Model):
    name: str
    passed: bool
    message: str
    figures: dict[str, Any] = Field(default_factory=dict)
    duration_s: float = 0.0


class WorkloadResult(_Model):
    """A workload ran to the end of the window (passed) or raised (the run window ended at once)."""

    name: str
    passed: bool
    error: str | None = None
    ended_window_at_s: float | None = Field(None, description="seconds into the run window when its failure "
                                                                "ended the window")


class FaultRecord(_Model):
    """One fault of a nemesis schedule (faults.json) and what became of it (docs/faults.md)."""

    index: int = Field(description="its position in faults.json")
    kind: str
    targets: list[str]
    params: dict[str, Any] = Field(default_factory=dict)
    origin: str = Field("scripted", description="scripted, or the random schedule that generated it")
    at_s: float = Field(description="planned start, seconds from the start of the run window")
    duration_s: float | None = Field(None, description="planned duration; null: until the final heal")
    applied_at_s: float | None = Field(None, description="when it was applied (null: never, e.g. after the "
                                                           "window ended)")
    removed_at_s: float | None = Field(None, description="when the nemesis removed it")
    removed_by: str | None = Field(None, description='"nemesis", "final heal", "teardown" (the run ended before '
                                                     'its final heal), or null (nothing to remove)')
    mechanism: str | None = Field(None, description="how it was applied (process signals, iptables, proxy, …)")
    fault_id: str | None = Field(None, description="node control's id of a network fault")
    error: str | None = None


class FeedNodeErrors(_Model):
    errors: int
    gaps: int
    last_error: str | None = None


class BlockFeedStats(_Model):
    blocks: int
    max_height: int
    fork_points: int
    polls: int
    errors: int
    gaps: int
    per_node: dict[str, FeedNodeErrors] = Field(default_factory=dict)


class Triage(_Model):
    """Why a run did not pass, in one category, with the next step to take (docs/report.md, Failure triage)."""

    category: str = Field(description="prerequisite_missing, invalid_input, deployment_failed, readiness_timeout, "
                                      "node_crashed, workload_failed, expectation_failed, interrupted, "
                                      "internal_error")
    summary: str
    next_step: str
    details: dict[str, Any] = Field(default_factory=dict, description="the facts that decided it, per category")


class RunReport(_Model):
    """Verdict and figures of one run. The first keys are the documented contract (docs/report.md)."""

    run_id: str
    runner: str
    scenario: str
    seed: int | None
    passed: bool
    verdict: str
    error: str | None = None
    interrupted: bool = False
    topology: TopologyCounts
    timings: Timings = Field(default_factory=Timings)
    nodes: list[NodeSummary] = Field(default_factory=list)
    expectations: list[ExpectationResult] = Field(default_factory=list)
    run_dir: str | None = None
    plan: dict[str, Any] | None = Field(None, description="the resolved plan, as plan.json")
    prometheus_url: str | None = None
    block_feed: BlockFeedStats | None = None
    events: dict[str, int] = Field(default_factory=dict, description="count of events.jsonl lines per kind")
    cluster: dict[str, Any] = Field(default_factory=dict, description="runner-specific details")
    # Added after the first version (appended: older readers ignore them)
    workloads: list[WorkloadResult] = Field(default_factory=list)
    exit_code: int | None = Field(None, description="the exit code the CLI returns for this run")
    interrupted_during: str | None = Field(None, description="the phase a Ctrl-C / SIGTERM arrived in")
    schema_version: int = SCHEMA_VERSION
    faults: list[FaultRecord] = Field(default_factory=list, description="every fault a nemesis scheduled, "
                                                                         "with when and how it was applied")
    triage: Triage | None = Field(default=None,
                                  description="why the run did not pass and what to do next (null: passed)")

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def failed_expectations(self) -> list[ExpectationResult]:
        return [result for result in self.expectations if not result.passed]

    def failed_workloads(self) -> list[WorkloadResult]:
        return [result for result in self.workloads if not result.passed]


def json_schema() -> dict[str, Any]:
    schema = RunReport.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://nomos-testing.invalid/report.schema.json"
    return schema


def load_report(text: str) -> RunReport:
    return RunReport.model_validate_json(text)


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2))
