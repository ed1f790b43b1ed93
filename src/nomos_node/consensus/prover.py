"""Runs the proof of leadership off the event loop, in one worker process created on first use.

The search is pure-Python hashing: in a thread it would hold the GIL for most of every 5 ms switch interval,
so the API and the network would answer late for the whole proof (seconds). A single spawned worker keeps
the node's own process free; it is started lazily, so dev-mode nodes never pay for it, and terminated with
the node (an unfinished proof is abandoned).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from nomos_node.consensus.leader import LeaderTicket, prove_leadership

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor


class ProofWorker:
    def __init__(self, difficulty_bits: int) -> None:
        self.difficulty_bits = difficulty_bits
        self._pool: ProcessPoolExecutor | None = None

    async def prove(self, ticket: LeaderTicket) -> str:
        if self._pool is None:
            # imported here: multiprocessing costs start-up time that dev-mode nodes never need
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, prove_leadership, ticket, self.difficulty_bits)

    def worker_pids(self) -> list[int]:
        processes = getattr(self._pool, "_processes", None) or {}
        return sorted(processes)

    def close(self) -> None:
        """Stop the worker now, abandoning a proof in progress."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # shutdown() alone would wait for the running search to finish
            with contextlib.suppress(Exception):
                process.terminate()
                process.join(2)
