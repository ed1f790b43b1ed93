"""Base API routes (docs/node-api.md); the transaction routes are in mantle.py, the DA routes in da.py."""

from __future__ import annotations

from aiohttp import web

from nomos_node.api.errors import ApiError, read_json
from nomos_node.api.view import NodeView, UnknownBlock
from nomos_node.codec import HexError, normalize_hex
from nomos_node.crypto.keys import ed25519_from_peer_id
from nomos_node.metrics import CONTENT_TYPE_LATEST

NODE_KEY = web.AppKey("node", NodeView)


def _node(request: web.Request) -> NodeView:
    return request.app[NODE_KEY]


def parse_header_id(value: object, what: str) -> str:
    try:
        return normalize_hex(value, 32, what)
    except HexError as exc:
        raise ApiError(400, "bad_id", f"{exc}; expected 64 hex chars (0x allowed)") from exc


async def _peer_id_body(request: web.Request) -> str:
    body = await read_json(request)
    if not isinstance(body, str):
        raise ApiError(400, "bad_peer_id", f"expected a JSON string peer id, got {type(body).__name__}")
    try:
        ed25519_from_peer_id(body)
    except ValueError as exc:
        raise ApiError(400, "bad_peer_id", str(exc)) from exc
    return body


def reject_unknown_query(request: web.Request, *allowed: str) -> None:
    """A 400 bad_query naming the query parameters a route does not take, and those it does."""
    unknown = set(request.query) - set(allowed)
    if unknown:
        raise ApiError(400, "bad_query",
                       f"unknown query parameter(s) {', '.join(sorted(unknown))}; use {', '.join(allowed)}")


async def cryptarchia_info(request: web.Request) -> web.Response:
    return web.json_response(_node(request).consensus_info())


async def cryptarchia_headers(request: web.Request) -> web.Response:
    reject_unknown_query(request, "from", "to")
    ids = {key: parse_header_id(request.query[key], key) if request.query.get(key) else None for key in ("from", "to")}
    try:
        return web.json_response(_node(request).header_ids(ids["from"], ids["to"]))
    except UnknownBlock as exc:
        raise ApiError(404, "unknown_block", f"no block with id {exc.args[0]}") from exc


async def storage_block(request: web.Request) -> web.Response:
    block_id = parse_header_id(await read_json(request), "header id")
    return web.json_response(_node(request).block_json(block_id))


async def network_info(request: web.Request) -> web.Response:
    return web.json_response(_node(request).network.info())


async def block_peer(request: web.Request) -> web.Response:
    return web.json_response(_node(request).network.block_peer(await _peer_id_body(request)))


async def unblock_peer(request: web.Request) -> web.Response:
    return web.json_response(_node(request).network.unblock_peer(await _peer_id_body(request)))


async def blacklisted_peers(request: web.Request) -> web.Response:
    return web.json_response(_node(request).network.blocked_peers())


async def metrics(request: web.Request) -> web.Response:
    body = _node(request).metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_base_routes(app: web.Application) -> None:
    app.router.add_get("/cryptarchia/info", cryptarchia_info)
    app.router.add_get("/cryptarchia/headers", cryptarchia_headers)
    app.router.add_post("/storage/block", storage_block)
    app.router.add_get("/network/info", network_info)
    app.router.add_post("/da/block-peer", block_peer)
    app.router.add_post("/da/unblock-peer", unblock_peer)
    app.router.add_get("/da/blacklisted-peers", blacklisted_peers)
    app.router.add_get("/metrics", metrics)
