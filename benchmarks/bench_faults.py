"""Fault benchmarks (issue 8): how long node control takes to apply and to remove each fault, and how long a
network takes to converge after a partition.

    python -m benchmarks faults                          # host and compose, 5 repeats, convergence on host
    python -m benchmarks faults --runners host           # one runner
    python -m benchmarks faults --parts apply --repeats 10
    python -m benchmarks faults --parts convergence --partition-s 30 --runners host compose

1. apply / remove: on a ready network of 5 reference nodes, each fault through `NodeControl` (what a nemesis
   pays, bookkeeping and events included): partition (2 | 3 nodes), delay (100 ms on one link), loss (20 % on
   one link), pause; removal is heal / resume. The first network fault of a compose run also looks up every
   container (docker ps + inspect): reported on its own. Targets: ≤ 100 ms on host, ≤ 1 s on compose (max).
2. convergence: partition 2 | 3 for `--partition-s`, heal, then the seconds until every node reports the same
   tip (polled every 100 ms). With k = 10 (the default) a 30 s partition lets both sides finalise more than k
   blocks and the network never converges again (that is scenarios/chaos-long-partition.toml): this part uses
   k = 120 unless told otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.base import Cluster, Deployer
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.host import HostDeployer
from nomos_testing.runners.shared.control import NodeControl
from nomos_testing.scenario.plan import DEFAULT_SECURITY_PARAM, ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import Layout

TARGET_S = {"host": 0.100, "compose": 1.0}
NODES = 5
FAULTS = ("partition", "delay", "loss", "pause")


def deployer_of(name: str) -> Deployer:
    return HostDeployer() if name == "host" else ComposeDeployer()


async def deployed(runner: str, root: Path, label: str, security_param: int = DEFAULT_SECURITY_PARAM,
                   ) -> tuple[Cluster, NodeControl]:
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=NODES, executors=0, layout=Layout.FULL),
                                     seed=3, slot_duration=1.0, security_param=security_param))
    topology = generate_topology(plan)
    run_id = f"bench-faults-{label}-{runner}-{os.getpid()}"
    cluster = await deployer_of(runner).deploy(topology, run_id, root / run_id)
    try:
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=120))
    except BaseException:
        await cluster.teardown()
        raise
    assert cluster.control is not None
    return cluster, cluster.control


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    began = time.perf_counter()
    await action()
    return time.perf_counter() - began


async def apply_remove(control: NodeControl, fault: str) -> tuple[float, float]:
    names = control.names
    if fault == "pause":
        return await timed(lambda: control.pause(names[1])), await timed(lambda: control.resume(names[1]))
    fault_id = ""

    async def apply() -> None:
        nonlocal fault_id
        if fault == "partition":
            fault_id = await control.partition([names[:2]])
        elif fault == "delay":
            fault_id = await control.delay(names[0], names[1], 100)
        else:
            fault_id = await control.loss(names[0], names[1], 20)

    applied = await timed(apply)
    return applied, await timed(lambda: control.heal(fault_id))


async def measure_apply(runner: str, repeats: int, root: Path) -> dict[str, tuple[list[float], list[float]]]:
    cluster, control = await deployed(runner, root, "apply")
    figures: dict[str, tuple[list[float], list[float]]] = {}
    try:
        if runner == "compose":  # the very first network fault also finds every container
            first, heal = await apply_remove(control, "partition")
            figures["partition (first: finds the containers)"] = ([first], [heal])
        for fault in FAULTS:
            applied: list[float] = []
            removed: list[float] = []
            for _ in range(repeats):
                a, r = await apply_remove(control, fault)
                applied.append(a)
                removed.append(r)
                await asyncio.sleep(0.2)
            figures[fault] = (applied, removed)
    finally:
        await cluster.teardown()
    return figures


async def same_tip(clients: list[NodeClient]) -> bool:
    try:
        tips = await asyncio.gather(*(client.consensus_info() for client in clients))
    except NodeApiError:
        return False
    return len({tip["tip"] for tip in tips}) == 1


async def measure_convergence(runner: str, partition_s: float, security_param: int, root: Path,
                              timeout_s: float = 120) -> float | None:
    cluster, control = await deployed(runner, root, "converge", security_param)
    clients = [NodeClient(n.name, n.api_url, timeout_s=2.0) for n in cluster.nodes]
    try:
        fault = await control.partition([control.names[:2]])
        await asyncio.sleep(partition_s)
        await control.heal(fault)
        healed = time.monotonic()
        while time.monotonic() - healed < timeout_s:
            if await same_tip(clients):
                return time.monotonic() - healed
            await asyncio.sleep(0.1)
        return None
    finally:
        await asyncio.gather(*(client.close() for client in clients))
        await cluster.teardown()


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} / {max(values) * 1000:.1f}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks faults")
    parser.add_argument("--runners", nargs="*", choices=("host", "compose"), default=["host", "compose"])
    parser.add_argument("--parts", nargs="*", choices=("apply", "convergence"), default=["apply", "convergence"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--partition-s", type=float, default=30.0)
    parser.add_argument("--convergence-runners", nargs="*", choices=("host", "compose"), default=["host"])
    parser.add_argument("--security-param", type=int, default=120,
                        help="k of the convergence network: both sides of the partition must finalise fewer than "
                             "k blocks, or the split is for good (Cryptarchia never reorganises past k)")
    args = parser.parse_args(argv)
    os.environ.setdefault("POL_PROOF_DEV_MODE", "true")
    for runner in args.runners:
        unavailable = deployer_of(runner).unavailable_capabilities()
        if unavailable:
            print(f"{runner}: network faults unavailable ({next(iter(unavailable.values()))})", file=sys.stderr)
            return 1
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as scratch:
        if "apply" in args.parts:
            print(f"{NODES} reference nodes, slot 1 s; milliseconds through NodeControl, median / max of "
                  f"{args.repeats}\n")
            print("| runner | fault | apply (ms) | remove (ms) | target (max) |\n|---|---|---|---|---|")
            for runner in args.runners:
                target = TARGET_S[runner]
                for fault, (applied, removed) in asyncio.run(measure_apply(runner, args.repeats,
                                                                           Path(scratch))).items():
                    ok = max(applied) <= target and max(removed) <= target
                    failures += not ok
                    print(f"| {runner} | {fault} | {_ms(applied)} | {_ms(removed)} | ≤ {target * 1000:.0f} "
                          f"{'ok' if ok else 'MISSED'} |", flush=True)
        if "convergence" in args.parts:
            print(f"\n{NODES} reference nodes, slot 1 s, k = {args.security_param}\n")
            print("| runner | partition 2 \\| 3 | heal → one tip (s) |\n|---|---|---|")
            for runner in args.convergence_runners:
                took = asyncio.run(measure_convergence(runner, args.partition_s, args.security_param, Path(scratch)))
                failures += took is None
                shown = f"{took:.1f}" if took is not None else "not within 120 s"
                print(f"| {runner} | {args.partition_s:g} s | {shown} |", flush=True)
    return 1 if failures else 0
