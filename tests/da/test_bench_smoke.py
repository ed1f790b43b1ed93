"""benchmarks/bench_da.py in its --smoke configuration (the figures are not measurements: docs/benchmarks.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_da_benchmark_runs_in_its_smoke_configuration() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks", "da", "--smoke"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    n = r"[\d.]+"
    row = rf"^\| 4 KiB \| (\d+) \| \d+ \| {n} \| {n} \| {n} \| {n}× \| {n} \| {n} \| met \|$"
    rows = re.findall(row, done.stdout, re.M)
    assert rows == ["2", "4"], done.stdout
    assert "=== da done" in done.stdout
