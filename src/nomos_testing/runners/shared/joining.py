"""What every runner does once a joined node is started: wait until its API answers (the node's readiness
for `NodeControl.join`), failing early when its process or container exits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from nomos_testing import settings
from nomos_testing.errors import NodeControlError
from nomos_testing.nodes.base import NodeAdapter
from nomos_testing.nodes.client import NodeApiError
from nomos_testing.runners.base import NodeEndpoint

JOIN_API_TIMEOUT_S = 60.0  # ×2 with SLOW_TEST_ENV
POLL_S = 0.2
REQUEST_S = 2.0


async def wait_api_answers(adapter: NodeAdapter, endpoint: NodeEndpoint,
                           exited: Callable[[], Awaitable[str | None]],
                           timeout_s: float = JOIN_API_TIMEOUT_S) -> float:
    """Poll the node's consensus info until it answers; returns the seconds it took. `exited` says why the
    node is gone (its exit and log tail), or None while it runs."""
    began = time.monotonic()
    deadline = began + timeout_s * settings.slow_factor()
    client = adapter.client(endpoint, timeout_s=REQUEST_S)
    last = "no answer yet"
    try:
        while True:
            try:
                await client.consensus_info()
                return round(time.monotonic() - began, 3)
            except NodeApiError as exc:
                last = exc.detail
            gone = await exited()
            if gone is not None:
                raise NodeControlError(f"node control: joined node {endpoint.name} exited before its API "
                                       f"answered: {gone}", "read its log in the run directory's logs/")
            if time.monotonic() >= deadline:
                raise NodeControlError(f"node control: joined node {endpoint.name} started but its API "
                                       f"({endpoint.api_url}) did not answer within "
                                       f"{timeout_s * settings.slow_factor():g} s: {last}",
                                       "read its log in logs/; on a slow machine set SLOW_TEST_ENV=true")
            await asyncio.sleep(POLL_S)
    finally:
        await client.close()
