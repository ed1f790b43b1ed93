"""The reference adapter's `da` config section: present only for a plan with a DA workload, the framework's
deal and peer ids equal to the node's, and every rendered config accepted by the node's own parser."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml

from nomos_node.config import parse_config
from nomos_node.crypto.keys import NodeKeys
from nomos_node.da.membership import deal as node_deal
from nomos_testing.nodes.base import NodeAddresses
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.nodes.reference.config import deal
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.plan import ComponentSpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import DA_DEFAULTS, da_settings, generate_topology
from nomos_testing.topology.model import GeneratedTopology

ADAPTER = ReferenceNodeAdapter()


def _topology(da: bool) -> GeneratedTopology:
    plan = resolve_plan(scenario(validators=3, executors=2, seed=5, duration=10, slot_duration=1.0), env={})
    topology = generate_topology(plan)
    assert topology.da is None
    return replace(topology, da=dict(DA_DEFAULTS)) if da else topology


def _addresses(topology: GeneratedTopology) -> dict[str, NodeAddresses]:
    return {node.name: NodeAddresses(f"127.0.0.1:{8000 + i}", f"127.0.0.1:{9000 + i}", f"127.0.0.1:{7000 + i}",
                                     f"127.0.0.1:{7000 + i}") for i, node in enumerate(topology.nodes)}


def test_only_a_plan_with_a_da_workload_gets_da_settings() -> None:
    plan = scenario(validators=1, executors=0, duration=10)
    assert da_settings(plan) is None
    assert da_settings(replace(plan, workloads=(ComponentSpec("da"),))) == DA_DEFAULTS


def test_the_da_section_is_what_the_node_parses(tmp_path: Path) -> None:
    topology = _topology(da=True)
    addresses = _addresses(topology)
    peer_ids = {NodeKeys.from_seed(bytes.fromhex(n.keys["key_seed"])).peer_id: n.name for n in topology.nodes}
    for node in topology.nodes:
        text = ADAPTER.render_config(topology, node, addresses, 1764220000.0, str(tmp_path / node.name))
        config = parse_config(yaml.safe_load(text), tmp_path, node.role.value)
        assert config.da is not None and config.da.num_subnets == 2 and config.da.dispersal_factor == 2
        assert [list(m) for m in config.da.assignations] == node_deal(peer_ids, 2, 2)
        assert {pid: str(addr) for pid, addr in config.da.addressbook} == {
            pid: addresses[name].p2p_advertise for pid, name in peer_ids.items()}
    plain = _topology(da=False)
    text = ADAPTER.render_config(plain, plain.nodes[0], _addresses(plain), 1764220000.0, str(tmp_path / "x"))
    assert "da" not in yaml.safe_load(text)


def test_the_framework_deal_is_the_nodes() -> None:
    ids = [NodeKeys.from_seed(bytes([i]) * 32).peer_id for i in range(1, 8)]
    for n, d in ((2, 2), (4, 1), (2, 5), (8, 3)):
        assert deal(ids, n, d) == node_deal(ids, n, d)
