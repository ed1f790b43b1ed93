"""Compare a documented sample of program output with what the program really printed.

Numbers and hex ids vary from run to run and are compared as placeholders; a line `…` in the sample elides
output. Plain lines of the sample must appear in the output in the same order. A rich table is compared by
its header and by the text of each column (cell text wraps differently when the numbers change).
"""

from __future__ import annotations

import re

ELISION = "…"
HEX = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{6,}\b")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
TABLE_CHARS = "┏┃┡│└"


def normalize(text: str) -> str:
    return " ".join(NUMBER.sub("N", HEX.sub("H", text)).split())


def tables(lines: list[str]) -> list[tuple[str, list[str]]]:
    """[(normalized header row, normalized text of each column)] of the rich tables among `lines`."""
    found: list[tuple[str, list[str]]] = []
    header, columns = "", None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("┃"):
            header, columns = normalize(stripped), None
        elif stripped.startswith("│"):
            cells = [cell.strip() for cell in stripped.strip("│").split("│")]
            columns = columns or [[] for _ in cells]
            for column, cell in zip(columns, cells, strict=False):
                column.append(cell)
        elif stripped.startswith("└") and columns is not None:
            found.append((header, [normalize(" ".join(column)) for column in columns]))
            columns = None
    return found


def mismatches(sample: str, output: str) -> list[str]:
    """What of `sample` the real `output` does not show; empty when the sample is faithful."""
    problems: list[str] = []
    out_lines = output.splitlines()
    normalized_out = [normalize(line) for line in out_lines]
    position = 0
    for line in sample.splitlines():
        stripped = line.strip()
        if not stripped or stripped == ELISION or stripped[0] in TABLE_CHARS:
            continue
        wanted = normalize(stripped)
        try:
            position = normalized_out.index(wanted, position) + 1
        except ValueError:
            problems.append(f"line not printed (in this order): {line!r}")
    real_tables = tables(out_lines)
    for header, columns in tables(sample.splitlines()):
        same_header = [cols for head, cols in real_tables if head == header]
        if not same_header:
            problems.append(f"no table with the header {header!r}")
        elif columns not in same_header:
            problems.append(f"table {header!r}: sample {columns} vs printed {same_header}")
    return problems
