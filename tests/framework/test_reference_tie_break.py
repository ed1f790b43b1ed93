"""The tie rule the reference adapter renders (`consensus.tie_break`, docs/consensus.md, Ties at equal height):
`lower_vrf` below k = 20, where the specification's keep-current splits connected nodes at f = 0.9, the
specification's `keep_current` from there on; every rendered config is accepted by the node's own parser."""

from __future__ import annotations

import pytest
import yaml

from nomos_node.config import parse_config
from nomos_node.consensus.fork_choice import TEST_NETWORK_KEEP_CURRENT_FROM_K, tie_break_for_test_network
from nomos_testing.nodes.base import NodeAddresses
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.nodes.reference.config import KEEP_CURRENT_FROM_K, tie_break_for
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology


@pytest.mark.parametrize(("k", "rule"), [(3, "lower_vrf"), (10, "lower_vrf"), (KEEP_CURRENT_FROM_K - 1, "lower_vrf"),
                                         (KEEP_CURRENT_FROM_K, "keep_current"), (2160, "keep_current")])
def test_rendered_tie_break_follows_k(tmp_path, k: int, rule: str) -> None:
    plan = resolve_plan(scenario(validators=2, executors=0, seed=3, duration=10, slot_duration=1.0,
                                 security_param=k), env={})
    topology = generate_topology(plan)
    addresses = {node.name: NodeAddresses(f"127.0.0.1:{8000 + i}", f"127.0.0.1:{9000 + i}", f"127.0.0.1:{7000 + i}",
                                          f"127.0.0.1:{7000 + i}") for i, node in enumerate(topology.nodes)}
    for node in topology.nodes:
        rendered = ReferenceNodeAdapter().render_config(topology, node, addresses, 1_764_220_000.0, str(tmp_path))
        document = yaml.safe_load(rendered)
        assert document["consensus"]["tie_break"] == rule
        assert parse_config(document, base_dir=tmp_path).consensus.tie_break == rule


def test_the_framework_and_the_node_test_networks_use_the_same_threshold() -> None:
    assert KEEP_CURRENT_FROM_K == TEST_NETWORK_KEEP_CURRENT_FROM_K
    assert all(tie_break_for(k) == tie_break_for_test_network(k) for k in (1, 3, 10, 19, 20, 21, 2160))
