"""Scenario files: the plan as TOML (schema in docs/scenarios.md).

Reading a file records, for every value, the file and line that set it (`ScenarioPlan.sources`), so that
validation errors point at that line. Syntax errors carry tomllib's line and column.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.params import Source
from nomos_testing.plugins import Registries
from nomos_testing.scenario.fields import PLAN_FIELDS
from nomos_testing.scenario.plan import ComponentSpec, ScenarioPlan, TopologySpec, parse_layout
from nomos_testing.scenario.validate import validate_plan

COMPONENT_SECTIONS = ("workloads", "expectations")
# section ("" = top level) -> the keys it may hold, from the plan's field schema
SECTIONS: dict[str, list[str]] = {"": []}
for _field in PLAN_FIELDS:
    _section, _, _key = _field.path.rpartition(".")
    SECTIONS.setdefault(_section, []).append(_key)
SECTIONS[""] += [section for section in SECTIONS if section] + list(COMPONENT_SECTIONS)

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")


class _Lines:
    """Finds the line of `key = …` in a table (the n-th `[[table]]` for arrays of tables)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line_of(self, key: str, section: str = "", occurrence: int = 0) -> int | None:
        current, seen = "", dict[str, int]()
        pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header:
                current = header.group(2)
                seen[current] = seen.get(current, -1) + 1
                continue
            if current == section and seen.get(section, 0) == occurrence and pattern.match(line):
                return number
        return None

    def table_line(self, section: str, occurrence: int = 0) -> int | None:
        count = -1
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header and header.group(2) == section:
                count += 1
                if count == occurrence:
                    return number
        return None


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = _Lines(text)
        self.sources: dict[str, Source] = {}
        self._header_count: dict[str, int] = {}  # sub-table headers of components seen so far

    def source(self, key: str, section: str = "", occurrence: int = 0) -> Source:
        line = self.lines.line_of(key, section, occurrence) if key else self.lines.table_line(section, occurrence)
        return Source("file", str(self.path), line)

    def error(self, field: str, problem: str, fix: str, source: Source) -> PlanError:
        return PlanError(f"{source.location()}: {field}: {problem}", fix)

    def check_keys(self, table: dict[str, Any], section: str) -> None:
        allowed = SECTIONS[section]
        for key in table:
            if key not in allowed:
                field = f"{section}.{key}" if section else key
                raise self.error(field, "unknown key", "use one of: " + ", ".join(allowed),
                                 self.source(key, section))

    def values(self, table: dict[str, Any], section: str) -> dict[str, Any]:
        """The table's plan values, each with its source recorded under its field path."""
        self.check_keys(table, section)
        for key in table:
            if isinstance(table[key], dict) or key in COMPONENT_SECTIONS:
                continue
            self.sources[f"{section}.{key}" if section else key] = self.source(key, section)
        return table

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"got {value!r}", f"write it as a [{key}] table (see docs/scenarios.md)",
                             self.source(key))
        return self.values(value, key)

    def components(self, data: dict[str, Any], key: str) -> tuple[ComponentSpec, ...]:
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise self.error(key, "is not an array of tables", f"write [[{key}]] sections, each with kind = \"…\"",
                             self.source(key))
        specs = []
        for index, item in enumerate(items):
            where = f"{key}[{index}]"
            table_source = self.source("", key, index)
            kind = item.get("kind")
            if not isinstance(kind, str):
                raise self.error(f"{where}.kind", f"got {kind!r}",
                                 f'give the [[{key}]] table at {table_source.location()} a kind, '
                                 'e.g. kind = "consensus_liveness"', table_source)
            self.sources[where] = table_source
            for name in item:
                self.sources[f"{where}.{name}"] = self.source(name, key, index)
            self.nested_sources(item, key, index, where)
            specs.append(ComponentSpec(kind, {k: v for k, v in item.items() if k != "kind"}))
        return tuple(specs)

    def nested_sources(self, item: dict[str, Any], key: str, index: int, where: str) -> None:
        """Sources of a component's sub-tables (`[workloads.restarts]`) and arrays of tables
        (`[[workloads.faults]]`): the header's line and each key's, so errors point into them."""
        begin = self.lines.table_line(key, index) or 0
        end = self.lines.table_line(key, index + 1) or len(self.lines.lines) + 1
        for name, value in item.items():
            tables = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
            paths = [f"{where}.{name}"] if isinstance(value, dict) else \
                [f"{where}.{name}[{j}]" for j in range(len(tables))]
            section = f"{key}.{name}"
            for table, path in zip(tables, paths, strict=True):
                if not isinstance(table, dict):
                    continue
                occurrence = self._header_count.get(section, 0)
                line = self.lines.table_line(section, occurrence)
                if line is None or not begin < line < end:  # an inline table: its key's line says enough
                    self.sources.setdefault(path, self.sources[f"{where}.{name}"])
                    continue
                self._header_count[section] = occurrence + 1
                self.sources[path] = Source("file", str(self.path), line)
                if self.sources[f"{where}.{name}"].line is None:  # written only as headers: the first one
                    self.sources[f"{where}.{name}"] = self.sources[path]
                for inner in table:
                    found = self.lines.line_of(inner, section, occurrence)
                    self.sources[f"{path}.{inner}"] = Source("file", str(self.path), found or line)


def read_scenario(text: str, path: Path | str = "<scenario>") -> ScenarioPlan:
    """The plan a file describes, with the source of every value; not validated (see `parse_scenario`)."""
    path = Path(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message carries "(at line L, column C)"
        raise PlanError(f"{path}: not valid TOML: {exc}",
                        "fix the syntax at that line (see docs/scenarios.md)") from None
    reader = _Reader(path, text)
    top = reader.values(data, "")
    topology = reader.table(data, "topology")
    consensus = reader.table(data, "consensus")
    wallets = reader.table(data, "wallets")
    readiness = reader.table(data, "readiness")
    fields: dict[str, Any] = {
        "name": top.get("name", path.stem), "seed": top.get("seed"), "duration_s": top.get("duration"),
        "node": top.get("node"),
        "slot_duration": consensus.get("slot_duration"), "active_slot_coeff": consensus.get("active_slot_coeff"),
        "security_param": consensus.get("security_param"),
        "wallets": wallets.get("count"), "wallet_value": wallets.get("value"),
        "readiness_timeout_s": readiness.get("timeout"),
        "workloads": reader.components(data, "workloads"),
        "expectations": reader.components(data, "expectations"),
    }
    if "name" not in top:
        reader.sources["name"] = Source("file", str(path))  # the file's name names the run
    layout_source = reader.sources.get("topology.layout", Source("default"))
    topo = TopologySpec(validators=topology.get("validators", 0), executors=topology.get("executors", 0),
                        layout=parse_layout(topology.get("layout", "star"), layout_source),
                        standby=topology.get("standby", 0))
    reader.sources.setdefault("topology.validators", reader.source("", "topology"))
    return ScenarioPlan(topology=topo, sources=reader.sources,
                        **{key: value for key, value in fields.items() if value is not None})


def parse_scenario(text: str, path: Path | str = "<scenario>", registries: Registries | None = None) -> ScenarioPlan:
    """Read and validate (environment defaults are applied later, by `resolve_plan`)."""
    plan = read_scenario(text, path)
    validate_plan(plan, registries)
    return plan


def load_scenario(path: Path | str, registries: Registries | None = None) -> ScenarioPlan:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanError(f"scenario file {path} does not exist", "pass the path of a .toml scenario, "
                        "e.g. scenarios/smoke.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"scenario file {path} cannot be read: {exc}", "pass a readable UTF-8 TOML file") from None
    return parse_scenario(text, path, registries)
