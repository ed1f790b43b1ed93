"""The framework side of data availability in the docs, against the code: docs/scenarios.md's `da` and
`da_inclusion` tables (every key, every default), its TOML and Python examples (they validate and build the
plans they say), docs/cli.md's `setup kzg` sample (what the command prints) and docs/environment.md's
NOMOS_KZGRS_PARAMS_PATH default (the path the framework uses)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nomos_testing.scenario.files import parse_scenario
from tests.docs.sample_output import normalize
from tests.docs.test_transactions_docs import _blocks, _section, _text, assert_defaults_documented


def _da_section() -> str:
    return _section(_text("scenarios.md"), "## Data availability")


@pytest.mark.parametrize("kind", ["da", "da_inclusion"])
def test_scenarios_md_lists_every_parameter_with_its_default(kind: str) -> None:
    from nomos_testing.plugins import default_registries

    registries = default_registries()
    component = (registries.workloads if kind == "da" else registries.expectations).get(kind)
    title = "**The `da` workload**" if kind == "da" else "**The `da_inclusion` expectation**"
    assert_defaults_documented(_da_section(), title, component)


def test_scenarios_md_da_examples_validate(tmp_path: Path) -> None:
    section = _da_section()
    (toml,) = [b.body for b in _blocks("scenarios.md", "toml") if b.body in section]
    plan = parse_scenario('name = "da"\nduration = 30\n' + toml, tmp_path / "doc.toml")
    assert (plan.topology.validators, plan.topology.executors) == (3, 2)
    assert [(w.kind, dict(w.params)) for w in plan.workloads] == [("da", {
        "channel_rate": 1, "blob_rate": 2, "headroom_percent": 20, "payload_min_bytes": 256,
        "payload_max_bytes": 4096})]
    (python,) = [b.body for b in _blocks("scenarios.md", "python") if b.body in section]
    namespace: dict[str, Any] = {}
    exec(compile(python, "docs/scenarios.md", "exec"), namespace)
    assert [(w.kind, dict(w.params)) for w in namespace["plan"].workloads] == \
        [("da", {"channel_rate": 1, "blob_rate": 2, "headroom_percent": 20})]
    assert namespace["plan"].duration_s == 90
    assert [(w.kind, dict(w.params)) for w in namespace["sized"].workloads] == [("da", {
        "blob_rate": 1, "payload_min_bytes": 1024, "payload_max_bytes": 65536, "retrieve_sample": 10,
        "min_blob_share": 0.9})]


def test_cli_md_setup_kzg_sample_is_what_the_command_prints(tmp_path: Path) -> None:
    from nomos_testing.cli import app

    section = _section(_text("cli.md"), "## `setup kzg`")
    (sample,) = [b.body for b in _blocks("cli.md", "text") if b.body in section]
    target = tmp_path / "assets" / "kzgrs_test_params" / "kzgrs_test_params"
    result = CliRunner().invoke(app, ["setup", "kzg", "--path", str(target)], env={"NO_COLOR": "1"},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    shown = sample.replace("/path/to/checkout/", f"{tmp_path}/")
    assert normalize(result.output) == normalize(shown)


def test_environment_md_names_the_default_parameters_path() -> None:
    from nomos_testing.kzg import DEFAULT_RELATIVE

    row = next(line for line in _text("environment.md").splitlines() if line.startswith("| `NOMOS_KZGRS_PARAMS_PATH`"))
    assert f"`{DEFAULT_RELATIVE.as_posix()}`" in row


def test_data_availability_md_links_resolve() -> None:
    from tests.docs.test_transactions_docs import test_links_between_the_docs_resolve

    test_links_between_the_docs_resolve("data-availability.md")
    framework = _section(_text("data-availability.md"), "## Framework")
    for path in re.findall(r"`((?:tests|scenarios)/[\w/]+\.(?:py|toml))`", framework):
        assert (Path(__file__).resolve().parents[2] / path).is_file(), f"docs/data-availability.md names {path}"
