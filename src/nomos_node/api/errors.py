"""Every rejected request becomes a 4xx JSON body `{"error": code, "detail": why}`; a 500 JSON is the last
resort for a bug (and is logged). The middleware also counts requests by route template and status.

A body that cannot be read is the client's fault, never a 500: not valid in its Content-Encoding (aiohttp
raises `web.RequestPayloadError`), or cut short by the client closing the connection (`ConnectionResetError`).
`read_body` turns these into 400 `bad_body`; the middleware does the same for a route that reads the body some
other way. (Requests aiohttp cannot parse at all never reach the app: see server_log.py.)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from nomos_node.metrics import NodeMetrics

log = logging.getLogger("nomos_node.api")

# What reading a request body raises when the body (not the node) is at fault.
PAYLOAD_ERRORS: tuple[type[Exception], ...] = (web.RequestPayloadError, HttpProcessingError)
DISCONNECT_ERRORS: tuple[type[Exception], ...] = (ConnectionError, asyncio.IncompleteReadError)
DETAIL_LIMIT = 160

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


def one_line(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` on one line of printable ASCII (escapes kept visible), at most `limit` characters."""
    flat = " ".join(text.split()).encode("ascii", "backslashreplace").decode("ascii")
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def body_error(request: web.BaseRequest, exc: Exception) -> ApiError:
    """The 400 for a request body that could not be read because of `exc` (a payload or disconnect error)."""
    if isinstance(exc, DISCONNECT_ERRORS):
        return ApiError(400, "bad_body", "the connection closed before the request body was complete")
    encoding = request.headers.get(hdrs.CONTENT_ENCODING)
    where = f" (Content-Encoding: {one_line(encoding, 40)})" if encoding else ""
    return ApiError(400, "bad_body", f"cannot read the request body{where}: {one_line(_reason(exc))}")


def _reason(exc: BaseException) -> str:
    """aiohttp wraps the parser's error (say ContentEncodingError) in RequestPayloadError("400, message: …")."""
    cause = exc.__cause__ if isinstance(exc.__cause__, HttpProcessingError) else exc
    return cause.message if isinstance(cause, HttpProcessingError) else str(cause)


def _client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _route_template(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def _http_error_response(request: web.Request, exc: web.HTTPException) -> web.Response:
    detail = exc.reason
    if exc.status == 405 and isinstance(exc, web.HTTPMethodNotAllowed):
        detail = f"{request.method} not allowed on {request.path}; use {', '.join(sorted(exc.allowed_methods))}"
    elif exc.status == 404:
        detail = f"no route {request.method} {request.path}"
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    return error_response(exc.status, _CODES.get(exc.status, "rejected"), detail, headers)


def _client_error(request: web.Request, exc: Exception) -> ApiError | None:
    """The refusal `exc` stands for, or None when it is the node's fault (a bug)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, PAYLOAD_ERRORS):  # a route that read the body without read_body
        return body_error(request, exc)
    if isinstance(exc, DISCONNECT_ERRORS) and _client_gone(request):
        return body_error(request, exc)  # nobody reads the answer: counted, not logged
    return None  # e.g. a connection of the node's own (to a peer) failing inside a handler


def error_middleware(metrics: NodeMetrics) -> Callable[..., Any]:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        response: web.StreamResponse
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _http_error_response(request, exc)
        except Exception as exc:
            error = _client_error(request, exc)
            if error is None:
                log.exception("unhandled error path=%s method=%s", request.path, request.method)
                response = error_response(500, "internal", "unexpected server error (logged)")
            else:
                response = error_response(error.status, error.code, error.detail)
        metrics.http_requests.labels(path=_route_template(request), status=str(response.status)).inc()
        return response

    return middleware


async def read_body(request: web.Request) -> bytes:
    """The request body (decoded from its Content-Encoding), or a 400 `bad_body` when it cannot be read; 413
    when over the size limit."""
    try:
        return await request.read()
    except PAYLOAD_ERRORS + DISCONNECT_ERRORS as exc:
        raise body_error(request, exc) from exc


async def read_json(request: web.Request) -> Any:
    """The request body as JSON, or a 400 naming the problem (413 when over the size limit)."""
    raw = await read_body(request)
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
