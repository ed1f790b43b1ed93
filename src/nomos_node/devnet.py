"""A small local network of real `nomos-node` processes on loopback: the node's integration tests, its
benchmarks and anyone experimenting with the node by hand use it (the framework's host runner does the same
for scenarios, through its own code).

Ports are never guessed: the parent binds every listener itself (port 0) and hands the sockets to the node
through the config's `listen_fd` + `pass_fds`, keeping them open so a restarted node gets the very same ports.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nomos_node.consensus.fork_choice import tie_break_for_test_network
from nomos_node.crypto.keys import NodeKeys
from nomos_node.da.membership import deal

NODE_BIN = Path(sys.executable).parent / "nomos-node"
EXECUTOR_BIN = Path(sys.executable).parent / "nomos-executor"


def seed_for(index: int, salt: int = 0) -> bytes:
    return bytes([index + 1, salt]) * 16


def make_genesis(n_nodes: int, *, start_in: float = 1.5, slot: float = 0.5, f: float = 0.9, k: int = 3,
                 salt: int = 0, stake: int = 1000) -> dict[str, Any]:
    notes = []
    for index in range(n_nodes):
        keys = NodeKeys.from_seed(seed_for(index, salt))
        notes.append({"value": stake, "vrf_pk": keys.vrf_pk_hex, "signing_pk": keys.signing_pk_hex})
    return {
        "chain_start_time": round(time.time() + start_in, 3),
        "slot_duration": slot,
        "active_slot_coeff": f,
        "security_param": k,
        "epoch": {"stake_distribution_stabilization": 3, "period_nonce_buffer": 3, "period_nonce_stabilization": 4},
        "stake_notes": notes,
        "wallet_notes": [],
    }


def _listener() -> socket.socket:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def _port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def http(method: str, url: str, body: bytes | None = None, timeout: float = 5.0,
         content_type: str = "application/json") -> tuple[int, Any]:
    """(status, parsed JSON or text). Never raises on an HTTP error status."""
    request = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw, ctype = response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    return status, json.loads(raw) if "json" in ctype else raw.decode()


@dataclass
class NodeProcess:
    index: int
    role: str
    workdir: Path
    config: dict[str, Any]
    api: socket.socket
    testing: socket.socket
    p2p: socket.socket
    env: dict[str, str]
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{_port(self.api)}"

    @property
    def testing_url(self) -> str:
        return f"http://127.0.0.1:{_port(self.testing)}"

    @property
    def p2p_address(self) -> str:
        return f"127.0.0.1:{_port(self.p2p)}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config.yaml"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"nomos-{'executor' if self.role == 'executor' else 'node'}-{self.index}.log"

    def write_config(self) -> None:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    def start(self) -> None:
        binary = EXECUTOR_BIN if self.role == "executor" else NODE_BIN
        self.starts.append(time.monotonic())
        self.proc = subprocess.Popen(
            [str(binary), str(self.config_path)], env=self.env, cwd=self.workdir,
            pass_fds=(self.api.fileno(), self.testing.fileno(), self.p2p.fileno()),
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "stderr.txt", "ab"),  # noqa: SIM115
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 10.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def get(self, path: str, timeout: float = 5.0) -> Any:
        status, body = http("GET", self.api_url + path, timeout=timeout)
        if status != 200:
            raise AssertionError(f"node {self.index} GET {path}: HTTP {status} {body}")
        return body

    def post(self, path: str, value: Any) -> Any:
        status, body = http("POST", self.api_url + path, json.dumps(value).encode())
        if status != 200:
            raise AssertionError(f"node {self.index} POST {path}: HTTP {status} {body}")
        return body

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.get("/cryptarchia/info")
        return info

    def log_text(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def close_sockets(self) -> None:
        for sock in (self.api, self.testing, self.p2p):
            sock.close()


class LocalNetwork:
    """N nodes sharing one genesis; topology "star" (every node dials node 0) or "none"."""

    def __init__(self, root: Path, n_nodes: int, *, slot: float = 0.5, f: float = 0.9, k: int = 3,
                 start_in: float = 1.5, topology: str = "star", dev_mode: bool = True,
                 extra_env: dict[str, str] | None = None, genesis: dict[str, Any] | None = None,
                 roles: list[str] | None = None, salt: int = 0) -> None:
        self.root = root
        self.genesis = genesis or make_genesis(n_nodes, start_in=start_in, slot=slot, f=f, k=k, salt=salt)
        self.log_dir = root / "logs"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("NOMOS_", "POL_"))}
        env.update({"NOMOS_LOG_DIR": str(self.log_dir), "NOMOS_LOG_LEVEL": "info"})
        if dev_mode:
            env["POL_PROOF_DEV_MODE"] = "true"
        env.update(extra_env or {})
        self.nodes: list[NodeProcess] = []
        for index in range(n_nodes):
            workdir = root / f"node-{index}"
            workdir.mkdir(parents=True, exist_ok=True)
            role = (roles or [])[index] if roles and index < len(roles) else "validator"
            node = NodeProcess(index, role, workdir, {}, _listener(), _listener(), _listener(), env, self.log_dir)
            self.nodes.append(node)
        for node in self.nodes:
            peers = [self.nodes[0].p2p_address] if topology == "star" and node.index != 0 else []
            node.config = self.node_config(node, salt, peers)
            node.write_config()

    def node_config(self, node: NodeProcess, salt: int, peers: list[str]) -> dict[str, Any]:
        return {
            "node": {"role": node.role, "index": node.index, "key_seed": seed_for(node.index, salt).hex()},
            "api": {"listen": f"127.0.0.1:{_port(node.api)}", "listen_fd": node.api.fileno()},
            "testing_api": {"listen": f"127.0.0.1:{_port(node.testing)}", "listen_fd": node.testing.fileno()},
            "network": {"listen": node.p2p_address, "listen_fd": node.p2p.fileno(), "initial_peers": peers},
            "storage": {"data_dir": str(node.workdir / "data")},
            "consensus": {"prolonged_bootstrap_period": 1.0, "sync_interval": 1.0,
                          "tie_break": tie_break_for_test_network(int(self.genesis["security_param"]))},
            "genesis": self.genesis,
        }

    def peer_id(self, node: NodeProcess) -> str:
        return NodeKeys.from_seed(bytes.fromhex(node.config["node"]["key_seed"])).peer_id

    def enable_da(self, num_subnets: int = 2, dispersal_factor: int = 2, members: list[int] | None = None,
                  addresses: dict[int, str] | None = None, **settings: Any) -> None:
        """Give every node the same `da` section: the membership dealt over ``members`` (node indices, default
        all) as docs/node-config.md describes, each member's p2p address (``addresses`` overrides some), and any
        other `da` keys (timeouts, num_samples)."""
        chosen = [self.nodes[i] for i in (members if members is not None else range(len(self.nodes)))]
        ids = {self.peer_id(node): node for node in chosen}
        book = {pid: (addresses or {}).get(node.index, node.p2p_address) for pid, node in ids.items()}
        assignations = {str(s): peers for s, peers in enumerate(deal(ids, num_subnets, dispersal_factor))}
        for node in self.nodes:
            node.config["da"] = {"num_subnets": num_subnets, "dispersal_factor": dispersal_factor,
                                 "assignations": assignations, "addressbook": book, **settings}
            node.write_config()

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.terminate(timeout=5)
            node.close_sockets()

    def __enter__(self) -> LocalNetwork:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    """Poll `predicate` until truthy (exceptions count as not yet); AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the node may still be starting
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last_error})")


def ready(node: NodeProcess) -> bool:
    status, _ = http("GET", node.api_url + "/cryptarchia/info", timeout=2)
    return status == 200
