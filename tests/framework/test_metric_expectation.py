"""The `metric` expectation without processes: bad parameters are plan errors naming the field, the verdict rule
on given series, and Prometheus's answers parsed (docs/scenarios.md, `metric`). The real thing runs in
tests/framework/test_metrics_host.py and tests/compose/test_compose_metrics.py."""

from __future__ import annotations

import math

import pytest

from nomos_testing.errors import PlanError, PrerequisiteError
from nomos_testing.expectations.metric import MetricThreshold
from nomos_testing.observe.prometheus import PrometheusError, Series, parse_result
from nomos_testing.scenario.files import read_scenario
from nomos_testing.scenario.validate import validate_plan

BASE = 'name = "m"\nduration = 10\n[topology]\nvalidators = 2\n[[expectations]]\nkind = "metric"\n'


def plan_error(body: str) -> str:
    with pytest.raises(PlanError) as caught:
        validate_plan(read_scenario(BASE + body))
    return str(caught.value)


def test_bad_parameters_name_the_field() -> None:
    assert "expectations[0] (metric).op" in plan_error('query = "up"\nop = "=>"\nthreshold = 1\n')
    assert "expectations[0] (metric).query" in plan_error('op = ">"\nthreshold = 1\n')
    assert "expectations[0] (metric).query" in plan_error('query = "  "\nop = ">"\nthreshold = 1\n')
    assert "expectations[0] (metric).over" in plan_error('query = "up"\nop = ">"\nthreshold = 1\nover = "median"\n')
    assert "expectations[0] (metric).threshold" in plan_error('query = "up"\nop = ">"\nthreshold = "high"\n')


def test_a_runner_without_prometheus_is_refused_before_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOMOS_HOST_PROMETHEUS", "false")
    plan = read_scenario(BASE + 'query = "up"\nop = ">"\nthreshold = 0\n')
    with pytest.raises(PrerequisiteError) as caught:
        validate_plan(plan, runner="host")
    assert caught.value.exit_code == 2
    assert "needs prometheus" in str(caught.value) and "NOMOS_HOST_PROMETHEUS is false" in str(caught.value)
    validate_plan(plan, runner="compose")  # compose and k8s always have one
    validate_plan(plan, runner="k8s")


def judge(op: str, threshold: float, over: str, *series: Series) -> tuple[bool, str, dict]:
    outcome = MetricThreshold("q", op, threshold, over).judge(list(series), {})
    return outcome.passed, outcome.message, outcome.figures


def test_every_series_must_hold_and_the_reduction_is_over_finite_values() -> None:
    a = Series({"node": "validator-0"}, [(1.0, 3.0), (2.0, math.nan), (3.0, 5.0)])
    b = Series({"node": "validator-1"}, [(1.0, 1.0), (2.0, 9.0)])
    assert judge(">", 0, "min", a, b)[0]
    passed, message, figures = judge(">", 2, "min", a, b)
    assert not passed and figures["failing"] == ["validator-1"] and "validator-1 = 1" in message
    assert figures["series"] == {"validator-0": 3.0, "validator-1": 1.0}
    assert judge("==", 9, "max", b)[0] and judge("==", 5, "last", a)[0] and judge("==", 4, "avg", a)[0]
    passed, message, _ = judge(">", 0, "instant", Series({"node": "x"}, [(1.0, math.nan)]))
    assert not passed and "no finite value" in message


def test_an_empty_result_fails_and_series_without_a_node_label_are_keyed_by_labels() -> None:
    passed, message, _ = judge(">", 0, "instant")
    assert not passed and "returned no series" in message
    _, _, figures = judge(">=", 0, "instant", Series({"role": "validator"}, [(1.0, 2.0)]),
                          Series({"role": "executor"}, [(1.0, 1.0)]))
    assert set(figures["series"]) == {'{role="validator"}', '{role="executor"}'}


def test_prometheus_answers_are_parsed_and_strings_refused() -> None:
    assert parse_result("1", {"resultType": "scalar", "result": [5, "1"]}) == [Series({}, [(5.0, 1.0)])]
    vector = parse_result("up", {"resultType": "vector", "result": [{"metric": {"node": "a"}, "value": [1, "+Inf"]}]})
    assert vector[0].labels == {"node": "a"} and vector[0].points[0][1] == math.inf
    with pytest.raises(PrometheusError, match="unsupported result type 'string'"):
        parse_result('"x"', {"resultType": "string", "result": [1, "x"]})
