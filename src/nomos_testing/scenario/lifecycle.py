"""One run, start to finish: preflight → generate → deploy → readiness → capture → drive → cooldown →
settle → evaluate → collect, and teardown ALWAYS (success, failed expectation, readiness failure,
exception, Ctrl-C / cancellation). Every phase is timed and lands in report.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nomos_testing import settings
from nomos_testing.client import NodeClient
from nomos_testing.errors import (
    EXIT_EXPECTATION_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_SETUP_ERROR,
    FrameworkError,
    PlanError,
)
from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.expectations.registry import build_expectation
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.events import EventLog
from nomos_testing.observe.report import ExpectationResult, NodeSummary, build_report, write_report
from nomos_testing.preflight import preflight_checks, require
from nomos_testing.runners.base import Cluster, Deployer
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import GeneratedTopology
from nomos_testing.workloads.base import Workload, build_workload

RUN_FILE = "run.json"  # what `down` needs to find the runner of a run directory
CRASH_CHECK_EVERY_S = 1.0


def new_run_id(plan: ScenarioPlan) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{plan.name}-{stamp}-{random.SystemRandom().getrandbits(24):06x}"


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    exit_code: int
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Phases:
    timings: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def timed(self, key: str):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        try:
            yield
        finally:
            self.timings[key] = self.timings.get(key, 0.0) + time.monotonic() - started


def feed_poll_interval(plan: ScenarioPlan) -> float:
    # Fast enough to see every block of a short slot, slow enough that 64 nodes do not load the host.
    base = min(max(plan.block_interval / 2, 0.25), 2.0)
    return base * max(1.0, plan.topology.node_count / 16)


async def wait_cluster_ready(cluster: Cluster, topology: GeneratedTopology, plan: ScenarioPlan,
                             events: EventLog | ConsoleEvents, started_at: float) -> dict[str, float]:
    from nomos_testing.readiness import ReadinessTimeouts, wait_ready  # RUNNER's area; loaded on use

    timeouts = ReadinessTimeouts(total_s=settings.readiness_timeout_s(plan.readiness_timeout_s))
    return await wait_ready(cluster, topology, timeouts, events, started_at=started_at)


class ConsoleEvents:
    """Records into the event log and shows readiness on the console as each node gets ready."""

    def __init__(self, events: EventLog, console: RunConsole) -> None:
        self.events = events
        self.console = console

    def emit(self, kind: str, **fields: Any) -> dict[str, Any]:
        if kind == "readiness.node_ready":
            self.console.node_ready(str(fields.get("node")), float(fields.get("ready_s") or 0.0))
        return self.events.emit(kind, **fields)


def prepare_run_dir(run_dir: Path, plan: ScenarioPlan, run_id: str, runner: str, mode: str) -> None:
    meta = {"run_id": run_id, "runner": runner, "mode": mode, "started": time.time()}
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "plan.json").write_text(json.dumps(plan.to_json(), indent=2) + "\n", encoding="utf-8")
        (run_dir / RUN_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}",
                        "pass --out a writable directory path (it is created when missing)") from None


class ScenarioRun:
    """Runs one plan on one deployer into one run directory."""

    def __init__(self, plan: ScenarioPlan, deployer: Deployer, run_dir: Path, run_id: str,
                 console: RunConsole | None = None) -> None:
        self.plan = plan
        self.deployer = deployer
        self.run_dir = run_dir
        self.run_id = run_id
        self.console = console or RunConsole(force_plain=True)
        self.phases = _Phases()
        self.events: EventLog | None = None
        self.topology: GeneratedTopology | None = None
        self.cluster: Cluster | None = None
        self.feed: BlockFeed | None = None
        self.clients: dict[str, NodeClient] = {}
        self.ready_s: dict[str, float] = {}
        self.results: list[ExpectationResult] = []

    async def run(self) -> RunResult:
        error: FrameworkError | None = None
        interrupted = False
        crash: BaseException | None = None
        try:
            with self.phases.timed("preflight_s"):
                self.console.phase(f"preflight ({self.deployer.name} runner)")
                require(preflight_checks(self.deployer))
            prepare_run_dir(self.run_dir, self.plan, self.run_id, self.deployer.name, "run")
            self.events = EventLog(self.run_dir / "events.jsonl")
            self.events.emit("run.start", run_id=self.run_id, runner=self.deployer.name, seed=self.plan.seed)
            await self._deploy_and_wait()
            await self._drive_and_judge()
        except FrameworkError as exc:
            error = exc
        except (asyncio.CancelledError, KeyboardInterrupt):
            # Ctrl-C: asyncio cancels this task; tear down, report, and let the CLI exit 130.
            interrupted = True
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except Exception as exc:  # a bug or an unexpected failure: still tear down and report it
            error = FrameworkError(f"{type(exc).__name__}: {exc}", "this is a framework bug; see events.jsonl")
            crash = exc
        finally:
            await self._teardown()
        if crash is not None:
            self.console.error(f"unexpected {type(crash).__name__}: {crash}")
        return self._finish(error, interrupted)

    # Phases ----------------------------------------------------------------------------------------

    async def _deploy_and_wait(self) -> None:
        assert self.events is not None
        plan = self.plan
        with self.phases.timed("deploy_s"):
            self.topology = generate_topology(plan)
            self.console.phase(f"deploying {plan.topology.validators} validator(s) + {plan.topology.executors} "
                               f"executor(s), {plan.topology.layout.value} layout, seed {plan.seed}")
            started_at = time.monotonic()
            self.cluster = await self.deployer.deploy(self.topology, self.run_id, self.run_dir)
            for node in self.cluster.nodes:
                self.events.emit("node.start", node=node.name, role=node.role.value, api=node.api_url)
            if self.cluster.control is not None:
                self.cluster.control.bind_events(self.events)
        with self.phases.timed("readiness_s"):
            self.console.phase("waiting for readiness")
            self.events.emit("readiness.start", timeout_s=plan.readiness_timeout_effective_s)
            sink = ConsoleEvents(self.events, self.console)
            self.ready_s = await wait_cluster_ready(self.cluster, self.topology, plan, sink, started_at)
            self.events.emit("readiness.done", ready_s=self.ready_s)

    async def _drive_and_judge(self) -> None:
        assert self.events is not None and self.cluster is not None and self.topology is not None
        plan, cluster = self.plan, self.cluster
        with self.phases.timed("run_s"):
            self.clients = {n.name: NodeClient(n.name, n.api_url, n.testing_url) for n in cluster.nodes}
            self.feed = BlockFeed(list(self.clients.values()), self.run_dir / "blocks.jsonl",
                                  feed_poll_interval(plan), self.events)
            await self.feed.start()
            ctx = RunContext(plan=plan, topology=self.topology, clients=self.clients, block_feed=self.feed,
                             events=self.events, rng=random.Random(plan.seed), control=cluster.control,
                             prometheus_url=cluster.prometheus_url, ready_s=self.ready_s)
            workloads = [build_workload(spec) for spec in plan.workloads]
            expectations: list[Expectation] = [build_expectation(spec) for spec in plan.expectations]
            for workload in workloads:
                expectations += workload.expectations()
            self.events.emit("phase.capture")
            for expectation in expectations:
                await expectation.start_capture(ctx)
            workload_failures = await self._drive(ctx, workloads)
            self.events.emit("phase.settle", seconds=plan.settle_s)
            await asyncio.sleep(plan.settle_s)
            await self.feed.poll_once()
            self.events.emit("phase.evaluate")
            self.results = workload_failures + [await self._evaluate(e, ctx) for e in expectations]

    async def _drive(self, ctx: RunContext, workloads: list[Workload]) -> list[ExpectationResult]:
        assert self.events is not None and self.feed is not None
        plan = self.plan
        self.console.phase(f"running for {plan.duration_s:g} s (expected ≈ {plan.expected_blocks:.1f} blocks, "
                           f"one every {plan.block_interval:.2f} s)")
        self.events.emit("phase.drive", seconds=plan.duration_s, workloads=[w.name for w in workloads])
        tasks = {asyncio.create_task(w.start(ctx), name=w.name): w for w in workloads}
        async with self.console.live_run(self.feed, plan.duration_s):
            await self._watch(plan.duration_s)
            if plan.cooldown_s:
                self.events.emit("phase.cooldown", seconds=plan.cooldown_s)
                await self._watch(plan.cooldown_s)
        failures = []
        for task, workload in tasks.items():
            if task.done() and not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                self.events.emit("workload.error", workload=workload.name, error=repr(exc))
                failures.append(ExpectationResult(f"workload:{workload.name}", False, f"workload failed: {exc!r}"))
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return failures

    async def _watch(self, seconds: float) -> None:
        """Sleep for `seconds`, recording nodes that exit on their own as they do."""
        assert self.cluster is not None and self.events is not None
        deadline = time.monotonic() + seconds
        reported: set[str] = set()
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(CRASH_CHECK_EVERY_S, left))
            for name, reason in (await self.cluster.crashed()).items():
                if name not in reported:
                    reported.add(name)
                    self.events.emit("node.crashed", node=name, reason=reason)
                    self.console.error(f"{name} exited: {reason.splitlines()[0]}")

    async def _evaluate(self, expectation: Expectation, ctx: RunContext) -> ExpectationResult:
        assert self.events is not None
        started = time.monotonic()
        try:
            outcome = await expectation.evaluate(ctx)
        except Exception as exc:  # an expectation that crashes fails, with the reason
            outcome = Outcome(False, f"evaluation raised {type(exc).__name__}: {exc}")
        result = ExpectationResult(expectation.name, outcome.passed, outcome.message, outcome.figures,
                                   time.monotonic() - started)
        self.events.emit("expectation", name=result.name, passed=result.passed, message=result.message)
        return result

    async def _teardown(self) -> None:
        with self.phases.timed("teardown_s"):
            await _quietly(self._collect())
            if self.feed is not None:
                await _quietly(self.feed.stop())
            await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)
            if self.cluster is not None:
                self.console.phase("tearing down")
                await _quietly(self.cluster.teardown(), self.events, "teardown")
                if self.events is not None:
                    for node in self.cluster.nodes:
                        self.events.emit("node.stop", node=node.name)

    async def _collect(self) -> None:
        if self.cluster is not None:
            await self.cluster.collect_logs(self.run_dir / "logs")

    def _finish(self, error: FrameworkError | None, interrupted: bool) -> RunResult:
        failed = [r for r in self.results if not r.passed]
        if interrupted:
            exit_code, verdict = EXIT_INTERRUPTED, "INTERRUPTED: the run was stopped (Ctrl-C); nodes were torn down"
        elif error is not None:
            exit_code, verdict = error.exit_code or EXIT_SETUP_ERROR, f"ERROR: {error}"
        elif failed:
            exit_code = EXIT_EXPECTATION_FAILED
            verdict = "FAILED: " + "; ".join(f"{r.name}: {r.message}" for r in failed)
        else:
            exit_code, verdict = EXIT_PASSED, f"PASSED: {len(self.results)} expectation(s) held"
        report = build_report(
            run_id=self.run_id, runner=self.deployer.name, scenario=self.plan.name, seed=self.plan.seed,
            validators=self.plan.topology.validators, executors=self.plan.topology.executors,
            passed=exit_code == EXIT_PASSED, verdict=verdict, timings=self.phases.timings, nodes=self._nodes(),
            expectations=self.results, error=str(error) if error else None, interrupted=interrupted,
            extra={"run_dir": str(self.run_dir), "plan": self.plan.to_json(),
                   "prometheus_url": self.cluster.prometheus_url if self.cluster else None,
                   "block_feed": self.feed.stats() if self.feed else None,
                   "events": self.events.counts() if self.events else {},
                   "cluster": dict(self.cluster.extra_report) if self.cluster else {}},
        )
        if self.events is not None:
            self.events.emit("run.end", exit_code=exit_code, verdict=verdict)
            self.events.close()
        if self.run_dir.is_dir():
            try:
                write_report(self.run_dir, report)
            except OSError as exc:  # e.g. a full disk: the verdict still reaches the console and the exit code
                self.console.error(f"could not write report.json / junit.xml into {self.run_dir}: {exc}")
        return RunResult(self.run_id, self.run_dir, exit_code, report)

    def _nodes(self) -> list[NodeSummary]:
        if self.topology is None:
            return []
        views = self.feed.views if self.feed else {}
        out = []
        for node in self.topology.nodes:
            view = views.get(node.name)
            out.append(NodeSummary(node.name, node.role.value, self.ready_s.get(node.name),
                                   view.height if view else None, view.tip if view else None,
                                   view.lib if view else None))
        return out


async def _quietly(awaitable: Awaitable[Any], events: EventLog | None = None, what: str = "collect") -> None:
    """Teardown steps must all run; a failing one is recorded, not raised."""
    try:
        await awaitable
    except Exception as exc:
        if events is not None:
            events.emit(f"{what}.error", error=repr(exc))


Runner = Callable[[ScenarioPlan, Deployer, Path, str], Awaitable[RunResult]]
