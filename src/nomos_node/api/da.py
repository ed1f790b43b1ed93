"""DA routes (docs/node-api.md, "Data availability"): membership and balancer stats; a node without a `da`
config section answers them with empty maps."""

from __future__ import annotations

from aiohttp import web

from nomos_node.api.base import NODE_KEY
from nomos_node.api.errors import ApiError, read_json
from nomos_node.api.view import NodeView


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


def add_da_routes(app: web.Application) -> None:
    app.router.add_get("/da/balancer-stats", balancer_stats)


def add_da_testing_routes(app: web.Application) -> None:
    app.router.add_post("/test/da/membership", membership)
