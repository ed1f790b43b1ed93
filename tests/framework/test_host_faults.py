"""Host runner: one loopback address per node (a per-run /24 block), network faults wired into its node
control, and pause / resume by signals."""

from __future__ import annotations

import random
import socket
from pathlib import Path

import psutil
import pytest

from nomos_testing.errors import DeploymentError
from nomos_testing.readiness import ReadinessTimeouts, wait_ready
from nomos_testing.runners.host import HostDeployer
from nomos_testing.runners.host.addresses import AddressBlock, blocks_in_use, choose_block
from nomos_testing.runners.shared import index
from nomos_testing.runners.shared.intent import IntendedState
from nomos_testing.runners.shared.state import NodeRecord, RunState, read_state, write_state

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
