"""From a plan to a `GeneratedTopology`: identities and keys from the seed, the shared genesis, and the
dial graph of the layout. Deterministic: the same plan (seed included) gives the same topology."""

from __future__ import annotations

from typing import Any

from nomos_testing.scenario.plan import ScenarioPlan
from nomos_testing.topology import keys
from nomos_testing.topology.model import GeneratedTopology, Layout, NodeIdentity, Role, WalletAccount

STAKE_PER_NODE = 1000
EPOCH_DEFAULTS = {"stake_distribution_stabilization": 3, "period_nonce_buffer": 3, "period_nonce_stabilization": 4}


def node_names(validators: int, executors: int) -> list[tuple[str, Role, int]]:
    return ([(f"validator-{i}", Role.VALIDATOR, i) for i in range(validators)]
            + [(f"executor-{i}", Role.EXECUTOR, i) for i in range(executors)])


def dial_graph(names: list[str], layout: Layout) -> dict[str, tuple[str, ...]]:
    """name -> the names it dials at start. Star: everyone dials node 0; chain: i dials i-1;
    full: i dials every node before it."""
    dials: dict[str, tuple[str, ...]] = {}
    for ordinal, name in enumerate(names):
        if ordinal == 0:
            dials[name] = ()
        elif layout is Layout.STAR:
            dials[name] = (names[0],)
        elif layout is Layout.CHAIN:
            dials[name] = (names[ordinal - 1],)
        else:
            dials[name] = tuple(names[:ordinal])
    return dials


def generate_topology(plan: ScenarioPlan) -> GeneratedTopology:
    seed = plan.seed
    assert seed is not None  # resolved by the plan
    nodes = []
    for ordinal, (name, role, index) in enumerate(node_names(plan.topology.validators, plan.topology.executors)):
        key_seed = keys.node_key_seed(seed, name)
        nodes.append(NodeIdentity(name=name, role=role, index=index, ordinal=ordinal, key_seed=key_seed.hex(),
                                  signing_pk=keys.signing_pk(key_seed), vrf_pk=keys.vrf_pk(key_seed),
                                  stake=STAKE_PER_NODE))
    wallets = []
    for index in range(plan.wallets):
        secret = keys.wallet_secret(seed, index)
        wallets.append(WalletAccount(index=index, secret_key=secret.hex(), pk=keys.ed25519_public(secret).hex(),
                                     value=plan.wallet_value))
    genesis: dict[str, Any] = {
        "slot_duration": plan.slot_duration,
        "active_slot_coeff": plan.active_slot_coeff,
        "security_param": plan.security_param,
        "epoch": dict(EPOCH_DEFAULTS),
        "stake_notes": [{"value": n.stake, "vrf_pk": n.vrf_pk, "signing_pk": n.signing_pk} for n in nodes],
        "wallet_notes": [{"value": w.value, "pk": w.pk} for w in wallets],
    }
    return GeneratedTopology(layout=plan.topology.layout, nodes=tuple(nodes), wallets=tuple(wallets),
                             genesis=genesis, dials=dial_graph([n.name for n in nodes], plan.topology.layout))
