"""The `nomos-testing` console script. Deliberately tiny: a Ctrl-C while the command line's modules are still
being imported exits 130 without a traceback, like one at any later moment."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130


def main() -> None:
    try:
        from nomos_testing.cli import main as cli_main
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    cli_main()
