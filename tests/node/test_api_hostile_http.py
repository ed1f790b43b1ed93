"""Hostile HTTP against one real node: bodies not valid in their Content-Encoding, clients vanishing mid-body
and requests aiohttp cannot parse are the client's fault. They get a 4xx (JSON wherever the node's app sees
the request), never a 500, and at most one short log line each, never a traceback (not in the node's log
file, not on its stderr)."""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from typing import Any

import pytest

from nomos_node.devnet import LocalNetwork, NodeProcess, http, ready, wait_until

pytestmark = pytest.mark.timeout(120)

POST_ROUTES = ("/storage/block", "/da/block-peer", "/da/unblock-peer")
PEER_ID = "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    # api=debug: the one-line reports of bad requests are DEBUG records; show them so they can be counted
    network = LocalNetwork(tmp_path_factory.mktemp("hostile"), 1, topology="none",
                           extra_env={"NOMOS_LOG_FILTER": "api=debug"})
    with network:
        network.start()
        only = network.nodes[0]
        wait_until(lambda: ready(only), 20, "the node's API")
        yield only


def _port(node: NodeProcess) -> int:
    return int(node.api_url.rsplit(":", 1)[1])


def _post(node: NodeProcess, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, Any]:
    connection = HTTPConnection("127.0.0.1", _port(node), timeout=10)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        raw, ctype = response.read(), response.getheader("Content-Type", "")
    finally:
        connection.close()
    return response.status, ctype, json.loads(raw) if "json" in ctype else raw.decode(errors="replace")


def _stderr(node: NodeProcess) -> str:
    path = node.workdir / "stderr.txt"
    return path.read_text(errors="replace") if path.exists() else ""


def _http_5xx(node: NodeProcess) -> float:
    _, text = http("GET", node.api_url + "/metrics")
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("http_requests_total{") and 'status="5' in line)


@dataclass(frozen=True)
class Mark:
    """Where the node's log, stderr and 5xx count stood when a test began (the node is shared)."""

    log: int
    stderr: int
    http_5xx: float

    @classmethod
    def of(cls, node: NodeProcess) -> Mark:
        return cls(len(node.log_text()), len(_stderr(node)), _http_5xx(node))


@pytest.fixture
def mark(node: NodeProcess) -> Mark:
    return Mark.of(node)


def _assert_quiet(node: NodeProcess, since: Mark) -> None:
    """Since `since`: no 5xx counted, no traceback and no "unhandled error" in the log, nothing on stderr."""
    assert _http_5xx(node) == since.http_5xx
    log, stderr = node.log_text()[since.log:], _stderr(node)[since.stderr:]
    assert "Traceback" not in log and "unhandled error" not in log, log[-3000:]
    assert stderr == "", stderr[-3000:]


GARBAGE = b"this is not compressed at all" * 3


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_body_not_valid_in_its_content_encoding_is_400_bad_body(node: NodeProcess, mark: Mark, path: str,
                                                                encoding: str) -> None:
    status, _, body = _post(node, path, GARBAGE, {"Content-Encoding": encoding})
    assert status == 400 and body["error"] == "bad_body", body
    assert f"Content-Encoding: {encoding}" in body["detail"] and "\n" not in body["detail"], body
    _assert_quiet(node, mark)


@pytest.mark.parametrize("encoding", ["br", "zstd", "x-unknown"])
def test_other_encodings_are_4xx_too(node: NodeProcess, mark: Mark, encoding: str) -> None:
    # Without the Brotli / zstd modules aiohttp itself refuses br and zstd (plain-text 400 before the app
    # sees the request); with them the garbage is a bad_body. An unknown coding reaches the app undecoded.
    status, ctype, body = _post(node, "/storage/block", GARBAGE, {"Content-Encoding": encoding})
    assert 400 <= status < 500, (status, body)
    if "json" in ctype:
        assert body["error"] in ("bad_body", "bad_json"), body
    _assert_quiet(node, mark)


def test_garbage_in_chunked_compressed_body_is_400_bad_body(node: NodeProcess, mark: Mark) -> None:
    request = (b"POST /storage/block HTTP/1.1\r\nHost: node\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Encoding: gzip\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    answer = _raw_exchange(_port(node), request)
    assert answer.startswith(b"HTTP/1.1 400 ") and b'"bad_body"' in answer, answer[:300]
    _assert_quiet(node, mark)


def test_valid_compressed_bodies_still_work(node: NodeProcess) -> None:
    document = json.dumps(PEER_ID).encode()
    for encoding, packed in (("gzip", gzip.compress(document)), ("deflate", zlib.compress(document))):
        status, _, body = _post(node, "/da/unblock-peer", packed, {"Content-Encoding": encoding})
        assert (status, body) == (200, False)


def _send_and_vanish(port: int, request: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        time.sleep(0.2)  # the node is now waiting for the rest of the body


@pytest.mark.parametrize("path", POST_ROUTES)
def test_client_vanishing_mid_body_costs_nothing(node: NodeProcess, mark: Mark, path: str) -> None:
    port = _port(node)
    _send_and_vanish(port, f"POST {path} HTTP/1.1\r\nHost: node\r\nContent-Length: 1000\r\n\r\n".encode()
                     + b"0123456789")
    _send_and_vanish(port, f"POST {path} HTTP/1.1\r\nHost: node\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                     + b"100\r\nabc")
    time.sleep(0.3)
    assert node.alive() and node.info()["height"] >= 0
    _assert_quiet(node, mark)


def _raw_exchange(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"G@T / HTTP/1.1\r\nHost: node\r\n\r\n",
    b"GET /cryptarchia/info HTTP/1.1\r\nHost: node\r\nthis header line has no colon\r\n\r\n",
    b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: node\r\n\r\n",
    b"GET / HTTP/9.x\r\n\r\n",
    b"POST /storage/block HTTP/1.1\r\nHost: node\r\nContent-Length: abc\r\n\r\n",
    b"POST /storage/block HTTP/1.1\r\nHost: node\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: node\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx",
    bytes(range(256)),
]


def test_malformed_requests_get_400_and_one_short_debug_line_each(node: NodeProcess, mark: Mark) -> None:
    port = _port(node)
    for index in range(60):
        answer = _raw_exchange(port, MALFORMED[index % len(MALFORMED)])
        assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:200]
    assert node.info()["height"] >= 0  # still serving
    time.sleep(0.3)
    new = node.log_text()[mark.log:].splitlines()
    reports = [line for line in new if " api " in line]
    assert 1 <= len(reports) <= 60, new  # shown (api=debug), one line per request at most
    assert all(" DEBUG api " in line and len(line) <= 400 for line in reports), reports
    _assert_quiet(node, mark)
