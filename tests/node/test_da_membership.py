"""DA membership: the `da` config section (each invalid key named), the round-robin deal, and over HTTP on real
node processes /test/da/membership and /da/balancer-stats (members connected, empty maps without `da`)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nomos_node.config import ConfigError, HostPort, load_config
from nomos_node.da.membership import deal
from nomos_node.devnet import LocalNetwork, NodeProcess, http, make_genesis, ready, wait_until
from tests.node.conftest import keys_for

pytestmark = pytest.mark.timeout(90)

PEERS = [keys_for(i).peer_id for i in range(3)]


def da_section() -> dict[str, Any]:
    return {"num_subnets": 2, "dispersal_factor": 2,
            "assignations": {str(s): members for s, members in enumerate(deal(PEERS, 2, 2))},
            "addressbook": {peer: f"127.0.0.1:{3000 + i}" for i, peer in enumerate(PEERS)}}


@pytest.fixture
def valid(tmp_path: Path, config_dict_factory, genesis_dict_factory) -> dict[str, Any]:
    document = config_dict_factory(0, tmp_path / "data", genesis_dict_factory(3, chain_start_time=1764220000))
    document["da"] = da_section()
    return document


def test_the_deal_is_round_robin_over_sorted_peers() -> None:
    p = sorted(PEERS)
    assert deal(reversed(PEERS), 2, 2) == [[p[0], p[1]], [p[2], p[0]]]
    assert deal(PEERS, 4, 1) == [[p[0]], [p[1]], [p[2]], [p[0]]]
    assert deal(PEERS[:1], 2, 3) == [[PEERS[0]], [PEERS[0]]]  # never twice in one subnetwork
    assert deal([], 2, 2) == [[], []]


def test_a_valid_da_section_loads_with_its_defaults(write_config, valid) -> None:
    da = load_config(write_config(valid)).da
    assert da is not None and da.num_subnets == 2 and da.num_samples == 1
    assert da.assignations == tuple(tuple(m) for m in deal(PEERS, 2, 2))
    assert da.address_of(PEERS[1]) == HostPort("127.0.0.1", 3001)
    assert (da.dispersal_timeout, da.retry_limit, da.retry_cooldown) == (20.0, 2, 3.0)
    del valid["da"]
    assert load_config(write_config(valid)).da is None


def _case(document: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    if value is None:
        del changed["da"][key]
    else:
        changed["da"][key] = value
    return changed


@pytest.mark.parametrize(("key", "value", "named", "fragment"), [
    ("num_subnets", 3, "da.num_subnets", "power of two"),
    ("num_subnets", 1, "da.num_subnets", "[2, 4096]"),
    ("num_samples", 3, "da.num_samples", "[1, 2]"),
    ("dispersal_factor", 0, "da.dispersal_factor", ">= 1"),
    ("dispersal_timeout", 0, "da.dispersal_timeout", "> 0"),
    ("retry_limit", -1, "da.retry_limit", "[0, 100]"),
    ("assignations", None, "da.assignations", "required"),
    ("assignations", {"0": PEERS[:1]}, "da.assignations.1", "every subnetwork"),
    ("assignations", {"0": PEERS[:1], "1": [], }, "da.assignations.1", "non-empty"),
    ("assignations", {"0": PEERS[:1], "2": PEERS[:1]}, "da.assignations.2", "0..1"),
    ("assignations", {"0": ["not-a-peer"], "1": PEERS[:1]}, "da.assignations.0[0]", "peer id"),
    ("addressbook", {min(PEERS): "127.0.0.1:1"}, "da.assignations.0[1]", "da.addressbook"),
    ("addressbook", {PEERS[0]: "nowhere", PEERS[1]: "127.0.0.1:1", PEERS[2]: "127.0.0.1:2"},
     f"da.addressbook.{PEERS[0]}", "host:port"),
    ("memo", 1, "da.memo", "no such key"),
])
def test_each_invalid_da_key_is_named(write_config, valid, key, value, named, fragment) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_case(valid, key, value)))
    assert info.value.key == named, info.value
    assert fragment in info.value.expected or fragment in str(info.value), info.value


# ---------------------------------------------------------------- over HTTP


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    root = tmp_path_factory.mktemp("da-membership")
    # 3 validators, none dialling another: the DA service alone connects the members of each subnetwork.
    with LocalNetwork(root, 4, genesis=make_genesis(4, start_in=1.0, slot=0.5), topology="none") as net:
        net.enable_da(2, 2, members=[0, 1, 2])
        del net.nodes[3].config["da"]  # a node without DA
        net.nodes[3].write_config()
        net.start()
        for node in net.nodes:
            wait_until(lambda node=node: ready(node), 20, f"node {node.index}'s API")
        yield net


def _membership(node: NodeProcess, body: bytes = b"0") -> tuple[int, Any]:
    return http("POST", node.testing_url + "/test/da/membership", body)


def test_membership_and_balancer_stats_over_http(network: LocalNetwork) -> None:
    ids = [network.peer_id(node) for node in network.nodes]
    expected = {"assignations": {str(s): m for s, m in enumerate(deal(ids[:3], 2, 2))},
                "addressbook": {ids[i]: network.nodes[i].p2p_address for i in range(3)}}
    for node in network.nodes[:3]:
        assert _membership(node) == (200, expected)
    assert _membership(network.nodes[3]) == (200, {"assignations": {}, "addressbook": {}})
    assert network.nodes[3].get("/da/balancer-stats") == {}

    def connected(node: NodeProcess) -> dict[str, Any] | None:
        stats: dict[str, Any] = node.get("/da/balancer-stats")
        own = ids[node.index]
        wanted = {s: len([p for p in m if p != own]) if own in m else 0 for s, m in expected["assignations"].items()}
        got = {s: v["inbound"] + v["outbound"] for s, v in stats.items()}
        return stats if all(got[s] >= n for s, n in wanted.items()) else None

    for node in network.nodes[:3]:
        stats = wait_until(lambda node=node: connected(node), 20, f"node {node.index} connected to its subnets")
        assert set(stats) == {"0", "1"} and all(set(v) == {"inbound", "outbound"} for v in stats.values())


def test_membership_refuses_a_bad_session(network: LocalNetwork) -> None:
    node = network.nodes[0]
    for body, expected in ((b'"zero"', (400, "bad_session")), (b"-1", (400, "bad_session")),
                           (b"true", (400, "bad_session")), (b"1", (404, "unknown_session")),
                           (b"{", (400, "bad_json"))):
        status, answer = _membership(node, body)
        assert (status, answer["error"]) == expected, answer


def test_share_routes_answer_null_for_unknown_blobs_and_400_naming_the_field(network: LocalNetwork) -> None:
    for node in (network.nodes[0], network.nodes[3]):  # with and without DA
        assert node.post("/da/get-commitments", {"blob_id": "ab" * 32}) is None
        assert node.post("/da/get-share", {"blob_id": "0x" + "AB" * 32, "share_idx": 1}) is None
    node = network.nodes[0]
    for path, body, fragment in (("/da/get-commitments", {}, "'blob_id'"),
                                 ("/da/get-commitments", {"blob_id": "ab"}, "blob_id"),
                                 ("/da/get-commitments", ["ab" * 32], "blob_id"),
                                 ("/da/get-share", {"blob_id": "ab" * 32}, "'share_idx'"),
                                 ("/da/get-share", {"blob_id": "ab" * 32, "share_idx": -1}, "share_idx"),
                                 ("/da/get-share", {"blob_id": "ab" * 32, "share_idx": 0, "x": 1}, "'x'")):
        status, answer = http("POST", node.api_url + path, json.dumps(body).encode())
        assert status == 400 and fragment in answer["detail"], (path, body, answer)
