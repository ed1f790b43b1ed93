"""A fault as a value: what to do (`kind`), to whom (`targets`), with what (`params`), when (`at`, seconds from
the start of the run window) and for how long (`duration`, seconds; None = until the run's final heal).

Two written forms, both checked by the same parameter schemas (`params.Param`), so an error names the field:

* the scenario form, one flat table per fault (`[[workloads.faults]]`):
  `{fault = "partition", at = "20s", groups = [["validator-0"], ["validator-1"]], duration = "15s"}`;
* the JSON form of `faults.json` (the schedule a nemesis recorded): `{"kind", "targets", "params", "at",
  "duration", "origin"}`.

Every kind maps onto one `NodeControl` operation (runners/shared/control.py) and needs its capabilities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.params import DEFAULT_SOURCE, Param, ParamSchema, Source, field_error

MAX_LINK_DELAY_MS = 60_000.0  # NodeControl.delay's bound


class FaultKind(StrEnum):
    RESTART = "restart"      # stop (SIGTERM) and start again at once
    STOP = "stop"            # stop, start again after `duration`
    KILL = "kill"            # SIGKILL, start again after `duration`
    PAUSE = "pause"          # SIGSTOP / docker pause, resume after `duration`
    PARTITION = "partition"  # cut the network between `groups`, heal after `duration`
    ISOLATE = "isolate"      # cut one node off from every other node
    DELAY = "delay"          # delay traffic between nodes a and b by `ms` ± `jitter_ms`
    LOSS = "loss"            # drop `percent` % of the packets between a and b
    JOIN = "join"            # start a new node mid-run (it stays)


# The node-control capabilities each kind needs (a runner must offer all of them).
CAPABILITIES: Mapping[FaultKind, frozenset[str]] = MappingProxyType({
    FaultKind.RESTART: frozenset({"restart"}),
    FaultKind.STOP: frozenset({"stop", "start"}),
    FaultKind.KILL: frozenset({"kill", "start"}),
    FaultKind.PAUSE: frozenset({"pause"}),
    FaultKind.PARTITION: frozenset({"partition"}),
    FaultKind.ISOLATE: frozenset({"partition"}),
    FaultKind.DELAY: frozenset({"delay"}),
    FaultKind.LOSS: frozenset({"loss"}),
    FaultKind.JOIN: frozenset({"join"}),
})

# Kinds acting on one node (its state, not the network): two of them must not overlap on the same node.
NODE_KINDS = frozenset({FaultKind.RESTART, FaultKind.STOP, FaultKind.KILL, FaultKind.PAUSE})
# Kinds that end: removed after `duration` (or by the final heal); restart and join have no duration.
LASTING_KINDS = frozenset(FaultKind) - {FaultKind.RESTART, FaultKind.JOIN}
# How the targets are written in the scenario form: one node, two link ends, or none (groups / join).
TARGET_FIELDS: Mapping[FaultKind, tuple[str, ...]] = MappingProxyType({
    FaultKind.RESTART: ("node",), FaultKind.STOP: ("node",), FaultKind.KILL: ("node",),
    FaultKind.PAUSE: ("node",), FaultKind.ISOLATE: ("node",), FaultKind.PARTITION: (),
    FaultKind.DELAY: ("a", "b"), FaultKind.LOSS: ("a", "b"), FaultKind.JOIN: (),
})

_NODE = Param("node", "str", example="validator-1", help="the node's name")
AT = Param("at", "duration", minimum=0, example="20s", help="start, from the start of the run window")
DURATION = Param("duration", "duration", default=None, minimum=0, exclusive_minimum=True, example="15s",
                 help="how long the fault lasts; absent: until the run's final heal")

# The parameters of each kind besides its targets, `at` and `duration` (the JSON form's `params`).
KIND_PARAMS: Mapping[FaultKind, ParamSchema] = MappingProxyType({
    FaultKind.RESTART: ParamSchema(), FaultKind.STOP: ParamSchema(), FaultKind.KILL: ParamSchema(),
    FaultKind.PAUSE: ParamSchema(), FaultKind.ISOLATE: ParamSchema(),
    FaultKind.PARTITION: ParamSchema((
        Param("groups", "list", min_items=1, example=[["validator-0"], ["validator-1", "validator-2"]],
              item=Param("group", "list", min_items=1, item=_NODE),
              help="groups of nodes that can no longer reach each other; nodes in no group form one more"),)),
    FaultKind.DELAY: ParamSchema((
        Param("ms", "number", minimum=0, exclusive_minimum=True, maximum=MAX_LINK_DELAY_MS, example=200,
              unit="ms"),
        Param("jitter_ms", "number", default=0.0, minimum=0, maximum=MAX_LINK_DELAY_MS, example=50, unit="ms"),)),
    FaultKind.LOSS: ParamSchema((
        Param("percent", "number", minimum=0, exclusive_minimum=True, maximum=100, example=30),)),
    FaultKind.JOIN: ParamSchema((
        Param("role", "str", default="validator", choices=("validator", "executor")),
        Param("peers", "list", default=(), item=_NODE, example=["validator-0"],
              help="the nodes it dials (default: the topology's rule)"),
        Param("in_genesis", "bool", default=False,
              help="one of the topology's standby nodes, whose stake is in the genesis (else no stake)"),)),
})


def _table_schema(kind: FaultKind) -> ParamSchema:
    targets = tuple(Param(name, "str", example=example, help="a link end")
                    if name != "node" else _NODE for name, example in
                    zip(TARGET_FIELDS[kind], ("validator-0", "validator-1"), strict=False))
    lasting = (DURATION,) if kind in LASTING_KINDS else ()
    return ParamSchema((AT, *targets, *KIND_PARAMS[kind].params, *lasting))


# The scenario form: an array of tables, each with fault = "<kind>" (nemesis parameter `faults`).
TABLE_SCHEMAS: tuple[tuple[str, ParamSchema], ...] = tuple((kind.value, _table_schema(kind)) for kind in FaultKind)
FAULT_TABLES = Param("faults", "tables", default=(), variants=TABLE_SCHEMAS, tag="fault",
                     help="a scripted schedule: one table per fault")


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    targets: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    at: float = 0.0
    duration: float | None = None
    origin: str = "scripted"  # "scripted", or the random schedule that generated it ("restarts", …)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    @property
    def end(self) -> float | None:
        """When it is removed (seconds from the window start); None: it lasts until the final heal."""
        if self.kind not in LASTING_KINDS:
            return self.at
        return None if self.duration is None else self.at + self.duration

    def capabilities(self) -> frozenset[str]:
        return CAPABILITIES[self.kind]

    def groups(self) -> list[list[str]]:
        return [list(group) for group in self.params.get("groups", ())]

    def describe(self) -> str:
        """One line: 'partition [validator-0] | [validator-1, validator-2] at 20 s for 15 s'."""
        if self.kind is FaultKind.PARTITION:
            what = " | ".join(f"[{', '.join(group)}]" for group in self.groups())
        elif self.kind in (FaultKind.DELAY, FaultKind.LOSS):
            amount = (f"{self.params['ms']:g} ms ± {self.params.get('jitter_ms', 0):g} ms"
                      if self.kind is FaultKind.DELAY else f"{self.params['percent']:g} %")
            what = f"{self.targets[0]} <-> {self.targets[1]} {amount}"
        elif self.kind is FaultKind.JOIN:
            what = f"a {self.params.get('role', 'validator')}" + (" (in genesis)" if self.params.get("in_genesis")
                                                                    else "")
        else:
            what = self.targets[0]
        lasting = "" if self.kind not in LASTING_KINDS else (
            f" for {self.duration:g} s" if self.duration is not None else " until the final heal")
        return f"{self.kind.value} {what} at {self.at:g} s{lasting}"

    # The JSON form (faults.json) -------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        params = {key: _plain(value) for key, value in self.params.items()}
        return {"kind": self.kind.value, "targets": list(self.targets), "params": params, "at": self.at,
                "duration": self.duration, "origin": self.origin}

    @classmethod
    def from_json(cls, data: Any, where: str = "fault", source: Source = DEFAULT_SOURCE) -> Fault:
        """A fault from its JSON form, every field checked; errors name `where` (e.g. `faults[2].params.ms`)."""
        if not isinstance(data, Mapping):
            raise field_error(where, f"got {data!r}", 'an object with "kind", "targets", "params", "at"', source)
        kinds = ", ".join(f'"{kind.value}"' for kind in FaultKind)
        kind_text = data.get("kind")
        if kind_text not in {kind.value for kind in FaultKind}:
            raise field_error(f"{where}.kind", f"got {kind_text!r}", f"one of {kinds}", source)
        kind = FaultKind(kind_text)
        unknown = sorted(set(data) - {"kind", "targets", "params", "at", "duration", "origin"})
        if unknown:
            raise PlanError(f"{source.location()}: {where}.{unknown[0]}: unknown field",
                            "remove it; a fault has kind, targets, params, at, duration and origin")
        targets = Param("targets", "list", item=_NODE).check(data.get("targets", []), f"{where}.targets",
                                                              fallback=source)
        params_value = data.get("params", {})
        if not isinstance(params_value, Mapping):
            raise field_error(f"{where}.params", f"got {params_value!r}", "an object", source)
        params = KIND_PARAMS[kind].resolve(params_value, f"{where}.params", fallback=source)
        if "at" not in data:
            raise PlanError(f"{source.location()}: {where}.at: missing", f"give it {AT.expected()}")
        at = AT.check(data["at"], f"{where}.at", fallback=source)
        duration = data.get("duration")
        if duration is not None:
            if kind not in LASTING_KINDS:
                raise field_error(f"{where}.duration", f"got {duration!r}", f"null (a {kind.value} has no duration)",
                                  source)
            duration = DURATION.check(duration, f"{where}.duration", fallback=source)
        origin = data.get("origin", "scripted")
        if not isinstance(origin, str) or not origin:
            raise field_error(f"{where}.origin", f"got {origin!r}", "a string", source)
        fault = cls(kind, tuple(targets), params, at, duration, origin)
        fault.check(where, source, expected_targets=True)
        return fault

    # The scenario form (a [[workloads.faults]] table) ----------------------------------------------

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "fault", source: Source = DEFAULT_SOURCE,
                   origin: str = "scripted") -> Fault:
        """A fault from a scenario table already checked by `FAULT_TABLES` (durations in seconds)."""
        kind = FaultKind(table["fault"])
        params = {param.name: table[param.name] for param in KIND_PARAMS[kind] if param.name in table}
        if kind is FaultKind.PARTITION:
            targets = tuple(name for group in params["groups"] for name in group)
        else:
            targets = tuple(str(table[name]) for name in TARGET_FIELDS[kind])
        fault = cls(kind, targets, params, float(table["at"]), table.get("duration"), origin)
        fault.check(where, source)
        return fault

    def to_table(self) -> dict[str, Any]:
        """The scenario form (what `replay` feeds back to the nemesis as a scripted schedule)."""
        table: dict[str, Any] = {"fault": self.kind.value, "at": self.at}
        if self.kind is not FaultKind.PARTITION:
            table.update(zip(TARGET_FIELDS[self.kind], self.targets, strict=False))
        table.update({key: _plain(value) for key, value in self.params.items()})
        if self.duration is not None:
            table["duration"] = self.duration
        return table

    # Checks beyond each value's own schema ---------------------------------------------------------

    def check(self, where: str, source: Source = DEFAULT_SOURCE, expected_targets: bool = False) -> None:
        """What no single field can say: a node twice in a partition, a link with one end, jitter above the
        delay, targets that do not match the kind (JSON form)."""
        if self.kind is FaultKind.PARTITION:
            seen: set[str] = set()
            for i, group in enumerate(self.groups()):
                for j, name in enumerate(group):
                    if name in seen:
                        raise PlanError(f"{source.location()}: {where}.groups[{i}][{j}]: {name} is in two groups",
                                        "name every node at most once; nodes in no group form one more group")
                    seen.add(name)
            if expected_targets and sorted(self.targets) != sorted(seen):
                raise field_error(f"{where}.targets", f"got {list(self.targets)}",
                                  f"the nodes of params.groups ({sorted(seen)})", source)
        elif expected_targets and len(self.targets) != len(TARGET_FIELDS[self.kind]):
            count = len(TARGET_FIELDS[self.kind])
            raise field_error(f"{where}.targets", f"got {list(self.targets)}",
                              f"a list of {count} node name(s) for a {self.kind.value}", source)
        if self.kind in (FaultKind.DELAY, FaultKind.LOSS) and self.targets[0] == self.targets[1]:
            raise PlanError(f"{source.location()}: {where}.b: a link needs two different nodes, got "
                            f"{self.targets[0]} twice", f"set {where}.b to another node")
        if self.kind is FaultKind.DELAY and self.params.get("jitter_ms", 0) > self.params["ms"]:
            raise field_error(f"{where}.jitter_ms", f"got {self.params['jitter_ms']:g}",
                              f"at most ms ({self.params['ms']:g})", source)

    def nodes(self) -> set[str]:
        """Every node this fault names (targets, and a join's peers)."""
        return set(self.targets) | set(self.params.get("peers", ()))


def _plain(value: Any) -> Any:
    """Tuples (as the schemas may return defaults) as lists, so the JSON form is stable."""
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def capabilities_of(faults: Iterable[Fault]) -> frozenset[str]:
    return frozenset().union(*(fault.capabilities() for fault in faults))


def node_overlaps(faults: Sequence[Fault], guard_s: float = 0.0) -> tuple[int, int] | None:
    """The indexes of the first two node faults (restart, stop, kill, pause) acting on the same node at the
    same time, or None. A fault lasting until the final heal overlaps everything after it; `guard_s` is the
    time a restart is taken to last."""
    spans: dict[str, list[tuple[float, float, int]]] = {}
    for index, fault in enumerate(faults):
        if fault.kind not in NODE_KINDS:
            continue
        end = fault.end
        stop = float("inf") if end is None else max(end, fault.at + guard_s)
        for name in fault.targets:
            for start, finish, other in spans.get(name, []):
                if fault.at < finish and start < stop:
                    return other, index
            spans.setdefault(name, []).append((fault.at, stop, index))
    return None
