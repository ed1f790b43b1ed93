"""The run-state file: what another process needs to find, control and stop a cluster (`down`, `node`,
`clean`). One schema for every runner, written atomically into the run directory as `run-state.json`:

    {"schema": 1, "run_id", "runner", "run_dir", "owner", "detached", "written_at", "prometheus_url",
     "nodes": [{"name", "role", "index", "api_url", "testing_url", "state", "runner": {…}}],
     "runner_state": {…}, "network_faults": [{"id", "kind", "links", "params", "mechanism", "since"}]}

`nodes[].state` is the intended state (runners/shared/intent.py); `nodes[].runner` and `runner_state` hold
what only that runner reads (host: pid and start time of each process; compose: project and compose files).
The file is removed when the cluster is torn down.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nomos_testing.runners.shared.intent import IntendedState, NodeState
from nomos_testing.runners.shared.owner import owner_token

STATE_FILE = "run-state.json"
SCHEMA = 1


@dataclass
class NodeRecord:
    name: str
    role: str
    index: int
    api_url: str
    testing_url: str
    runner: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    run_id: str
    runner: str
    run_dir: Path
    nodes: list[NodeRecord]
    intent: IntendedState
    detached: bool = False
    owner: str = field(default_factory=owner_token)
    prometheus_url: str | None = None
    runner_state: dict[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> NodeRecord:
        for record in self.nodes:
            if record.name == name:
                return record
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA, "run_id": self.run_id, "runner": self.runner, "run_dir": str(self.run_dir),
            "owner": self.owner, "detached": self.detached, "written_at": time.time(),
            "prometheus_url": self.prometheus_url,
            "nodes": [{"name": n.name, "role": n.role, "index": n.index, "api_url": n.api_url,
                       "testing_url": n.testing_url, "state": self.intent.of(n.name).value, "runner": n.runner}
                      for n in self.nodes],
            "runner_state": self.runner_state,
            "network_faults": self.intent.network_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        nodes = [NodeRecord(str(n["name"]), str(n["role"]), int(n["index"]), str(n["api_url"]),
                            str(n["testing_url"]), dict(n.get("runner") or {})) for n in data["nodes"]]
        intent = IntendedState({n["name"]: NodeState(n.get("state", "running")) for n in data["nodes"]})
        intent.load_network(data.get("network_faults"))
        return cls(run_id=str(data["run_id"]), runner=str(data["runner"]), run_dir=Path(data["run_dir"]),
                   nodes=nodes, intent=intent, detached=bool(data.get("detached")), owner=str(data.get("owner", "")),
                   prometheus_url=data.get("prometheus_url"), runner_state=dict(data.get("runner_state") or {}))


def write_state(state: RunState) -> Path:
    path = state.run_dir / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def read_state(run_dir: Path) -> RunState | None:
    """The run-state of `run_dir`, or None when there is none (never deployed, or torn down)."""
    try:
        return RunState.from_json(json.loads((run_dir / STATE_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remove_state(run_dir: Path) -> None:
    (run_dir / STATE_FILE).unlink(missing_ok=True)
