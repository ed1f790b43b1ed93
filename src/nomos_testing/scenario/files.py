"""Scenario files: the plan as TOML (schema in docs/scenarios.md).

Errors name the file and either the line (syntax errors, from tomllib) or the field (and, when it can
be found, the line that sets it), and say what is expected.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan, TopologySpec, parse_layout

# section -> key -> (what is expected, type check)
_SCHEMA: dict[str, dict[str, str]] = {
    "": {"name": "a string", "seed": "an integer in [0, 2^64)", "duration": "seconds (number)",
         "topology": "a table", "consensus": "a table", "wallets": "a table", "readiness": "a table",
         "workloads": "an array of tables [[workloads]]", "expectations": "an array of tables [[expectations]]"},
    "topology": {"validators": "an integer ≥ 0", "executors": "an integer ≥ 0", "layout": '"star", "chain" or "full"'},
    "consensus": {"slot_duration": "seconds (number > 0)", "active_slot_coeff": "a number in (0, 1)",
                  "security_param": "an integer ≥ 1"},
    "wallets": {"count": "an integer ≥ 0", "value": "an integer ≥ 1"},
    "readiness": {"timeout": "seconds (number > 0)"},
}
_NUMBER = (int, float)


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, key: str, section: str = "") -> int | None:
        """Best-effort line of `key = …` (inside `[section]` when given) to point the user at it."""
        current = ""
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number, line in enumerate(self.lines, start=1):
            header = re.match(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?", line)
            if header:
                current = header.group(1)
                continue
            if current == section and pattern.match(line):
                return number
        return None

    def error(self, field: str, problem: str, expected: str, section: str = "", key: str | None = None) -> PlanError:
        line = self.line_of(key, section) if key else None
        where = f"{self.path}:{line}" if line else str(self.path)
        return PlanError(f"{where}: {field}: {problem}", f"expected {expected}")

    def check_keys(self, table: dict[str, Any], section: str) -> None:
        allowed = _SCHEMA[section]
        for key in table:
            if key not in allowed:
                field = f"{section}.{key}" if section else key
                raise self.error(field, "unknown key", "one of: " + ", ".join(allowed), section, key)

    def typed(self, table: dict[str, Any], section: str, key: str, kinds: tuple[type, ...]) -> Any:
        if key not in table:
            return None
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            field = f"{section}.{key}" if section else key
            raise self.error(field, f"got {value!r}", _SCHEMA[section][key], section, key)
        return value

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"got {value!r}", f"a [{key}] table", "", key)
        self.check_keys(value, key)
        return value

    def components(self, data: dict[str, Any], key: str) -> tuple[ComponentSpec, ...]:
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise self.error(key, "is not an array of tables", f"[[{key}]] sections, each with kind = \"…\"", "", key)
        specs = []
        for index, item in enumerate(items):
            kind = item.get("kind")
            if not isinstance(kind, str):
                raise self.error(f"{key}[{index}].kind", f"got {kind!r}", 'a string, e.g. kind = "consensus_liveness"',
                                 key, "kind")
            specs.append(ComponentSpec(kind, {k: v for k, v in item.items() if k != "kind"}))
        return tuple(specs)


def parse_scenario(text: str, path: Path | str = "<scenario>") -> ScenarioPlan:
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries "(at line L, column C)"
        raise PlanError(f"{path}: not valid TOML: {exc}",
                        "fix the syntax at that line (see docs/scenarios.md)") from None
    reader = _Reader(path, text)
    reader.check_keys(data, "")
    topology = reader.table(data, "topology")
    consensus = reader.table(data, "consensus")
    wallets = reader.table(data, "wallets")
    readiness = reader.table(data, "readiness")
    fields: dict[str, Any] = {
        "name": reader.typed(data, "", "name", (str,)) or path.stem,
        "seed": reader.typed(data, "", "seed", (int,)),
        "duration_s": reader.typed(data, "", "duration", _NUMBER),
        "slot_duration": reader.typed(consensus, "consensus", "slot_duration", _NUMBER),
        "active_slot_coeff": reader.typed(consensus, "consensus", "active_slot_coeff", _NUMBER),
        "security_param": reader.typed(consensus, "consensus", "security_param", (int,)),
        "wallets": reader.typed(wallets, "wallets", "count", (int,)),
        "wallet_value": reader.typed(wallets, "wallets", "value", (int,)),
        "readiness_timeout_s": reader.typed(readiness, "readiness", "timeout", _NUMBER),
        "workloads": reader.components(data, "workloads"),
        "expectations": reader.components(data, "expectations"),
    }
    layout = reader.typed(topology, "topology", "layout", (str,))
    try:
        topo = TopologySpec(
            validators=reader.typed(topology, "topology", "validators", (int,)) or 0,
            executors=reader.typed(topology, "topology", "executors", (int,)) or 0,
            layout=parse_layout(layout or "star"),
        )
        return ScenarioPlan(topology=topo, **{key: value for key, value in fields.items() if value is not None})
    except PlanError as exc:
        if exc.message.startswith(str(path)):
            raise
        section, key = _FIELD_LINES.get(exc.message.split(" ", 1)[0].rstrip(":"), ("", None))
        line = reader.line_of(key, section) if key else None
        where = f"{path}:{line}" if line else str(path)
        raise PlanError(f"{where}: {exc.message}", exc.remedy) from None


# plan field (as PlanError messages name it) -> where it lives in the file
_FIELD_LINES: dict[str, tuple[str, str]] = {
    "name": ("", "name"), "seed": ("", "seed"), "duration": ("", "duration"),
    "topology.validators": ("topology", "validators"), "topology.executors": ("topology", "executors"),
    "topology.layout": ("topology", "layout"), "topology": ("topology", "validators"),
    "slot_duration": ("consensus", "slot_duration"), "active_slot_coeff": ("consensus", "active_slot_coeff"),
    "security_param": ("consensus", "security_param"), "wallets": ("wallets", "count"),
    "wallet_value": ("wallets", "value"), "readiness_timeout": ("readiness", "timeout"),
}


def load_scenario(path: Path | str) -> ScenarioPlan:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"scenario file {path} does not exist", "pass the path of a .toml scenario, "
                        "e.g. scenarios/smoke.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"scenario file {path} cannot be read: {exc}", "pass a readable UTF-8 TOML file") from None
    return parse_scenario(text, path)
