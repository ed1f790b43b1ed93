"""Node logging: one greppable line per event, levels per target, one file per node.

Environment (names as in the original tool):
  NOMOS_LOG_LEVEL   default level: trace | debug | info | warn | error (default info)
  NOMOS_LOG_FILTER  per-target levels, `target=level,…`; targets: consensus, network, api, node, storage, mempool
  NOMOS_LOG_DIR     when set, logs go to `<dir>/nomos-node-<index>.log` (or nomos-executor-…), else stdout

Line format: `2026-11-27T05:00:00.123Z INFO consensus block imported id=ab12 height=3 slot=7`.
Modules log through `logging.getLogger("nomos_node.<target>…")`; the target is the second name component.
The HTTP server's own logger (`aiohttp.server`) writes to the same file under the target `api`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

TARGETS = ("consensus", "network", "api", "node", "storage", "mempool")
ROOT_LOGGER = "nomos_node"
# Loggers of libraries whose records belong in the node's log, and the target they count as.
FOREIGN_LOGGERS = {"aiohttp.server": "api"}
_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_LEVEL_NAMES = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERROR",
                logging.CRITICAL: "ERROR"}


class LogConfigError(ValueError):
    """An invalid NOMOS_LOG_* variable; the message names the variable and what is expected."""


def _parse_level(variable: str, value: str) -> int:
    level = _LEVELS.get(value.strip().lower())
    if level is None:
        raise LogConfigError(f"{variable}: expected one of trace, debug, info, warn, error, got {value!r}")
    return level


def parse_filter(value: str) -> dict[str, int]:
    """`consensus=debug,network=warn` → {target: level}."""
    levels: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        target, sep, level = item.partition("=")
        target = target.strip()
        if not sep or target not in TARGETS:
            raise LogConfigError(
                f"NOMOS_LOG_FILTER: expected `target=level,…` with targets {', '.join(TARGETS)}, got {item!r}")
        levels[target] = _parse_level(f"NOMOS_LOG_FILTER ({target})", level)
    return levels


def target_of(logger_name: str) -> str:
    if logger_name in FOREIGN_LOGGERS:
        return FOREIGN_LOGGERS[logger_name]
    parts = logger_name.split(".")
    return parts[1] if parts[0] == ROOT_LOGGER and len(parts) > 1 else parts[0]


def format_fields(fields: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in fields.items())


def event(logger: logging.Logger, level: int, message: str, **fields: Any) -> None:
    """Log `message key=value …` on one line."""
    if logger.isEnabledFor(level):
        logger.log(level, f"{message} {format_fields(fields)}" if fields else message)


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        millis = int(record.msecs)
        message = record.getMessage().replace("\n", " ")
        if record.exc_info:
            exc = record.exc_info[1]
            message += f" error={type(exc).__name__}: {exc}".replace("\n", " ")
        level = _LEVEL_NAMES.get(record.levelno, record.levelname)
        return f"{stamp}.{millis:03d}Z {level} {target_of(record.name)} {message}"


class _TargetFilter(logging.Filter):
    def __init__(self, default: int, per_target: dict[str, int]) -> None:
        super().__init__()
        self._default = default
        self._per_target = per_target

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self._per_target.get(target_of(record.name), self._default)


def log_file_name(role: str, index: int) -> str:
    return f"nomos-{'executor' if role == 'executor' else 'node'}-{index}.log"


def configure_logging(role: str, index: int, environ: dict[str, str] | None = None) -> Path | None:
    """Install the node's handler. Returns the log file path when NOMOS_LOG_DIR is set."""
    env = os.environ if environ is None else environ
    default = _parse_level("NOMOS_LOG_LEVEL", env.get("NOMOS_LOG_LEVEL") or "info")
    per_target = parse_filter(env.get("NOMOS_LOG_FILTER") or "")
    log_dir = env.get("NOMOS_LOG_DIR") or ""
    path: Path | None = None
    handler: logging.Handler
    if log_dir:
        path = Path(log_dir) / log_file_name(role, index)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as exc:
            raise LogConfigError(f"NOMOS_LOG_DIR: cannot write {path}: {exc.strerror}") from exc
    else:
        handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_LineFormatter())
    handler.addFilter(_TargetFilter(default, per_target))
    _attach(logging.getLogger(ROOT_LOGGER), handler, min([default, *per_target.values()]))
    for name, target in FOREIGN_LOGGERS.items():
        _attach(logging.getLogger(name), handler, per_target.get(target, default))
    return path


def _attach(logger: logging.Logger, handler: logging.Handler, level: int) -> None:
    """`handler` becomes the only one of `logger`, which stops propagating to the (unconfigured) root."""
    for old in list(logger.handlers):
        logger.removeHandler(old)
        if old is not handler:
            old.close()
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
