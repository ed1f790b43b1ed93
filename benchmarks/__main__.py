"""Run every benchmark module (`benchmarks/bench_*.py` with a `main()`) and print its tables.

    python -m benchmarks                  # all modules, their default (quick) settings
    python -m benchmarks node             # only bench_node.py
    python -m benchmarks --minutes 5      # options after the names go to every main(argv) that takes argv

A module's `main` may take `argv: list[str]` (it gets the options) or nothing. Exit code 1 when a module fails.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path


def discover() -> dict[str, str]:
    """{short name: module name} of benchmarks/bench_*.py, sorted."""
    here = Path(__file__).resolve().parent
    return {path.stem.removeprefix("bench_"): f"benchmarks.{path.stem}" for path in sorted(here.glob("bench_*.py"))}


def main(argv: list[str]) -> int:
    available = discover()
    first_option = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:first_option], argv[first_option:]
    unknown = [name for name in names if name not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    failures = 0
    for name in names or list(available):
        module = importlib.import_module(available[name])
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        print(f"\n=== benchmark {name} ({module.__name__}) ===", flush=True)
        started = time.monotonic()
        try:
            entry(options) if inspect.signature(entry).parameters else entry()
        except SystemExit as exc:
            failures += exc.code not in (0, None)
        except Exception:
            traceback.print_exc()
            failures += 1
        print(f"=== {name} done in {time.monotonic() - started:.1f}s ===", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
