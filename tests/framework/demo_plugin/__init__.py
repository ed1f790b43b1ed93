"""A third-party plug-in distribution, as a user would write one: it adds a workload and an expectation to
nomos-testing by declaring entry points (the tests install it by putting a dist-info next to it on sys.path).

* `height_sampler` (workload): samples every node's height every `every_s` seconds into the event history;
  with `fail_after_s` it raises after that long (to prove a failing workload ends the run window at once).
* `events_recorded` (expectation): at least `minimum` events of `kind` were recorded.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, ClassVar

from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.params import Param, ParamSchema
from nomos_testing.workloads.base import Workload

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext


class HeightSampler(Workload):
    kind: ClassVar[str] = "height_sampler"
    summary: ClassVar[str] = "samples node heights into events.jsonl"
    params: ClassVar[ParamSchema] = ParamSchema((
        Param("every_s", "number", default=0.5, minimum=0.05, maximum=60, example=0.5),
        Param("fail_after_s", "number", default=0, minimum=0, maximum=3600, example=2,
              help="raise after this many seconds (0: never)"),
    ))

    def __init__(self, every_s: float, fail_after_s: float) -> None:
        self.every_s = every_s
        self.fail_after_s = fail_after_s

    async def start(self, ctx: RunContext) -> None:
        began = time.monotonic()
        while True:
            for client in ctx.running_clients():
                info = await client.consensus_info()
                ctx.events.emit("workload.height_sample", node=client.name, height=info.get("height"))
            if self.fail_after_s and time.monotonic() - began >= self.fail_after_s:
                raise RuntimeError(f"height_sampler gave up after {self.fail_after_s:g} s (on purpose)")
            await asyncio.sleep(self.every_s)


class EventsRecorded(Expectation):
    kind: ClassVar[str] = "events_recorded"
    params: ClassVar[ParamSchema] = ParamSchema((
        Param("event", "str", example="workload.height_sample"),
        Param("minimum", "int", default=1, minimum=0, maximum=10**9, example=3),
    ))

    def __init__(self, event: str, minimum: int) -> None:
        self.event = event
        self.minimum = minimum

    async def evaluate(self, ctx: RunContext) -> Outcome:
        seen = ctx.events.counts().get(self.event, 0)
        return Outcome(seen >= self.minimum, f"{seen} {self.event} event(s), at least {self.minimum} expected",
                       {"seen": seen, "minimum": self.minimum})
