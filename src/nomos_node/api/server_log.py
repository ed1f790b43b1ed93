"""aiohttp's reports of bad requests, one short line each.

aiohttp logs every request it cannot parse (`GARBAGE`, a header line without a colon, a request line over
8 KiB, a body not valid in its Content-Encoding...) on its `aiohttp.server` logger with a full traceback at
ERROR: any client could fill the node's log. A `logging.Filter` on that logger rewrites each record with an
exception into one line (`<aiohttp's message> error=<Type>: <first 160 chars>`), and demotes the client's
faults to DEBUG (shown with NOMOS_LOG_FILTER=api=debug); anything else keeps its level.

Why a filter: `aiohttp.server` is the logger name aiohttp documents for server-side errors, and a filter
uses only the stdlib logging API. It does not depend on aiohttp's message texts, on the constructor keywords
of its request handler, or on overriding `RequestHandler.handle_error` (internal, its signature has changed
between releases), and it covers every path that logs a bad request, including the payload error aiohttp
re-raises while draining a body the handler already refused.
"""

from __future__ import annotations

import logging

from nomos_node.api.errors import DISCONNECT_ERRORS, PAYLOAD_ERRORS, one_line

SERVER_LOGGER = "aiohttp.server"
CLIENT_FAULTS: tuple[type[Exception], ...] = PAYLOAD_ERRORS + DISCONNECT_ERRORS


class OneLineBadRequests(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        record.msg = f"{record.getMessage()} error={type(exc).__name__}: {one_line(str(exc))}"
        record.args = ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        if isinstance(exc, CLIENT_FAULTS):
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def install_one_line_filter() -> None:
    """Idempotent: every ApiServer calls it."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(existing, OneLineBadRequests) for existing in logger.filters):
        logger.addFilter(OneLineBadRequests())
