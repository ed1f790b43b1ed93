"""docs/observability.md and the `metric` section of docs/scenarios.md against the code: the snapshot's series
table is `observe/metrics.SERIES`, the parameter table is the expectation's schema, the examples validate,
and the links resolve."""

from __future__ import annotations

from pathlib import Path

import pytest

from nomos_testing.expectations.metric import OPERATORS, OVER, MetricThreshold
from nomos_testing.observe.metrics import SERIES
from nomos_testing.scenario.files import load_scenario, read_scenario
from nomos_testing.scenario.validate import validate_plan
from tests.docs.test_transactions_docs import _section, _table_rows, _text
from tests.docs.test_transactions_docs import test_links_between_the_docs_resolve as _links_resolve

REPO = Path(__file__).resolve().parents[2]


def _metric_section() -> str:
    return _section(_text("scenarios.md"), "### `metric`")


def test_the_snapshot_table_is_the_code() -> None:
    section = _section(_text("observability.md"), "## The metrics snapshot (`metrics/`)")
    rows = [row for row in _table_rows(section) if row[0] != "name"]
    assert {row[0].strip("`"): row[1].strip("`") for row in rows} == SERIES


def test_the_metric_parameter_table_is_the_schema() -> None:
    rows = {row[0].strip("`"): row for row in _table_rows(_metric_section())}
    schema = {param.name: param for param in MetricThreshold.params.params}
    assert set(rows) == set(schema)
    for name, param in schema.items():
        default = rows[name][1].strip("`")
        assert default == ("required" if param.required else (param.default or "–")), name
    assert all(f"`{op}`" in rows["op"][2] for op in OPERATORS)
    assert all(f"`{over}`" in rows["over"][2] for over in OVER)


def test_the_examples_validate() -> None:
    block = _metric_section().split("```toml\n", 1)[1].split("```", 1)[0]
    plan = read_scenario('name = "doc"\nduration = 10\n[topology]\nvalidators = 2\n' + block)
    checked = validate_plan(plan)
    assert [c.kind for c in checked.expectations] == ["metric"]
    example = load_scenario(REPO / "scenarios" / "metrics.toml")
    assert {spec.kind for spec in validate_plan(example).plan.expectations} == {"metric"}


@pytest.mark.parametrize("name", ["observability.md", "report.md"])
def test_links_resolve(name: str) -> None:
    _links_resolve(name)
