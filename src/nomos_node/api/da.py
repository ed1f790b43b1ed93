"""DA routes (docs/node-api.md, "Data availability"): membership, balancer stats, commitments and shares; a node
without a `da` config section answers them with empty maps and nulls."""

from __future__ import annotations

from aiohttp import web

from nomos_node.api.base import NODE_KEY
from nomos_node.api.errors import ApiError, read_json
from nomos_node.api.view import NodeView
from nomos_node.codec import HexError, normalize_hex

MAX_SHARE_INDEX = 4095


def _node(request: web.Request) -> NodeView:
    return request.app[NODE_KEY]


async def balancer_stats(request: web.Request) -> web.Response:
    return web.json_response(_node(request).da_balancer_stats())


async def membership(request: web.Request) -> web.Response:
    session = await read_json(request)
    if not isinstance(session, int) or isinstance(session, bool) or session < 0:
        raise ApiError(400, "bad_session", f"expected a session number (a JSON integer >= 0), got "
                       f"{str(session)[:40]!r}")
    if session != 0:
        raise ApiError(404, "unknown_session", f"session {session}: this node knows the static session 0 only")
    return web.json_response(_node(request).da_membership())


async def _object(request: web.Request, fields: tuple[str, ...]) -> dict[str, object]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", f"expected a JSON object with {', '.join(fields)}")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ApiError(400, "bad_request", f"unknown field {unknown[0]!r} (allowed: {', '.join(fields)})")
    missing = [name for name in fields if name not in body]
    if missing:
        raise ApiError(400, "bad_request", f"missing field {missing[0]!r}")
    return body


def _blob_id(value: object) -> str:
    try:
        return normalize_hex(value, 32, "blob_id")
    except HexError as exc:
        raise ApiError(400, "bad_id", f"{exc}; expected 64 hex chars (0x allowed)") from exc


async def get_commitments(request: web.Request) -> web.Response:
    body = await _object(request, ("blob_id",))
    found = _node(request).da_commitments(_blob_id(body["blob_id"]))
    return web.json_response(None if found is None else {"rows_commitments": found})


async def get_share(request: web.Request) -> web.Response:
    body = await _object(request, ("blob_id", "share_idx"))
    index = body["share_idx"]
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= MAX_SHARE_INDEX:
        raise ApiError(400, "bad_request", f"share_idx: expected an integer in 0..{MAX_SHARE_INDEX}, got "
                       f"{str(index)[:40]!r}")
    return web.json_response(_node(request).da_share(_blob_id(body["blob_id"]), index))


def add_da_routes(app: web.Application) -> None:
    app.router.add_get("/da/balancer-stats", balancer_stats)
    app.router.add_post("/da/get-commitments", get_commitments)
    app.router.add_post("/da/get-share", get_share)


def add_da_testing_routes(app: web.Application) -> None:
    app.router.add_post("/test/da/membership", membership)
