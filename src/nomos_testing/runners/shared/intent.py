"""The intended state of every node: what the run wants each node to be (running, stopped, killed, paused),
and the network faults in force (partitions, delayed or lossy links).

Node control writes it; `Cluster.crashed()` reads it (a node that is down on purpose has not crashed); the
run context hands it to workloads and expectations (liveness ignores nodes that are down on purpose, the
fault checks know who was cut off from whom); the report shows the final state of each node. It travels in
the run-state file, so `up` clusters keep it.
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
    STANDBY = "standby"   # in the genesis (topology.standby) but not started: down on purpose until it joins


@dataclass(frozen=True)
class StateChange:
    at: float        # unix time
    node: str
    state: NodeState


@dataclass(frozen=True)
class NetworkFault:
    """One network fault in force: `kind` is partition, delay or loss; `links` the node pairs it acts on
    (both directions); `params` what was asked (groups, ms, jitter_ms, percent); `mechanism` how."""

    id: str
    kind: str
    links: tuple[tuple[str, str], ...]
    params: dict[str, Any]
    mechanism: str
    since: float

    def nodes(self) -> set[str]:
        return {name for link in self.links for name in link}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "links": [list(link) for link in self.links],
                "params": self.params, "mechanism": self.mechanism, "since": self.since}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkFault:
        return cls(str(data["id"]), str(data["kind"]), tuple((str(a), str(b)) for a, b in data["links"]),
                   dict(data.get("params") or {}), str(data.get("mechanism", "")), float(data.get("since", 0.0)))


@dataclass
class IntendedState:
    states: dict[str, NodeState] = field(default_factory=dict)
    history: list[StateChange] = field(default_factory=list)
    network: dict[str, NetworkFault] = field(default_factory=dict)  # by fault id, in the order applied

    @classmethod
    def all_running(cls, names: list[str]) -> IntendedState:
        return cls({name: NodeState.RUNNING for name in names})

    def add_node(self, node: str, state: NodeState = NodeState.RUNNING) -> None:
        """A node that joined mid-run."""
        self.states[node] = state
        self.history.append(StateChange(time.time(), node, state))

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

    def faulted(self) -> set[str]:
        """Nodes down because of a fault (stopped, killed, paused): what the final heal restores. A standby
        node that never joined is down on purpose but is no fault."""
        return {name for name, state in self.states.items() if state not in (NodeState.RUNNING, NodeState.STANDBY)}

    def cut_off(self, node: str) -> set[str]:
        """Nodes `node` cannot reach now because of a partition in force."""
        return {b if a == node else a for fault in self.network.values() if fault.kind == "partition"
                for a, b in fault.links if node in (a, b)}

    def partitioned(self) -> set[str]:
        """Nodes cut off from at least one other node by a partition in force."""
        return {name for fault in self.network.values() if fault.kind == "partition" for name in fault.nodes()}

    def label(self, node: str) -> str:
        """The node's state as the report shows it: 'running', 'paused', 'running, partitioned'…"""
        state = self.of(node).value
        return f"{state}, partitioned" if node in self.partitioned() else state

    def to_json(self) -> dict[str, str]:
        return {name: state.value for name, state in self.states.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IntendedState:
        return cls({str(name): NodeState(str(state)) for name, state in data.items()})

    def network_json(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self.network.values()]

    def load_network(self, data: list[dict[str, Any]] | None) -> None:
        self.network = {fault.id: fault for fault in (NetworkFault.from_json(d) for d in data or [])}
