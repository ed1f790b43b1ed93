"""Transaction benchmarks (issue 9): what one framework process can sign and submit, and what a 4-node host
network of reference nodes accepts and includes, with the inclusion latency under that load.

    python -m benchmarks transactions                     # sign, submit (1 node), network (4 nodes, 2 loads)
    python -m benchmarks transactions --parts sign        # only the sign-only baseline
    python -m benchmarks transactions --rates 50,600 --seconds 30

1. sign: transfers built and signed by the reference adapter (1 input, 2 outputs), no network: the baseline.
2. submit: signed and submitted as fast as one process can to one reference node (every genesis wallet spends
   its note once, `--concurrency` requests in flight): submitted/s and accepted/s.
3. network: scenario runs of 3 validators + 1 executor with the `transactions` workload open loop at each of
   `--rates` tx/s: accepted/s, included/s (in every chain), inclusion latency p50 / p95 in slots and seconds.

Targets: ≥ 2,000 tx/s signed and submitted by the framework, ≥ 500 tx/s included, p95 ≤ 3 slots at moderate
load (the first rate of `--rates`).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nomos_testing.nodes.base import Note
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.readiness import wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.topology.generate import generate_topology

PARTS = ("sign", "submit", "network")
TARGET_SUBMIT = 2000.0
TARGET_INCLUDED = 500.0
TARGET_P95_SLOTS = 3.0


def sign_rate(count: int) -> float:
    adapter = ReferenceNodeAdapter()
    wallets = [adapter.wallet(1, i, 100) for i in range(min(count, 1000))]
    began = time.perf_counter()
    for i in range(count):
        sender, recipient = wallets[i % len(wallets)], wallets[(i + 1) % len(wallets)]
        note = Note(f"{i:064x}", 100, sender.pk)
        adapter.transfer([(note, sender.secret_key)], [(1, recipient.pk), (98, sender.pk)], 1)
    return count / (time.perf_counter() - began)


async def submit_rate(wallets: int, concurrency: int, root: Path) -> dict[str, Any]:
    """One node; each wallet spends its genesis note once; sign + submit timed together."""
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=1, executors=0), seed=9, wallets=wallets))
    adapter = ReferenceNodeAdapter()
    topology = generate_topology(plan, adapter)
    cluster = await HostDeployer().deploy(topology, "tx-submit", root / "tx-submit")
    try:
        await wait_ready(cluster, topology)
        client = NodeClient(cluster.nodes[0].name, cluster.nodes[0].api_url, timeout_s=30)
        notes = adapter.genesis_notes(topology)
        queue = list(zip(topology.wallets, notes, strict=True))
        refused: dict[str, int] = {}
        accepted = 0

        async def worker() -> None:
            nonlocal accepted
            while queue:
                wallet, note = queue.pop()
                recipient = topology.wallets[(wallet.index + 1) % len(topology.wallets)]
                transfer = adapter.transfer([(note, wallet.secret_key)],
                                            [(1, recipient.pk), (note.value - 1, wallet.pk)], 0)
                try:
                    await client.submit_tx(transfer.tx)
                    accepted += 1
                except NodeApiError as exc:
                    code = exc.code or str(exc.status)
                    refused[code] = refused.get(code, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - began
        await client.close()
        return {"submitted_per_s": wallets / took, "accepted_per_s": accepted / took, "refused": refused,
                "seconds": took}
    finally:
        await cluster.teardown()


async def network_run(rate: float, seconds: float, wallets: int, root: Path) -> dict[str, Any]:
    run_id = f"tx-{int(rate)}"
    workload = ComponentSpec("transactions", {"tx_per_s": rate, "fee": 0, "max_in_flight": 512})
    plan = resolve_plan(ScenarioPlan(name=run_id, topology=TopologySpec(validators=3, executors=1), seed=5,
                                     wallets=wallets, duration_s=seconds, workloads=(workload,), expectations=()))
    result = await ScenarioRun(plan, HostDeployer(), root / run_id, run_id).run()
    report = result.report
    inclusion = next((e for e in report.expectations if e.name == "tx_inclusion"), None)
    if inclusion is None:
        return {"rate": rate, "error": report.error or report.verdict}
    figures = inclusion.figures
    latency = figures.get("latency", {})
    return {"rate": rate, "passed": inclusion.passed, "accepted_per_s": figures["accepted"] / seconds,
            "included_per_s": figures["included"] / seconds, "submitted": figures["submitted"],
            "refused": figures["refused"], "p50_slots": latency.get("p50_slots"),
            "p95_slots": latency.get("p95_slots"), "p50_s": latency.get("p50_s"), "p95_s": latency.get("p95_s"),
            "message": inclusion.message[:300]}


def table(header: list[str], rows: list[list[object]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


async def run(parts: set[str], args: argparse.Namespace, root: Path, say: Callable[[str], None]) -> int:
    targets: list[list[object]] = []
    missed = 0
    if "sign" in parts:
        rate = sign_rate(args.count)
        say(f"sign only: {rate:,.0f} tx/s ({args.count} transfers, 1 input, 2 outputs, Ed25519 + Blake2b)")
        targets.append(["framework signs", f"{rate:,.0f} tx/s", "(baseline)"])
    if "submit" in parts:
        got = await submit_rate(args.wallets, args.concurrency, root)
        say(f"sign + submit to 1 node: {got['submitted_per_s']:,.0f} tx/s submitted, "
            f"{got['accepted_per_s']:,.0f} accepted/s, refused {got['refused']} ({args.wallets} transfers, "
            f"{args.concurrency} in flight)")
        ok = got["submitted_per_s"] >= TARGET_SUBMIT
        missed += not ok
        targets.append(["≥ 2,000 tx/s signed + submitted", f"{got['submitted_per_s']:,.0f} tx/s", "met" if ok
                        else "missed"])
    if "network" in parts:
        rows = []
        for i, rate in enumerate(args.rates):
            got = await network_run(rate, args.seconds, args.network_wallets, root)
            if "error" in got:
                say(f"network run at {rate:g} tx/s failed: {got['error']}")
                missed += 1
                continue
            rows.append([f"{rate:g}", f"{got['accepted_per_s']:.0f}", f"{got['included_per_s']:.0f}",
                         got["p50_slots"], got["p95_slots"], got["p50_s"], got["p95_s"], got["passed"],
                         got["refused"]])
            if i == 0 and got["p95_slots"] is not None:
                ok = got["p95_slots"] <= TARGET_P95_SLOTS
                missed += not ok
                targets.append([f"p95 ≤ 3 slots at {rate:g} tx/s", f"{got['p95_slots']} slots", "met" if ok
                                else "missed"])
        if rows:
            say("\n4 nodes (3 validators + 1 executor), open loop, fee 0:\n" + table(
                ["offered tx/s", "accepted/s", "included/s", "p50 slots", "p95 slots", "p50 s", "p95 s",
                 "tx_inclusion", "refused"], rows))
            best = max(float(r[2]) for r in rows)
            ok = best >= TARGET_INCLUDED
            missed += not ok
            targets.append(["≥ 500 tx/s included", f"{best:.0f} tx/s", "met" if ok else "missed"])
    say("\n" + table(["target", "measured", "status"], targets))
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks transactions", description=__doc__.split("\n")[0])
    parser.add_argument("--parts", type=lambda s: set(s.split(",")), default=set(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--count", type=int, default=20_000, help="transfers signed by the sign-only part")
    parser.add_argument("--wallets", type=int, default=10_000, help="transfers submitted by the submit part")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight in the submit part")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 800.0],
                        help="offered loads of the network part, tx/s (the first is the moderate one)")
    parser.add_argument("--seconds", type=float, default=30.0, help="run window of each network run")
    parser.add_argument("--network-wallets", type=int, default=2000, help="wallets of the network runs")
    args, _ = parser.parse_known_args(argv)
    unknown = args.parts - set(PARTS)
    if unknown:
        parser.error(f"--parts: unknown {sorted(unknown)}; choose from {', '.join(PARTS)}")
    root = Path(tempfile.mkdtemp(prefix="bench-transactions-"))
    try:
        return asyncio.run(run(args.parts, args, root, lambda text: print(text, flush=True)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
