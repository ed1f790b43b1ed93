"""Compose runner benchmarks (issue 4).

    python -m benchmarks compose                 # cold image build, then 4 and 16 nodes on compose and host
    python -m benchmarks compose --skip-cold     # keep the images: only the warm start → ready figures
    python -m benchmarks compose --nodes 4       # only some sizes

1. Cold image build: the node and Prometheus images, the local base image and the dependency wheelhouse are
   all removed first, so this is what a fresh machine pays (debootstrap base when no registry is reachable).
   Then a forced rebuild with warm layers: what a code change costs.
2. Start → all ready (the framework's full readiness: HTTP, peers, height advancing) with the image warm,
   for the compose runner and the host runner in the same run, plus teardown time.
Targets: 4 nodes warm ≤ 15 s on compose; cold build ≤ 3 min.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from nomos_testing.nodes.reference import image
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.base import Deployer
from nomos_testing.runners.compose.deployer import ComposeDeployer
from nomos_testing.runners.host import HostDeployer
from nomos_testing.runners.shared import images
from nomos_testing.scenario.plan import ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology

TARGET_WARM_4_S = 15.0
TARGET_COLD_BUILD_S = 180.0


def _quiet(_: str) -> None:
    pass


def cold_build() -> dict[str, float]:
    root = images.repo_root()
    for tag in (image.node_image_tag(), images.prometheus_image_tag(), images.BASE_IMAGE):
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, check=False, timeout=120)
    shutil.rmtree(root / ".wheelhouse", ignore_errors=True)
    started = time.monotonic()
    image.build_node_image(log=_quiet)
    node_s = time.monotonic() - started
    images.build_prometheus_image(log=_quiet)
    total_s = time.monotonic() - started
    started = time.monotonic()
    image.build_node_image(force=True, log=_quiet)
    return {"cold_node_s": node_s, "cold_total_s": total_s, "rebuild_after_change_s": time.monotonic() - started}


async def start_to_ready(deployer: Deployer, nodes: int, root: Path) -> tuple[float, float]:
    executors = 1 if nodes > 1 else 0
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=nodes - executors, executors=executors),
                                     seed=nodes, slot_duration=1.0))
    topology = generate_topology(plan)
    run_id = f"bench-{deployer.name}-{nodes}-{os.getpid()}"
    began = time.monotonic()
    cluster = await deployer.deploy(topology, run_id, root / run_id)
    try:
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=max(90.0, 4.0 * nodes),
                                                              request_s=max(2.0, nodes / 8)))
        ready_s = time.monotonic() - began
    finally:
        began_teardown = time.monotonic()
        await cluster.teardown()
    return ready_s, time.monotonic() - began_teardown


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks compose")
    parser.add_argument("--skip-cold", action="store_true", help="do not remove and rebuild the images")
    parser.add_argument("--nodes", type=int, nargs="*", default=[4, 16])
    args = parser.parse_args(argv)
    os.environ.setdefault("POL_PROOF_DEV_MODE", "true")
    failures = 0
    if not args.skip_cold:
        build = cold_build()
        ok = build["cold_total_s"] <= TARGET_COLD_BUILD_S
        failures += not ok
        print("| image build | seconds | target |\n|---|---|---|")
        print(f"| cold: node image (base + wheelhouse + image) | {build['cold_node_s']:.1f} | |")
        print(f"| cold: node + Prometheus images | {build['cold_total_s']:.1f} | ≤ {TARGET_COLD_BUILD_S:.0f} "
              f"{'ok' if ok else 'MISSED'} |")
        print(f"| rebuild after a code change (warm layers) | {build['rebuild_after_change_s']:.1f} | |\n")
    image.ensure_node_image(log=_quiet)
    images.ensure_prometheus_image(log=_quiet)
    print("| nodes | runner | start → all ready (s) | teardown (s) | target |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as scratch:
        for nodes in args.nodes:
            for deployer in (ComposeDeployer(), HostDeployer()):
                ready_s, teardown_s = asyncio.run(start_to_ready(deployer, nodes, Path(scratch)))
                target = ""
                if deployer.name == "compose" and nodes == 4:
                    ok = ready_s <= TARGET_WARM_4_S
                    failures += not ok
                    target = f"≤ {TARGET_WARM_4_S:.0f} {'ok' if ok else 'MISSED'}"
                print(f"| {nodes} | {deployer.name} | {ready_s:.1f} | {teardown_s:.1f} | {target} |", flush=True)
    return 1 if failures else 0
