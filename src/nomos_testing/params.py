"""Parameter schemas: each configurable value is declared once, with its type, bounds and an example.

The plan's own fields (`scenario/fields.py`) and every plug-in's parameters (a workload's rate, an
expectation's threshold) are `Param`s. Scenario files, the builder, the CLI and `doctor` all check values
through them, so an error always says what was expected, and where to change the value (see `Source`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from nomos_testing.errors import PlanError

# Scalars: int, number, str, bool; "duration": seconds, as a number or a string like "15s", "2m", "500ms"
# (checked and converted to seconds). Structured: "list" (every element checked by `item`), "table" (a
# mapping checked by `schema`), "tables" (an array of tables, each checked by the schema its `tag` names).
ValueKind = Literal["int", "number", "str", "bool", "duration", "list", "table", "tables"]
SCALAR_KINDS = ("int", "number", "str", "bool", "duration")
DURATION_EXPECTED = 'a duration (seconds, or a string like "15s", "2m", "500ms")'
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float | None:
    """Seconds from a number or a string such as "15s", "2m", "500ms", "1m30s"; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    total, position = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if text[position:match.start()].strip():
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or text[position:].strip():
        return None
    return total


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Source:
    """Where a value came from, so an error can point at the place to change it."""

    kind: Literal["file", "flag", "env", "python", "default"]
    where: str = ""       # file path, flag name (`--slot`), variable name, or the Python call
    line: int | None = None
    text: str | None = None  # the raw value as written (environment variables)

    def location(self) -> str:
        if self.kind == "file":
            return f"{self.where}:{self.line}" if self.line else self.where
        if self.kind == "flag":
            return f"flag {self.where}"
        if self.kind == "env":
            return f"environment variable {self.where}" + (f"={self.text!r}" if self.text is not None else "")
        if self.kind == "python":
            return self.where or "the Python plan"
        return "the built-in default"

    def how_to_set(self, field_path: str) -> str:
        """The start of a fix: what to change, and where."""
        if self.kind == "file":
            return f"set {field_path} in {self.where}"
        if self.kind == "flag":
            return f"pass {self.where}"
        if self.kind == "env":
            return f"set {self.where} (or unset it)"
        if self.kind == "python":
            return f"pass {self.where}" if self.where else f"set {field_path}"
        return f"set {field_path}"


DEFAULT_SOURCE = Source("default")


@dataclass(frozen=True)
class Param:
    """One value: its name, kind, bounds, default and an example for error messages."""

    name: str
    kind: ValueKind
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] | None = None
    example: Any = None
    help: str = ""
    unit: str = ""
    # Structured kinds: `item` checks every element of a list (min_items / max_items bound its length);
    # `schema` checks a table; `variants` checks each table of a "tables" array by the value of its `tag` key.
    item: Param | None = None
    min_items: int | None = None
    max_items: int | None = None
    schema: ParamSchema | None = None
    variants: tuple[tuple[str, ParamSchema], ...] = ()
    tag: str = "kind"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def expected(self) -> str:
        """What a valid value looks like, e.g. 'a number in (0, 1)', 'an integer ≥ 0'."""
        if self.choices is not None:
            return "one of " + ", ".join(f'"{choice}"' for choice in self.choices)
        if self.kind == "list":
            length = self._length()
            inner = self.item.expected() if self.item is not None else "values"
            return f"a list{' of ' + length if length else ''} of {_plural(inner)}"
        if self.kind == "table":
            return "a table" + (f" with keys {', '.join(self.schema.names())}" if self.schema else "")
        if self.kind == "tables":
            tags = ", ".join(f'"{name}"' for name, _ in self.variants)
            return f"an array of tables, each with {self.tag} = one of {tags}"
        noun = {"int": "an integer", "number": "a number", "str": "a string", "bool": "true or false",
                "duration": DURATION_EXPECTED}[self.kind]
        bounds = self._bounds()
        unit = f" ({self.unit})" if self.unit and self.kind != "duration" else ""
        return f"{noun}{' ' + bounds if bounds else ''}{unit}"

    def _length(self) -> str:
        low, high = self.min_items, self.max_items
        if low is not None and high is not None:
            return f"{low}" if low == high else f"{low} to {high}"
        if low is not None:
            return f"at least {low}"
        return f"at most {high}" if high is not None else ""

    def variant(self, tag: str) -> ParamSchema | None:
        return next((schema for name, schema in self.variants if name == tag), None)

    def check(self, value: Any, field_path: str, sources: Mapping[str, Source] | None = None,
              fallback: Source = DEFAULT_SOURCE, relative: str = "") -> Any:
        """`value` checked (recursively for lists and tables) and converted (durations to seconds).
        `sources` maps paths relative to the schema's root (`faults[2].groups`) to where they were written;
        `relative` is this value's own relative path."""
        sources = sources or {}
        source = _nearest(sources, relative, fallback)
        if self.kind in SCALAR_KINDS:
            if self.kind == "duration":
                seconds = parse_duration(value)
                if seconds is None:
                    raise field_error(field_path, f"got {value!r}", self.expected(), source, self.example_text())
                check_value(self, seconds, field_path, source)
                return seconds
            check_value(self, value, field_path, source)
            return value
        if self.kind == "table":
            if not isinstance(value, Mapping):
                raise field_error(field_path, f"got {value!r}", self.expected(), source, self.example_text())
            return (self.schema or ParamSchema()).resolve(value, field_path, sources, source, prefix=relative)
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise field_error(field_path, f"got {value!r}", self.expected(), source, self.example_text())
        if (self.min_items is not None and len(value) < self.min_items) or \
                (self.max_items is not None and len(value) > self.max_items):
            raise field_error(field_path, f"got {len(value)} element(s)", self.expected(), source,
                              self.example_text())
        if self.kind == "list":
            if self.item is None:
                return list(value)
            return [self.item.check(element, f"{field_path}[{i}]", sources, source, f"{relative}[{i}]")
                    for i, element in enumerate(value)]
        return [self._check_tagged(table, f"{field_path}[{i}]", sources, source, f"{relative}[{i}]")
                for i, table in enumerate(value)]

    def _check_tagged(self, table: Any, field_path: str, sources: Mapping[str, Source], fallback: Source,
                      relative: str) -> dict[str, Any]:
        source = _nearest(sources, relative, fallback)
        tags = ", ".join(f'"{name}"' for name, _ in self.variants)
        if not isinstance(table, Mapping):
            raise field_error(field_path, f"got {table!r}", f"a table with {self.tag} = one of {tags}", source)
        tag = table.get(self.tag)
        schema = self.variant(tag) if isinstance(tag, str) else None
        if schema is None:
            problem = "missing" if tag is None else f"got {tag!r}"
            raise field_error(f"{field_path}.{self.tag}", problem, f"one of {tags}",
                              _nearest(sources, f"{relative}.{self.tag}", source))
        rest = {key: item for key, item in table.items() if key != self.tag}
        return {self.tag: tag, **schema.resolve(rest, field_path, sources, source, prefix=relative)}

    def _bounds(self) -> str:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            left = "(" if self.exclusive_minimum else "["
            right = ")" if self.exclusive_maximum else "]"
            return f"in {left}{_show(low)}, {_show(high)}{right}"
        if low is not None:
            return f"{'>' if self.exclusive_minimum else '≥'} {_show(low)}"
        if high is not None:
            return f"{'<' if self.exclusive_maximum else '≤'} {_show(high)}"
        return ""

    def problem(self, value: Any) -> str | None:
        """Why `value` is not valid for this parameter, or None when it is."""
        if self.choices is not None:
            shown = value.value if isinstance(value, Enum) else value
            return None if isinstance(shown, str) and shown in self.choices else f"got {value!r}"
        if not self._kind_ok(value):
            return f"got {value!r}"
        if self.kind in ("int", "number", "duration"):
            low, high = self.minimum, self.maximum
            if low is not None and (value < low or (self.exclusive_minimum and value == low)):
                return f"got {_show(value)}"
            if high is not None and (value > high or (self.exclusive_maximum and value == high)):
                return f"got {_show(value)}"
        if self.kind == "str" and not value.strip():
            return "got an empty string"
        return None

    def _kind_ok(self, value: Any) -> bool:
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind == "int":
            return isinstance(value, int)
        if self.kind in ("number", "duration"):
            return isinstance(value, int | float) and math.isfinite(value)
        return isinstance(value, str)

    def example_text(self) -> str:
        example = self.example if self.example is not None else self.default
        if example is REQUIRED or example is None:
            return ""
        return f", e.g. {_toml(example)}"


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _plural(expected: str) -> str:
    """'an integer ≥ 1' -> 'integers ≥ 1' (roughly: lists say what each element is)."""
    for article in ("an ", "a "):
        if expected.startswith(article):
            noun, _, rest = expected[len(article):].partition(" ")
            return f"{noun}s {rest}".strip()
    return expected


def _nearest(sources: Mapping[str, Source], relative: str, fallback: Source) -> Source:
    """The source recorded for `relative` (`faults[2].groups[0]`) or for its closest enclosing value."""
    path = relative
    while path:
        if path in sources:
            return sources[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return fallback


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Enum):
        return f'"{value.value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    return _show(value)


def field_error(field_path: str, problem: str, expected: str, source: Source, example: str = "") -> PlanError:
    """The one shape of a bad-value error: where it came from, which field, what is wrong, and the fix."""
    return PlanError(f"{source.location()}: {field_path} must be {expected}, {problem}",
                     f"{source.how_to_set(field_path)} to {expected}{example}")


def check_value(param: Param, value: Any, field_path: str, source: Source) -> None:
    problem = param.problem(value)
    if problem is not None:
        raise field_error(field_path, problem, param.expected(), source, param.example_text())


@dataclass(frozen=True)
class ParamSchema:
    """The parameters of one plug-in kind (or of the plan itself), in declaration order."""

    params: tuple[Param, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [param.name for param in self.params]
        if len(names) != len(set(names)):
            raise ValueError(f"duplicate parameter names in {names}")

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def names(self) -> list[str]:
        return [param.name for param in self.params]

    def get(self, name: str) -> Param | None:
        return next((param for param in self.params if param.name == name), None)

    def resolve(self, values: Mapping[str, Any], where: str, sources: Mapping[str, Source] | None = None,
                fallback: Source = DEFAULT_SOURCE, prefix: str = "") -> dict[str, Any]:
        """The values checked against the schema (durations converted to seconds), with defaults filled in.
        `where` prefixes field paths (`expectations[0]`); `sources` maps a parameter's path relative to the
        schema's root (`min_fraction`, `faults[2].groups`) to where its value was written; `prefix` is this
        table's own relative path when it is nested (`faults[2]`)."""
        sources = sources or {}
        for name in values:
            if self.get(name) is None:
                source = sources.get(_join(prefix, name), fallback)
                known = ", ".join(self.names()) or "none (this kind takes no parameters)"
                raise PlanError(f"{source.location()}: {where}.{name}: unknown parameter",
                                f"remove it, or use one of: {known}")
        resolved: dict[str, Any] = {}
        for param in self.params:
            if param.name in values:
                resolved[param.name] = param.check(values[param.name], f"{where}.{param.name}", sources, fallback,
                                                   _join(prefix, param.name))
            elif param.required:
                raise PlanError(f"{fallback.location()}: {where}.{param.name}: missing",
                                f"{fallback.how_to_set(where + '.' + param.name)} to {param.expected()}"
                                f"{param.example_text()}")
            else:
                resolved[param.name] = param.default
        return resolved

    def describe(self) -> list[str]:
        """One line per parameter, for `doctor` and the docs: `name: expected (default d) - help`."""
        lines = []
        for param in self.params:
            default = "required" if param.required else "optional" if param.default is None \
                else f"default {_toml(param.default)}"
            lines.append(f"{param.name}: {param.expected()} ({default})" + (f" - {param.help}" if param.help else ""))
        return lines

    def json_schema(self) -> dict[str, Any]:
        """The parameters as a JSON Schema object (docs, editors)."""
        properties = {param.name: _json_schema(param) for param in self.params}
        required = [param.name for param in self.params if param.required]
        return {"type": "object", "properties": properties, "additionalProperties": False,
                **({"required": required} if required else {})}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _json_schema(param: Param) -> dict[str, Any]:
    entry: dict[str, Any]
    if param.kind == "duration":
        entry = {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*(\d*\.?\d+\s*(ms|s|m|h)\s*)+$"}]}
    elif param.kind == "list":
        entry = {"type": "array", **({"items": _json_schema(param.item)} if param.item is not None else {})}
        if param.min_items is not None:
            entry["minItems"] = param.min_items
        if param.max_items is not None:
            entry["maxItems"] = param.max_items
    elif param.kind == "table":
        entry = (param.schema or ParamSchema()).json_schema()
    elif param.kind == "tables":
        variants = []
        for tag, schema in param.variants:
            variant = schema.json_schema()
            variant["properties"] = {param.tag: {"const": tag}, **variant["properties"]}
            variant["required"] = [param.tag, *variant.get("required", [])]
            variants.append(variant)
        entry = {"type": "array", "items": {"oneOf": variants}}
    else:
        entry = {"type": {"int": "integer", "number": "number", "str": "string", "bool": "boolean"}[param.kind]}
    if param.choices is not None:
        entry = {"enum": list(param.choices)}
    if param.kind in ("int", "number"):
        if param.minimum is not None:
            entry["exclusiveMinimum" if param.exclusive_minimum else "minimum"] = param.minimum
        if param.maximum is not None:
            entry["exclusiveMaximum" if param.exclusive_maximum else "maximum"] = param.maximum
    if not param.required:
        default = param.default.value if isinstance(param.default, Enum) else param.default
        entry["default"] = list(default) if isinstance(default, tuple) else default
    if param.help:
        entry["description"] = param.help
    return entry
