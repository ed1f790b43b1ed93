"""Failure triage: a run that did not pass, put in one category with the facts that decided it and the next
step to take (docs/report.md, "Failure triage").

The facts come from typed errors (`ReadinessError.not_ready`, `NodeCrashedError.crashed`, …), the nodes that
crashed during the run window, and the report itself; never from parsing a verdict line. The one exception is
a node's exit code, which runners give only inside their account of the exit ("exited with code 137; …").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from nomos_testing.errors import (
    FrameworkError,
    InternalError,
    NodeCrashedError,
    PlanError,
    PrerequisiteError,
    ReadinessError,
)
from nomos_testing.observe.report import RunReport, Triage
from nomos_testing.observe.rerun import rerun_commands

CATEGORIES = ("prerequisite_missing", "invalid_input", "deployment_failed", "readiness_timeout", "node_crashed",
              "workload_failed", "expectation_failed", "interrupted", "internal_error")
LOG_TAIL_LINES = 20
_EXIT_CODE = re.compile(r"exited with code (-?\d+)")

# what to look at first when a readiness probe never passed (readiness/probes.py names)
_PROBE_HINTS = {
    "http": "the node never answered its API: read its log for a start-up error (config, port in use, missing "
            "KZG parameters)",
    "peers": "the node answered but did not reach its peers: read its log for dial errors, and check that no "
             "earlier run holds the addresses (`nomos-testing clean`)",
    "height": "the chain did not advance: check POL_PROOF_DEV_MODE=true (without it every leadership proof is "
              "slow) and the machine's load (SLOW_TEST_ENV=true doubles the timeouts)",
    "da_membership": "the node does not see the DA membership: check the plan's executors and the KZG parameters "
                     "(`nomos-testing doctor`)",
    "da_balancer": "the DA balancer has no connections: read the node's log for DA dial errors",
}
# what to look at first when an expectation failed
_EXPECTATION_HINTS = {
    "consensus_liveness": "the chain grew too slowly or nodes disagree: check POL_PROOF_DEV_MODE=true, the machine's "
                          "load, and the height timeline of report.html; runs under ~30 s leave little margin",
    "tx_inclusion": "transactions were refused or not included: see `refused` and each node's `share` in the "
                    "figures, and the tx.submit events of events.jsonl",
    "da_inclusion": "blobs were not dispersed or not included: check the KZG parameters and POL_PROOF_DEV_MODE "
                    "(`nomos-testing doctor`), then the da.disperse events of events.jsonl",
    "safety": "two nodes finalised conflicting blocks: this is a node bug; replay the run to reproduce it",
    "convergence": "nodes did not agree on one chain after the final heal: compare tips in the node table and "
                   "replay the run to reproduce it",
    "recovery": "a node did not catch up after its fault: read that node's log after its restart",
    "partition_liveness": "a side of a partition stopped growing: compare the timeline with the fault bands",
}


def _log_tail(reason: str) -> str:
    lines = reason.splitlines()[1:]  # the first line says how the node exited
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _exit_code(reason: str) -> int | None:
    found = _EXIT_CODE.search(reason)
    return int(found.group(1)) if found else None


def crashed_nodes(crashed: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"node": name, "exit_code": _exit_code(reason), "how": reason.splitlines()[0] if reason else "",
             "log_tail": _log_tail(reason)} for name, reason in sorted(crashed.items())]


def _node_crashed(crashed: Mapping[str, str], during: str, replay: str) -> Triage:
    nodes = crashed_nodes(crashed)
    codes = ", ".join(f"{n['node']} (exit code {n['exit_code'] if n['exit_code'] is not None else '?'})"
                      for n in nodes)
    return Triage(category="node_crashed", summary=f"{len(nodes)} node(s) exited on their own {during}: {codes}",
                  next_step="read the log tail of each node below (the whole log is in logs/); exit code 137 or -9 "
                            "means it was killed (often out of memory), 1 an error the log names; "
                            f"reproduce with `{replay}`",
                  details={"nodes": nodes, "during": during})


def triage(report: RunReport, error: BaseException | None = None,
           crashed_during_run: Mapping[str, str] | None = None) -> Triage | None:
    """The triage of a finished run; None when it passed and was not interrupted."""
    if error is None and report.passed and not report.interrupted:
        return None
    run_dir = report.run_dir or "RUN_DIR"
    rerun = rerun_commands(run_dir, report.runner, report.seed, report.plan)
    remedy = getattr(error, "remedy", None)
    if isinstance(error, ReadinessError):
        stuck = [{"node": n.node, "probe": n.probe, "seen": n.seen, "last_error": n.last_error}
                 for n in error.not_ready]
        probes = sorted({n.probe for n in error.not_ready})
        hints = [_PROBE_HINTS[p] for p in probes if p in _PROBE_HINTS]
        names = ", ".join(f"{n['node']} (probe {n['probe']}: {n['seen']})" for n in stuck)
        return Triage(category="readiness_timeout",
                      summary=f"{len(stuck)} node(s) not ready after {error.timeout_s or 0:g} s: {names}",
                      next_step="; ".join([*hints, remedy or ""]).strip("; "),
                      details={"not_ready": stuck, "timeout_s": error.timeout_s})
    if isinstance(error, NodeCrashedError):
        return _node_crashed(error.crashed, "during readiness", rerun.replay)
    if isinstance(error, PrerequisiteError):
        return Triage(category="prerequisite_missing", summary=error.message,
                      next_step=f"run `nomos-testing doctor --runner {report.runner}` and apply each `fix:` it "
                                f"prints" + (f" ({remedy})" if remedy else ""),
                      details={"remedy": remedy})
    if isinstance(error, PlanError):
        return Triage(category="invalid_input", summary=error.message,
                      next_step=remedy or "correct the value the message names (file:line, flag or variable)",
                      details={"remedy": remedy})
    if isinstance(error, InternalError):
        return Triage(category="internal_error", summary=error.message,
                      next_step="a framework bug: report it with report.json and events.jsonl of this run",
                      details={})
    if isinstance(error, FrameworkError):  # DeploymentError and anything else before the window
        return Triage(category="deployment_failed", summary=error.message,
                      next_step="; ".join(filter(None, [remedy, "read logs/ in the run directory, run `nomos-testing "
                                                        f"doctor --runner {report.runner}`, and `nomos-testing clean` "
                                                        "if an earlier run left something behind"])),
                      details={"error_type": type(error).__name__, "remedy": remedy})
    if error is not None:
        return Triage(category="internal_error", summary=f"{type(error).__name__}: {error}",
                      next_step="a framework bug: report it with report.json and events.jsonl of this run", details={})
    return _judged(report, crashed_during_run or {}, rerun.replay)


def _judged(report: RunReport, crashed: Mapping[str, str], replay: str) -> Triage | None:
    """A run that reached its window: interrupted, a node crashed, a workload or an expectation failed."""
    if report.interrupted and not (report.failed_workloads() or report.failed_expectations() or crashed):
        phase = report.interrupted_during or "the run"
        return Triage(category="interrupted", summary=f"stopped by Ctrl-C / SIGTERM during {phase}; every node "
                                                      "the run started was torn down",
                      next_step="run it again; if a second Ctrl-C cut teardown short, `nomos-testing clean` removes "
                                f"what is left (the same run: `{replay}`)",
                      details={"phase": phase})
    if crashed:
        return _node_crashed(crashed, "during the run window", replay)
    failed_workloads = report.failed_workloads()
    if failed_workloads:
        first = failed_workloads[0]
        return Triage(category="workload_failed",
                      summary="; ".join(f"workload {w.name} raised {w.error} after {w.ended_window_at_s or 0:g} s"
                                        for w in failed_workloads),
                      next_step=f"look at the events of workload {first.name} in events.jsonl just before "
                                f"{first.ended_window_at_s or 0:g} s into the window, and at the node logs; the run "
                                f"was not judged; reproduce with `{replay}`",
                      details={"workloads": [w.model_dump(mode="json") for w in failed_workloads]})
    failed = report.failed_expectations()
    if failed:
        hints = [f"{r.name}: {_EXPECTATION_HINTS[r.name]}" for r in failed if r.name in _EXPECTATION_HINTS]
        return Triage(category="expectation_failed",
                      summary="; ".join(f"{r.name}: {r.message}" for r in failed),
                      next_step="; ".join([*hints, f"the same run again: `{replay}`"]),
                      details={"expectations": [{"name": r.name, "message": r.message, "figures": r.figures}
                                                for r in failed]})
    if report.interrupted:
        return Triage(category="interrupted", summary=f"stopped during {report.interrupted_during or 'the run'}",
                      next_step="run it again", details={"phase": report.interrupted_during})
    if not report.passed:  # not judged and no reason recorded: say so rather than guess
        return Triage(category="internal_error", summary=report.verdict or "the run was not judged",
                      next_step="a framework bug: report it with report.json and events.jsonl of this run",
                      details={})
    return None
