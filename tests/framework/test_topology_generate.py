from __future__ import annotations

import hashlib
import re

import pytest

from nomos_node.crypto.keys import NodeKeys
from nomos_testing.errors import PlanError
from nomos_testing.nodes.reference import keys
from nomos_testing.nodes.reference.adapter import STAKE_PER_NODE, ReferenceNodeAdapter
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import GeneratedTopology, Layout, Role

ADAPTER = ReferenceNodeAdapter()


def topo(layout: str = "star", validators: int = 3, executors: int = 1, seed: int = 7,
         wallets: int = 2) -> GeneratedTopology:
    plan = scenario(validators=validators, executors=executors, layout=layout, seed=seed, wallets=wallets,
                    duration=10, slot_duration=1.0)
    return generate_topology(resolve_plan(plan, env={}))


def test_nodes_names_roles_and_ordinals() -> None:
    t = topo()
    assert [n.name for n in t.nodes] == ["validator-0", "validator-1", "validator-2", "executor-0"]
    assert [n.ordinal for n in t.nodes] == [0, 1, 2, 3]
    assert [ADAPTER.log_file_name(n) for n in t.nodes][-1] == "nomos-executor-0.log"
    assert ADAPTER.log_file_name(t.nodes[0]) == "nomos-node-0.log" and t.executors[0].role is Role.EXECUTOR
    assert t.adapter.name == "reference"


def test_an_unresolved_plan_is_refused() -> None:
    with pytest.raises(PlanError, match="resolve_plan"):
        generate_topology(scenario(validators=1, executors=0, duration=10))


@pytest.mark.parametrize(("layout", "dials", "degree"), [
    ("star", {"validator-0": (), "validator-1": ("validator-0",), "validator-2": ("validator-0",),
              "executor-0": ("validator-0",)}, {"validator-0": 3, "validator-1": 1, "executor-0": 1}),
    ("chain", {"validator-0": (), "validator-1": ("validator-0",), "validator-2": ("validator-1",),
               "executor-0": ("validator-2",)}, {"validator-0": 1, "validator-1": 2, "executor-0": 1}),
    ("full", {"validator-0": (), "validator-1": ("validator-0",), "validator-2": ("validator-0", "validator-1"),
              "executor-0": ("validator-0", "validator-1", "validator-2")},
     {"validator-0": 3, "validator-1": 3, "executor-0": 3}),
])
def test_layouts(layout: str, dials: dict[str, tuple[str, ...]], degree: dict[str, int]) -> None:
    t = topo(layout)
    assert t.layout is Layout(layout)
    assert t.dials == dials
    for name, expected in degree.items():
        assert len(t.neighbours(name)) == expected


def test_single_node_dials_nobody() -> None:
    t = topo(validators=1, executors=0)
    assert t.dials == {"validator-0": ()} and t.neighbours("validator-0") == set()


def test_deterministic_by_seed() -> None:
    assert topo(seed=11) == topo(seed=11)
    a, b = topo(seed=11), topo(seed=12)
    assert {n.keys['key_seed'] for n in a.nodes}.isdisjoint({n.keys['key_seed'] for n in b.nodes})
    assert a.wallets[0].pk != b.wallets[0].pk


def test_genesis_and_keys_shape() -> None:
    t = topo(wallets=3)
    assert len({n.keys['key_seed'] for n in t.nodes}) == 4
    for node in t.nodes:
        assert re.fullmatch(r"[0-9a-f]{64}", node.keys['key_seed'])
        assert re.fullmatch(r"[0-9a-f]{64}", node.keys['signing_pk'])
        assert re.fullmatch(r"[0-9a-f]{96}", node.keys['vrf_pk'])
        assert node.stake == STAKE_PER_NODE
    g = t.genesis
    assert "chain_start_time" not in g  # the runner sets it at deploy time
    assert (g["slot_duration"], g["active_slot_coeff"], g["security_param"]) == (1.0, 0.9, 10)
    assert g["stake_notes"] == [{"value": 1000, "vrf_pk": n.keys["vrf_pk"], "signing_pk": n.keys["signing_pk"]}
                                for n in t.nodes]
    assert g["wallet_notes"] == [{"value": 100, "pk": w.pk} for w in t.wallets]
    for wallet in t.wallets:
        assert keys.ed25519_public(bytes.fromhex(wallet.secret_key)).hex() == wallet.pk


def test_key_derivation_follows_the_documented_formulas() -> None:
    seed = bytes(range(32))
    assert keys.node_private_key(seed) == hashlib.blake2b(b"nomos/node-key" + seed, digest_size=32).digest()
    expected_vrf = int.from_bytes(hashlib.blake2b(b"nomos/vrf-key" + seed, digest_size=64).digest(), "big")
    assert keys.vrf_secret(seed) == expected_vrf % keys.BLS12_381_ORDER


def test_key_derivation_agrees_with_the_reference_node() -> None:
    """The adapter derives keys the framework way (it never imports the node); this test may import both."""
    for node in topo().nodes:
        node_keys = NodeKeys.from_seed(bytes.fromhex(node.keys['key_seed']))
        assert node_keys.signing_pk_hex == node.keys['signing_pk']
        assert node_keys.vrf_pk_hex == node.keys['vrf_pk']
