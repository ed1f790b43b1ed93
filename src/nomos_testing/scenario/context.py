"""What workloads and expectations see of a run. Runner-agnostic: node clients, the block feed, the event
history, the seeded RNG, the intended state of every node, and node control / metrics when the runner offers
them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nomos_testing.nodes.client import NodeClient
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.events import EventLog
from nomos_testing.runners.shared.control import NodeControl
from nomos_testing.runners.shared.intent import IntendedState
from nomos_testing.topology.model import GeneratedTopology, Role, WalletAccount

if TYPE_CHECKING:
    from nomos_testing.scenario.plan import ScenarioPlan


@dataclass
class RunContext:
    plan: ScenarioPlan
    topology: GeneratedTopology
    clients: dict[str, NodeClient]  # by node name, validators first
    block_feed: BlockFeed
    events: EventLog
    rng: random.Random
    control: NodeControl | None = None
    prometheus_url: str | None = None
    ready_s: dict[str, float] = field(default_factory=dict)
    intent: IntendedState = field(default_factory=IntendedState)
    run_dir: Path | None = None  # where workloads may write files of their own (e.g. the nemesis's faults.json)

    def should_run(self, name: str) -> bool:
        """Whether node `name` is meant to be up now (not stopped, killed or paused on purpose)."""
        return self.intent.should_run(name)

    def running_clients(self) -> list[NodeClient]:
        """Clients of the nodes meant to be up now."""
        return [client for name, client in self.clients.items() if self.should_run(name)]

    @property
    def run_duration(self) -> float:
        return self.plan.duration_s

    @property
    def expected_blocks(self) -> float:
        return self.plan.expected_blocks

    @property
    def block_interval(self) -> float:
        return self.plan.block_interval

    @property
    def wallets(self) -> tuple[WalletAccount, ...]:
        return self.topology.wallets

    def all_clients(self) -> list[NodeClient]:
        return list(self.clients.values())

    def clients_of(self, role: Role) -> list[NodeClient]:
        return [self.clients[node.name] for node in self.topology.nodes
                if node.role is role and node.name in self.clients]

    def validator_clients(self) -> list[NodeClient]:
        return self.clients_of(Role.VALIDATOR)

    def executor_clients(self) -> list[NodeClient]:
        return self.clients_of(Role.EXECUTOR)

    def random_client(self, role: Role | None = None) -> NodeClient:
        pool = self.all_clients() if role is None else self.clients_of(role)
        if not pool:
            raise LookupError(f"the topology has no {role.value if role else 'node'}")
        return self.rng.choice(pool)
