"""Owner tokens: which framework process a run (its processes, containers, state files) belongs to.

One format for every runner: `<pid>:<process start time, 3 decimals>`. The start time rules out pid reuse:
a token names a live owner only if that pid still runs and started at that time.
"""

from __future__ import annotations

import os

import psutil

START_TIME_TOLERANCE_S = 0.002


def process_start_time(pid: int) -> float | None:
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def owner_token(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    started = process_start_time(pid)
    return f"{pid}:{started or 0.0:.3f}"


def parse_owner(token: str) -> tuple[int, float] | None:
    pid_text, _, started_text = token.partition(":")
    try:
        return int(pid_text), float(started_text)
    except ValueError:
        return None


def same_process(pid: int, started_at: float) -> bool:
    """True when `pid` still names the process that started at `started_at` and is not a zombie."""
    started = process_start_time(pid)
    if started is None or abs(started - started_at) > START_TIME_TOLERANCE_S:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def owner_alive(token: str) -> bool:
    parsed = parse_owner(token)
    return parsed is not None and same_process(*parsed)


def owner_pid(token: str) -> int | None:
    parsed = parse_owner(token)
    return parsed[0] if parsed else None
