"""How to run a finished run again: the commands the HTML report and the triage show.

`nomos-testing replay RUN_DIR` is the exact one (plan.json, same seed, and faults.json when a nemesis ran);
`nomos-testing run SCENARIO.toml … --seed N` is the same scenario file with the flags the run was given,
rebuilt from the plan's `sources` (which value came from which file or flag).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

# plan.json key -> the `run` flag that sets it (cli.py FLAG_OF, by plan path)
_FLAGS = {"topology.validators": "-v", "topology.executors": "-e", "duration": "-t", "topology.layout": "--layout",
          "consensus.slot_duration": "--slot"}


@dataclass(frozen=True)
class Rerun:
    replay: str         # the exact re-run
    run: str | None     # the scenario file again, with the run's flags and seed (None: no file is known)


def _plan_value(plan: dict[str, Any], dotted: str) -> Any:
    value: Any = plan
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def scenario_file(plan: dict[str, Any]) -> str | None:
    """The TOML file the plan was read from, when its sources name one (`path:line`)."""
    sources = plan.get("sources") or {}
    if not isinstance(sources, dict):
        return None
    for where in sources.values():
        if isinstance(where, str) and ":" in where and not where.startswith(("flag ", "env ", "builder")):
            path, _, line = where.rpartition(":")
            if path.endswith(".toml") and line.isdigit():
                return path
    return None


def rerun_commands(run_dir: str, runner: str, seed: int | None, plan: dict[str, Any] | None) -> Rerun:
    replay = f"nomos-testing replay {shlex.quote(run_dir)} --runner {shlex.quote(runner)}"
    if not plan:
        return Rerun(replay, None)
    file = scenario_file(plan)
    if file is None:
        return Rerun(replay, None)
    words = ["nomos-testing", "run", file, "--runner", runner]
    sources = plan.get("sources") or {}
    for key, flag in _FLAGS.items():
        value = _plan_value(plan, key)
        if str(sources.get(key, "")).startswith("flag ") and value is not None:
            words += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if seed is not None:
        words += ["--seed", str(seed)]
    return Rerun(replay, " ".join(shlex.quote(word) for word in words))
