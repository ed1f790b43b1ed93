"""Run every benchmark module (`benchmarks/bench_*.py` with a `main()`) and print its tables.

    python -m benchmarks                  # all modules, their default (quick) settings
    python -m benchmarks node             # only bench_node.py
    python -m benchmarks --minutes 5      # options after the names go to every main(argv) that takes argv
    python -m benchmarks --smoke          # every module once in its smallest configuration (SMOKE_ARGS below)
    python -m benchmarks node --smoke     # only bench_node.py, smallest configuration

A module's `main` may take `argv: list[str]` (it gets the options) or nothing. Exit code 1 when a module fails.
`--smoke` checks that the benchmarks still run (tests/docs runs it); its figures are not measurements.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import time
import traceback
from pathlib import Path

# `--smoke`: each module's smallest configuration, a few seconds each. A new bench_*.py needs an entry here.
SMOKE_ARGS: dict[str, list[str]] = {
    "compose": ["--skip-cold", "--nodes", "1"],
    "da": ["--sizes-kib", "4", "--columns", "2,4"],
    "faults": ["--runners", "host", "--repeats", "1", "--parts", "apply"],
    "fork_ties": ["--cases", "1:10", "--rules", "keep_current", "--runs", "1", "--window", "2"],
    "framework": ["--quick", "--sizes", "1", "--parts", "start"],
    "node": ["--minutes", "0", "--idle-seconds", "1", "--slot", "1", "--starts", "1"],
    "transactions": ["--parts", "sign,validate", "--count", "200"],
}


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
    smoke = "--smoke" in options
    if smoke:
        if options != ["--smoke"]:
            print("--smoke takes no other options (it picks each module's smallest configuration)", file=sys.stderr)
            return 2
        missing = [name for name in names or list(available) if name not in SMOKE_ARGS]
        if missing:
            print(f"no --smoke configuration for {missing}: add it to SMOKE_ARGS in {__file__}", file=sys.stderr)
            return 2
    failures = 0
    for name in names or list(available):
        module = importlib.import_module(available[name])
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        args = SMOKE_ARGS[name] if smoke else options
        print(f"\n=== benchmark {name} ({module.__name__}){' --smoke: ' + ' '.join(args) if smoke else ''} ===",
              flush=True)
        started = time.monotonic()
        try:
            result = entry(args) if inspect.signature(entry).parameters else entry()
            failures += isinstance(result, int) and result != 0  # e.g. a missed target
        except SystemExit as exc:
            failures += exc.code not in (0, None)
        except Exception:
            traceback.print_exc()
            failures += 1
        print(f"=== {name} done in {time.monotonic() - started:.1f}s ===", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
