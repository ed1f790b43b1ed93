"""NodeControl's bookkeeping for network faults and pause, independent of any runner's mechanism: names and
groups are checked, the intended state follows every action, every action is one event with its mechanism,
and restore_all undoes everything. The mechanism here records calls; the real mechanisms (iptables, proxies,
signals, docker) have their own tests with real processes and containers."""

from __future__ import annotations

from typing import Any

import pytest

from nomos_testing.errors import NodeControlError
from nomos_testing.runners.shared.control import ALL_CAPABILITIES, NodeControl
from nomos_testing.runners.shared.intent import IntendedState, NodeState
from nomos_testing.runners.shared.netfaults.base import Applied, NetworkFaults
from nomos_testing.runners.shared.state import RunState

NAMES = ["validator-0", "validator-1", "validator-2", "executor-0"]


class RecordingNetwork(NetworkFaults):
    def __init__(self) -> None:
        self.installed: dict[str, tuple[str, Any]] = {}
        self.restarted: list[str] = []

    def capabilities(self) -> frozenset[str]:
        return frozenset({"partition", "delay", "loss"})

    async def partition(self, fault_id: str, links: list[tuple[str, str]]) -> Applied:
        self.installed[fault_id] = ("partition", sorted(links))
        return Applied("recorded drop", {"rules": 2 * len(links)})

    async def delay(self, fault_id: str, a: str, b: str, ms: float, jitter_ms: float) -> Applied:
        self.installed[fault_id] = ("delay", (a, b, ms, jitter_ms))
        return Applied("recorded proxy", {})

    async def loss(self, fault_id: str, a: str, b: str, percent: float) -> Applied:
        self.installed[fault_id] = ("loss", (a, b, percent))
        return Applied("recorded statistic", {})

    async def remove(self, fault_id: str) -> Applied:
        self.installed.pop(fault_id, None)
        return Applied("recorded removal", {})

    async def node_restarted(self, name: str) -> None:
        self.restarted.append(name)

    async def close(self) -> None:
        self.installed.clear()


class ProcessTable(NodeControl):
    capabilities = ALL_CAPABILITIES
    mechanism = "a table of flags"

    def __init__(self) -> None:
        super().__init__(NAMES, IntendedState.all_running(NAMES), "book")
        self.running = dict.fromkeys(NAMES, True)
        self.frozen: set[str] = set()

    async def _stop_node(self, name: str, graceful: bool) -> dict[str, Any]:
        self.running[name] = False
        return {}

    async def _start_node(self, name: str) -> dict[str, Any]:
        self.running[name] = True
        return {}

    async def _is_running(self, name: str) -> bool:
        return self.running[name]

    async def _pause_node(self, name: str) -> dict[str, Any]:
        self.frozen.add(name)
        return {"signal": "SIGSTOP"}

    async def _resume_node(self, name: str) -> dict[str, Any]:
        self.frozen.discard(name)
        return {"signal": "SIGCONT"}


class Events:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def emit(self, kind: str, **fields: Any) -> None:
        self.seen.append({"kind": kind, **fields})


@pytest.fixture
def control() -> tuple[ProcessTable, RecordingNetwork, Events]:
    table, network, events = ProcessTable(), RecordingNetwork(), Events()
    table.network = network
    table.bind_events(events)
    return table, network, events


async def test_partition_cuts_every_pair_across_groups_and_leftovers_form_a_group(control) -> None:
    table, network, events = control
    fault = await table.partition([["validator-0"], ["validator-1"]])
    kind, links = network.installed[fault]
    assert kind == "partition"
    # validator-2 and executor-0 were named nowhere: they form a third group
    assert len(links) == 5  # 1×1 + 1×2 + 1×2
    assert ("validator-1", "validator-2") in links and ("validator-0", "executor-0") in links
    assert table.intent.partitioned() == set(NAMES)
    assert table.intent.cut_off("validator-0") == {"validator-1", "validator-2", "executor-0"}
    assert table.intent.label("validator-0") == "running, partitioned"
    event = events.seen[-1]
    assert event["kind"] == "net.partition" and event["fault"] == fault and event["mechanism"] == "recorded drop"
    assert event["groups"] == [["validator-0"], ["validator-1"], ["validator-2", "executor-0"]]

    assert await table.heal(fault) == [fault]
    assert network.installed == {} and table.intent.partitioned() == set()
    assert events.seen[-1]["kind"] == "net.heal" and events.seen[-1]["fault_kind"] == "partition"


async def test_isolate_is_a_partition_of_one(control) -> None:
    table, network, _ = control
    fault = await table.isolate("executor-0")
    assert sorted(network.installed[fault][1]) == sorted(("executor-0", n) for n in NAMES[:3])
    assert table.intent.cut_off("validator-1") == {"executor-0"}


@pytest.mark.parametrize(("call", "fix"), [
    (lambda c: c.partition([["validator-0"], ["validator-0", "validator-1"]]), "at most once"),
    (lambda c: c.partition([NAMES]), "at least two"),
    (lambda c: c.partition([["validator-9"]]), "use one of"),
    (lambda c: c.delay("validator-0", "validator-0", 50), "name two nodes"),
    (lambda c: c.delay("validator-0", "validator-1", 0), "0 < ms"),
    (lambda c: c.delay("validator-0", "validator-1", 10, 20), "jitter_ms ≤ ms"),
    (lambda c: c.loss("validator-0", "validator-1", 120), "0 < percent ≤ 100"),
    (lambda c: c.heal("partition-99"), "faults in force"),
    (lambda c: c.resume("validator-0"), "pause validator-0"),
])
async def test_bad_requests_are_refused_with_the_fix_and_change_nothing(control, call, fix) -> None:
    table, network, events = control
    with pytest.raises(NodeControlError) as raised:
        await call(table)
    assert fix in raised.value.remedy
    assert network.installed == {} and events.seen == [] and table.intent.network == {}


async def test_pause_resume_and_restore_all_undo_every_fault(control) -> None:
    table, network, events = control
    await table.pause("validator-1")
    assert table.intent.of("validator-1") is NodeState.PAUSED and "validator-1" in table.frozen
    with pytest.raises(NodeControlError):
        await table.pause("validator-1")  # already paused
    await table.kill("validator-2")
    await table.delay("validator-0", "executor-0", 80, 10)
    await table.loss("validator-0", "validator-1", 25)
    await table.partition([["validator-0"]])
    done = await table.restore_all()
    assert done[:3] == ["heal delay-1", "heal loss-2", "heal partition-3"]
    assert set(done[3:]) == {"resume validator-1", "start validator-2"}
    assert network.installed == {} and not table.frozen and all(table.running.values())
    assert table.intent.down_on_purpose() == set() and table.intent.network == {}
    assert network.restarted == ["validator-2"]  # the mechanism re-installs what a restarted node lost
    assert [e["kind"] for e in events.seen].count("net.heal") == 3


async def test_stopping_a_paused_node_resumes_it_first(control) -> None:
    table, _, _ = control
    await table.pause("validator-0")
    await table.stop("validator-0")
    assert "validator-0" not in table.frozen and table.intent.of("validator-0") is NodeState.STOPPED


async def test_without_a_mechanism_network_faults_are_refused_and_not_offered() -> None:
    table = ProcessTable()
    assert table.offered() == ALL_CAPABILITIES - {"partition", "delay", "loss"}
    with pytest.raises(NodeControlError) as raised:
        await table.isolate("validator-0")
    assert "doctor" in raised.value.remedy


async def test_faults_in_force_travel_in_the_run_state(control, tmp_path) -> None:
    table, _, _ = control
    fault = await table.partition([["validator-0"]])
    state = RunState(run_id="book", runner="host", run_dir=tmp_path, nodes=[], intent=table.intent)
    again = RunState.from_json(state.to_json())
    assert list(again.intent.network) == [fault]
    assert again.intent.network[fault].links == table.intent.network[fault].links
