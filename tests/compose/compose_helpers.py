"""Helpers of the compose tests (a uniquely named module: every test folder has its own conftest)."""

from __future__ import annotations

import subprocess

from nomos_testing.runners.shared.docker import RUN_LABEL
from nomos_testing.scenario.builder import scenario
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import GeneratedTopology


def make_topology(validators: int = 2, executors: int = 0, seed: int = 7) -> GeneratedTopology:
    plan = scenario(name="compose-test", validators=validators, executors=executors, seed=seed,
                    slot_duration=1.0, active_slot_coeff=0.9)
    return generate_topology(resolve_plan(plan))


def labelled(kind: str, run_id: str) -> list[str]:
    """Containers / networks / volumes carrying the run's label."""
    listing = {"container": ["docker", "ps", "-aq"], "network": ["docker", "network", "ls", "-q"],
               "volume": ["docker", "volume", "ls", "-q"]}[kind]
    done = subprocess.run([*listing, "--filter", f"label={RUN_LABEL}={run_id}"], capture_output=True, text=True,
                          check=True, timeout=30)
    return done.stdout.split()


def leftovers(run_id: str) -> dict[str, list[str]]:
    return {kind: found for kind in ("container", "network", "volume") if (found := labelled(kind, run_id))}
