"""The HTTP API of one real node process: shapes of the routes, and 4xx JSON for every kind of bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from nomos_node.devnet import LocalNetwork, NodeProcess, http, ready, wait_until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    network = LocalNetwork(tmp_path_factory.mktemp("api"), 1, slot=0.5, start_in=1.0)
    with network:
        network.start()
        only = network.nodes[0]
        wait_until(lambda: ready(only), 20, "the node's API")
        wait_until(lambda: only.info()["height"] >= 2, 30, "two blocks")
        yield only


def test_info_headers_and_block(node: NodeProcess) -> None:
    info = node.info()
    assert set(info) == {"lib", "tip", "slot", "height", "mode"}
    assert info["mode"] in ("Bootstrapping", "Online")
    headers = node.get(f"/cryptarchia/headers?from={info['tip']}")
    assert headers[0] == info["tip"] and len(headers) >= 1
    block = node.post("/storage/block", info["tip"])
    assert block["header"]["id"] == info["tip"]
    assert {"parent", "slot", "height", "block_root", "leader"} <= set(block["header"])
    assert node.post("/storage/block", "0x" + info["tip"].upper())["header"]["id"] == info["tip"]


def test_unknown_block_is_null_or_404(node: NodeProcess) -> None:
    assert node.post("/storage/block", "ab" * 32) is None
    status, body = http("GET", node.api_url + "/cryptarchia/headers?from=" + "ab" * 32)
    assert status == 404 and body["error"] == "unknown_block"


def test_network_info_and_blocking_routes(node: NodeProcess) -> None:
    info = node.get("/network/info")
    assert set(info) == {"listen_addresses", "peer_id", "n_peers", "n_connections", "n_pending_connections"}
    assert info["peer_id"].startswith("12D3KooW") and info["n_peers"] == 0
    other = "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"
    assert node.post("/da/block-peer", other) is True
    assert node.get("/da/blacklisted-peers") == [other]
    assert node.post("/da/unblock-peer", other) is True
    assert node.post("/da/unblock-peer", other) is False
    assert node.get("/da/blacklisted-peers") == []


def test_metrics_exposition(node: NodeProcess) -> None:
    node.get("/cryptarchia/info")
    status, text = http("GET", node.api_url + "/metrics")
    assert status == 200
    for name in ("consensus_tip_height", "consensus_lib_height", "consensus_current_slot",
                 "consensus_blocks_produced_total", "consensus_blocks_imported_total", "consensus_processed_blocks",
                 "consensus_reorgs_total", "consensus_reorg_depth_bucket", "consensus_orphans_total",
                 "network_peers"):
        assert f"\n{name}" in text, name
    assert 'http_requests_total{path="/cryptarchia/info",status="200"}' in text
    produced = next(line for line in text.splitlines() if line.startswith("consensus_blocks_produced_total"))
    assert float(produced.split()[-1]) >= 2


BAD_REQUESTS = [
    ("POST", "/storage/block", b"{not json", 400, "bad_json"),
    ("POST", "/storage/block", b"", 400, "bad_json"),
    ("POST", "/storage/block", b"42", 400, "bad_id"),
    ("POST", "/storage/block", b'"zz"', 400, "bad_id"),
    ("POST", "/storage/block", json.dumps({"id": "ab" * 32}).encode(), 400, "bad_id"),
    ("POST", "/da/block-peer", b"[1, 2]", 400, "bad_peer_id"),
    ("POST", "/da/block-peer", b'"not-a-peer-id"', 400, "bad_peer_id"),
    ("POST", "/da/unblock-peer", b"\xff\xfe", 400, "bad_json"),
    ("GET", "/cryptarchia/headers?from=xyz", None, 400, "bad_id"),
    ("GET", "/cryptarchia/headers?until=1", None, 400, "bad_query"),
    ("GET", "/storage/block", None, 405, "method_not_allowed"),
    ("DELETE", "/cryptarchia/info", None, 405, "method_not_allowed"),
    ("GET", "/no/such/route", None, 404, "not_found"),
    ("POST", "/mempool/add/tx", b"{}", 400, "malformed"),
    ("POST", "/mempool/add/tx", b"{not json", 400, "malformed"),
    ("POST", "/mempool/add/tx", b"[]", 400, "malformed"),
    ("POST", "/mempool/add/tx", b'"' + b"a" * (2 * 1024 * 1024) + b'"', 413, "too_large"),
    ("GET", "/mempool/add/tx", None, 405, "method_not_allowed"),
    ("POST", "/mantle/status", b'{"a": 1}', 400, "bad_request"),
    ("POST", "/mantle/status", b'["zz"]', 400, "bad_id"),
    ("GET", "/mantle/notes", None, 400, "bad_id"),
    ("GET", "/mantle/notes?pk=" + "ab" * 32 + "&limit=0", None, 400, "bad_query"),
    ("GET", "/mantle/notes?owner=1", None, 400, "bad_query"),
    ("POST", "/storage/block", b'"' + b"a" * (2 * 1024 * 1024) + b'"', 413, "payload_too_large"),
    # valid JSON that Python refuses to decode (an integer of more than 4300 digits) was a 500
    ("POST", "/storage/block", b"1" * 5000, 400, "bad_json"),
    ("POST", "/da/block-peer", b"[" + b"9" * 5000 + b"]", 400, "bad_json"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), BAD_REQUESTS,
                         ids=[f"{m} {p[:30]} {c}" for m, p, _, _, c in BAD_REQUESTS])
def test_bad_input_gets_4xx_json(node: NodeProcess, method: str, path: str, body: bytes | None, status: int,
                                 code: str) -> None:
    got_status, got = http(method, node.api_url + path, body)
    assert (got_status, got["error"]) == (status, code), got
    assert isinstance(got["detail"], str) and got["detail"]


def test_long_peer_id_is_refused_at_once(node: NodeProcess) -> None:
    # base58 decoding is quadratic: a 200 kB "peer id" used to hold the event loop for ~20 s (no slots, no API)
    started = time.monotonic()
    status, body = http("POST", node.api_url + "/da/block-peer", json.dumps("2" * 200_000).encode(), timeout=3)
    assert (status, body["error"]) == (400, "bad_peer_id") and "too long" in body["detail"]
    assert time.monotonic() - started < 1.0


def test_bad_id_detail_names_the_field_once(node: NodeProcess) -> None:
    status, body = http("GET", node.api_url + "/cryptarchia/headers?from=zz")
    assert status == 400 and body["detail"].startswith("from: expected hex digits") and "from: from:" not in body[
        "detail"]


def test_garbage_never_yields_5xx_and_node_survives(node: NodeProcess) -> None:
    garbage = [b"\x00" * 64, b"[" * 5000, b'{"a":' * 100, b"null", b"true", b"1e999", b'"\\ud800"']
    for path in ("/storage/block", "/da/block-peer", "/da/unblock-peer", "/cryptarchia/info", "/metrics"):
        for body in garbage:
            for method in ("POST", "GET", "PUT"):
                status, _ = http(method, node.api_url + path, body)
                assert status < 500, (method, path, body[:20], status)
    assert node.alive() and node.info()["height"] >= 0


def test_testing_api_is_separate_and_json(node: NodeProcess) -> None:
    status, body = http("GET", node.testing_url + "/cryptarchia/info")
    assert status == 404 and body["error"] == "not_found"
