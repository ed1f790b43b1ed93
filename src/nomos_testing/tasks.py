"""asyncio helpers that keep Ctrl-C meaningful: a cancellation of the caller is never swallowed, and the
steps that must finish (teardown, the report) finish even when one arrives while they run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


def _caller_cancelling() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


async def cancel_and_wait(task: asyncio.Task[Any]) -> BaseException | None:
    """Cancel a helper task, wait until it is gone, and return the exception it ended with (if any).

    `with suppress(CancelledError): await task` also swallows a cancellation aimed at the *caller* that lands
    while it waits (a Ctrl-C at that instant would be lost). This re-raises that one."""
    if not task.done():
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if _caller_cancelling():
                raise
        except Exception:
            pass
    if task.cancelled():
        return None
    return task.exception()


async def finish_despite_cancellation(awaitable: Awaitable[T]) -> tuple[T, bool]:
    """Run `awaitable` to completion even if the caller is cancelled while it runs (one Ctrl-C during
    teardown must not leave nodes up or the report unwritten). Returns its result and whether a
    cancellation arrived meanwhile; the caller decides how to report that (usually: raise it afterwards)."""
    task = asyncio.ensure_future(awaitable)
    interrupted = False
    while True:
        try:
            return await asyncio.shield(task), interrupted
        except asyncio.CancelledError:
            if task.done():  # the awaitable itself was cancelled, not its caller
                raise
            interrupted = True
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
