"""Schedules of faults, generated up front from a seed: the same seed, nodes and window give the same list.

Each random schedule is a small value with the parameters a scenario writes (`[workloads.restarts]`, …) and a
`generate(rng, nodes, window_s, busy)` that returns faults with `at` in [0, window_s). One loop serves every
kind, the original tool's restart loop generalised:

1. wait a uniform random delay in [min_delay, max_delay] after the previous fault of this schedule ended
   (a restart ends as it starts);
2. pick a random eligible node whose cooldown has expired and which no other node fault holds at the time
   (if every node is cooling down, wait for the earliest cooldown);
3. record the fault and set that node's cooldown to now + target_cooldown.

Node faults (restart, stop, kill, pause) never overlap on one node: a later schedule avoids what earlier ones
(the scripted faults first) hold. Partitions and link faults run one at a time per schedule.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from nomos_testing.errors import PlanError
from nomos_testing.faults.model import NODE_KINDS, Fault, FaultKind
from nomos_testing.params import DEFAULT_SOURCE, Param, ParamSchema, Source, field_error
from nomos_testing.topology.model import Role

RESTART_GUARD_S = 5.0  # how long a restart is taken to hold its node when schedules avoid each other


@dataclass(frozen=True)
class NodeInfo:
    name: str
    role: Role


class Busy:
    """The time spans in which node faults already hold each node."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float]]] = {}

    def add(self, fault: Fault) -> None:
        if fault.kind not in NODE_KINDS:
            return
        end = fault.end
        stop = float("inf") if end is None else max(end, fault.at + RESTART_GUARD_S)
        for name in fault.targets:
            self.spans.setdefault(name, []).append((fault.at, stop))

    def free(self, name: str, start: float, stop: float) -> bool:
        return all(stop <= begin or finish <= start for begin, finish in self.spans.get(name, []))


def _delay_params(min_delay: float, max_delay: float, cooldown: float) -> tuple[Param, ...]:
    return (
        Param("min_delay", "duration", default=min_delay, minimum=0, exclusive_minimum=True, example="10s",
              help="shortest wait before the next fault"),
        Param("max_delay", "duration", default=max_delay, minimum=0, exclusive_minimum=True, example="30s",
              help="longest wait before the next fault"),
        Param("target_cooldown", "duration", default=cooldown, minimum=0, example="60s",
              help="a node is not picked again for this long after a fault on it began"),
    )


_DURATION = Param("duration", "duration", default=10.0, minimum=0, exclusive_minimum=True, example="10s",
                  help="how long each fault lasts")
_ROLES = (
    Param("include_validators", "bool", default=True),
    Param("include_executors", "bool", default=True),
    Param("allow_sole_validator", "bool", default=False,
          help="also act on the only validator (the chain stalls until it is back)"),
)


@dataclass(frozen=True)
class RandomSchedule:
    """Base of the random schedules; `name` is the nemesis parameter (and the faults' `origin`)."""

    name: ClassVar[str] = ""
    kind: ClassVar[FaultKind]
    schema: ClassVar[ParamSchema]
    min_delay: float = 10.0
    max_delay: float = 30.0
    target_cooldown: float = 0.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RandomSchedule:
        return cls(**params)

    def check(self, nodes: Sequence[NodeInfo], where: str, sources: Mapping[str, Source]) -> None:
        """Errors no single value shows (bounds out of order, no node to act on), naming the field."""
        if self.max_delay < self.min_delay:
            raise field_error(f"{where}.max_delay", f"got {self.max_delay:g}", f"at least min_delay "
                              f"({self.min_delay:g} s)", _source(sources, "max_delay"))

    def generate(self, rng: random.Random, nodes: Sequence[NodeInfo], window_s: float, busy: Busy) -> list[Fault]:
        faults: list[Fault] = []
        cooldown: dict[str, float] = {}
        ready_at = 0.0
        while True:
            at = ready_at + rng.uniform(self.min_delay, self.max_delay)
            fault = self._next(rng, nodes, at, window_s, busy, cooldown)
            if fault is None:
                return faults
            faults.append(fault)
            busy.add(fault)
            end = fault.end
            ready_at = fault.at if end is None or self.kind is FaultKind.RESTART else end
            if end is None:
                return faults

    def _next(self, rng: random.Random, nodes: Sequence[NodeInfo], at: float, window_s: float, busy: Busy,
              cooldown: dict[str, float]) -> Fault | None:
        raise NotImplementedError


@dataclass(frozen=True)
class NodeSchedule(RandomSchedule):
    """Random faults on one node at a time (restart, stop, kill, pause)."""

    duration: float = 10.0
    include_validators: bool = True
    include_executors: bool = True
    allow_sole_validator: bool = False

    def eligible(self, nodes: Sequence[NodeInfo]) -> list[str]:
        validators = [n.name for n in nodes if n.role is Role.VALIDATOR]
        executors = [n.name for n in nodes if n.role is Role.EXECUTOR]
        chosen = []
        if self.include_validators and (len(validators) > 1 or self.allow_sole_validator):
            chosen += validators
        if self.include_executors:
            chosen += executors
        return chosen

    def check(self, nodes: Sequence[NodeInfo], where: str, sources: Mapping[str, Source]) -> None:
        super().check(nodes, where, sources)
        if not self.include_validators and not self.include_executors:
            raise PlanError(f"{_source(sources, 'include_validators').location()}: {where}: includes neither "
                            "validators nor executors", f"set {where}.include_validators or include_executors "
                            "to true")
        if not self.eligible(nodes):
            validators = sum(1 for n in nodes if n.role is Role.VALIDATOR)
            why = (f"the only validator is left alone (set {where}.allow_sole_validator = true to act on it)"
                   if self.include_validators and validators == 1 else "the topology has no such node")
            raise PlanError(f"{_source(sources, '').location()}: {where}: no node to act on: {why}",
                            f"include another role, or add nodes to the topology ({why})")

    def _span(self) -> float:
        return RESTART_GUARD_S if self.kind is FaultKind.RESTART else self.duration

    def _next(self, rng: random.Random, nodes: Sequence[NodeInfo], at: float, window_s: float, busy: Busy,
              cooldown: dict[str, float]) -> Fault | None:
        targets = self.eligible(nodes)
        while at < window_s:
            cooling = [name for name in targets if cooldown.get(name, 0.0) > at]
            ready = [name for name in targets if name not in cooling and busy.free(name, at, at + self._span())]
            if ready:
                name = rng.choice(ready)
                cooldown[name] = at + self.target_cooldown
                duration = None if self.kind is FaultKind.RESTART else self.duration
                return Fault(self.kind, (name,), {}, round(at, 3), duration, self.name)
            if len(cooling) == len(targets):  # all cooling down: wait for the earliest
                at = min(cooldown[name] for name in cooling)
            else:  # held by other faults: try again after the next delay
                at += rng.uniform(self.min_delay, self.max_delay)
        return None


@dataclass(frozen=True)
class RestartSchedule(NodeSchedule):
    """The original tool's chaos: restart a random node every [min_delay, max_delay] s."""

    name: ClassVar[str] = "restarts"
    kind: ClassVar[FaultKind] = FaultKind.RESTART
    schema: ClassVar[ParamSchema] = ParamSchema((*_delay_params(10.0, 30.0, 60.0), *_ROLES))
    target_cooldown: float = 60.0

    def check(self, nodes: Sequence[NodeInfo], where: str, sources: Mapping[str, Source]) -> None:
        super().check(nodes, where, sources)
        if self.target_cooldown < self.min_delay:
            raise field_error(f"{where}.target_cooldown", f"got {self.target_cooldown:g}",
                              f"at least min_delay ({self.min_delay:g} s)", _source(sources, "target_cooldown"))


_NODE_SCHEMA = ParamSchema((*_delay_params(10.0, 30.0, 0.0), _DURATION, *_ROLES))


@dataclass(frozen=True)
class PauseSchedule(NodeSchedule):
    """Random pauses (SIGSTOP / docker pause), each resumed after `duration`."""

    name: ClassVar[str] = "pauses"
    kind: ClassVar[FaultKind] = FaultKind.PAUSE
    schema: ClassVar[ParamSchema] = _NODE_SCHEMA


@dataclass(frozen=True)
class KillSchedule(NodeSchedule):
    """Random kills (SIGKILL), each started again after `duration`."""

    name: ClassVar[str] = "kills"
    kind: ClassVar[FaultKind] = FaultKind.KILL
    schema: ClassVar[ParamSchema] = _NODE_SCHEMA


@dataclass(frozen=True)
class StopSchedule(NodeSchedule):
    """Random stops (SIGTERM), each started again after `duration`."""

    name: ClassVar[str] = "stops"
    kind: ClassVar[FaultKind] = FaultKind.STOP
    schema: ClassVar[ParamSchema] = _NODE_SCHEMA


@dataclass(frozen=True)
class PartitionSchedule(RandomSchedule):
    """Random partitions, one at a time: a random group of `sizes` nodes is cut off from the rest."""

    name: ClassVar[str] = "partitions"
    kind: ClassVar[FaultKind] = FaultKind.PARTITION
    schema: ClassVar[ParamSchema] = ParamSchema((
        *_delay_params(20.0, 40.0, 0.0)[:2], _DURATION,
        Param("sizes", "list", default=(), item=Param("size", "int", minimum=1), example=[1, 2],
              help="sizes of the group cut off, one picked at random each time (default: any minority)"),
    ))
    duration: float = 10.0
    sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(self.sizes))

    def choices(self, count: int) -> list[int]:
        return list(self.sizes) or list(range(1, max(1, (count - 1) // 2) + 1))

    def check(self, nodes: Sequence[NodeInfo], where: str, sources: Mapping[str, Source]) -> None:
        super().check(nodes, where, sources)
        if len(nodes) < 2:
            raise PlanError(f"{_source(sources, '').location()}: {where}: a partition needs at least 2 nodes",
                            "add nodes to the topology, or remove the partitions")
        for index, size in enumerate(self.sizes):
            if size >= len(nodes):
                raise field_error(f"{where}.sizes[{index}]", f"got {size}", f"at most {len(nodes) - 1} (the "
                                  f"topology has {len(nodes)} nodes)", _source(sources, "sizes"))

    def _next(self, rng: random.Random, nodes: Sequence[NodeInfo], at: float, window_s: float, busy: Busy,
              cooldown: dict[str, float]) -> Fault | None:
        if at >= window_s:
            return None
        names = [node.name for node in nodes]
        cut = sorted(rng.sample(names, rng.choice(self.choices(len(names)))))
        rest = [name for name in names if name not in cut]
        return Fault(FaultKind.PARTITION, (*cut, *rest), {"groups": [cut, rest]}, round(at, 3), self.duration,
                     self.name)


@dataclass(frozen=True)
class LinkSchedule(RandomSchedule):
    """Random shaped links, one at a time: a random pair of nodes gets the delay or the loss."""

    duration: float = 10.0

    def check(self, nodes: Sequence[NodeInfo], where: str, sources: Mapping[str, Source]) -> None:
        super().check(nodes, where, sources)
        if len(nodes) < 2:
            raise PlanError(f"{_source(sources, '').location()}: {where}: a link needs at least 2 nodes",
                            f"add nodes to the topology, or remove {where}")

    def link_params(self) -> dict[str, Any]:
        raise NotImplementedError

    def _next(self, rng: random.Random, nodes: Sequence[NodeInfo], at: float, window_s: float, busy: Busy,
              cooldown: dict[str, float]) -> Fault | None:
        if at >= window_s:
            return None
        a, b = sorted(rng.sample([node.name for node in nodes], 2))
        return Fault(self.kind, (a, b), self.link_params(), round(at, 3), self.duration, self.name)


@dataclass(frozen=True)
class DelaySchedule(LinkSchedule):
    """Random delayed links: `ms` ± `jitter_ms` between a random pair of nodes for `duration`."""

    name: ClassVar[str] = "delays"
    kind: ClassVar[FaultKind] = FaultKind.DELAY
    schema: ClassVar[ParamSchema] = ParamSchema((
        *_delay_params(10.0, 30.0, 0.0)[:2], _DURATION,
        Param("ms", "number", default=200.0, minimum=0, exclusive_minimum=True, maximum=60_000, unit="ms"),
        Param("jitter_ms", "number", default=0.0, minimum=0, maximum=60_000, unit="ms"),
    ))
    ms: float = 200.0
    jitter_ms: float = 0.0

    def check(self, nodes: Sequence[NodeInfo], where: str, sources: Mapping[str, Source]) -> None:
        super().check(nodes, where, sources)
        if self.jitter_ms > self.ms:
            raise field_error(f"{where}.jitter_ms", f"got {self.jitter_ms:g}", f"at most ms ({self.ms:g})",
                              _source(sources, "jitter_ms"))

    def link_params(self) -> dict[str, Any]:
        return {"ms": self.ms, "jitter_ms": self.jitter_ms}


@dataclass(frozen=True)
class LossSchedule(LinkSchedule):
    """Random lossy links: `percent` % of the packets between a random pair of nodes dropped for `duration`."""

    name: ClassVar[str] = "losses"
    kind: ClassVar[FaultKind] = FaultKind.LOSS
    schema: ClassVar[ParamSchema] = ParamSchema((
        *_delay_params(10.0, 30.0, 0.0)[:2], _DURATION,
        Param("percent", "number", default=30.0, minimum=0, exclusive_minimum=True, maximum=100),
    ))
    percent: float = 30.0

    def link_params(self) -> dict[str, Any]:
        return {"percent": self.percent}


# nemesis parameter -> schedule, in the order they are generated (earlier ones win a node first)
RANDOM_SCHEDULES: dict[str, type[RandomSchedule]] = {
    cls.name: cls for cls in (RestartSchedule, PauseSchedule, KillSchedule, StopSchedule, PartitionSchedule,
                              DelaySchedule, LossSchedule)
}


def _source(sources: Mapping[str, Source], name: str) -> Source:
    return sources.get(name) or sources.get("") or DEFAULT_SOURCE


def schedule_rng(seed: int, name: str) -> random.Random:
    """One generator per schedule, so adding a schedule leaves the others' faults as they were."""
    return random.Random(f"nomos-nemesis:{seed}:{name}")


def generate(scripted: Sequence[Fault], schedules: Sequence[RandomSchedule], seed: int,
             nodes: Sequence[NodeInfo], window_s: float) -> list[Fault]:
    """The whole schedule: the scripted faults and every random schedule's, sorted by start (stable)."""
    busy = Busy()
    for fault in scripted:
        busy.add(fault)
    faults = list(scripted)
    for schedule in schedules:
        faults += schedule.generate(schedule_rng(seed, schedule.name), nodes, window_s, busy)
    return sorted(faults, key=lambda fault: fault.at)
