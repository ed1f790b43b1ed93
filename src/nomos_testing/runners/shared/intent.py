"""The intended state of every node: what the run wants each node to be (running, stopped, killed, paused).

Node control writes it; `Cluster.crashed()` reads it (a node that is down on purpose has not crashed); the
run context hands it to workloads and expectations (liveness ignores nodes that are down on purpose); the
report shows the final state of each node. It travels in the run-state file, so `up` clusters keep it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"   # SIGTERM / `docker stop`: a clean shutdown
    KILLED = "killed"     # SIGKILL
    PAUSED = "paused"     # SIGSTOP / `docker pause`


@dataclass(frozen=True)
class StateChange:
    at: float        # unix time
    node: str
    state: NodeState


@dataclass
class IntendedState:
    states: dict[str, NodeState] = field(default_factory=dict)
    history: list[StateChange] = field(default_factory=list)

    @classmethod
    def all_running(cls, names: list[str]) -> IntendedState:
        return cls({name: NodeState.RUNNING for name in names})

    def change(self, node: str, state: NodeState) -> None:
        if node not in self.states:
            raise KeyError(node)
        self.states[node] = state
        self.history.append(StateChange(time.time(), node, state))

    def of(self, node: str) -> NodeState:
        return self.states.get(node, NodeState.RUNNING)

    def should_run(self, node: str) -> bool:
        return self.of(node) is NodeState.RUNNING

    def running(self) -> list[str]:
        return [name for name, state in self.states.items() if state is NodeState.RUNNING]

    def down_on_purpose(self) -> set[str]:
        return {name for name, state in self.states.items() if state is not NodeState.RUNNING}

    def to_json(self) -> dict[str, str]:
        return {name: state.value for name, state in self.states.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IntendedState:
        return cls({str(name): NodeState(str(state)) for name, state in data.items()})
