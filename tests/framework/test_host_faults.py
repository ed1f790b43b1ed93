"""Host runner: one loopback address per node (a per-run /24 block), network faults wired into its node
control, and pause / resume by signals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import psutil
import pytest

from nomos_testing.errors import DeploymentError, NodeControlError
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostCluster, HostDeployer
from nomos_testing.runners.host.addresses import AddressBlock, blocks_in_use, choose_block
from nomos_testing.runners.host.deployer import network_faults_check
from nomos_testing.runners.host.netfaults import chains_left
from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.intent import IntendedState
from nomos_testing.runners.shared.netfaults import iptables
from nomos_testing.runners.shared.netfaults.iptables import Chains
from nomos_testing.runners.shared.netfaults.namespace import Namespace
from nomos_testing.runners.shared.state import NodeRecord, RunState, read_state, write_state
from nomos_testing.scenario.plan import ScenarioPlan, TopologySpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import Layout
from tests.framework.support import until

pytestmark = pytest.mark.timeout(120)


# Addresses ---------------------------------------------------------------------------------------------------

def test_block_addresses_and_parsing() -> None:
    block = AddressBlock(17, 200)
    assert block.address(0) == "127.17.200.2" and block.address(252) == "127.17.200.254"
    assert block.cidr == "127.17.200.0/24"
    assert AddressBlock.parse(block.cidr) == block and AddressBlock.of("127.17.200.9") == block
    assert AddressBlock.of("127.0.0.1") is None and AddressBlock.of("10.1.2.3") is None
    assert AddressBlock.of("validator-0") is None
    with pytest.raises(DeploymentError, match="at most 253 nodes"):
        block.address(253)


def test_a_block_in_use_is_never_chosen() -> None:
    used = {AddressBlock(s, t) for s in range(1, 255) for t in range(256)} - {AddressBlock(9, 9)}
    assert choose_block(random.Random(1), used) == AddressBlock(9, 9)
    with pytest.raises(DeploymentError, match="every loopback address block"):
        choose_block(random.Random(1), used | {AddressBlock(9, 9)})


def test_a_block_with_a_bound_socket_is_in_use() -> None:
    with socket.create_server(("127.33.44.7", 0)):
        assert AddressBlock(33, 44) in blocks_in_use()


def test_a_block_a_live_run_records_is_in_use(run_index: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "recorded"
    run_dir.mkdir()
    node = NodeRecord("validator-0", "validator", 0, "http://127.51.52.2:1000", "http://127.51.52.2:1001")
    write_state(RunState("recorded", "host", run_dir, [node], IntendedState.all_running(["validator-0"]),
                         runner_state={"address_block": "127.61.62.0/24"}))
    index.register("recorded", run_dir, "host", "run")
    used = blocks_in_use()
    assert {AddressBlock(51, 52), AddressBlock(61, 62)} <= used


async def test_every_node_listens_on_its_own_address(use_fake_node, topology_factory, runs_root: Path,
                                                     run_index: Path) -> None:
    topology = topology_factory(3, 1)
    first = await HostDeployer().deploy(topology, "addr1", runs_root / "addr1")
    try:
        await wait_ready(first, topology, ReadinessTimeouts(total_s=30))
        block = first.block
        assert block is not None
        expected = {node.name: block.address(slot) for slot, node in enumerate(topology.nodes)}
        assert {name: first.address(name) for name in expected} == expected
        for name, address in expected.items():
            pid = first.processes[name].pid
            listening = {c.laddr.ip for c in psutil.Process(pid).net_connections("tcp") if c.status == "LISTEN"}
            assert listening == {address}, (name, listening)  # api, testing api and p2p all on it
        state = read_state(runs_root / "addr1")
        assert state is not None and state.runner_state["address_block"] == block.cidr
        attached = HostDeployer().attach(state)
        assert attached.block == block and attached.address("executor-0") == expected["executor-0"]
        # a second run never shares the block of a live one
        assert block in blocks_in_use()
        second = HostDeployer().prepare(topology_factory(1), "addr2", runs_root / "addr2")
        try:
            assert second.block is not None and second.block != block
        finally:
            await second.teardown()
    finally:
        await first.teardown()


# Capabilities, doctor, pause on a stand-in node ---------------------------------------------------------------

class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def emit(self, kind: str, **fields: object) -> None:
        self.events.append({"kind": kind, **fields})

    def of(self, kind: str) -> list[dict[str, object]]:
        return [event for event in self.events if event["kind"] == kind]


def need_network_faults() -> None:
    missing = HostDeployer.unavailable_capabilities()
    if missing:
        reason = f"network faults unavailable: {next(iter(missing.values()))}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(reason)
        pytest.skip(reason)


def test_capabilities_and_the_doctor_check() -> None:
    assert {"pause", "partition", "delay", "loss"} <= HostDeployer.capabilities
    check = network_faults_check()
    assert not check.required and check.name == "network faults (partition, delay, loss)"
    if check.ok:
        assert HostDeployer.unavailable_capabilities() == {}


@pytest.mark.slow
def test_without_root_network_faults_are_unavailable_and_doctor_warns() -> None:
    """The framework run by an unprivileged user (nobody, through setpriv): the capabilities name the reason,
    `doctor` shows the optional check with the remedy and still passes."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the framework as another user")
    with tempfile.TemporaryDirectory(prefix="nomos-nobody-") as scratch:  # /tmp: nobody can reach it
        Path(scratch).chmod(0o777)
        as_nobody(Path(scratch))


def as_nobody(home: Path) -> None:
    env = {**os.environ, "HOME": str(home), "XDG_STATE_HOME": str(home), "POL_PROOF_DEV_MODE": "true"}
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable]
    probe = subprocess.run([*nobody, "-c", "from nomos_testing.runners.host import HostDeployer as D; "
                                           "print(sorted(D.unavailable_capabilities().items()))"],
                           capture_output=True, text=True, env=env, timeout=60, check=True)
    assert probe.stdout.strip() == str([(kind, "not running as root (iptables needs CAP_NET_ADMIN)")
                                        for kind in ("delay", "loss", "partition")])
    doctor = subprocess.run([*nobody, "-m", "nomos_testing.cli", "doctor"], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "warning  network faults (partition, delay, loss): not running as root" in doctor.stdout
    assert "fix: run as root (network faults change iptables rules)" in doctor.stdout
    # a scenario whose faults need the network stops before anything starts, naming what and why
    repo = Path(__file__).resolve().parents[2]
    run = subprocess.run([*nobody, "-m", "nomos_testing.cli", "run", str(repo / "scenarios" / "chaos.toml"),
                          "--out", str(home / "run")], capture_output=True, text=True, env=env, timeout=60,
                         check=False)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "needs partition, which the host runner cannot offer on this machine (partition: not running as " \
           "root" in run.stdout + run.stderr
    assert not (home / "run" / "run-state.json").exists()


async def test_pause_freezes_the_node_and_resume_restores_it(use_fake_node, topology_factory,
                                                             runs_root: Path) -> None:
    topology = topology_factory(2)
    cluster = await HostDeployer().deploy(topology, "pause", runs_root / "pause")
    events = Recorder()
    client = NodeClient("validator-1", cluster.endpoint("validator-1").api_url, timeout_s=0.5)
    try:
        control = cluster.control
        assert control is not None
        control.bind_events(events)
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=30))
        assert "pause" in control.offered()
        pid = cluster.processes["validator-1"].pid
        await control.pause("validator-1")
        await until(lambda: _status_is(pid, psutil.STATUS_STOPPED), 2, "validator-1 stopped by SIGSTOP")
        assert control.state_of("validator-1").value == "paused" and await cluster.crashed() == {}
        with pytest.raises(NodeApiError):  # the API is frozen: the request times out
            await client.consensus_info()
        with pytest.raises(NodeControlError, match="not running"):
            await control.pause("validator-1")
        await control.resume("validator-1")
        await until(lambda: _status_is(pid, psutil.STATUS_SLEEPING, psutil.STATUS_RUNNING), 2, "validator-1 running")
        assert (await client.consensus_info())["height"] >= 0
        await control.pause("validator-1")  # left paused: teardown must not wait for the grace period
    finally:
        await client.close()
        began = time.monotonic()
        await cluster.teardown()
        assert time.monotonic() - began < 1.5
    assert [(e["kind"], e["node"], e["signal"]) for e in events.events] == [
        ("node.pause", "validator-1", "SIGSTOP"), ("node.resume", "validator-1", "SIGCONT"),
        ("node.pause", "validator-1", "SIGSTOP")]
    assert all("SIGSTOP, SIGCONT" in str(e["mechanism"]) for e in events.events)


async def _status_is(pid: int | None, *statuses: str) -> bool:
    assert pid is not None
    return psutil.Process(pid).status() in statuses


async def test_down_and_clean_remove_the_chains_of_a_run(use_fake_node, topology_factory, runs_root: Path,
                                                         run_index: Path) -> None:
    need_network_faults()
    topology = topology_factory(2)
    run_dir = runs_root / "chains"
    cluster = await HostDeployer().deploy(topology, "chains", run_dir)
    try:
        assert cluster.control is not None
        await cluster.control.partition([["validator-0"]])
        assert {i.chain for i in chains_left("chains")} == {Chains.of_run("chains").filter,
                                                             Chains.of_run("chains").nat}
        # `down` in another process: attach from the run-state, destroy
        state = read_state(run_dir)
        assert state is not None and [f["kind"] for f in state.intent.network_json()] == ["partition"]
        other = HostDeployer().attach(state)
        assert other.control is not None and other.control.network is not None
        await other.destroy()
        assert chains_left("chains") == []
    finally:
        await cluster.teardown()
    # `clean`: chains of a run killed outright (no state, nothing in memory) are listed and removed
    await iptables.ensure_chains(Namespace.host(), Chains.of_run("chains-2"), "chains-2", "1:5.000")
    entry = index.register("chains-2", runs_root / "chains-2", "host", "run")
    assert any("NTF-" in item.what and not item.live for item in HostDeployer().leftovers(entry))
    removed = await HostDeployer().remove_leftovers(entry)
    assert any("iptables chain NTF-" in item for item in removed) and chains_left("chains-2") == []


# Real reference nodes ---------------------------------------------------------------------------------------

@pytest.fixture
def reference_node(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOMOS_NODE_BIN", "NOMOS_EXECUTOR_BIN", "NOMOS_TESTS_KEEP_LOGS", "SLOW_TEST_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")


@contextlib.asynccontextmanager
async def reference_cluster(runs_root: Path, name: str, validators: int, layout: Layout = Layout.FULL,
                            ) -> AsyncIterator[tuple[HostCluster, dict[str, NodeClient], Recorder]]:
    plan = ScenarioPlan(topology=TopologySpec(validators=validators, executors=0, layout=layout), seed=11,
                        slot_duration=0.5)
    topology = generate_topology(resolve_plan(plan, env={}))
    cluster = await HostDeployer().deploy(topology, name, runs_root / name)
    clients = {n.name: NodeClient(n.name, n.api_url, timeout_s=1.0) for n in cluster.nodes}
    events = Recorder()
    try:
        assert cluster.control is not None
        cluster.control.bind_events(events)
        await wait_ready(cluster, topology, ReadinessTimeouts(total_s=60))
        yield cluster, clients, events
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))
        await cluster.teardown()
    assert chains_left(name) == []


async def peers(client: NodeClient) -> int:
    return int((await client.network_info())["n_peers"])


async def tip(client: NodeClient) -> tuple[int, str]:
    info = await client.consensus_info()
    return int(info["height"]), str(info["tip"])


def connects(src: str, dst: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.bind((src, 0))
        sock.settimeout(0.5)
        try:
            sock.connect((dst, port))
            return True
        except OSError:
            return False


@pytest.mark.slow
async def test_a_partition_cuts_real_nodes_apart_and_heal_reconverges(reference_node, runs_root: Path) -> None:
    need_network_faults()
    async with reference_cluster(runs_root, "part", 4) as (cluster, clients, events):
        control = cluster.control
        assert control is not None
        names = ["validator-0", "validator-1", "validator-2", "validator-3"]
        await until(lambda: _peers_are(clients, names, 3), 20, "a full mesh")
        left, right = names[:2], names[2:]
        with socket.create_server((cluster.address("validator-2"), 0)) as probe:
            port = probe.getsockname()[1]
            assert connects(cluster.address("validator-0"), cluster.address("validator-2"), port)
            fault = await control.partition([left])
            assert not connects(cluster.address("validator-0"), cluster.address("validator-2"), port)
            assert connects("127.0.0.1", cluster.address("validator-2"), port)  # the framework's own traffic
            # the open connections were cut: each node sees only its own side at once
            await until(lambda: _peers_are(clients, names, 1), 3, "peers on one side only")
            cut_at = {n: await tip(clients[n]) for n in names}
            await asyncio.sleep(4)
            after = {n: await tip(clients[n]) for n in names}
            # the sides diverge: what one side builds, the other never sees
            for side, other in ((left, right), (right, left)):
                grown = [n for n in side if after[n][0] > cut_at[n][0]]
                for node in grown:
                    assert await clients[other[0]].block(after[node][1]) is None, (node, other[0])
            assert any(after[n][0] > cut_at[n][0] for n in names)
            assert {after[n][1] for n in left}.isdisjoint({after[n][1] for n in right})
            await control.heal(fault)
            assert connects(cluster.address("validator-0"), cluster.address("validator-2"), port)
        await until(lambda: _peers_are(clients, names, 3), 15, "the mesh again after heal")
        await until(lambda: _same_tip(clients, names), 30, "one tip on every node after heal")
    kinds = [e["kind"] for e in events.events]
    assert kinds == ["net.partition", "net.heal"]
    assert "iptables DROP both ways" in str(events.events[0]["mechanism"])
    assert events.events[0]["groups"] == [left, right] and events.events[0]["connections_cut"]


async def _peers_are(clients: dict[str, NodeClient], names: Iterable[str], expect: int) -> bool:
    return all(value == expect for value in await asyncio.gather(*(peers(clients[n]) for n in names)))


async def _same_tip(clients: dict[str, NodeClient], names: list[str]) -> bool:
    tips = await asyncio.gather(*(tip(clients[n]) for n in names))
    return len({t[1] for t in tips}) == 1


async def propagation_lags(clients: dict[str, NodeClient], a: str, b: str, seconds: float) -> list[float]:
    """Poll both nodes' tips; for every block both reported, how long after the first the second did."""
    seen: dict[str, dict[str, float]] = {a: {}, b: {}}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name, (_, block) in zip((a, b), await asyncio.gather(tip(clients[a]), tip(clients[b])), strict=True):
            seen[name].setdefault(block, time.monotonic())
        await asyncio.sleep(0.02)
    return [abs(seen[a][block] - seen[b][block]) for block in seen[a].keys() & seen[b].keys()]


@pytest.mark.slow
async def test_delay_slows_block_propagation_and_loss_drops_node_traffic(reference_node, runs_root: Path) -> None:
    need_network_faults()
    async with reference_cluster(runs_root, "shape", 2) as (cluster, clients, events):
        control = cluster.control
        assert control is not None
        a, b = "validator-0", "validator-1"
        await until(lambda: _peers_are(clients, (a, b), 1), 20, "connected")
        before = sorted(await propagation_lags(clients, a, b, 3))
        fault = await control.delay(a, b, 400)
        await until(lambda: _peers_are(clients, (a, b), 1), 15, "reconnected through the proxy")
        delayed = sorted(await propagation_lags(clients, a, b, 5))
        assert len(delayed) >= 3 and delayed[len(delayed) // 2] >= 0.3, (before, delayed)
        assert before[len(before) // 2] < 0.2, before
        await control.heal(fault)

        loss = await control.loss(a, b, 50)
        await asyncio.sleep(2)
        dropped = await drop_counters(cluster.run_id)
        await control.heal(loss)
        assert dropped > 0  # the statistic rules dropped some of the nodes' packets
    assert [e["kind"] for e in events.events] == ["net.delay", "net.heal", "net.loss", "net.heal"]
    assert "TCP proxy" in str(events.events[0]["mechanism"]) and events.events[0]["ms"] == 400
    assert "statistic DROP of 50 %" in str(events.events[2]["mechanism"])


async def drop_counters(run_id: str) -> int:
    out = (await Namespace.host().run(["iptables", "-w", "-L", Chains.of_run(run_id).filter, "-v", "-x", "-n"])).stdout
    return sum(int(line.split()[0]) for line in out.splitlines()[2:] if line.split() and "DROP" in line)


def bytes_received_from(address: str, peer: str) -> int:
    """What the sockets of `address` received from `peer` so far (ss' kernel counters)."""
    out = subprocess.run(["ss", "-tinH", "src", address, "dst", peer], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    return sum(int(part.split(":", 1)[1]) for part in out.split() if part.startswith("bytes_received:"))


@pytest.mark.slow
async def test_pause_freezes_a_real_node_and_its_peers_see_no_traffic(reference_node, runs_root: Path) -> None:
    need_network_faults()  # ss reads the peers' counters
    async with reference_cluster(runs_root, "freeze", 3) as (cluster, clients, events):
        control = cluster.control
        assert control is not None
        names = ["validator-0", "validator-1", "validator-2"]
        paused = cluster.address("validator-1")
        others = [cluster.address(n) for n in ("validator-0", "validator-2")]
        await until(lambda: _peers_are(clients, names, 2), 20, "a full mesh")

        def received() -> int:
            return sum(bytes_received_from(other, paused) for other in others)

        first = received()
        await asyncio.sleep(1.5)
        assert received() > first  # gossip flows while it runs
        await control.pause("validator-1")
        await asyncio.sleep(0.3)
        frozen_at = received()
        height = (await tip(clients["validator-0"]))[0]
        with pytest.raises(NodeApiError):
            await clients["validator-1"].consensus_info()
        await asyncio.sleep(2)
        assert received() == frozen_at  # not a byte from the paused node
        assert (await tip(clients["validator-0"]))[0] > height  # the others go on
        await control.resume("validator-1")
        await until(lambda: _caught_up(clients, "validator-1", "validator-0"), 20, "validator-1 caught up")
        assert received() > frozen_at
    assert [e["kind"] for e in events.events] == ["node.pause", "node.resume"]


async def _caught_up(clients: dict[str, NodeClient], node: str, reference: str) -> bool:
    return (await tip(clients[node]))[0] >= (await tip(clients[reference]))[0] - 1


@pytest.mark.slow
def test_the_faults_benchmark_runs(reference_node) -> None:
    """`python -m benchmarks faults --smoke`: every fault applied and removed once on host, targets checked."""
    need_network_faults()
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "benchmarks", "faults", "--smoke"], cwd=repo, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "POL_PROOF_DEV_MODE": "true"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for fault in ("partition", "delay", "loss", "pause"):
        assert re.search(rf"^\| host \| {fault} \| [\d.]+ / [\d.]+ \| [\d.]+ / [\d.]+ \| ≤ 100 ok \|$", done.stdout,
                         re.M), done.stdout
