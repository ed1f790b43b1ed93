"""Console entry points: `nomos-node CONFIG.yaml` and `nomos-executor CONFIG.yaml`.

Exit codes: 0 clean shutdown (SIGTERM/SIGINT), 2 bad usage, config or environment, 1 a crash.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from nomos_node.config import ConfigError, load_config
from nomos_node.listen_fds import apply_listen_fds, listen_fds_from_env
from nomos_node.logs import LogConfigError, configure_logging

EXIT_OK = 0
EXIT_CRASH = 1
EXIT_USAGE = 2


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_USAGE


def run(argv: list[str], role: str | None) -> int:
    program = "nomos-executor" if role == "executor" else "nomos-node"
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        return _fail(f"usage: {program} CONFIG.yaml (exactly one argument: the node config, see docs/node-config.md)")
    try:
        config = apply_listen_fds(load_config(argv[0], role_override=role), listen_fds_from_env())
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        configure_logging(config.node.role, config.node.index)
    except LogConfigError as exc:
        return _fail(f"config error: {exc}")
    from nomos_node.node import Node, NodeStartError, run_until_signalled

    try:
        return asyncio.run(run_until_signalled(Node(config)))
    except NodeStartError as exc:
        logging.getLogger("nomos_node.node").error("start failed: %s", exc)
        return _fail(f"start error: {exc}")
    except KeyboardInterrupt:
        return EXIT_OK


def main_validator() -> None:
    sys.exit(run(sys.argv[1:], None))


def main_executor() -> None:
    sys.exit(run(sys.argv[1:], "executor"))
