"""A PromQL threshold: `query op threshold` must hold for every series the query returns, evaluated as an
instant query when the run is judged or reduced (`min`, `max`, `avg`, `last`) over a range query from when
capture started to evaluation (docs/scenarios.md, `metric`).

A query Prometheus refuses (bad PromQL), an empty result, a series without a finite value, or Prometheus
unreachable is a failure naming the query and the cause, never a pass. The runner must have a Prometheus
(capability `prometheus`): a plan that needs one on a runner without it stops before deployment.
"""

from __future__ import annotations

import math
import operator
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from nomos_testing.errors import PlanError
from nomos_testing.expectations.base import Expectation, Outcome
from nomos_testing.observe.prometheus import PrometheusClient, PrometheusError, Series
from nomos_testing.params import Param, ParamSchema
from nomos_testing.runners.shared.prometheus import PROMETHEUS_CAPABILITY

if TYPE_CHECKING:
    from nomos_testing.scenario.context import RunContext
    from nomos_testing.scenario.plan import ScenarioPlan

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "min": min, "max": max, "avg": lambda values: sum(values) / len(values), "last": lambda values: values[-1],
}
OVER = ("instant", *REDUCERS)
MIN_STEP_S = 1.0
MAX_POINTS = 500


class MetricThreshold(Expectation):
    kind: ClassVar[str] = "metric"
    summary: ClassVar[str] = "a PromQL query compared with a threshold, for every series it returns"
    requires: ClassVar[frozenset[str]] = frozenset({PROMETHEUS_CAPABILITY})
    params: ClassVar[ParamSchema] = ParamSchema((
        Param("query", "str", example="consensus_tip_height",
              help="PromQL; every series it returns is judged (series carry the labels `node` and `role`)"),
        Param("op", "str", choices=tuple(OPERATORS), example=">",
              help="comparison of each series' value with the threshold: value op threshold"),
        Param("threshold", "number", example=0, help="the number each series' value is compared with"),
        Param("over", "str", default="instant", choices=OVER, example="min",
              help="`instant`: the value when the run is judged; `min` / `max` / `avg` / `last`: reduced over "
                   "the run window (capture start to evaluation)"),
        Param("name", "str", default="", example="height-grew",
              help="the result's name in the report (`metric:<name>`); default `metric: <query> <op> <threshold>`"),
    ))

    def __init__(self, query: str, op: str, threshold: float, over: str = "instant", name: str = "") -> None:
        self.query = query
        self.op = op
        self.threshold = float(threshold)
        self.over = over
        self.label = name
        self.capture_start: float | None = None

    @classmethod
    def check_plan(cls, params: Mapping[str, Any], plan: ScenarioPlan, where: str) -> None:
        if not str(params.get("query", "")).strip():
            source = plan.source_of(f"{where}.query")
            raise PlanError(f"{source.location()}: {where} ({cls.kind}).query is empty",
                            'give a PromQL query, e.g. query = "consensus_tip_height"')

    @property
    def name(self) -> str:
        return f"metric:{self.label}" if self.label else f"metric: {self.query} {self.op} {self.threshold:g}"

    async def start_capture(self, ctx: RunContext) -> None:
        self.capture_start = time.time()

    async def evaluate(self, ctx: RunContext) -> Outcome:
        figures: dict[str, Any] = {"query": self.query, "op": self.op, "threshold": self.threshold,
                                   "over": self.over, "prometheus_url": ctx.prometheus_url}
        if not ctx.prometheus_url:
            return Outcome(False, f"query {self.query!r}: this run has no Prometheus to ask", figures)
        client = PrometheusClient(ctx.prometheus_url)
        end = time.time()
        try:
            if self.over == "instant":
                found = await client.query(self.query, at=end)
            else:
                start = self.capture_start if self.capture_start is not None else end
                figures["window_s"] = round(end - start, 3)
                step = max(MIN_STEP_S, (end - start) / MAX_POINTS)
                found = await client.query_range(self.query, start, end, step)
        except PrometheusError as exc:
            return Outcome(False, f"{exc}", figures | {"error": exc.cause})
        return self.judge(found, figures)

    def judge(self, found: list[Series], figures: dict[str, Any]) -> Outcome:
        shown = f"{self.query} {self.op} {self.threshold:g}" + ("" if self.over == "instant" else f" ({self.over})")
        if not found:
            return Outcome(False, f"query {self.query!r} returned no series (is the metric name right? do the nodes "
                                  "export it? was the window long enough for a scrape?)", figures | {"series": {}})
        compare = OPERATORS[self.op]
        keys = series_keys(found)
        values: dict[str, float | None] = {}
        failing: list[str] = []
        for key, series in zip(keys, found, strict=True):
            value = self.reduce([v for _, v in series.points if math.isfinite(v)])
            values[key] = value
            if value is None or not compare(value, self.threshold):
                failing.append(key)
        figures |= {"series": values, "failing": failing}
        if failing:
            described = ", ".join(f"{key} = {_show(values[key])}" for key in failing[:5])
            more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
            return Outcome(False, f"{len(failing)} of {len(found)} series fail {shown}: {described}{more}", figures)
        return Outcome(True, f"all {len(found)} series hold {shown}", figures)

    def reduce(self, values: list[float]) -> float | None:
        if not values:
            return None
        return values[-1] if self.over == "instant" else REDUCERS[self.over](values)


def series_keys(found: list[Series]) -> list[str]:
    """The node name when each series has its own `node` label, else the full label set."""
    nodes = [series.labels.get("node") for series in found]
    if all(nodes) and len(set(nodes)) == len(nodes):
        return [str(node) for node in nodes]
    return [series.describe() for series in found]


def _show(value: float | None) -> str:
    return "no finite value" if value is None else f"{value:g}"
