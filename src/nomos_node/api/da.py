"""DA routes (docs/node-api.md, "Data availability"): membership, balancer stats, commitments and shares; a node
without a `da` config section answers them with empty maps and nulls."""

from __future__ import annotations

from aiohttp import web

from nomos_node.api.base import NODE_KEY
from nomos_node.api.errors import ApiError, read_json
from nomos_node.api.view import DaUnavailable, NodeView, UnknownBlock
from nomos_node.codec import HexError, from_hex, normalize_hex
from nomos_node.da.service import DispersalError
from nomos_node.ledger.transaction import HTTP_STATUS, TxError

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


def _hex32(body: dict[str, object], field: str) -> str:
    try:
        return normalize_hex(body[field], 32, field)
    except HexError as exc:
        raise ApiError(400, "bad_request", f"{exc}; expected 64 hex chars (0x allowed)") from exc


async def disperse_data(request: web.Request) -> web.Response:
    body = await _object(request, ("channel_id", "parent_msg_id", "signer", "data"))
    channel, parent, signer = (_hex32(body, field) for field in ("channel_id", "parent_msg_id", "signer"))
    try:
        data = from_hex(body["data"], None, "data")
    except HexError as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc
    if not data:
        raise ApiError(400, "bad_request", "data: nothing to disperse (empty)")
    try:
        answer = await _node(request).disperse_data(channel, parent, signer, data)
    except DaUnavailable as exc:
        raise ApiError(exc.status, exc.code, exc.detail) from exc
    except DispersalError as exc:
        raise ApiError(503, "dispersal_failed", str(exc)) from exc
    except TxError as exc:  # dispersed, but its transaction was refused (say a stale parent_msg_id)
        raise ApiError(HTTP_STATUS[exc.reason], str(exc.reason), f"the blob was dispersed but its transaction "
                       f"was refused: {exc.detail}") from exc
    return web.json_response(answer)


async def historic_sampling(request: web.Request) -> web.Response:
    body = await _object(request, ("block_id", "blob_ids"))
    blobs = body["blob_ids"]
    if not isinstance(blobs, list) or len(blobs) > 1024:
        raise ApiError(400, "bad_request", "blob_ids: expected a list of at most 1024 blob ids")
    try:
        block_id = normalize_hex(body["block_id"], 32, "block_id")
        ids = [normalize_hex(blob, 32, f"blob_ids[{i}]") for i, blob in enumerate(blobs)]
    except HexError as exc:
        raise ApiError(400, "bad_id", f"{exc}; expected 64 hex chars (0x allowed)") from exc
    try:
        return web.json_response(await _node(request).da_historic_sampling(block_id, ids))
    except UnknownBlock as exc:
        raise ApiError(404, "unknown_block", f"no block with id {block_id}") from exc


def add_da_routes(app: web.Application) -> None:
    app.router.add_get("/da/balancer-stats", balancer_stats)
    app.router.add_post("/da/get-commitments", get_commitments)
    app.router.add_post("/da/get-share", get_share)
    app.router.add_post("/disperse-data", disperse_data)


def add_da_testing_routes(app: web.Application) -> None:
    app.router.add_post("/test/da/membership", membership)
    app.router.add_post("/test/da/historic-sampling", historic_sampling)
