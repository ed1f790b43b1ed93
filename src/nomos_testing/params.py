"""Parameter schemas: each configurable value is declared once, with its type, bounds and an example.

The plan's own fields (`scenario/fields.py`) and every plug-in's parameters (a workload's rate, an
expectation's threshold) are `Param`s. Scenario files, the builder, the CLI and `doctor` all check values
through them, so an error always says what was expected, and where to change the value (see `Source`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from nomos_testing.errors import PlanError

ValueKind = Literal["int", "number", "str", "bool"]


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

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def expected(self) -> str:
        """What a valid value looks like, e.g. 'a number in (0, 1)', 'an integer ≥ 0'."""
        if self.choices is not None:
            return "one of " + ", ".join(f'"{choice}"' for choice in self.choices)
        noun = {"int": "an integer", "number": "a number", "str": "a string", "bool": "true or false"}[self.kind]
        bounds = self._bounds()
        unit = f" ({self.unit})" if self.unit else ""
        return f"{noun}{' ' + bounds if bounds else ''}{unit}"

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
        if self.kind in ("int", "number"):
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
        if self.kind == "number":
            return isinstance(value, int | float) and math.isfinite(value)
        return isinstance(value, str)

    def example_text(self) -> str:
        example = self.example if self.example is not None else self.default
        if example is REQUIRED or example is None:
            return ""
        return f", e.g. {_toml(example)}"


def _show(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, Enum):
        return f'"{value.value}"'
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
                fallback: Source = DEFAULT_SOURCE) -> dict[str, Any]:
        """The values checked against the schema, with defaults filled in. `where` prefixes field paths
        (`expectations[0]`); `sources` maps a parameter name to where its value was written."""
        sources = sources or {}
        for name in values:
            if self.get(name) is None:
                source = sources.get(name, fallback)
                known = ", ".join(self.names()) or "none (this kind takes no parameters)"
                raise PlanError(f"{source.location()}: {where}.{name}: unknown parameter",
                                f"remove it, or use one of: {known}")
        resolved: dict[str, Any] = {}
        for param in self.params:
            if param.name in values:
                check_value(param, values[param.name], f"{where}.{param.name}", sources.get(param.name, fallback))
                resolved[param.name] = values[param.name]
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
            default = "required" if param.required else f"default {_toml(param.default)}"
            lines.append(f"{param.name}: {param.expected()} ({default})" + (f" - {param.help}" if param.help else ""))
        return lines

    def json_schema(self) -> dict[str, Any]:
        """The parameters as a JSON Schema object (docs, editors)."""
        properties: dict[str, Any] = {}
        for param in self.params:
            entry: dict[str, Any] = {"type": {"int": "integer", "number": "number", "str": "string",
                                              "bool": "boolean"}[param.kind]}
            if param.choices is not None:
                entry = {"enum": list(param.choices)}
            if param.minimum is not None:
                entry["exclusiveMinimum" if param.exclusive_minimum else "minimum"] = param.minimum
            if param.maximum is not None:
                entry["exclusiveMaximum" if param.exclusive_maximum else "maximum"] = param.maximum
            if not param.required:
                entry["default"] = param.default.value if isinstance(param.default, Enum) else param.default
            if param.help:
                entry["description"] = param.help
            properties[param.name] = entry
        required = [param.name for param in self.params if param.required]
        return {"type": "object", "properties": properties, "additionalProperties": False,
                **({"required": required} if required else {})}
