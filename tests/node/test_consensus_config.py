"""The fork-choice and restart keys of the `consensus` section (docs/node-config.md): defaults and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nomos_node.config import ConfigError, load_config


@pytest.fixture
def document(tmp_path: Path, config_dict_factory, genesis_dict_factory) -> dict[str, Any]:
    doc: dict[str, Any] = config_dict_factory(0, tmp_path / "data", genesis_dict_factory(3, chain_start_time=1e9))
    return doc


def test_defaults_are_the_specification_and_the_real_node(write_config, document) -> None:
    consensus = load_config(write_config(document)).consensus
    assert consensus.tie_break == "keep_current"
    assert not consensus.force_bootstrap
    assert consensus.offline_grace_period == 1200.0 and consensus.state_recording_interval == 60.0


def test_keys_are_read(write_config, document) -> None:
    document["consensus"] = {"tie_break": "lower_vrf", "force_bootstrap": True, "offline_grace_period": 30,
                             "state_recording_interval": 0.5}
    consensus = load_config(write_config(document)).consensus
    assert consensus.tie_break == "lower_vrf" and consensus.force_bootstrap
    assert consensus.offline_grace_period == 30.0 and consensus.state_recording_interval == 0.5


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("tie_break", "lowest_vrf", '"keep_current" or "lower_vrf"'),
    ("tie_break", 1, '"keep_current" or "lower_vrf"'),
    ("force_bootstrap", "yes", "true or false"),
    ("offline_grace_period", -1, "a number of seconds >= 0"),
    ("state_recording_interval", 0, "a number of seconds > 0"),
])
def test_bad_values_name_the_field_and_the_fix(write_config, document, key: str, value: Any, expected: str) -> None:
    document["consensus"] = {key: value}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(document))
    assert info.value.key == f"consensus.{key}" and expected in str(info.value)
