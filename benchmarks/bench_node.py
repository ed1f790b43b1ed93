"""Reference node benchmarks on loopback with real `nomos-node` processes (POL_PROOF_DEV_MODE=true).

1. start-up: process spawn → first `GET /cryptarchia/info` 200 (target ≤ 1 s);
2. idle cost: RSS and CPU of each node of a 3-node star at 2 s slots over ~30 s (targets ≤ 60 MiB, ≤ 1 % of a core);
3. chain growth over a window vs the expected f × slots (the issue asks 5 minutes: `--minutes 5`).

    python -m benchmarks node [--minutes M] [--idle-seconds S] [--slot SECONDS] [--starts N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from nomos_node.consensus.pol import DEFAULT_POL_DIFFICULTY_BITS, solve_pol
from nomos_node.devnet import LocalNetwork, NodeProcess, http, ready, wait_until

MIB = 1024 * 1024
F = 0.9


def _table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    line = "  ".join(f"{{:<{width}}}" for width in widths)
    print(f"\n{title}")
    print(line.format(*headers))
    print(line.format(*("-" * width for width in widths)))
    for row in rows:
        print(line.format(*row))


def bench_startup(root: Path, starts: int) -> tuple[list[float], list[float]]:
    """(wall s from spawn to the first 200, CPU s the process had used by then) per start."""
    times, cpu = [], []
    for attempt in range(starts):
        with LocalNetwork(root / f"start-{attempt}", 1, topology="none", slot=2.0, start_in=1.0) as network:
            node = network.nodes[0]
            node.start()
            began = node.starts[-1]
            while True:
                try:
                    if http("GET", node.api_url + "/cryptarchia/info", timeout=1)[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() - began > 20:
                    raise RuntimeError("node did not answer within 20 s")
                time.sleep(0.005)
            times.append(time.monotonic() - began)
            assert node.proc is not None
            cpu.append(sum(psutil.Process(node.proc.pid).cpu_times()[:2]))
    return times, cpu


def bench_pol(samples: int, bits: int) -> list[float]:
    """Seconds per proof of leadership (a fresh random VRF output and slot each time), in this process."""
    times = []
    for slot in range(1, samples + 1):
        began = time.perf_counter()
        solve_pol(os.urandom(32), slot, bits)
        times.append(time.perf_counter() - began)
    return times


def _sample(nodes: list[NodeProcess], seconds: float) -> list[tuple[float, float]]:
    """[(max RSS MiB, CPU % of one core)] per node over `seconds`."""
    processes = [psutil.Process(node.proc.pid) for node in nodes if node.proc is not None]
    cpu_start = [sum(p.cpu_times()[:2]) for p in processes]
    rss_max = [p.memory_info().rss for p in processes]
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        time.sleep(1.0)
        rss_max = [max(m, p.memory_info().rss) for m, p in zip(rss_max, processes, strict=False)]
    wall = time.monotonic() - began
    cpu = [(sum(p.cpu_times()[:2]) - c) / wall * 100 for p, c in zip(processes, cpu_start, strict=False)]
    return [(rss / MIB, pct) for rss, pct in zip(rss_max, cpu, strict=False)]


def bench_network(root: Path, slot: float, idle_seconds: float, window_seconds: float
                  ) -> tuple[list[tuple[float, float]], dict[str, float]]:
    with LocalNetwork(root / "star", 3, slot=slot, f=F, k=10, start_in=2.0) as network:
        network.start()
        for node in network.nodes:
            wait_until(lambda node=node: ready(node), 30, f"node {node.index}")
        hub = network.nodes[0]
        wait_until(lambda: hub.get("/network/info")["n_peers"] == 2, 30, "the star to connect")
        wait_until(lambda: hub.info()["height"] >= 1, 10 * slot + 10, "the first block")
        start_height, start_slot, began = hub.info()["height"], hub.info()["slot"], time.monotonic()
        idle = _sample(network.nodes, idle_seconds)
        remaining = window_seconds - (time.monotonic() - began)
        if remaining > 0:
            time.sleep(remaining)
        info, elapsed = hub.info(), time.monotonic() - began
        heights = [node.info()["height"] for node in network.nodes]
        slots = info["slot"] - start_slot
        grown = info["height"] - start_height
        growth = {"seconds": elapsed, "slots": slots, "blocks": grown, "expected": F * slots,
                  "ratio": grown / (F * slots) if slots else 0.0, "height_spread": max(heights) - min(heights)}
        return idle, growth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks node")
    parser.add_argument("--minutes", type=float, default=1.0, help="chain growth window (the issue asks 5)")
    parser.add_argument("--idle-seconds", type=float, default=30.0, help="RSS/CPU sampling window")
    parser.add_argument("--slot", type=float, default=2.0, help="slot duration in seconds")
    parser.add_argument("--starts", type=int, default=3, help="start-up measurements")
    parser.add_argument("--startup-only", action="store_true", help="measure start-up (and --pol-samples) only")
    parser.add_argument("--pol-samples", type=int, default=0, help="also time this many proofs of leadership")
    parser.add_argument("--pol-bits", type=int, default=DEFAULT_POL_DIFFICULTY_BITS, help="PoL difficulty")
    args = parser.parse_args(argv or [])
    if args.pol_samples:
        pol = bench_pol(args.pol_samples, args.pol_bits)
        _table(f"proof of leadership at {args.pol_bits} bits (target: mean ≥ 2 s)",
               ["samples", "mean s", "median s", "max s"],
               [[str(len(pol)), f"{statistics.mean(pol):.2f}", f"{statistics.median(pol):.2f}", f"{max(pol):.2f}"]])
    with tempfile.TemporaryDirectory(prefix="nomos-bench-") as tmp:
        root = Path(tmp)
        startup, cpu = bench_startup(root, args.starts)
        _table("start-up: spawn → /cryptarchia/info 200 (target ≤ 1.0 s)",
               ["runs", "min s", "median s", "max s", "median CPU s at ready", "ok"],
               [[str(len(startup)), f"{min(startup):.3f}", f"{statistics.median(startup):.3f}",
                 f"{max(startup):.3f}", f"{statistics.median(cpu):.3f}", "yes" if max(startup) <= 1.0 else "NO"]])
        if args.startup_only:
            return
        window = max(args.minutes * 60, args.idle_seconds)
        idle, growth = bench_network(root, args.slot, args.idle_seconds, window)
    _table(f"idle cost per node, 3-node star, {args.slot:g} s slots, {args.idle_seconds:.0f} s "
           "(targets ≤ 60 MiB, ≤ 1 % of a core)", ["node", "max RSS MiB", "CPU %", "ok"],
           [[str(i), f"{rss:.1f}", f"{cpu:.2f}", "yes" if rss <= 60 and cpu <= 1.0 else "NO"]
            for i, (rss, cpu) in enumerate(idle)])
    _table(f"chain growth over {growth['seconds'] / 60:.1f} min (f = {F})",
           ["slots", "blocks", "expected f×slots", "ratio", "height spread"],
           [[str(growth["slots"]), str(growth["blocks"]), f"{growth['expected']:.1f}", f"{growth['ratio']:.2f}",
             str(growth["height_spread"])]])
