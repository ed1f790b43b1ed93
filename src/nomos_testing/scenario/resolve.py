"""The one place where the environment reaches a plan.

`resolve_plan` fills what a plan leaves open and records where each value came from:

* `seed`: drawn at random when absent (and recorded in plan.json, so the run can be repeated);
* `consensus.slot_duration`: `CONSENSUS_SLOT_TIME` when the plan does not set it, else 2 s;
* `consensus.active_slot_coeff`: `CONSENSUS_ACTIVE_SLOT_COEFF` when the plan does not set it, else 0.9;
* `readiness.timeout`: `NOMOS_TESTS_READINESS_TIMEOUT` overrides the plan's value when set (an operator's
  knob for slow machines; `SLOW_TEST_ENV` doubling is applied by readiness itself).

Precedence: CLI flags > the scenario file (or Python plan) > environment defaults > built-in defaults, except
the readiness timeout, where the environment wins over the file. Resolving twice changes nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import replace

from nomos_testing import settings
from nomos_testing.params import Source
from nomos_testing.scenario.plan import ScenarioPlan

DEFAULT_SLOT_DURATION_S = 2.0
DEFAULT_ACTIVE_SLOT_COEFF = 0.9


def _env_number(env: Mapping[str, str], name: str) -> tuple[float, Source] | None:
    text = env.get(name)
    if text in (None, ""):
        return None
    assert text is not None
    return settings.parse_number(name, text), Source("env", name, text=text)


def resolve_plan(plan: ScenarioPlan, env: Mapping[str, str] | None = None) -> ScenarioPlan:
    env = os.environ if env is None else env
    changes: dict[str, object] = {}
    sources = dict(plan.sources)
    if plan.seed is None:
        changes["seed"] = secrets.randbits(63)
        sources["seed"] = Source("default", "drawn at random")
    for attribute, path, variable, default in (
            ("slot_duration", "consensus.slot_duration", "CONSENSUS_SLOT_TIME", DEFAULT_SLOT_DURATION_S),
            ("active_slot_coeff", "consensus.active_slot_coeff", "CONSENSUS_ACTIVE_SLOT_COEFF",
             DEFAULT_ACTIVE_SLOT_COEFF)):
        if getattr(plan, attribute) is not None:
            continue
        from_env = _env_number(env, variable)
        if from_env is not None:
            changes[attribute], sources[path] = from_env
        else:
            changes[attribute] = default
            sources[path] = Source("default")
    timeout = _env_number(env, "NOMOS_TESTS_READINESS_TIMEOUT")
    if timeout is not None:
        changes["readiness_timeout_s"], sources["readiness.timeout"] = timeout
    return replace(plan, sources=sources, **changes)  # type: ignore[arg-type]
