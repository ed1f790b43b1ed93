from __future__ import annotations

import importlib.util
import re

import pytest

from nomos_testing.scenario.builder import scenario
from nomos_testing.topology import keys
from nomos_testing.topology.generate import STAKE_PER_NODE, generate_topology
from nomos_testing.topology.model import Layout, Role


def topo(layout: str = "star", validators: int = 3, executors: int = 1, seed: int = 7, wallets: int = 2):
    return generate_topology(scenario(validators=validators, executors=executors, layout=layout, seed=seed,
                                      wallets=wallets, duration=10, slot_duration=1.0))


def test_nodes_names_roles_and_ordinals() -> None:
    t = topo()
    assert [n.name for n in t.nodes] == ["validator-0", "validator-1", "validator-2", "executor-0"]
    assert [n.ordinal for n in t.nodes] == [0, 1, 2, 3]
    assert [n.log_name for n in t.nodes][-1] == "nomos-executor-0.log"
    assert t.nodes[0].log_name == "nomos-node-0.log" and t.executors[0].role is Role.EXECUTOR


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
    assert {n.key_seed for n in a.nodes}.isdisjoint({n.key_seed for n in b.nodes})
    assert a.wallets[0].pk != b.wallets[0].pk


def test_genesis_and_keys_shape() -> None:
    t = topo(wallets=3)
    assert len({n.key_seed for n in t.nodes}) == 4
    for node in t.nodes:
        assert re.fullmatch(r"[0-9a-f]{64}", node.key_seed)
        assert re.fullmatch(r"[0-9a-f]{64}", node.signing_pk)
        assert re.fullmatch(r"[0-9a-f]{96}", node.vrf_pk)
        assert node.stake == STAKE_PER_NODE
    g = t.genesis
    assert "chain_start_time" not in g  # the runner sets it at deploy time
    assert (g["slot_duration"], g["active_slot_coeff"], g["security_param"]) == (1.0, 0.9, 10)
    assert g["stake_notes"] == [{"value": 1000, "vrf_pk": n.vrf_pk, "signing_pk": n.signing_pk} for n in t.nodes]
    assert g["wallet_notes"] == [{"value": 100, "pk": w.pk} for w in t.wallets]
    for wallet in t.wallets:
        assert keys.ed25519_public(bytes.fromhex(wallet.secret_key)).hex() == wallet.pk


def test_key_derivation_follows_the_documented_formulas() -> None:
    seed = bytes(range(32))
    import hashlib

    assert keys.node_private_key(seed) == hashlib.blake2b(b"nomos/node-key" + seed, digest_size=32).digest()
    expected_vrf = int.from_bytes(hashlib.blake2b(b"nomos/vrf-key" + seed, digest_size=64).digest(), "big")
    assert keys.vrf_secret(seed) == expected_vrf % keys.BLS12_381_ORDER


@pytest.mark.skipif(importlib.util.find_spec("nomos_node.crypto") is None, reason="nomos_node.crypto not written yet")
def test_key_derivation_agrees_with_the_reference_node() -> None:
    from nomos_node.crypto.keys import NodeKeys

    for node in topo().nodes:
        node_keys = NodeKeys.from_seed(bytes.fromhex(node.key_seed))
        assert node_keys.signing_pk_hex == node.signing_pk
        assert node_keys.vrf_pk_hex == node.vrf_pk
