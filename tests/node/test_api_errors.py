"""The error middleware in-process: a route that reads its body without `read_body` still answers 400
`bad_body` for a body not valid in its Content-Encoding, and a connection error that is not the client's
(the client is still there) stays a logged 500 instead of being blamed on the body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from nomos_node.api.errors import error_middleware
from nomos_node.metrics import NodeMetrics

pytestmark = pytest.mark.timeout(30)

async def _reads_body_itself(request: web.Request) -> web.Response:
    return web.json_response(len(await request.read()))

async def _own_connection_fails(request: web.Request) -> web.Response:
    raise ConnectionResetError("a peer of the node went away")

@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = web.Application(middlewares=[error_middleware(NodeMetrics())])
    app.router.add_post("/raw", _reads_body_itself)
    app.router.add_post("/peer", _own_connection_fails)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()

async def _exchange(port: int, head: str, body: bytes) -> tuple[int, Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    answer = await reader.read()
    writer.close()
    header, _, payload = answer.partition(b"\r\n\r\n")
    return int(header.split()[1]), json.loads(payload)


async def test_route_reading_its_own_body_gets_bad_body(port: int) -> None:
    status, body = await _exchange(port, "POST /raw HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n", b"garbage")
    assert status == 400 and body["error"] == "bad_body" and "gzip" in body["detail"], body


async def test_connection_error_of_the_node_itself_stays_a_500(port: int) -> None:
    status, body = await _exchange(port, "POST /peer HTTP/1.1\r\nHost: x\r\n", b"{}")
    assert (status, body["error"]) == (500, "internal")
