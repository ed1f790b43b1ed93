"""Framework benchmarks on the host runner with the reference node (issue 3).

    python -m benchmarks framework            # full: N = 1, 4, 16, 64; a 60 s run for CPU; 64-node liveness
    python -m benchmarks framework --quick    # N = 1, 4, 16; a 15 s run; no 64-node liveness
    python -m benchmarks framework --parts liveness      # only the 64-node liveness run

1. start → all ready, parallel (this framework) vs sequential (the original tool: start node i, wait for its
   `/cryptarchia/info` before starting node i+1, then wait for peers), measured in the same process and run;
   "ready" for the comparison is the original's (HTTP up + peers per layout); the framework's full readiness
   (also height advancing) is shown next to it.
2. teardown of 16 ready nodes.
3. framework CPU (this process only, psutil) over a real scenario run of 3 validators + 1 executor.
4. 64 nodes on this machine pass the consensus liveness expectation.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.report import RunReport
from nomos_testing.readiness import HttpUp, PeersAtLeast, Probe, ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostCluster, HostDeployer
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import GeneratedTopology

SEQUENTIAL_NODE_TIMEOUT_S = 60.0  # the original's per-node spawn readiness
SEQUENTIAL_POLL_S = 0.1           # and its poll interval


def plan_for(nodes: int, **extra: object) -> ScenarioPlan:
    executors = 1 if nodes > 1 else 0
    return resolve_plan(ScenarioPlan(topology=TopologySpec(validators=nodes - executors, executors=executors),
                                     seed=nodes, **extra))  # type: ignore[arg-type]


def http_and_peers(topology: GeneratedTopology, name: str) -> list[Probe]:
    """The original tool's notion of ready: HTTP answers, then peers per layout."""
    neighbours = len(topology.neighbours(name))
    return [HttpUp(), *([PeersAtLeast(neighbours)] if neighbours else [])]


def timeouts(nodes: int) -> ReadinessTimeouts:
    return ReadinessTimeouts(total_s=max(60.0, 3.0 * nodes), request_s=max(2.0, nodes / 8))


async def parallel_start(nodes: int, root: Path) -> dict[str, float]:
    topology = generate_topology(plan_for(nodes))
    began = time.monotonic()
    cluster = await HostDeployer().deploy(topology, f"par-{nodes}", root / f"par-{nodes}")
    try:
        original = await wait_ready(cluster, topology, timeouts(nodes), probes=http_and_peers, started_at=began)
        full = await wait_ready(cluster, topology, timeouts(nodes), started_at=began)
        return {"ready_s": max(original.values()), "full_ready_s": max(full.values())}
    finally:
        await cluster.teardown()


async def _http_up(client: NodeClient, deadline: float) -> None:
    while True:
        try:
            await client.consensus_info()
            return
        except NodeApiError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(SEQUENTIAL_POLL_S)


async def sequential_start(nodes: int, root: Path) -> dict[str, float]:
    topology = generate_topology(plan_for(nodes))
    began = time.monotonic()
    cluster: HostCluster = HostDeployer().prepare(topology, f"seq-{nodes}", root / f"seq-{nodes}")
    try:
        for endpoint in cluster.nodes:
            cluster.start_one(endpoint.name)
            client = NodeClient(endpoint.name, endpoint.api_url, timeout_s=2.0)
            try:
                await _http_up(client, time.monotonic() + SEQUENTIAL_NODE_TIMEOUT_S)
            finally:
                await client.close()
        ready = await wait_ready(cluster, topology, timeouts(nodes), probes=http_and_peers, started_at=began)
        return {"ready_s": max(ready.values())}
    finally:
        await cluster.teardown()


async def teardown_time(nodes: int, root: Path) -> float:
    topology = generate_topology(plan_for(nodes))
    cluster = await HostDeployer().deploy(topology, f"down-{nodes}", root / f"down-{nodes}")
    try:
        await wait_ready(cluster, topology, timeouts(nodes))
    finally:
        began = time.monotonic()
        await cluster.teardown()
        took = time.monotonic() - began
    alive = [p.pid for p in cluster.processes.values() if p.pid and psutil.pid_exists(p.pid)]
    if alive:
        raise RuntimeError(f"teardown left processes behind: {alive}")
    return took


async def scenario_run(nodes: int, duration_s: float, root: Path, run_id: str) -> tuple[RunReport, float, float]:
    """A real run through the lifecycle; returns (report, CPU seconds of this process, wall seconds)."""
    plan = plan_for(nodes, name=run_id, duration_s=duration_s,
                    expectations=(ComponentSpec("consensus_liveness", {"min_fraction": 0.5}),))
    me = psutil.Process()
    cpu_before, wall_before = sum(me.cpu_times()[:2]), time.monotonic()
    result = await ScenarioRun(plan, HostDeployer(), root / run_id, run_id).run()
    cpu = sum(me.cpu_times()[:2]) - cpu_before
    return result.report, cpu, time.monotonic() - wall_before


def _row(cells: list[object], widths: list[int]) -> str:
    return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"


def table(header: list[str], rows: list[list[object]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = [_row(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(lines + [_row(r, widths) for r in rows])


def _check(ok: bool) -> str:
    return "met" if ok else "MISSED"


PARTS = ("start", "teardown", "cpu", "liveness")


async def run(quick: bool, sizes: list[int], parts: set[str], root: Path, say: Callable[[str], None]) -> int:
    os.environ.setdefault("POL_PROOF_DEV_MODE", "true")
    missed = 0
    say(f"host: {psutil.cpu_count()} CPU(s); node binary via the host runner's resolution; root {root}")

    rows = []
    figures: dict[int, dict[str, float]] = {}
    for nodes in sizes if "start" in parts else []:
        par = await parallel_start(nodes, root)
        seq = await sequential_start(nodes, root)
        figures[nodes] = {"par": par["ready_s"], "seq": seq["ready_s"]}
        rows.append([nodes, f"{par['ready_s']:.2f}", f"{par['full_ready_s']:.2f}", f"{seq['ready_s']:.2f}",
                     f"{seq['ready_s'] / par['ready_s']:.1f}×"])
        say(f"  N={nodes}: parallel {par['ready_s']:.2f} s (full {par['full_ready_s']:.2f} s), "
            f"sequential {seq['ready_s']:.2f} s")
    if rows:
        say("\nstart → all ready (HTTP + peers), seconds\n" + table(
            ["nodes", "parallel", "parallel incl. height", "sequential (original)", "speed-up"], rows))

    targets = []
    if 4 in figures:
        ok = figures[4]["par"] <= 3.0
        targets.append(["4 nodes ready ≤ 3 s", f"{figures[4]['par']:.2f} s", _check(ok)])
        missed += not ok
    if 16 in figures:
        speedup = figures[16]["seq"] / figures[16]["par"]
        ok = speedup >= 3.0
        targets.append(["16 nodes ≥ 3× faster than sequential", f"{speedup:.1f}×", _check(ok)])
        missed += not ok

    if "teardown" in parts:
        down = await teardown_time(16, root)
        targets.append(["teardown of 16 ≤ 2 s", f"{down:.2f} s", _check(down <= 2.0)])
        missed += down > 2.0

    if "cpu" in parts:
        duration = 15.0 if quick else 60.0
        report, cpu, wall = await scenario_run(4, duration, root, "cpu-run")
        share = cpu / wall
        say(f"\nframework CPU over a {duration:g} s scenario run (3+1 nodes, wall {wall:.1f} s incl. deploy and "
            f"teardown): {cpu:.2f} CPU s = {100 * share:.1f}% of one core; verdict passed={report.passed}")
        targets.append([f"framework CPU, {duration:g} s run", f"{100 * share:.1f}% of a core", "(figure)"])

    if "liveness" in parts:
        report, _, wall = await scenario_run(64, 60.0, root, "liveness-64")
        passed = report.passed
        liveness = next((e for e in report.expectations if e.name == "consensus_liveness"), None)
        say(f"\n64 nodes, 60 s run: passed={passed}; {liveness.message if liveness else report.error}")
        targets.append(["64 nodes pass liveness", f"passed={passed} (wall {wall:.0f} s)", _check(passed)])
        missed += not passed
    say("\n" + table(["target", "measured", "status"], targets))
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks framework", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1, 4, 16; a 15 s CPU run; no 64-node run")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="comma-separated cluster sizes, e.g. 1,4,16,64")
    parser.add_argument("--parts", type=lambda s: set(s.split(",")), default=None,
                        help=f"comma-separated subset of {','.join(PARTS)} (default: all; --quick drops liveness)")
    parser.add_argument("--keep", action="store_true", help="keep the run directories (printed)")
    args, _ = parser.parse_known_args(argv)
    sizes = args.sizes or ([1, 4, 16] if args.quick else [1, 4, 16, 64])
    parts = args.parts or (set(PARTS) - {"liveness"} if args.quick else set(PARTS))
    unknown = parts - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}; choose from {', '.join(PARTS)}")
    root = Path(tempfile.mkdtemp(prefix="bench-framework-"))
    try:
        return asyncio.run(run(args.quick, sizes, parts, root, lambda text: print(text, flush=True)))
    finally:
        if args.keep:
            print(f"run directories kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
