"""`nomos-testing`: run, replay, doctor, up, down, node, clean, plugins, report, runs, image build, setup kzg
(docs/cli.md).

Exit codes: 0 pass · 1 an expectation or a workload failed · 2 prerequisite, input or deployment error ·
130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from nomos_testing import settings
from nomos_testing.errors import EXIT_INTERRUPTED, EXIT_PASSED, EXIT_SETUP_ERROR, FrameworkError, PlanError
from nomos_testing.faults.replay import recorded_runner, replay_plan
from nomos_testing.observe.console import RunConsole
from nomos_testing.params import Source
from nomos_testing.plugins import default_registries
from nomos_testing.preflight import plan_checks, preflight_checks
from nomos_testing.runners.base import Check, Deployer
from nomos_testing.runners.shared.cleanup import clean_index, sweep_all
from nomos_testing.scenario.builder import scenario as keyword_plan
from nomos_testing.scenario.core import new_run_id
from nomos_testing.scenario.files import load_scenario
from nomos_testing.scenario.manual import NODE_ACTIONS, bring_up, control_node, tear_down
from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.scenario.validate import validate_plan

DEFAULT_SCENARIO = Path("scenarios/smoke.toml")
RUNS_ROOT = Path(".runs")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Run scenarios against networks of Nomos-style nodes on local processes, Compose or k8s.")
image_app = typer.Typer(no_args_is_help=True, help="The node image of the compose and k8s runners.")
app.add_typer(image_app, name="image")
setup_app = typer.Typer(no_args_is_help=True, help="Generate the assets runs need (the KZG test parameters of DA).")
app.add_typer(setup_app, name="setup")

T = TypeVar("T")

ScenarioArg = Annotated[Path | None, typer.Argument(help="scenario TOML file (default scenarios/smoke.toml)")]
RunnerOpt = Annotated[str, typer.Option("--runner", "-r", help="host | compose | k8s")]
ValidatorsOpt = Annotated[int | None, typer.Option("--validators", "-v", help="number of validators")]
ExecutorsOpt = Annotated[int | None, typer.Option("--executors", "-e", help="number of executors")]
DurationOpt = Annotated[float | None, typer.Option("--duration", "-t", help="run duration in seconds")]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="seed for keys and randomness (default: random)")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="run directory (default .runs/<run-id>)")]
LayoutOpt = Annotated[str | None, typer.Option("--layout", help="star | chain | full")]
SlotOpt = Annotated[float | None, typer.Option("--slot", help="slot duration in seconds")]

FLAG_OF = {"validators": "--validators", "executors": "--executors", "duration_s": "--duration", "seed": "--seed",
           "layout": "--layout", "slot_duration": "--slot"}


def _fail(console: RunConsole, error: FrameworkError) -> typer.Exit:
    console.error(error.message)
    if error.remedy:
        console.line(f"  fix: {error.remedy}")
    return typer.Exit(error.exit_code or EXIT_SETUP_ERROR)


def _plan(scenario: Path | None, runner: str, **overrides: Any) -> ScenarioPlan:
    """File (or the built-in default) → flags → environment defaults → validated for this runner."""
    if scenario is None and DEFAULT_SCENARIO.is_file():
        scenario = DEFAULT_SCENARIO
    if scenario is not None:
        base = load_scenario(scenario)
    else:  # outside the repository: the same default as scenarios/smoke.toml
        base = keyword_plan(name="smoke", duration=30, slot_duration=1.0)
    sources = {key: Source("flag", FLAG_OF[key]) for key in overrides}
    plan = resolve_plan(base.with_overrides(sources, **overrides))
    validate_plan(plan, default_registries(), runner=runner)
    return plan


def _deployer(runner: str) -> Deployer:
    deployer: Deployer = default_registries().runners.get(runner, "--runner")()
    return deployer


def _run_dir(out: Path | None, run_id: str) -> Path:
    if out is None:
        return RUNS_ROOT / run_id
    blocking = next((path for path in (out, *out.parents) if path.exists() and not path.is_dir()), None)
    if blocking is not None:
        raise PlanError(f"--out {out}: {blocking} is a file, not a directory",
                        "pass the path of a directory for the run (it is created when missing)")
    if (out / "plan.json").exists():
        raise PlanError(f"--out {out} already holds a run", "pass a new directory, or remove the old run first")
    return out


def _run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with SIGTERM handled like Ctrl-C (the main task is cancelled, teardown runs)."""

    async def guarded() -> T:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coro

    return asyncio.run(guarded())


@app.command()
def run(scenario: ScenarioArg = None, runner: RunnerOpt = "host", validators: ValidatorsOpt = None,
        executors: ExecutorsOpt = None, duration: DurationOpt = None, seed: SeedOpt = None, out: OutOpt = None,
        layout: LayoutOpt = None, slot: SlotOpt = None) -> None:
    """Run a scenario: preflight, deploy, readiness, drive, judge, report. Flags override the file."""
    console = RunConsole()
    try:
        settings.validate()  # a junk value stops the run here, before anything starts
        plan = _plan(scenario, runner, validators=validators, executors=executors, duration_s=duration, seed=seed,
                     layout=layout, slot_duration=slot)
        deployer = _deployer(runner)
        run_id = new_run_id(plan)
        run_dir = _run_dir(out, run_id)
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    try:
        result = _run_async(ScenarioRun(plan, deployer, run_dir, run_id, console).run())
    except (KeyboardInterrupt, asyncio.CancelledError):  # a second Ctrl-C: force-quit
        console.error("interrupted again: quitting before teardown finished (`nomos-testing clean` removes the rest)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(result.exit_code)


@app.command()
def replay(run_dir: Annotated[Path, typer.Argument(help="the run directory of an earlier run (holds plan.json)")],
           runner: Annotated[str | None, typer.Option("--runner", "-r", help="host | compose | k8s (default: the "
                                                      "earlier run's)")] = None,
           out: OutOpt = None) -> None:
    """Re-run an earlier run: its plan (same seed) and its recorded fault schedule (faults.json)."""
    console = RunConsole()
    try:
        settings.validate()
        base, recorded = replay_plan(run_dir)
        runner = runner or recorded_runner(run_dir) or "host"
        plan = resolve_plan(base)
        validate_plan(plan, default_registries(), runner=runner)
        deployer = _deployer(runner)
        run_id = new_run_id(plan)
        new_dir = _run_dir(out, run_id)
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    faults = f"{len(recorded.faults)} recorded fault(s) from faults.json" if recorded else "no faults.json"
    console.line(f"replaying {run_dir} (seed {plan.seed}, {faults}) as {new_dir} on the {runner} runner")
    try:
        result = _run_async(ScenarioRun(plan, deployer, new_dir, run_id, console).run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.error("interrupted again: quitting before teardown finished (`nomos-testing clean` removes the rest)")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    console.line(f"replay of {run_dir}: new run {result.run_dir} (exit {result.exit_code})")
    raise typer.Exit(result.exit_code)


@app.command()
def doctor(scenario: ScenarioArg = None, runner: RunnerOpt = "host") -> None:
    """Check every prerequisite of the runner (and the scenario, when given); exit 0 when all hold, 2 otherwise."""
    console = RunConsole()
    try:
        deployer = _deployer(runner)
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    checks = preflight_checks(deployer)
    if scenario is not None:
        check, plan = _scenario_check(scenario, runner)
        checks.append(check)
        checks += plan_checks(plan)
    console.checks(checks)
    missing = [check for check in checks if check.required and not check.ok]
    console.line(f"{len(missing)} prerequisite(s) missing" if missing else "all prerequisites hold")
    raise typer.Exit(EXIT_SETUP_ERROR if missing else EXIT_PASSED)


def _scenario_check(scenario: Path, runner: str) -> tuple[Check, ScenarioPlan | None]:
    try:
        plan = _plan(scenario, runner)
    except FrameworkError as exc:
        return Check(f"scenario {scenario}", False, exc.message, exc.remedy or ""), None
    kinds = ", ".join(spec.kind for spec in (*plan.workloads, *plan.expectations)) or "no workloads or expectations"
    return Check(f"scenario {scenario}", True, f"valid for the {runner} runner ({kinds})"), plan


@app.command()
def up(scenario: ScenarioArg = None, runner: RunnerOpt = "host", validators: ValidatorsOpt = None,
       executors: ExecutorsOpt = None, seed: SeedOpt = None, out: OutOpt = None, layout: LayoutOpt = None,
       slot: SlotOpt = None) -> None:
    """Deploy and wait for readiness, print the endpoints as JSON, and leave the cluster running."""
    console = RunConsole(stream=sys.stderr)  # stdout carries only the JSON
    try:
        settings.validate()
        plan = _plan(scenario, runner, validators=validators, executors=executors, seed=seed, layout=layout,
                     slot_duration=slot)
        deployer = _deployer(runner)
        run_id = new_run_id(plan)
        run_dir = _run_dir(out, run_id)
        info = _run_async(bring_up(plan, deployer, run_dir, run_id, console))
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.error("interrupted; the nodes started so far were stopped")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    shown = {key: info[key] for key in ("run_id", "run_dir", "nodes")}
    for url in ("prometheus_url", "grafana_url"):  # where the run's Prometheus (and compose's Grafana) answer
        if info.get(url):
            shown[url] = info[url]
    typer.echo(json.dumps(shown, indent=2))
    console.line(f"cluster is up; stop it with: nomos-testing down {run_id}")


@app.command()
def down(run_id: Annotated[str, typer.Argument(help="the run_id printed by `up` (or its run directory)")]) -> None:
    """Tear down a cluster started with `up`."""
    console = RunConsole()
    try:
        done = _run_async(tear_down(run_id))
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    console.line(f"stopped {len(done.nodes)} node(s) of {done.run_dir}" + (f": {', '.join(done.nodes)}"
                                                                            if done.nodes else ""))
    for item in done.removed:
        console.line(f"  removed {item}")


@app.command()
def node(run_id: Annotated[str, typer.Argument(help="the run_id printed by `up` (or its run directory)")],
         action: Annotated[str, typer.Argument(help=" | ".join(NODE_ACTIONS))],
         name: Annotated[str, typer.Argument(help="the node, e.g. validator-1")]) -> None:
    """Act on one node of a cluster left up with `up`: stop, start, kill or restart it (recorded in its events)."""
    console = RunConsole()
    try:
        done = _run_async(control_node(run_id, action, name))
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    console.line(done)


@app.command()
def clean(all_runs: Annotated[bool, typer.Option("--all", help="also sweep what any run on this machine left "
                                                                "whose process is gone, not only this user's runs")]
          = False,
          dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would be removed")] = False) -> None:
    """Remove what earlier runs left behind (processes, data directories, containers, networks, volumes)."""
    console = RunConsole()
    removed, notes = _run_async(clean_index(dry_run=dry_run))
    if all_runs:
        would, _ = _run_async(sweep_all(dry_run=True))
        if would:
            console.line(f"--all: {'would remove' if dry_run else 'will remove'} {len(would)} item(s) of runs "
                         "whose process is gone, from any checkout or user:")
            for item in would:
                console.line(f"  {item.runner}: {item.item}")
        if not dry_run:
            swept, sweep_notes = _run_async(sweep_all())
            removed += swept
            notes += sweep_notes
    for note in notes:
        console.line(note)
    verb = "would remove" if dry_run else "removed"
    for item in removed:
        console.line(f"{item.runner}: {verb} {item.item}")
    console.line(f"{verb} {len(removed)} leftover(s)" if removed else "nothing to clean")


@app.command()
def plugins() -> None:
    """List the installed plug-ins (workloads, expectations, runners, reporters, node adapters) and parameters."""
    console = RunConsole()
    for group, registry in default_registries().groups().items():
        console.line(f"{group} ({registry.group}):")
        for name, loaded in registry.load_all().items():
            if isinstance(loaded, Exception):
                console.line(f"  {name}: BROKEN ({loaded})")
                continue
            summary = getattr(loaded, "summary", "") or (loaded.__doc__ or "").strip().splitlines()[0:1]
            console.line(f"  {name}: {summary if isinstance(summary, str) else ''.join(summary)} "
                         f"[{registry.provider(name)}]")
            schema = getattr(loaded, "params", None)
            for line in (schema.describe() if schema is not None and hasattr(schema, "describe") else []):
                console.line(f"      {line}")


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="the run directory of an earlier run (holds report.json)")],
           open_it: Annotated[bool, typer.Option("--open", help="open report.html in the web browser")] = False
           ) -> None:
    """Render report.html again from a run directory (report.json, events, views, blocks, metrics)."""
    import webbrowser

    from nomos_testing.observe.html.render import write_report_html
    from nomos_testing.observe.html.rundir import read_report

    console = RunConsole()
    if not run_dir.is_dir():
        raise _fail(console, PlanError(f"{run_dir} is not a directory", "pass the run directory of an earlier run "
                                       "(`nomos-testing runs` lists them)"))
    try:
        loaded = read_report(run_dir)
    except FileNotFoundError:
        raise _fail(console, PlanError(f"{run_dir} has no report.json: not a run directory, or its run is still "
                                       "going or was stopped before it could report",
                                       "pass the directory of a finished run (`nomos-testing runs` lists them)")
                    ) from None
    except (OSError, ValueError) as exc:
        raise _fail(console, PlanError(f"{run_dir / 'report.json'} is not a readable report: "
                                       f"{str(exc).splitlines()[0]}", "pass the directory of a finished run")) from None
    path, took = write_report_html(run_dir, loaded)
    console.line(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB in {took:.2f} s)")
    if open_it and not webbrowser.open(path.resolve().as_uri()):
        console.error(f"no web browser to open it with; open {path.resolve().as_uri()} yourself")


@app.command()
def runs(runs_dir: Annotated[Path, typer.Option("--dir", help="where run directories are (default .runs)")] = RUNS_ROOT
         ) -> None:
    """List earlier runs, newest first: run id, verdict, scenario, runner, duration, start time."""
    from nomos_testing.observe.runs import format_runs, list_runs

    console = RunConsole()
    if not runs_dir.is_dir():
        if runs_dir == RUNS_ROOT:
            console.line(f"no runs yet: {runs_dir} does not exist (`run` writes there without --out)")
            return
        raise _fail(console, PlanError(f"--dir {runs_dir} is not a directory", "pass the directory that holds the "
                                       "run directories (the parent of each --out)"))
    entries = list_runs(runs_dir)
    if not entries:
        console.line(f"no runs in {runs_dir}")
        return
    for line in format_runs(entries):
        console.rich.print(line, markup=False, highlight=False)


@image_app.command("build")
def image_build(force: Annotated[bool, typer.Option("--force", help="rebuild even if up to date")] = False) -> None:
    """Build the node image used by the compose and k8s runners."""
    console = RunConsole()
    try:
        from nomos_testing.nodes.base import default_adapter

        node_image = default_adapter().image()
        result = node_image.ensure(console.line) if not force else node_image.build(console.line)
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    console.line(f"built {result}")


@image_app.command("load")
def image_load() -> None:
    """Load the node and Prometheus images into the kind / minikube / k3d cluster of the current context (k8s)."""
    console = RunConsole()
    try:
        from nomos_testing.nodes.base import default_adapter
        from nomos_testing.runners.k8s.api import read_target
        from nomos_testing.runners.k8s.images import load_into_cluster, loadable_cluster
        from nomos_testing.runners.shared.images import ensure_prometheus_image

        target = read_target()
        loadable_cluster(target.context, [default_adapter().image().tag])  # before building anything
        wanted = [default_adapter().image().ensure(console.line)]
        if not settings.raw("NOMOS_K8S_EXTERNAL_PROMETHEUS"):
            wanted.append(ensure_prometheus_image(console.line))
        local = load_into_cluster(target.context, wanted, console.line)
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    console.line(f"loaded {', '.join(wanted)} into {local.tool} cluster {local.cluster}")


@setup_app.command("kzg")
def setup_kzg(path: Annotated[str | None, typer.Option("--path", help="file to write, or a directory to hold "
                                                        "kzgrs_test_params (default: NOMOS_KZGRS_PARAMS_PATH, else "
                                                        "assets/kzgrs_test_params/kzgrs_test_params)")] = None
              ) -> None:
    """Generate the deterministic KZG test parameters DA needs (idempotent: a valid file is kept)."""
    from nomos_testing import kzg

    console = RunConsole()
    try:
        target, written = kzg.setup(None if path is None else kzg.as_target(path))
    except FrameworkError as exc:
        raise _fail(console, exc) from None
    console.line(f"{'wrote' if written else 'already present:'} {target}")
    console.line(f"WARNING: {kzg.INSECURE_WARNING}")


def main() -> None:
    try:
        app()
    except FrameworkError as exc:  # e.g. a malformed environment variable read deep inside
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code or EXIT_SETUP_ERROR)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
