"""One registry for every kind of plug-in, filled from Python entry points.

A distribution adds a workload, an expectation, a runner, a reporter or a node adapter by declaring an
entry point in one of the groups below (the project registers its own the same way, in pyproject.toml):

    [project.entry-points."nomos_testing.expectations"]
    my_check = "my_package.checks:MyCheck"

Entries load lazily (a runner's dependencies are imported only when it is chosen); a broken plug-in is an
error naming it and the distribution that provides it, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from nomos_testing.errors import PlanError, PrerequisiteError

T = TypeVar("T")

GROUP_PREFIX = "nomos_testing."


@dataclass
class Registry(Generic[T]):
    """Named plug-ins of one kind. `get` loads on first use and caches the loaded object."""

    group: str           # entry point group, e.g. "nomos_testing.workloads"
    noun: str            # "workload", used in error messages
    planned: dict[str, str] = field(default_factory=dict)  # names known to come later -> why not yet
    _entries: dict[str, EntryPoint] | None = field(default=None, init=False, repr=False)
    _loaded: dict[str, T] = field(default_factory=dict, init=False, repr=False)

    def _discover(self) -> dict[str, EntryPoint]:
        if self._entries is None:
            self._entries = {entry.name: entry for entry in entry_points(group=self.group)}
        return self._entries

    def names(self) -> list[str]:
        return sorted({*self._discover(), *self._loaded})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._loaded or name in self._discover())

    def register(self, name: str, plugin: T) -> None:
        """Add a plug-in from code (a library user's own kind, or a test); wins over an entry point."""
        self._loaded[name] = plugin

    def provider(self, name: str) -> str:
        """Which distribution (or module) provides `name`, for `doctor` and error messages."""
        entry = self._discover().get(name)
        if name in self._loaded and entry is None:
            return f"registered in code ({getattr(self._loaded[name], '__module__', '?')})"
        if entry is None:
            return "unknown"
        dist = getattr(entry, "dist", None)
        owner = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
        return f"{owner} ({entry.value})"

    def get(self, name: str, field_path: str | None = None) -> T:
        if name in self._loaded:
            return self._loaded[name]
        entry = self._discover().get(name)
        if entry is None:
            raise self._unknown(name, field_path)
        try:
            plugin: T = entry.load()
        except Exception as exc:  # any import-time failure of third-party code
            raise PrerequisiteError(
                f"the {self.noun} plug-in {name!r} ({entry.value}, from {self.provider(name)}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}",
                f"reinstall the distribution that provides it, or remove {name!r} from the scenario") from exc
        self._loaded[name] = plugin
        return plugin

    def _unknown(self, name: str, field_path: str | None) -> PlanError | PrerequisiteError:
        known = ", ".join(self.names()) or f"none are installed (entry point group {self.group})"
        if name in self.planned:
            return PrerequisiteError(f"{self.noun} {name!r}: {self.planned[name]}", f"use one of: {known}")
        where = f"{field_path}: " if field_path else ""
        return PlanError(f"{where}unknown {self.noun} {name!r}", f"use one of: {known}")

    def load_all(self) -> dict[str, T | Exception]:
        """Every plug-in of this group, loaded (a failure is returned, not raised): for `doctor`."""
        loaded: dict[str, T | Exception] = {}
        for name in self.names():
            try:
                loaded[name] = self.get(name)
            except (PlanError, PrerequisiteError) as exc:
                loaded[name] = exc
        return loaded


@dataclass
class Registries:
    """Every plug-in group of the framework."""

    workloads: Registry[Any] = field(default_factory=lambda: Registry(GROUP_PREFIX + "workloads", "workload kind"))
    expectations: Registry[Any] = field(
        default_factory=lambda: Registry(GROUP_PREFIX + "expectations", "expectation kind"))
    runners: Registry[Any] = field(default_factory=lambda: Registry(
        GROUP_PREFIX + "runners", "runner", planned={"k8s": "the Kubernetes runner is not available yet"}))
    reporters: Registry[Any] = field(default_factory=lambda: Registry(GROUP_PREFIX + "reporters", "reporter"))
    nodes: Registry[Any] = field(default_factory=lambda: Registry(GROUP_PREFIX + "nodes", "node adapter"))

    def groups(self) -> dict[str, Registry[Any]]:
        return {"workloads": self.workloads, "expectations": self.expectations, "runners": self.runners,
                "reporters": self.reporters, "nodes": self.nodes}


@cache
def default_registries() -> Registries:
    """The process-wide registries (entry points are read once)."""
    return Registries()
