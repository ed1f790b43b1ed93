"""Every rejected request becomes a 4xx JSON body `{"error": code, "detail": why}`; a 500 JSON is the last
resort for a bug (and is logged). The middleware also counts requests by route template and status."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from nomos_node.metrics import NodeMetrics

log = logging.getLogger("nomos_node.api")

_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
          415: "unsupported_media_type"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def error_response(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status, headers=headers)


def _route_template(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def error_middleware(metrics: NodeMetrics) -> Callable[..., Any]:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            response = await handler(request)
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.detail)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            detail = exc.reason
            if exc.status == 405 and isinstance(exc, web.HTTPMethodNotAllowed):
                detail = f"{request.method} not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}"
            elif exc.status == 404:
                detail = f"no route {request.method} {request.path}"
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            response = error_response(exc.status, _CODES.get(exc.status, "rejected"), detail, headers)
        except Exception:
            log.exception("unhandled error path=%s method=%s", request.path, request.method)
            response = error_response(500, "internal", "unexpected server error (logged)")
        metrics.http_requests.labels(path=_route_template(request), status=str(response.status)).inc()
        return response

    return middleware


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 naming the problem (413 when over the size limit)."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "bad_json", "request body is empty; expected JSON")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_json", f"request body is not valid JSON: {exc}") from exc
    except ValueError as exc:  # valid JSON Python refuses to decode, e.g. an integer of more than 4300 digits
        raise ApiError(400, "bad_json", f"request body cannot be decoded: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(400, "bad_json", "request body nests too deeply") from exc
