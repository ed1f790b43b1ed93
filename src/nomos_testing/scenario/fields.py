"""The plan's own fields as parameter schemas: type, bounds and example of each, declared once.

Scenario files (`files.py`), the builder, the CLI flags, environment defaults (`resolve.py`) and the
validation step (`validate.py`) all read these, so a bound is written in one place only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nomos_testing.params import Param
from nomos_testing.topology.model import Layout

if TYPE_CHECKING:
    from nomos_testing.scenario.plan import ScenarioPlan

MAX_NODES = 128  # each node holds three listening sockets and a Python process; beyond this a host runs out
MAX_SEED = 2**64 - 1
MAX_WALLETS = 10_000  # genesis notes in every node's config; 10 000 take ~0.3 s to derive, 10^8 exhaust memory
MIN_SLOT_DURATION_S = 0.001  # the node config contract's minimum (docs/node-config.md)
MAX_DURATION_S = 7 * 24 * 3600.0  # a week: anything longer is a typo (1e300 would run forever)
MAX_READINESS_TIMEOUT_S = 24 * 3600.0  # a day; 1e300 would wait forever for a node that never comes up
NAME_CHARACTERS = "letters, digits, '-', '_' or '.'"


@dataclass(frozen=True)
class PlanField:
    path: str                      # as in the scenario file: "consensus.slot_duration"
    param: Param
    read: Callable[[ScenarioPlan], Any]
    flag: str | None = None        # the CLI flag that overrides it
    env: str | None = None         # the environment variable that provides it (see resolve.py)


def _field(path: str, read: Callable[[ScenarioPlan], Any], flag: str | None = None, env: str | None = None,
           **param: Any) -> PlanField:
    return PlanField(path, Param(path.rsplit(".", 1)[-1], **param), read, flag, env)


PLAN_FIELDS: tuple[PlanField, ...] = (
    _field("name", lambda p: p.name, kind="str", example="my-scenario",
           help=f"names the run directory; {NAME_CHARACTERS}"),
    _field("seed", lambda p: p.seed, "--seed", kind="int", minimum=0, maximum=MAX_SEED, example=42,
           help="keys, topology and workload randomness; drawn at random when absent"),
    _field("duration", lambda p: p.duration_s, "--duration", kind="number", minimum=0, maximum=MAX_DURATION_S,
           exclusive_minimum=True, example=60, unit="seconds", help="the run window"),
    _field("node", lambda p: p.node, kind="str", example="reference", help="the node adapter"),
    _field("topology.validators", lambda p: p.topology.validators, "--validators", kind="int", minimum=0,
           maximum=MAX_NODES, example=3),
    _field("topology.executors", lambda p: p.topology.executors, "--executors", kind="int", minimum=0,
           maximum=MAX_NODES, example=1),
    _field("topology.layout", lambda p: p.topology.layout, "--layout", kind="str",
           choices=tuple(layout.value for layout in Layout), example="star"),
    _field("topology.standby", lambda p: p.topology.standby, kind="int", minimum=0, maximum=MAX_NODES, example=1,
           help="extra validators whose stake is in the genesis but which start only when a workload joins them"),
    _field("consensus.slot_duration", lambda p: p.slot_duration, "--slot", "CONSENSUS_SLOT_TIME", kind="number",
           minimum=MIN_SLOT_DURATION_S, maximum=3600, example=1.0, unit="seconds"),
    _field("consensus.active_slot_coeff", lambda p: p.active_slot_coeff, None, "CONSENSUS_ACTIVE_SLOT_COEFF",
           kind="number", minimum=0, maximum=1, exclusive_minimum=True, exclusive_maximum=True, example=0.9),
    _field("consensus.security_param", lambda p: p.security_param, kind="int", minimum=1, maximum=10_000,
           example=10, help="k"),
    _field("wallets.count", lambda p: p.wallets, kind="int", minimum=0, maximum=MAX_WALLETS, example=10),
    _field("wallets.value", lambda p: p.wallet_value, kind="int", minimum=1, maximum=2**63 - 1, example=100),
    _field("readiness.timeout", lambda p: p.readiness_timeout_s, None, "NOMOS_TESTS_READINESS_TIMEOUT",
           kind="number", minimum=0, maximum=MAX_READINESS_TIMEOUT_S, exclusive_minimum=True, example=60,
           unit="seconds"),
)

FIELDS_BY_PATH: dict[str, PlanField] = {field.path: field for field in PLAN_FIELDS}


def plan_field(path: str) -> PlanField:
    return FIELDS_BY_PATH[path]
