"""Transaction routes (docs/node-api.md): submit to the mempool, transaction and ledger status, the wallet notes,
a channel's state.

Every refusal of a transaction is a 4xx JSON error whose code is the ledger's reason (malformed, too_large,
unknown_input, double_spend, bad_signature, overspend, bad_parent, not_channel_owner, mempool_full) and changes
nothing.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nomos_node.api.base import NODE_KEY, parse_header_id, reject_unknown_query
from nomos_node.api.errors import ApiError, read_json
from nomos_node.api.view import NodeView
from nomos_node.codec import HexError, normalize_hex
from nomos_node.ledger.transaction import HTTP_STATUS, TxError, TxReason

MAX_STATUS_QUERY = 10_000
MAX_NOTES = 10_000


def _node(request: web.Request) -> NodeView:
    return request.app[NODE_KEY]


async def _transaction_body(request: web.Request) -> Any:
    # An unreadable body is a refused transaction like any other: it gets the ledger's reason code.
    try:
        return await read_json(request)
    except web.HTTPRequestEntityTooLarge as exc:
        raise ApiError(413, str(TxReason.TOO_LARGE), f"the body is over {request.client_max_size} bytes; a "
                       "transaction is at most 4096 bytes of canonical JSON") from exc
    except ApiError as exc:
        raise ApiError(HTTP_STATUS[TxReason.MALFORMED], str(TxReason.MALFORMED), exc.detail) from exc


async def add_tx(request: web.Request) -> web.Response:
    document = await _transaction_body(request)
    try:
        added = await _node(request).submit_transaction(document)
    except TxError as exc:
        raise ApiError(HTTP_STATUS[exc.reason], str(exc.reason), exc.detail) from exc
    return web.json_response({"tx_hash": added.tx.hash, "status": added.status})


async def tx_statuses(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, list) or len(body) > MAX_STATUS_QUERY:
        raise ApiError(400, "bad_request", f"expected a JSON list of at most {MAX_STATUS_QUERY} transaction hashes")
    try:
        hashes = [normalize_hex(value, 32, f"[{i}]") for i, value in enumerate(body)]
    except HexError as exc:
        raise ApiError(400, "bad_id", f"{exc}; expected 64 hex chars (0x allowed)") from exc
    node = _node(request)
    return web.json_response([node.transaction_status(tx_hash) for tx_hash in hashes])


async def mantle_status(request: web.Request) -> web.Response:
    return web.json_response(_node(request).mantle_status())


async def mantle_metrics(request: web.Request) -> web.Response:
    return web.json_response(_node(request).mantle_metrics())


async def notes(request: web.Request) -> web.Response:
    reject_unknown_query(request, "pk", "limit")
    pk = parse_header_id(request.query.get("pk", ""), "pk")
    limit_text = request.query.get("limit", str(MAX_NOTES))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_NOTES:
        raise ApiError(400, "bad_query", f"limit: expected an integer in 1..{MAX_NOTES}, got {limit_text[:20]!r}")
    return web.json_response(_node(request).notes_of(pk, int(limit_text)))


async def channel(request: web.Request) -> web.Response:
    channel_id = parse_header_id(request.match_info["channel"], "channel")
    state = _node(request).channel_state(channel_id)
    if state is None:
        raise ApiError(404, "unknown_channel", f"channel {channel_id} has no message on the canonical chain")
    return web.json_response(state)


def add_mantle_routes(app: web.Application) -> None:
    app.router.add_post("/mempool/add/tx", add_tx)
    app.router.add_post("/mantle/status", tx_statuses)
    app.router.add_get("/mantle/status", mantle_status)
    app.router.add_get("/mantle/metrics", mantle_metrics)
    app.router.add_get("/mantle/notes", notes)
    app.router.add_get("/mantle/channels/{channel}", channel)
