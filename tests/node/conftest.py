"""Shared builders for node tests: deterministic keys, genesis sections and full config documents."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from nomos_node.config import ConsensusConfig, GenesisConfig, parse_genesis
from nomos_node.consensus.block import Block
from nomos_node.consensus.chain import Chain
from nomos_node.consensus.fork_choice import TieBreak
from nomos_node.crypto.keys import NodeKeys
from nomos_node.storage import BlockStore

# Chains in unit tests start at t=0 with 1 s slots and are always evaluated at NOW: every slot < NOW is "past".
NOW = 1_000_000.0


def seed_for(index: int) -> bytes:
    return bytes([index + 1]) * 32


@functools.cache
def keys_for(index: int) -> NodeKeys:
    return NodeKeys.from_seed(seed_for(index))


def genesis_dict(
    n_nodes: int = 3,
    *,
    stakes: list[int] | None = None,
    active_slot_coeff: float = 0.9,
    security_param: int = 10,
    slot_duration: float = 2.0,
    chain_start_time: float | None = None,
    epoch: tuple[int, int, int] = (3, 3, 4),
) -> dict[str, Any]:
    """Raw (YAML-shaped) genesis section with one stake note per node ``0..n_nodes-1``."""
    stakes = stakes or [1000] * n_nodes
    notes = [
        {"value": stake, "vrf_pk": keys_for(i).vrf_pk_hex, "signing_pk": keys_for(i).signing_pk_hex}
        for i, stake in enumerate(stakes)
    ]
    return {
        "chain_start_time": time.time() if chain_start_time is None else chain_start_time,
        "slot_duration": slot_duration,
        "active_slot_coeff": active_slot_coeff,
        "security_param": security_param,
        "epoch": dict(
            zip(
                ("stake_distribution_stabilization", "period_nonce_buffer", "period_nonce_stabilization"),
                epoch,
                strict=True,
            )
        ),
        "stake_notes": notes,
        "wallet_notes": [{"value": 100, "pk": keys_for(i).signing_pk_hex} for i in range(len(stakes))],
    }


def make_genesis(n_nodes: int = 3, **kwargs: Any) -> GenesisConfig:
    return parse_genesis(genesis_dict(n_nodes, **kwargs))


def config_dict(index: int, data_dir: Path, genesis: dict[str, Any]) -> dict[str, Any]:
    """A complete, valid node config document (ports 0: the OS picks them)."""
    return {
        "node": {"role": "validator", "index": index, "key_seed": seed_for(index).hex()},
        "api": {"listen": "127.0.0.1:0"},
        "testing_api": {"listen": "127.0.0.1:0"},
        "network": {"listen": "127.0.0.1:0", "initial_peers": []},
        "storage": {"data_dir": str(data_dir)},
        "genesis": genesis,
    }


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(document: dict[str, Any], name: str = "node.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return write


# Helpers reach the tests as fixtures (importing from a conftest module is fragile under pytest).
@pytest.fixture
def node_keys() -> Callable[[int], NodeKeys]:
    return keys_for


@pytest.fixture
def genesis_factory() -> Callable[..., GenesisConfig]:
    return make_genesis


@pytest.fixture
def genesis_dict_factory() -> Callable[..., dict[str, Any]]:
    return genesis_dict


@pytest.fixture
def config_dict_factory() -> Callable[..., dict[str, Any]]:
    return config_dict


class ChainKit:
    """Builds chains and valid blocks quickly for consensus tests (genesis at t=0, 1 s slots, f=0.9, k=3)."""

    now = NOW

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def genesis(self, n_nodes: int = 3, **overrides: Any) -> GenesisConfig:
        options: dict[str, Any] = {
            "chain_start_time": 0.0,
            "slot_duration": 1.0,
            "active_slot_coeff": 0.9,
            "security_param": 3,
            "epoch": (1, 1, 1),
        }
        options.update(overrides)
        return make_genesis(n_nodes, **options)

    def chain(
        self,
        genesis: GenesisConfig | None = None,
        *,
        online: bool = True,
        dev_mode: bool = True,
        store: BlockStore | None = None,
        orphan_cache_size: int = 5,
        pol_difficulty_bits: int = 4,
        tie_break: TieBreak = "keep_current",
    ) -> Chain:
        chain = Chain(
            genesis or self.genesis(),
            ConsensusConfig(orphan_cache_size=orphan_cache_size, tie_break=tie_break),
            store or BlockStore.in_memory(),
            pol_dev_mode=dev_mode,
            pol_difficulty_bits=pol_difficulty_bits,
        )
        if online:
            chain.switch_to_online()
        return chain

    def next_block(
        self,
        chain: Chain,
        parent_id: str | None = None,
        after_slot: int | None = None,
        proof: str = "",
        leaders: range | list[int] = range(3),
    ) -> Block:
        """The first block any of ``leaders`` can make on ``parent_id`` (default tip) at a slot > ``after_slot``."""
        parent = chain.get_block(parent_id) if parent_id else chain.tip
        assert parent is not None
        slot = max(parent.slot, after_slot if after_slot is not None else parent.slot) + 1
        while True:
            for index in leaders:
                ticket = chain.leadership(slot, keys_for(index), parent.id)
                if ticket is not None:
                    return chain.build_block(ticket, proof, keys_for(index))
            slot += 1

    def extend(
        self, chain: Chain, count: int, parent_id: str | None = None, after_slot: int | None = None
    ) -> list[Block]:
        """Import ``count`` blocks on top of ``parent_id`` (default tip), each one the previous one's child."""
        blocks: list[Block] = []
        for _ in range(count):
            block = self.next_block(chain, blocks[-1].id if blocks else parent_id, after_slot)
            result = chain.import_block(block, now=NOW)
            assert result.status == "imported", result
            blocks.append(block)
            after_slot = None
        return blocks


@pytest.fixture
def kit(tmp_path: Path) -> ChainKit:
    return ChainKit(tmp_path)
