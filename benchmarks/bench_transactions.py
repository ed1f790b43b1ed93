"""Transaction benchmarks (issue 9): what one framework process can sign and submit, what the reference node
spends validating a transaction, and what a 4-node host network of reference nodes accepts and includes, with
the inclusion latency under that load.

    python -m benchmarks transactions                     # sign, validate, submit (1 node), network (4 nodes)
    python -m benchmarks transactions --parts sign,validate
    python -m benchmarks transactions --parts network --rates 50,600 --seconds 30 --slot 1
    python -m benchmarks transactions --parts profile     # one loaded run with the validators profiled

1. sign: transfers built and signed by the reference adapter (1 input, 2 outputs), no network: the baseline.
2. validate: the node's transaction path in this process, CPU per 1,000 transactions of each step: JSON decode,
   parse (shape checks, two canonical encodings, two Blake2b), Ed25519 verify, the whole mempool admission,
   re-validation when a block carrying them is imported, and the mempool's revalidation after a block.
3. submit: signed and submitted as fast as one process can to one reference node (every genesis wallet spends
   its note once, `--concurrency` requests in flight): submitted/s, accepted/s, and the node's CPU per 1,000
   accepted (its CPU time over the submissions minus its idle rate measured just before) next to the
   framework's own.
4. network: scenario runs of 3 validators + 1 executor with the `transactions` workload open loop at each of
   `--rates` tx/s: accepted/s, included/s (transactions in canonical blocks seen during the run window, per
   second of it), inclusion latency p50 / p95 in slots and seconds, and node CPU per 1,000 transactions
   validated: the nodes' CPU time from the start of the window to the end of the cooldown (every accepted
   transaction is validated by each node, carried in a block and imported by each node by then), minus the
   idle rate of the same network measured by a run without transactions, per node and per 1,000 accepted.
5. profile (not in the default set): one network run at `--profile-rate` with the three validators profiled
   (`--profiler sample`: their Python stack every 4 ms of CPU time; `cprofile`: cProfile on the CPU clock); the
   merged profile's time by component, along the transaction path, and the heaviest functions.

Targets: ≥ 2,000 tx/s signed and submitted by the framework, ≥ 500 tx/s included, p95 ≤ 3 slots at moderate
load (the first rate of `--rates`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import pstats
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from nomos_testing.nodes.base import Note
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.readiness import wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.scenario.run import ScenarioRun
from nomos_testing.topology.generate import generate_topology

PARTS = ("sign", "validate", "submit", "network", "profile")
DEFAULT_PARTS = ("sign", "validate", "submit", "network")
TARGET_SUBMIT = 2000.0
TARGET_INCLUDED = 500.0
TARGET_P95_SLOTS = 3.0
NODES = 4  # 3 validators + 1 executor
CPU_SAMPLE_S = 0.25


# ------------------------------------------------------------------------------------------- 1. sign

def sign_rate(count: int) -> float:
    adapter = ReferenceNodeAdapter()
    wallets = [adapter.wallet(1, i, 100) for i in range(min(count, 1000))]
    began = time.perf_counter()
    for i in range(count):
        sender, recipient = wallets[i % len(wallets)], wallets[(i + 1) % len(wallets)]
        note = Note(f"{i:064x}", 100, sender.pk)
        adapter.transfer([(note, sender.secret_key)], [(1, recipient.pk), (98, sender.pk)], 1)
    return count / (time.perf_counter() - began)


# ------------------------------------------------------------------------------------------- 2. validate

def _cpu_ms_per_1000(run: Callable[[], object], count: int) -> float:
    began = time.process_time()
    run()
    return (time.process_time() - began) / count * 1e6


def _transfers(count: int, seed: int) -> tuple[Any, list[dict[str, Any]]]:
    """A ledger with `count` genesis wallets and one signed transfer (1 input, 2 outputs) from each."""
    from nomos_node.config import WalletNote
    from nomos_node.ledger import Ledger, note_id

    adapter = ReferenceNodeAdapter()
    wallets = [adapter.wallet(seed, i, 100) for i in range(count)]
    ledger = Ledger("00" * 32, [WalletNote(100, w.pk) for w in wallets])
    documents = []
    for i, wallet in enumerate(wallets):
        note = Note(note_id(ledger.genesis_tx_hash, i), 100, wallet.pk)
        recipient = wallets[(i + 1) % count]
        documents.append(adapter.transfer([(note, wallet.secret_key)], [(1, recipient.pk), (99, wallet.pk)], 0).tx)
    return ledger, documents


def validate_count(count: int) -> int:
    """The validate part's transfers: at most the node's default mempool bound (what one pool can hold)."""
    from nomos_node.ledger.mempool import DEFAULT_MAX_PENDING

    return min(count, DEFAULT_MAX_PENDING)


def validate_costs(count: int) -> list[tuple[str, float]]:
    """CPU ms per 1,000 transactions of each step of the node's transaction path, measured in this process on
    `count` transfers (1 input, 2 outputs), each spending its own genesis note. Every step gets documents freshly
    decoded from JSON, as the node does (HTTP bodies, gossip frames)."""
    from nomos_node.consensus.block import block_root
    from nomos_node.crypto.keys import verify_ed25519
    from nomos_node.ledger import parse_transaction
    from nomos_node.ledger.mempool import Mempool

    def fresh(documents: list[dict[str, Any]]) -> list[Any]:
        return [json.loads(body) for body in [json.dumps(doc).encode() for doc in documents]]

    # The steps one by one, on transfers of their own (so that nothing measured later has seen them).
    _, alone = _transfers(count, 4)
    bodies = [json.dumps(doc).encode() for doc in alone]
    decoded = fresh(alone)
    parsed: list[Any] = []
    rows = [
        ("JSON decode of the request body", _cpu_ms_per_1000(lambda: [json.loads(b) for b in bodies], count)),
        ("parse (shape, 2 canonical encodings, 2 Blake2b)",
         _cpu_ms_per_1000(lambda: parsed.extend(parse_transaction(d) for d in decoded), count)),
        ("Ed25519 verify (1 signature)", _cpu_ms_per_1000(
            lambda: [verify_ed25519(tx.outputs[1].pk, tx.hash_bytes, tx.signatures[0]) for tx in parsed], count)),
    ]
    # The path: admission, then the blocks that carry them (block root, then the block's diff on its parent,
    # as every node does on import), then the mempool following the ledger.
    ledger, documents = _transfers(count, 3)
    mempool = Mempool(ledger, max_pending=count)
    submitted = fresh(documents)
    rows.append(("mempool admission (parse + check + verify + pending view)",
                 _cpu_ms_per_1000(lambda: [mempool.add(doc) for doc in submitted], count)))
    size = min(1024, max(1, count // 2))  # half of them at least stay pending for the revalidation below
    carried = fresh(documents[:size])
    rows.append(("block root of the carried transactions", _cpu_ms_per_1000(lambda: block_root(carried), size)))
    diff_holder: list[Any] = []
    rows.append((f"block import re-validation (diff of a {size:,}-transaction block)", _cpu_ms_per_1000(
        lambda: diff_holder.append(ledger.block_diff("11" * 32, ledger.genesis_id, 1, carried)), size)))
    ledger.add(diff_holder[0])
    move = ledger.move_to("11" * 32)
    left = len(mempool) - size
    rows.append((f"mempool revalidation after that block (per 1,000 of the {left} still pending)",
                 _cpu_ms_per_1000(lambda: mempool.revalidate([move]), max(1, left))))
    return rows


# ------------------------------------------------------------------------------------------- 3. submit

def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def submit_rate(wallets: int, concurrency: int, root: Path, idle_s: float = 3.0) -> dict[str, Any]:
    """One node; each wallet spends its genesis note once; sign + submit timed together."""
    plan = resolve_plan(ScenarioPlan(topology=TopologySpec(validators=1, executors=0), seed=9, wallets=wallets))
    adapter = ReferenceNodeAdapter()
    topology = generate_topology(plan, adapter)
    cluster = await HostDeployer().deploy(topology, "tx-submit", root / "tx-submit")
    try:
        await wait_ready(cluster, topology)
        pid = next(iter(cluster.processes.values())).pid
        assert pid is not None
        node = psutil.Process(pid)
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

        idle_began, idle_cpu = time.perf_counter(), _cpu_seconds(node)
        await asyncio.sleep(idle_s)
        idle_rate = (_cpu_seconds(node) - idle_cpu) / (time.perf_counter() - idle_began)
        began, node_cpu, own_cpu = time.perf_counter(), _cpu_seconds(node), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - began
        node_cpu = _cpu_seconds(node) - node_cpu
        own_cpu = time.process_time() - own_cpu
        await client.close()
        per_1000 = (node_cpu - idle_rate * took) / max(accepted, 1) * 1000
        return {"submitted_per_s": wallets / took, "accepted_per_s": accepted / took, "refused": refused,
                "seconds": took, "node_cpu_s": node_cpu, "idle_cpu_pct": idle_rate * 100,
                "node_cpu_ms_per_1000": per_1000 * 1000, "node_busy_pct": node_cpu / took * 100,
                "framework_cpu_ms_per_1000": own_cpu / wallets * 1e6, "framework_busy_pct": own_cpu / took * 100}
    finally:
        await cluster.teardown()


# ------------------------------------------------------------------------------------------- 4. network

class NodeCpuSampler:
    """CPU time (user + system) of every node process this process started (and their children), sampled every
    CPU_SAMPLE_S: (wall time, total CPU seconds so far). A process that exits keeps its last reading."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._task: asyncio.Task[None] | None = None

    def __enter__(self) -> NodeCpuSampler:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        me = psutil.Process()
        known: dict[int, psutil.Process] = {}
        last: dict[int, float] = {}
        while True:
            with contextlib.suppress(psutil.Error):
                for child in me.children(recursive=True):
                    if child.pid not in known and _is_node(child):
                        known[child.pid] = child
            for pid, process in list(known.items()):
                try:
                    last[pid] = _cpu_seconds(process)
                except psutil.Error:
                    del known[pid]
            self.samples.append((time.time(), sum(last.values())))
            await asyncio.sleep(CPU_SAMPLE_S)

    def at(self, when: float) -> float:
        """Total node CPU seconds at wall time `when`, interpolated between the samples around it."""
        before = [s for s in self.samples if s[0] <= when]
        after = [s for s in self.samples if s[0] > when]
        if not before:
            return after[0][1] if after else 0.0
        if not after:
            return before[-1][1]
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0)


def _is_node(process: psutil.Process) -> bool:
    with contextlib.suppress(psutil.Error):
        return any("nomos" in part for part in process.cmdline()[:3])
    return False


def _events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "events.jsonl"
    if not path.is_file():  # the run stopped before it started (preflight)
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _first(events: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((e for e in events if e["kind"] == kind), None)


def _canonical_blocks(run_dir: Path) -> list[dict[str, Any]]:
    """Blocks of the final canonical chain as the block feed saw them (each with the time it was first seen)."""
    records: dict[str, dict[str, Any]] = {}
    for line in (run_dir / "blocks.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records.setdefault(record["id"], record)
    if not records:
        return []
    block: dict[str, Any] | None = max(records.values(), key=lambda r: (r["height"], -r["time"]))
    chain = []
    while block is not None:
        chain.append(block)
        block = records.get(block["parent"])
    return chain[::-1]


@dataclass
class NetworkResult:
    rate: float
    slot: float
    error: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)


def _plan(run_id: str, rate: float | None, seconds: float, wallets: int, slot: float) -> ScenarioPlan:
    workloads = () if rate is None else (
        ComponentSpec("transactions", {"tx_per_s": rate, "fee": 0, "max_in_flight": 512}),)
    return resolve_plan(ScenarioPlan(name=run_id, topology=TopologySpec(validators=3, executors=1), seed=5,
                                     wallets=wallets, duration_s=seconds, workloads=workloads, expectations=(),
                                     slot_duration=slot))


async def idle_cpu_rate(seconds: float, wallets: int, slot: float, root: Path) -> float:
    """CPU seconds per second of the 4-node network without transactions (summed over the nodes); RuntimeError
    naming the reason when the run did not get to its window."""
    run_id = f"tx-idle-{slot:g}"
    with NodeCpuSampler() as sampler:
        result = await ScenarioRun(_plan(run_id, None, seconds, wallets, slot), HostDeployer(), root / run_id,
                                   run_id).run()
    events = _events(result.run_dir)
    drive, settle = _first(events, "phase.drive"), _first(events, "phase.settle")
    if drive is None or settle is None:
        raise RuntimeError(f"idle run: no run window ({result.report.error or result.report.verdict})")
    began, ended = float(drive["time"]), float(settle["time"])
    return (sampler.at(ended) - sampler.at(began)) / (ended - began)


async def network_run(rate: float, seconds: float, wallets: int, slot: float, root: Path,
                      idle_rate: float | None) -> NetworkResult:
    run_id = f"tx-{int(rate)}-{slot:g}"
    with NodeCpuSampler() as sampler:
        result = await ScenarioRun(_plan(run_id, rate, seconds, wallets, slot), HostDeployer(), root / run_id,
                                   run_id).run()
    report = result.report
    inclusion = next((e for e in report.expectations if e.name == "tx_inclusion"), None)
    if inclusion is None:
        return NetworkResult(rate, slot, error=report.error or report.verdict)
    events = _events(result.run_dir)
    drive, settle, done = _first(events, "phase.drive"), _first(events, "phase.settle"), _first(events, "tx.done")
    figures = inclusion.figures
    latency = figures.get("latency", {})
    window_start = drive["time"] if drive else 0.0
    window_end = window_start + seconds
    in_window = sum(b["tx_count"] for b in _canonical_blocks(result.run_dir)
                    if window_start < b["time"] <= window_end)
    got: dict[str, Any] = {
        "passed": inclusion.passed, "submitted_per_s": figures["submitted"] / seconds,
        "accepted_per_s": figures["accepted"] / seconds, "included_per_s": in_window / seconds,
        "included_total": figures["included"], "accepted": figures["accepted"], "refused": figures["refused"],
        "p50_slots": latency.get("p50_slots"), "p95_slots": latency.get("p95_slots"),
        "p50_s": latency.get("p50_s"), "p95_s": latency.get("p95_s"), "message": inclusion.message[:300],
        "not_sent": {k: v for k, v in (done or {}).items() if k in ("no_funds", "in_flight_limit", "no_node")
                     and v},
    }
    if drive and settle:
        wall = settle["time"] - drive["time"]
        cpu = sampler.at(settle["time"]) - sampler.at(drive["time"])
        got["node_busy_pct"] = cpu / wall * 100  # summed over the nodes; the machine's ceiling is cores × 100
        if idle_rate is not None and figures["accepted"]:
            got["cpu_ms_per_1000"] = (cpu - idle_rate * wall) / NODES / figures["accepted"] * 1e6
    return NetworkResult(rate, slot, figures=got)


# ------------------------------------------------------------------------------------------- 5. profile

PROFILED_NODE = """#!{python}
\"\"\"nomos-node profiled from its start until SIGTERM ({profiler}); the profile goes to {out}/node-PID.*\"\"\"
import asyncio, collections, contextlib, cProfile, json, os, signal, sys, time
from nomos_node import cli, node as node_module

PROFILER, OUT, INTERVAL = {profiler!r}, {out!r}, {interval!r}


class Sampler:
    \"\"\"Every INTERVAL s of the process's CPU time (SIGPROF), the main thread's Python stack.\"\"\"

    def __init__(self):
        self.stacks = collections.Counter()

    def sample(self, signum, frame):
        stack = []
        while frame is not None:
            code = frame.f_code
            stack.append((code.co_filename, code.co_firstlineno, code.co_name))
            frame = frame.f_back
        self.stacks[tuple(stack)] += 1

    def enable(self):
        self.cpu = time.process_time()
        signal.signal(signal.SIGPROF, self.sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL, INTERVAL)

    def disable(self):
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_IGN)
        self.cpu = time.process_time() - self.cpu

    def dump(self, path):
        # The kernel may round the interval up to its tick: the samples are scaled to the CPU time measured.
        with open(path + ".samples.json", "w") as out:
            json.dump({{"interval": INTERVAL, "cpu_s": self.cpu,
                       "stacks": [[n, list(s)] for s, n in self.stacks.items()]}}, out)


class Deterministic:
    def __init__(self):
        self.profile = cProfile.Profile(time.process_time)

    def enable(self):
        self.profile.enable()

    def disable(self):
        self.profile.disable()

    def dump(self, path):
        self.profile.dump_stats(path + ".prof")


async def profiled(node):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await node.start()
    profiler = Sampler() if PROFILER == "sample" else Deterministic()
    profiler.enable()
    await stop.wait()
    profiler.disable()
    profiler.dump(os.path.join(OUT, "node-%d" % os.getpid()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(node.stop(), 10)
    return 0

node_module.run_until_signalled = profiled
sys.exit(cli.run(sys.argv[1:], None))
"""
SAMPLE_INTERVAL_S = 0.004  # the kernel rounds ITIMER_PROF up to its tick (4 ms at HZ = 250)
PROFILERS = ("sample", "cprofile")

# (label, how to recognise a function by its exclusive time: a predicate over (file, function name)). Built-ins
# and other functions no label claims (isinstance, len, dict.get, …) are charged to their callers' labels.
CATEGORIES: list[tuple[str, Callable[[str, str], bool]]] = [
    ("Ed25519 verify (cryptography)", lambda f, n: "ed25519" in n.lower() or f.endswith("nomos_node/crypto/keys.py")),
    ("Blake2b (ids, hashes, Merkle root)", lambda f, n: "blake2b" in n or f.endswith("nomos_node/crypto/hashing.py")),
    ("JSON encode (canonical, gossip frames, HTTP answers)", lambda f, n: f.endswith("json/encoder.py")
     or (f.endswith("json/__init__.py") and n == "dumps")),
    ("JSON decode (HTTP bodies, gossip frames)", lambda f, n: f.endswith("json/decoder.py")
     or (f.endswith("json/__init__.py") and n in ("loads", "detect_encoding"))),
    ("BLS VRF / leadership (py-arkworks)", lambda f, n: "arkworks" in f or n.endswith(("pairing_check>",
                                                                                      "hash_to_curve>"))
     or "consensus/vrf" in f),
    ("SQLite block store", lambda f, n: "sqlite3" in n or "sqlite3" in f or "nomos_node/storage/" in f),
    ("ledger + mempool Python code (parse, check, views)", lambda f, n: "nomos_node/ledger/" in f),
    ("hex / canonical-JSON helpers (codec.py)", lambda f, n: "nomos_node/codec.py" in f),
    ("consensus Python code (block checks, chain)", lambda f, n: "nomos_node/consensus/" in f),
    ("node network Python code (gossip, framing, sync)", lambda f, n: "nomos_node/network/" in f),
    ("node wiring and API handlers", lambda f, n: f.endswith("nomos_node/node.py") or "nomos_node/api/" in f),
    ("aiohttp (HTTP server)", lambda f, n: "aiohttp" in f or "multidict" in f or "yarl" in f),
    ("asyncio event loop, sockets", lambda f, n: "asyncio/" in f or "selectors" in f or "socket" in n
     or "select" in n or "_weakrefset" in f or "contextvars" in n),
    ("logging and metrics", lambda f, n: "logging/" in f or "prometheus_client" in f or "nomos_node/logs" in f
     or "nomos_node/metrics" in f),
]


def _category(file: str, name: str) -> str | None:
    return next((label for label, match in CATEGORIES if match(file, name)), None)


# Functions whose cumulative time (callees included) answers "where does the time go" along the transaction
# path; they overlap (e.g. parse_transaction is inside the mempool's add and inside block_diff).
ENTRY_POINTS: list[tuple[str, str, str]] = [
    ("HTTP /mempool/add/tx handler (incl. admission, gossip publish)", "nomos_node/api/mantle.py", "add_tx"),
    ("transactions from gossip (admission)", "nomos_node/node.py", "_on_transaction_gossip"),
    ("mempool admission (Mempool.add)", "nomos_node/ledger/mempool.py", "add"),
    ("parse_transaction (every parse: admission and block import)", "nomos_node/ledger/transaction.py",
     "parse_transaction"),
    ("canonical_json (every canonical encoding)", "nomos_node/codec.py", "canonical_json"),
    ("verify_ed25519", "nomos_node/crypto/keys.py", "verify_ed25519"),
    ("blake2b_256", "nomos_node/crypto/hashing.py", "blake2b_256"),
    ("block import (Chain.import_block)", "nomos_node/consensus/chain.py", "import_block"),
    ("  block root check (block_root)", "nomos_node/consensus/block.py", "block_root"),
    ("  ledger re-validation (Ledger.block_diff)", "nomos_node/ledger/state.py", "block_diff"),
    ("  block store write (BlockStore.commit)", "nomos_node/storage/blocks.py", "commit"),
    ("block decode (Block.from_json)", "nomos_node/consensus/block.py", "from_json"),
    ("mempool revalidation after each block (Mempool.revalidate)", "nomos_node/ledger/mempool.py", "revalidate"),
    ("block production (Node._try_produce)", "nomos_node/node.py", "_try_produce"),
    ("  packing (Ledger.pack)", "nomos_node/ledger/state.py", "pack"),
    ("frames encoded (encode_frame: gossip once per message, requests)", "nomos_node/network/framing.py",
     "encode_frame"),
    ("gossip frames read (read_frame)", "nomos_node/network/framing.py", "read_frame"),
]


def _profiled_node(path: Path, out: Path, profiler: str) -> Path:
    path.write_text(PROFILED_NODE.format(python=sys.executable, out=str(out), profiler=profiler,
                                         interval=SAMPLE_INTERVAL_S), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


Frame = tuple[str, int, str]  # (file, first line, function)


@dataclass
class Profile:
    """CPU seconds by function: own (the function itself, built-ins it calls charged to it when sampled or to
    its callers under cProfile) and inclusive (with its callees)."""

    total: float
    own: dict[Frame, float]
    inclusive: dict[tuple[str, str], float]
    calls: dict[Frame, int] | None = None


def load_samples(files: list[Path]) -> Profile:
    own: dict[Frame, float] = {}
    inclusive: dict[tuple[str, str], float] = {}
    total = 0.0
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        samples = sum(count for count, _stack in data["stacks"]) or 1
        for count, stack in data["stacks"]:
            seconds = count * data["cpu_s"] / samples  # the kernel may round the interval up to its tick
            total += seconds
            file, line, name = stack[0]
            leaf = (str(file), int(line), str(name))
            own[leaf] = own.get(leaf, 0.0) + seconds
            for key in {(file, name) for file, _line, name in stack}:
                inclusive[key] = inclusive.get(key, 0.0) + seconds
    return Profile(total, own, inclusive)


def load_cprofile(files: list[Path]) -> Profile:
    stats = pstats.Stats(*[str(f) for f in files])
    raw: dict[Frame, tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    own: dict[Frame, float] = {}
    inclusive: dict[tuple[str, str], float] = {}
    for key, (_cc, _nc, tottime, cumtime, callers) in raw.items():
        file, _line, name = key
        inclusive[(file, name)] = inclusive.get((file, name), 0.0) + cumtime
        if _category(file, name) is not None or not callers:
            own[key] = own.get(key, 0.0) + tottime
            continue
        # Unclaimed (a built-in, abc, …): its own time goes to its direct callers, as measured per caller.
        spread = sum(value[2] for value in callers.values()) or 1.0
        for caller, value in callers.items():
            own[caller] = own.get(caller, 0.0) + tottime * value[2] / spread
    return Profile(sum(v[2] for v in raw.values()), own, inclusive, {k: v[1] for k, v in raw.items()})


def profile_breakdown(profile: Profile, top: int = 15) -> tuple[list[tuple[str, float]],
                                                                  list[tuple[str, float]],
                                                                  list[tuple[str, float, int | None]]]:
    """([(component, own s)], [(entry point, inclusive s)], [(function, own s, calls)])."""
    by_category: dict[str, float] = {}
    for (file, _line, name), seconds in profile.own.items():
        label = _category(file, name) or "other"
        by_category[label] = by_category.get(label, 0.0) + seconds
    categories = sorted(by_category.items(), key=lambda item: -item[1])
    entries = []
    for label, suffix, function in ENTRY_POINTS:
        entries.append((label, sum(s for (file, name), s in profile.inclusive.items()
                                   if file.endswith(suffix) and name == function)))
    heaviest = sorted(profile.own.items(), key=lambda item: -item[1])[:top]
    functions = [(name if file == "~" else f"{_short(file)}:{line} {name}", seconds,
                  None if profile.calls is None else profile.calls.get((file, line, name)))
                 for (file, line, name), seconds in heaviest]
    return categories, entries, functions


def _short(file: str) -> str:
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1].lstrip("0123456789./")
    return file


async def profile_run(rate: float, seconds: float, wallets: int, slot: float, root: Path, profiler: str,
                      out: Path | None = None) -> dict[str, Any]:
    out = (root / "profiles") if out is None else out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    wrapper = _profiled_node(root / "nomos-node-profiled", out, profiler)
    with _environment(NOMOS_NODE_BIN=str(wrapper)):
        got = await network_run(rate, seconds, wallets, slot, root / "profile", None)
    if profiler == "sample":
        files = sorted(out.glob("node-*.samples.json"))
        profile = load_samples(files) if files else None
    else:
        files = sorted(out.glob("node-*.prof"))
        profile = load_cprofile(files) if files else None
    if profile is None:
        return {"error": got.error or "no profile written (did the validators stop cleanly?)", "run": got}
    categories, entries, functions = profile_breakdown(profile)
    return {"run": got, "files": len(files), "total": profile.total, "categories": categories, "entries": entries,
            "functions": functions}


# ------------------------------------------------------------------------------------------- report

def table(header: list[str], rows: list[list[object]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list[object]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(list(header)), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


Say = Callable[[str], None]
Targets = list[list[object]]


def report_validate(args: argparse.Namespace, say: Say, targets: Targets) -> int:
    count = validate_count(args.count)
    steps = validate_costs(count)
    say(f"\nnode transaction path in-process, {count} transfers (1 input, 2 outputs; at most the default mempool "
        "bound), CPU:\n"
        + table(["step", "CPU ms per 1,000 tx"], [[label, f"{ms:,.1f}"] for label, ms in steps]))
    admission = next(ms for label, ms in steps if label.startswith("mempool admission"))
    targets.append(["node validates (in-process admission)", f"{admission:,.0f} CPU ms per 1,000 tx", "figure"])
    return 0


async def report_submit(args: argparse.Namespace, root: Path, say: Say, targets: Targets) -> int:
    got = await submit_rate(args.wallets, args.concurrency, root)
    say(f"\nsign + submit to 1 node: {got['submitted_per_s']:,.0f} tx/s submitted, "
        f"{got['accepted_per_s']:,.0f} accepted/s, refused {got['refused']} ({args.wallets} transfers, "
        f"{args.concurrency} in flight, {got['seconds']:.2f} s)\n"
        f"  node: {got['node_cpu_ms_per_1000']:,.0f} CPU ms per 1,000 accepted (idle {got['idle_cpu_pct']:.1f} % "
        f"subtracted), busy {got['node_busy_pct']:.0f} % of a core; framework: "
        f"{got['framework_cpu_ms_per_1000']:,.0f} CPU ms per 1,000 signed + submitted, busy "
        f"{got['framework_busy_pct']:.0f} % of a core")
    ok = got["submitted_per_s"] >= TARGET_SUBMIT
    targets.append(["≥ 2,000 tx/s signed + submitted", f"{got['submitted_per_s']:,.0f} tx/s", "met" if ok
                    else "missed"])
    targets.append(["node CPU per 1,000 tx (1 node, via HTTP)", f"{got['node_cpu_ms_per_1000']:,.0f} ms", "figure"])
    return 0 if ok else 1


async def report_network(args: argparse.Namespace, root: Path, say: Say, targets: Targets) -> int:
    missed = 0
    try:
        idle_rate = await idle_cpu_rate(args.idle_seconds, args.network_wallets, args.slot, root)
    except RuntimeError as exc:
        say(f"network part not run: {exc}")
        return 1
    say(f"\nidle 4-node network (slot {args.slot:g} s): {idle_rate * 100:.1f} % of a core summed over the nodes")
    rows: list[list[object]] = []
    included: list[float] = []
    for i, rate in enumerate(args.rates):
        got = await network_run(rate, args.seconds, args.network_wallets, args.slot, root, idle_rate)
        if got.error is not None:
            say(f"network run at {rate:g} tx/s failed: {got.error}")
            missed += 1
            continue
        f = got.figures
        included.append(f["included_per_s"])
        rows.append([f"{rate:g}", _fmt(f["submitted_per_s"]), _fmt(f["accepted_per_s"]), _fmt(f["included_per_s"]),
                     f["p50_slots"], f["p95_slots"], f["p50_s"], f["p95_s"], _fmt(f.get("cpu_ms_per_1000")),
                     _fmt(f.get("node_busy_pct")), "pass" if f["passed"] else "FAIL",
                     ", ".join(f"{k} {v}" for k, v in {**f["refused"], **f["not_sent"]}.items()) or "-"])
        if i == 0 and f["p95_slots"] is not None:
            ok = f["p95_slots"] <= TARGET_P95_SLOTS
            missed += not ok
            targets.append([f"p95 ≤ 3 slots at {rate:g} tx/s", f"{f['p95_slots']} slots", "met" if ok else "missed"])
    if rows:
        say(f"\n4 nodes (3 validators + 1 executor), slot {args.slot:g} s, open loop, fee 0, {args.seconds:g} s "
            "window:\n" + table(
                ["offered tx/s", "submitted/s", "accepted/s", "included/s", "p50 slots", "p95 slots", "p50 s",
                 "p95 s", "node CPU ms / 1,000 tx", "nodes busy %", "tx_inclusion", "refused / not sent"], rows))
        ok = max(included) >= TARGET_INCLUDED
        missed += not ok
        targets.append(["≥ 500 tx/s included", f"{max(included):,.0f} tx/s", "met" if ok else "missed"])
    return missed


async def report_profile(args: argparse.Namespace, root: Path, say: Say) -> int:
    got = await profile_run(args.profile_rate, args.seconds, args.network_wallets, args.slot, root, args.profiler,
                            args.profile_out)
    if "error" in got:
        say(f"profile run failed: {got['error']}")
        return 1
    f = got["run"].figures
    total = got["total"]
    how = ("sampled every 4 ms of CPU time" if args.profiler == "sample"
           else "cProfile, CPU clock: Python-heavy code is inflated")
    say(f"\nprofile: {got['files']} validators ({how}), {args.profile_rate:g} tx/s offered, "
        f"{_fmt(f.get('accepted_per_s'))} accepted/s, {_fmt(f.get('included_per_s'))} included/s; "
        f"{total:.1f} CPU s profiled\n"
        + table(["component (own time)", "CPU s", "share"],
                [[label, f"{s:.2f}", f"{s / total:.1%}"] for label, s in got["categories"]])
        + "\n\n" + table(["along the transaction path (inclusive, overlapping)", "CPU s", "share"],
                          [[label, f"{s:.2f}", f"{s / total:.1%}"] for label, s in got["entries"]])
        + "\n\n" + table(["heaviest functions (own time)", "CPU s", "share", "calls"],
                          [[w, f"{s:.2f}", f"{s / total:.1%}", "-" if c is None else f"{c:,}"]
                           for w, s, c in got["functions"]]))
    return 0


async def run(parts: set[str], args: argparse.Namespace, root: Path, say: Say) -> int:
    targets: Targets = []
    missed = 0
    if "sign" in parts:
        rate = sign_rate(args.count)
        say(f"sign only: {rate:,.0f} tx/s ({args.count} transfers, 1 input, 2 outputs, Ed25519 + Blake2b)")
        targets.append(["framework signs", f"{rate:,.0f} tx/s", "(baseline)"])
    if "validate" in parts:
        missed += report_validate(args, say, targets)
    if "submit" in parts:
        missed += await report_submit(args, root, say, targets)
    if "network" in parts:
        missed += await report_network(args, root, say, targets)
    if "profile" in parts:
        missed += await report_profile(args, root, say)
    say("\n" + table(["target", "measured", "status"], targets))
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks transactions", description=__doc__.split("\n")[0])
    parser.add_argument("--parts", type=lambda s: set(s.split(",")), default=set(DEFAULT_PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)} (default {','.join(DEFAULT_PARTS)})")
    parser.add_argument("--count", type=int, default=20_000, help="transfers of the sign and validate parts")
    parser.add_argument("--wallets", type=int, default=10_000, help="transfers submitted by the submit part")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight in the submit part")
    parser.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=[50.0, 800.0],
                        help="offered loads of the network part, tx/s (the first is the moderate one)")
    parser.add_argument("--seconds", type=float, default=30.0, help="run window of each network run")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="window of the network's idle run")
    parser.add_argument("--slot", type=float, default=1.0, help="slot duration of the network runs, seconds")
    parser.add_argument("--network-wallets", type=int, default=2000, help="wallets of the network runs")
    parser.add_argument("--profile-rate", type=float, default=800.0, help="offered load of the profiled run, tx/s")
    parser.add_argument("--profiler", choices=PROFILERS, default="sample",
                        help="sample: the Python stack every 4 ms of CPU time (SIGPROF), little distortion; "
                        "cprofile: every call counted and timed, but Python-heavy code is inflated several times")
    parser.add_argument("--profile-out", type=Path, default=None,
                        help="keep the profiled run's node-PID.prof files here (for pstats / snakeviz)")
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
