"""Config loading: a valid document round-trips; missing, unknown and invalid keys are named in one line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from nomos_node.config import ConfigError, HostPort, load_config, parse_address


@pytest.fixture
def valid(tmp_path: Path, config_dict_factory, genesis_dict_factory) -> dict[str, Any]:
    document = config_dict_factory(0, tmp_path / "data", genesis_dict_factory(3, chain_start_time=1764220000))
    document["network"]["initial_peers"] = ["127.0.0.1:3001", "/ip4/10.0.0.2/tcp/3002", "/dns/node-2/tcp/3003"]
    return document


def _error(write_config, document: dict[str, Any], role_override: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(document), role_override=role_override)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"config error: {info.value.key}: expected ")
    return info.value


def test_valid_config_loads(write_config, valid) -> None:
    config = load_config(write_config(valid))
    assert config.node.role == "validator" and config.node.name == "validator-0"
    assert config.node.key_seed == bytes([1]) * 32
    assert config.api.listen == HostPort("127.0.0.1", 0) and config.api.listen_fd is None
    assert config.network.initial_peers == (
        HostPort("127.0.0.1", 3001),
        HostPort("10.0.0.2", 3002),
        HostPort("node-2", 3003),
    )
    assert config.network.advertise == config.network.listen
    assert config.consensus.orphan_cache_size == 5 and config.consensus.prolonged_bootstrap_period == 1.0
    assert config.genesis.chain_start_time == 1764220000.0 and len(config.genesis.stake_notes) == 3
    assert config.genesis.total_stake == 3000


def test_relative_data_dir_is_relative_to_the_config_file(write_config, valid, tmp_path: Path) -> None:
    valid["storage"]["data_dir"] = "./data"
    assert load_config(write_config(valid)).storage.data_dir == tmp_path.resolve() / "data"


def test_int_and_float_spellings_give_the_same_genesis_bytes(write_config, valid) -> None:
    first = load_config(write_config(valid, "a.yaml")).genesis.canonical_bytes()
    valid["genesis"]["chain_start_time"] = 1764220000.0
    valid["genesis"]["slot_duration"] = 2
    assert load_config(write_config(valid, "b.yaml")).genesis.canonical_bytes() == first


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (("node", "key_seed"), "node.key_seed"),
        (("genesis", "epoch", "period_nonce_buffer"), "genesis.epoch.period_nonce_buffer"),
        (("storage",), "storage"),
        (("genesis", "stake_notes", 1, "vrf_pk"), "genesis.stake_notes[1].vrf_pk"),
    ],
)
def test_missing_key_is_named(write_config, valid, path: tuple, key: str) -> None:
    document = copy.deepcopy(valid)
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    error = _error(write_config, document)
    assert error.key == key and "missing" in error.got


@pytest.mark.parametrize(
    ("section", "key"),
    [((), "telemetry"), (("api",), "api.port"), (("genesis", "epoch"), "genesis.epoch.length")],
)
def test_unknown_key_is_named(write_config, valid, section: tuple, key: str) -> None:
    parent = valid
    for part in section:
        parent = parent[part]
    parent[key.rsplit(".", 1)[-1]] = 1
    error = _error(write_config, valid)
    assert error.key == key and "unknown" in error.got


@pytest.mark.parametrize(
    ("path", "value", "key", "expected_fragment"),
    [
        (("genesis", "active_slot_coeff"), 1.5, "genesis.active_slot_coeff", "(0, 1)"),
        (("genesis", "security_param"), 0, "genesis.security_param", ">= 1"),
        (("genesis", "security_param"), True, "genesis.security_param", "integer"),
        (("genesis", "slot_duration"), "2s", "genesis.slot_duration", ">= 0.001"),
        # slot numbers must fit 64 bits (the node hung in a busy slot loop, or crashed on an overflow)
        (("genesis", "slot_duration"), 1e-12, "genesis.slot_duration", ">= 0.001"),
        # floor(k / f) would be infinite: the node crashed with an OverflowError traceback (exit 1)
        (("genesis", "active_slot_coeff"), 5e-324, "genesis.active_slot_coeff", "finite"),
        (("genesis", "stake_notes", 0, "vrf_pk"), "c0" + "00" * 47, "genesis.stake_notes[0].vrf_pk", "identity"),
        (("api", "listen_fd"), 10**30, "api.listen_fd", "[0, 2147483647]"),  # was an OverflowError crash
        (("node", "key_seed"), "abcd", "node.key_seed", "64 hex chars"),
        (("node", "role"), "miner", "node.role", "validator | executor"),
        (("api", "listen"), "localhost", "api.listen", "host:port"),
        (("network", "listen"), "127.0.0.1:70000", "network.listen", "port"),
        (("network", "initial_peers"), ["/ip4/1.2.3.4/udp/5"], "network.initial_peers[0]", "multiaddr"),
        (("genesis", "stake_notes"), [], "genesis.stake_notes", "non-empty"),
        (("genesis", "stake_notes", 0, "vrf_pk"), "ab" * 48, "genesis.stake_notes[0].vrf_pk", "G1 point"),
        (("consensus",), {"orphan_cache_size": -1}, "consensus.orphan_cache_size", ">= 1"),
    ],
)
def test_invalid_value_is_named(write_config, valid, path, value, key: str, expected_fragment: str) -> None:
    parent = valid
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    error = _error(write_config, valid)
    assert error.key == key
    assert expected_fragment in error.expected


def test_executor_role_override(write_config, valid) -> None:
    del valid["node"]["role"]
    path = write_config(valid)
    assert load_config(path).node.role == "validator"
    config = load_config(path, role_override="executor")
    assert config.node.role == "executor" and config.node.name == "executor-0"
    valid["node"]["role"] = "validator"
    assert _error(write_config, valid, role_override="executor").key == "node.role"


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="a readable UTF-8 YAML file"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: [1, 2\n")
    with pytest.raises(ConfigError, match=r"expected valid YAML, got .* at line"):
        load_config(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(bad)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("127.0.0.1:3000", HostPort("127.0.0.1", 3000)),
        ("[::1]:3000", HostPort("::1", 3000)),
        ("node-1.local:80", HostPort("node-1.local", 80)),
        ("/ip4/127.0.0.1/tcp/3000", HostPort("127.0.0.1", 3000)),
        ("/ip6/::1/tcp/3000", HostPort("::1", 3000)),
        ("/dns/validator-0/tcp/3000", HostPort("validator-0", 3000)),
    ],
)
def test_address_forms(text: str, parsed: HostPort) -> None:
    assert parse_address(text, "k") == parsed


@pytest.mark.parametrize("text", ["", ":3000", "host:", "host:0", "/ip4/300.1.1.1/tcp/1", "/ip4/::1/tcp/1", "a b:1"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_address(text, "k")
