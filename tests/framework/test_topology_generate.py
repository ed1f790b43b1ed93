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


# Standby validators and nodes that join mid-run ---------------------------------------------------------

def standby_topo(standby: int = 2, layout: str = "star", seed: int = 7) -> GeneratedTopology:
    plan = scenario(validators=3, executors=1, layout=layout, seed=seed, duration=10, slot_duration=1.0,
                    standby=standby)
    return generate_topology(resolve_plan(plan, env={}))


def test_standby_validators_are_in_the_genesis_but_not_deployed() -> None:
    t, plain = standby_topo(2), topo()
    assert [n.name for n in t.nodes] == [n.name for n in plain.nodes]  # deployment and dials are unchanged
    assert t.dials == plain.dials and t.nodes == plain.nodes
    assert [(n.name, n.index, n.ordinal) for n in t.standby] == [("validator-3", 3, 4), ("validator-4", 4, 5)]
    assert [note["vrf_pk"] for note in t.genesis["stake_notes"]] == [n.keys["vrf_pk"] for n in t.in_genesis()]
    assert len(t.genesis["stake_notes"]) == 6 and t.seed == 7
    assert t.node("validator-4") is t.standby[1]
    # a standby node's keys are those any node of that name gets from this seed
    assert t.standby[0].keys == ADAPTER.node_identity(7, "validator-3", Role.VALIDATOR, 3, 4).keys


def test_standby_plan_field_from_toml_builder_and_bounds() -> None:
    from nomos_testing.scenario.builder import ScenarioBuilder
    from nomos_testing.scenario.files import read_scenario
    from nomos_testing.scenario.validate import validate_plan

    plan = read_scenario("[topology]\nvalidators = 2\nstandby = 1\n", "s.toml")
    assert plan.topology.standby == 1 and plan.source_of("topology.standby").location() == "s.toml:3"
    assert resolve_plan(plan, env={}).to_json()["topology"]["standby"] == 1
    built = ScenarioBuilder.topology_with(lambda t: t.validators(2).standby(3)).plan()
    assert built.topology.standby == 3
    plain = resolve_plan(scenario(validators=1, executors=0, duration=10), env={})
    assert "standby" not in plain.to_json()["topology"]
    with pytest.raises(PlanError, match=r"s.toml:3: topology.standby.*-1") as bad:
        validate_plan(read_scenario("[topology]\nvalidators = 2\nstandby = -1\n", "s.toml"))
    assert "0" in (bad.value.remedy or "")
    with pytest.raises(PlanError, match="standby"):
        validate_plan(read_scenario("[topology]\nvalidators = 100\nstandby = 100\n", "s.toml"))


def test_join_in_genesis_takes_the_next_standby_then_says_how_to_get_more() -> None:
    from nomos_testing.errors import NodeControlError
    from nomos_testing.topology.join import plan_join, with_joined

    t = standby_topo(1)
    running = ["validator-0", "validator-1", "validator-2", "executor-0"]
    first = plan_join(t, Role.VALIDATOR, None, True, running, running)
    assert first.node is t.standby[0] and first.peers == ("validator-0",) and first.node.stake == STAKE_PER_NODE
    joined = with_joined(t, first.node, first.peers)
    assert joined.nodes[-1] is first.node and joined.dials["validator-3"] == ("validator-0",)
    assert joined.genesis == t.genesis and joined.in_genesis() == t.in_genesis()
    with pytest.raises(NodeControlError, match="all 1 standby") as exc:
        plan_join(joined, Role.VALIDATOR, None, True, [*running, "validator-3"], running)
    with pytest.raises(NodeControlError, match="all 1 standby"):
        plan_join(t, Role.VALIDATOR, None, True, [*running, "validator-3"], running)
    assert "standby = 2" in (exc.value.remedy or "") and "in_genesis=False" in (exc.value.remedy or "")
    with pytest.raises(NodeControlError, match=r"topology.standby = 0"):
        plan_join(topo(), Role.VALIDATOR, None, True, running, running)
    with pytest.raises(NodeControlError, match="standby nodes are validators"):
        plan_join(t, Role.EXECUTOR, None, True, running, running)


def test_join_outside_the_genesis_gets_the_next_free_name_seeded_keys_and_no_stake() -> None:
    from nomos_testing.topology.join import plan_join

    t = standby_topo(1)
    running = ["validator-0", "validator-1", "validator-2", "executor-0"]
    validator = plan_join(t, Role.VALIDATOR, ["validator-1"], False, running, running)
    assert validator.node.name == "validator-4"  # validator-3 is the standby's name
    assert validator.node.stake == 0 and validator.peers == ("validator-1",)
    assert validator.node.keys == ADAPTER.node_identity(7, "validator-4", Role.VALIDATOR, 4, 0).keys
    assert validator.node.keys["vrf_pk"] not in {note["vrf_pk"] for note in t.genesis["stake_notes"]}
    executor = plan_join(t, Role.EXECUTOR, None, False, [*running, "executor-1"], running)
    assert executor.node.name == "executor-2" and executor.node.index == 2
    again = plan_join(standby_topo(1), Role.VALIDATOR, None, False, running, running)
    assert again.node == validator.node  # same seed, same node


@pytest.mark.parametrize(("layout", "running", "peers"), [
    ("star", ["validator-0", "validator-1", "validator-2"], ("validator-0",)),
    ("star", ["validator-1", "validator-2"], ("validator-1",)),  # the hub is down: the first running node
    ("chain", ["validator-0", "validator-1", "validator-2"], ("validator-2",)),
    ("full", ["validator-0", "validator-2"], ("validator-0", "validator-2")),
])
def test_default_peers_apply_the_layout_to_the_running_nodes(layout: str, running: list[str],
                                                             peers: tuple[str, ...]) -> None:
    from nomos_testing.topology.join import default_peers

    assert default_peers(Layout(layout), running) == peers


def test_join_with_nobody_running_is_refused() -> None:
    from nomos_testing.errors import NodeControlError
    from nomos_testing.topology.join import plan_join

    with pytest.raises(NodeControlError, match="no peer"):
        plan_join(standby_topo(1), Role.VALIDATOR, None, True, ["validator-0"], [])
