"""The nemesis in the builder DSL, shaped like the original tool's `chaos_with(|c| c.restart()…apply())`:

    ScenarioBuilder.topology_with(lambda t: t.validators(3).executors(1)) \\
        .chaos_with(lambda c: c.restart().min_delay(timedelta(seconds=10)).max_delay(timedelta(seconds=30))
                               .target_cooldown(timedelta(seconds=60)).apply()
                               .fault(at="20s", kind="partition", groups=[["validator-0"]], duration="15s")
                               .recovery(20)) \\
        .build()

Every value ends up as the nemesis workload's parameters (the same as `[[workloads]] kind = "nemesis"` in a
file), so validation and its errors are the same; the source of each value names the builder call.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from nomos_testing.faults.schedule import RANDOM_SCHEDULES


def plain(value: Any) -> Any:
    """timedelta as seconds (the parameters take numbers of seconds or strings like "15s"); containers copied."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value


class ScheduleConfigurator:
    """One random schedule (`restarts`, `pauses`, …): fluent setters, then `apply()` back to the chaos."""

    def __init__(self, chaos: ChaosConfigurator, name: str, values: dict[str, Any]) -> None:
        self._chaos = chaos
        self.name = name
        self.values = values

    def set(self, name: str, value: Any) -> ScheduleConfigurator:
        self.values[name] = plain(value)
        return self

    def min_delay(self, value: timedelta | float | str) -> ScheduleConfigurator:
        return self.set("min_delay", value)

    def max_delay(self, value: timedelta | float | str) -> ScheduleConfigurator:
        return self.set("max_delay", value)

    def target_cooldown(self, value: timedelta | float | str) -> ScheduleConfigurator:
        return self.set("target_cooldown", value)

    def duration(self, value: timedelta | float | str) -> ScheduleConfigurator:
        return self.set("duration", value)

    def include_validators(self, include: bool = True) -> ScheduleConfigurator:
        return self.set("include_validators", include)

    def include_executors(self, include: bool = True) -> ScheduleConfigurator:
        return self.set("include_executors", include)

    def allow_sole_validator(self, allow: bool = True) -> ScheduleConfigurator:
        return self.set("allow_sole_validator", allow)

    def apply(self) -> ChaosConfigurator:
        return self._chaos


class ChaosConfigurator:
    """What `ScenarioBuilder.chaos_with` hands its function: random schedules, scripted faults, recovery."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.calls: dict[str, str] = {}  # parameter path -> the call that set it (for error messages)

    def _schedule(self, name: str, method: str, values: dict[str, Any]) -> ScheduleConfigurator:
        table = self.params.setdefault(name, {})
        self.calls[name] = f"ChaosConfigurator.{method}(…)"
        configurator = ScheduleConfigurator(self, name, table)
        for key, value in values.items():
            configurator.set(key, value)
        return configurator

    def restart(self, **values: Any) -> ScheduleConfigurator:
        """Random restarts (the original's chaos): min_delay 10 s, max_delay 30 s, target_cooldown 60 s."""
        return self._schedule("restarts", "restart", values)

    def pauses(self, **values: Any) -> ScheduleConfigurator:
        return self._schedule("pauses", "pauses", values)

    def kills(self, **values: Any) -> ScheduleConfigurator:
        return self._schedule("kills", "kills", values)

    def stops(self, **values: Any) -> ScheduleConfigurator:
        return self._schedule("stops", "stops", values)

    def partitions(self, **values: Any) -> ScheduleConfigurator:
        return self._schedule("partitions", "partitions", values)

    def delays(self, **values: Any) -> ScheduleConfigurator:
        return self._schedule("delays", "delays", values)

    def losses(self, **values: Any) -> ScheduleConfigurator:
        return self._schedule("losses", "losses", values)

    def fault(self, at: timedelta | float | str, kind: str, duration: timedelta | float | str | None = None,
              **params: Any) -> ChaosConfigurator:
        """One scripted fault, e.g. fault(at="20s", kind="partition", groups=[["validator-0"]], duration="15s")."""
        table: dict[str, Any] = {"fault": kind, "at": plain(at), **{k: plain(v) for k, v in params.items()}}
        if duration is not None:
            table["duration"] = plain(duration)
        faults = self.params.setdefault("faults", [])
        self.calls[f"faults[{len(faults)}]"] = f"ChaosConfigurator.fault({kind!r}, …)"
        faults.append(table)
        return self

    def recovery(self, seconds: timedelta | float | str) -> ChaosConfigurator:
        """Seconds after the final heal before expectations are judged."""
        self.params["recovery"] = plain(seconds)
        self.calls["recovery"] = "ChaosConfigurator.recovery(…)"
        return self

    def seed(self, seed: int) -> ChaosConfigurator:
        """Seed of the random schedules (default: the plan's seed)."""
        self.params["seed"] = seed
        self.calls["seed"] = "ChaosConfigurator.seed(…)"
        return self


SCHEDULE_NAMES = tuple(RANDOM_SCHEDULES)
