"""One run, start to finish: resolve + validate → preflight → deploy → readiness → capture → drive (+ cooldown)
→ settle → evaluate → collect + teardown → report. Teardown always happens (run core: `core.deployed`), and the
report is always written: after a pass, a failed expectation, a failed workload, an error, or one Ctrl-C.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from pathlib import Path

from nomos_testing.errors import (
    EXIT_EXPECTATION_FAILED,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    EXIT_SETUP_ERROR,
    FrameworkError,
    InternalError,
)
from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.console import RunConsole
from nomos_testing.observe.events import EventLog
from nomos_testing.observe.report import (
    BlockFeedStats,
    ExpectationResult,
    NodeSummary,
    RunReport,
    Timings,
    TopologyCounts,
    WorkloadResult,
)
from nomos_testing.observe.reporters import ReportTarget, publish
from nomos_testing.observe.triage import triage
from nomos_testing.plugins import Registries, default_registries
from nomos_testing.preflight import preflight_checks, require
from nomos_testing.runners.base import Deployer, NodeEndpoint
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.core import Deployment, PhaseClock, deployed, forget_if_gone, prepare_run_dir
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.validate import CheckedPlan, validate_plan
from nomos_testing.tasks import cancel_and_wait
from nomos_testing.workloads.base import Workload

CRASH_CHECK_EVERY_S = 1.0


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    exit_code: int
    report: RunReport


def feed_poll_interval(plan: ScenarioPlan) -> float:
    # Fast enough to see every block of a short slot, slow enough that 64 nodes do not load the host.
    base = min(max(plan.block_interval / 2, 0.25), 2.0)
    return base * max(1.0, plan.topology.node_count / 16)


class ScenarioRun:
    """Runs one plan on one deployer into one run directory."""

    def __init__(self, plan: ScenarioPlan, deployer: Deployer, run_dir: Path, run_id: str,
                 console: RunConsole | None = None, registries: Registries | None = None) -> None:
        self.registries = registries or default_registries()
        self.plan = resolve_plan(plan)
        self.deployer = deployer
        self.run_dir = run_dir
        self.run_id = run_id
        self.console = console or RunConsole(force_plain=True)
        self.clock = PhaseClock()
        self.events: EventLog | None = None
        self.deployment: Deployment | None = None
        self.feed: BlockFeed | None = None
        self.results: list[ExpectationResult] = []
        self.workload_results: list[WorkloadResult] = []
        self.workloads: list[Workload] = []
        self.evaluated = False
        self.crashed: dict[str, str] = {}  # nodes that exited on their own during the window: name -> how

    async def run(self) -> RunResult:
        error: FrameworkError | None = None
        interrupted = False
        try:
            checked = validate_plan(self.plan, self.registries, runner=self.deployer.name)
            with self.clock.phase("preflight_s"):
                self.console.phase(f"preflight ({self.deployer.name} runner)")
                adapter = self.registries.nodes.get(self.plan.node, "node")()
                require(preflight_checks(self.deployer, adapter, self.plan))
            prepare_run_dir(self.run_dir, self.plan, self.run_id, self.deployer.name, "run")
            self.events = EventLog(self.run_dir / "events.jsonl")
            self.events.emit("run.start", run_id=self.run_id, runner=self.deployer.name, seed=self.plan.seed)
            async with deployed(self.plan, self.deployer, self.run_dir, self.run_id, events=self.events,
                                console=self.console, clock=self.clock, registries=self.registries) as deployment:
                self.deployment = deployment
                await self._drive_and_judge(deployment, checked)
            interrupted = deployment.interrupted
        except FrameworkError as exc:
            error = exc
            interrupted = self.deployment is not None and self.deployment.interrupted
        except (asyncio.CancelledError, KeyboardInterrupt):
            # Ctrl-C / SIGTERM: the run core has torn down; report what was reached, the CLI exits 130.
            interrupted = True
            if self.clock.interrupted_in is None and self.clock.current:
                self.clock.interrupted(self.clock.current)
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        except Exception as exc:  # a bug or an unexpected failure: torn down by the run core, reported here
            error = InternalError(f"{type(exc).__name__}: {exc}", "this is a framework bug; see events.jsonl")
            self.console.error(f"unexpected {type(exc).__name__}: {exc}")
        return self._finish(error, interrupted)

    # Drive and judge -------------------------------------------------------------------------------

    async def _drive_and_judge(self, deployment: Deployment, checked: CheckedPlan) -> None:
        assert self.events is not None
        plan, cluster = self.plan, deployment.cluster
        clients = {n.name: deployment.adapter.client(n) for n in cluster.nodes}
        with self.clock.phase("run_s"):
            self.feed = BlockFeed(list(clients.values()), self.run_dir / "blocks.jsonl", feed_poll_interval(plan),
                                  self.events)
            try:
                await self.feed.start()
                ctx = RunContext(plan=plan, topology=deployment.topology, clients=clients, block_feed=self.feed,
                                 events=self.events, rng=random.Random(plan.seed), control=cluster.control,
                                 prometheus_url=cluster.prometheus_url, ready_s=deployment.ready_s,
                                 intent=cluster.intent, run_dir=self.run_dir)
                if cluster.control is not None:
                    cluster.control.on_join(lambda endpoint: self._add_node(ctx, deployment, endpoint))
                workloads: list[Workload] = [component.build() for component in checked.workloads]
                self.workloads = workloads
                expectations: list[Expectation] = [component.build() for component in checked.expectations]
                for workload in workloads:
                    expectations += workload.expectations()
                self.events.emit("phase.capture")
                for expectation in expectations:
                    await expectation.start_capture(ctx)
                await self._drive(ctx, workloads)
                if self.workload_results and not all(w.passed for w in self.workload_results):
                    self.events.emit("phase.evaluate", skipped="a workload failed; the run is not judged")
                    return
                await self._heal(deployment, max((w.recovery_s() for w in workloads), default=0.0))
                self.events.emit("phase.settle", seconds=plan.settle_s)
                await asyncio.sleep(plan.settle_s)
                await self.feed.poll_once()
                self.events.emit("phase.evaluate")
                self.results = [await self._evaluate(e, ctx) for e in expectations]
                self.evaluated = True
            finally:
                await self.feed.stop()
                await asyncio.gather(*(c.close() for c in clients.values()), return_exceptions=True)

    async def _drive(self, ctx: RunContext, workloads: list[Workload]) -> None:
        """The run window: workloads run until it ends (duration, then cooldown); one that raises ends it."""
        assert self.events is not None and self.feed is not None
        plan = self.plan
        self.console.phase(f"running for {plan.duration_s:g} s (expected ≈ {plan.expected_blocks:.1f} blocks, "
                           f"one every {plan.block_interval:.2f} s)")
        self.events.emit("phase.drive", seconds=plan.duration_s, workloads=[w.name for w in workloads])
        started = time.monotonic()
        running = {asyncio.create_task(w.start(ctx), name=f"workload:{w.name}"): w for w in workloads}
        window = asyncio.create_task(self._window(), name="run-window")
        failed: dict[Workload, BaseException] = {}
        try:
            async with self.console.live_run(self.feed, plan.duration_s):
                pending: set[asyncio.Task[None]] = {window, *running}
                while window in pending:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done - {window}:
                        if not task.cancelled() and task.exception() is not None:
                            failed[running[task]] = task.exception()  # type: ignore[assignment]
                    if failed:
                        break
        finally:
            await cancel_and_wait(window)
            for task in running:
                await cancel_and_wait(task)
        ended_at = round(time.monotonic() - started, 3)
        for workload in workloads:
            error = failed.get(workload)
            if error is not None:
                self.events.emit("workload.error", workload=workload.name, error=repr(error),
                                 window_ended_at_s=ended_at)
                self.console.error(f"workload {workload.name} failed: {error!r}; the run window ended")
            self.workload_results.append(WorkloadResult(
                name=workload.name, passed=error is None, error=None if error is None else f"{error!r}",
                ended_window_at_s=ended_at if error is not None else None))

    def _add_node(self, ctx: RunContext, deployment: Deployment, endpoint: NodeEndpoint) -> None:
        client = deployment.adapter.client(endpoint)
        ctx.clients[endpoint.name] = client
        if self.feed is not None:
            self.feed.add_client(client)

    async def _heal(self, deployment: Deployment, recovery_s: float) -> None:
        """The final heal: every fault removed (network healed, paused nodes resumed, stopped ones started),
        then the recovery window, so expectations judge a network that had the chance to recover."""
        assert self.events is not None
        control = deployment.cluster.control
        if control is None:
            return
        if control.intent.network or control.intent.faulted():
            self.console.phase("healing every fault before judging")
            began = time.monotonic()
            done = await control.restore_all()
            self.events.emit("phase.heal", actions=done, took_s=round(time.monotonic() - began, 3))
        if recovery_s > 0:
            self.console.phase(f"recovery window: {recovery_s:g} s")
            self.events.emit("phase.recovery", seconds=recovery_s)
            await self._watch(recovery_s)

    async def _window(self) -> None:
        await self._watch(self.plan.duration_s)
        if self.plan.cooldown_s:
            assert self.events is not None
            self.events.emit("phase.cooldown", seconds=self.plan.cooldown_s)
            await self._watch(self.plan.cooldown_s)

    async def _watch(self, seconds: float) -> None:
        """Sleep for `seconds`, recording nodes that exit on their own as they do."""
        assert self.deployment is not None and self.events is not None
        deadline = time.monotonic() + seconds
        reported: set[str] = set()
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(CRASH_CHECK_EVERY_S, left))
            for name, reason in (await self.deployment.cluster.crashed()).items():
                if name not in reported:
                    reported.add(name)
                    self.crashed.setdefault(name, reason)
                    self.events.emit("node.crashed", node=name, reason=reason)
                    self.console.error(f"{name} exited: {reason.splitlines()[0]}")

    async def _evaluate(self, expectation: Expectation, ctx: RunContext) -> ExpectationResult:
        assert self.events is not None
        started = time.monotonic()
        try:
            outcome = await expectation.evaluate(ctx)
        except Exception as exc:  # an expectation that crashes fails, with the reason
            outcome = Outcome(False, f"evaluation raised {type(exc).__name__}: {exc}")
        result = ExpectationResult(name=expectation.name, passed=outcome.passed, message=outcome.message,
                                   figures=outcome.figures, duration_s=round(time.monotonic() - started, 3))
        self.events.emit("expectation", name=result.name, passed=result.passed, message=result.message)
        return result

    # Report ----------------------------------------------------------------------------------------

    def _verdict(self, error: FrameworkError | None, interrupted: bool) -> tuple[int, bool, str]:
        """(exit code, passed, verdict line). An interruption keeps the verdict reached before it."""
        failed = [r for r in self.results if not r.passed]
        failed_workloads = [w for w in self.workload_results if not w.passed]
        if error is not None:
            code, passed, verdict = error.exit_code or EXIT_SETUP_ERROR, False, f"ERROR: {error}"
        elif failed_workloads:
            code, passed = EXIT_EXPECTATION_FAILED, False
            verdict = "FAILED: " + "; ".join(f"workload {w.name}: {w.error}" for w in failed_workloads)
        elif not self.evaluated:
            code, passed, verdict = EXIT_INTERRUPTED, False, ""
        elif failed:
            code, passed = EXIT_EXPECTATION_FAILED, False
            verdict = "FAILED: " + "; ".join(f"{r.name}: {r.message}" for r in failed)
        else:
            code, passed, verdict = EXIT_PASSED, True, f"PASSED: {len(self.results)} expectation(s) held"
        if not interrupted:
            return code, passed, verdict
        note = f"INTERRUPTED during {self.clock.interrupted_in or 'the run'} (Ctrl-C / SIGTERM); nodes were torn down"
        return EXIT_INTERRUPTED, passed, f"{verdict} — {note}" if verdict else note

    def _finish(self, error: FrameworkError | None, interrupted: bool) -> RunResult:
        exit_code, passed, verdict = self._verdict(error, interrupted)
        cluster = self.deployment.cluster if self.deployment else None
        report = RunReport(
            run_id=self.run_id, runner=self.deployer.name, scenario=self.plan.name, seed=self.plan.seed,
            passed=passed, verdict=verdict, error=str(error) if error else None, interrupted=interrupted,
            topology=TopologyCounts(validators=self.plan.topology.validators, executors=self.plan.topology.executors),
            timings=Timings.of(self.clock.timings), nodes=self._nodes(), expectations=self.results,
            run_dir=str(self.run_dir), plan=self.plan.to_json(),
            prometheus_url=cluster.prometheus_url if cluster else None,
            block_feed=BlockFeedStats.model_validate(self.feed.stats()) if self.feed else None,
            events=self.events.counts() if self.events else {},
            cluster=dict(cluster.extra_report) if cluster else {},
            workloads=self.workload_results, exit_code=exit_code,
            interrupted_during=self.clock.interrupted_in if interrupted else None,
            faults=[record for workload in self.workloads for record in workload.faults_applied()],
        )
        try:
            report.triage = triage(report, error, self.crashed)
        except Exception as exc:  # the triage explains a verdict; a bug in it must not cost the run its report
            self.console.error(f"triage failed: {type(exc).__name__}: {exc}")
        if self.events is not None:
            self.events.emit("run.end", exit_code=exit_code, verdict=verdict)
            self.events.close()
        published = publish(report, ReportTarget(self.run_dir if self.run_dir.is_dir() else None, self.console),
                            self.registries)
        if published.failures and self.run_dir.is_dir():
            self.console.error("reporters failed: " + "; ".join(f"{k}: {v}" for k, v in published.failures.items()))
        if self.events is not None:  # the run was put into the index: drop it once nothing of it is left
            forget_if_gone(self.deployer, self.run_id)
        return RunResult(self.run_id, self.run_dir, exit_code, report)

    def _nodes(self) -> list[NodeSummary]:
        if self.deployment is None:
            return []
        views = self.feed.views if self.feed else {}
        cluster, topology = self.deployment.cluster, self.deployment.topology
        intent = cluster.intent
        # deployed nodes, then nodes that joined mid-run, then standby validators that never joined
        deployed = {node.name for node in topology.nodes}
        joined = [(n.name, n.role) for n in cluster.nodes if n.name not in deployed]
        present = deployed | {name for name, _ in joined}
        rows = [(n.name, n.role) for n in topology.nodes] + joined + \
            [(n.name, n.role) for n in topology.standby if n.name not in present]
        out = []
        for name, role in rows:
            view = views.get(name)
            out.append(NodeSummary(name=name, role=role.value, ready_s=self.deployment.ready_s.get(name),
                                   height=view.height if view else None, tip=view.tip if view else None,
                                   lib=view.lib if view else None, state=intent.label(name)))
        return out
