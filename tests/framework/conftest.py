"""Shared fixtures of the framework tests.

Host-runner tests that exercise the runner's own mechanics (sockets, process groups, teardown, detach,
clean) use a small but real node stand-in, `FAKE_NODE`: a separate Python process that honours the node
config contract (inherited `listen_fd` sockets, `initial_peers`, NOMOS_LOG_DIR) and serves
`/cryptarchia/info` and `/network/info`. Tests marked for the reference node run `nomos-node` itself.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from nomos_testing.topology.model import GeneratedTopology, Layout, NodeIdentity, Role

FAKE_NODE = '''
import asyncio, os, socket, sys, time
import yaml
from aiohttp import web

config = yaml.safe_load(open(sys.argv[1]))
name = config["node"]["name"]
print(f"fake node {name} starting pid={os.getpid()}", flush=True)
if os.environ.get("FAKE_NODE_EXIT") == name or os.environ.get("FAKE_NODE_EXIT") == "all":
    print(f"fatal: {name} refuses to start (FAKE_NODE_EXIT)", flush=True)
    sys.exit(3)
deaf = os.environ.get("FAKE_NODE_DEAF") == name
genesis = config["genesis"]
peers = set()

def inherited(section):
    return socket.socket(fileno=config[section]["listen_fd"])

async def greet(reader, writer):
    writer.write(f"HELLO {name}\\n".encode()); await writer.drain()
    line = await reader.readline()
    if not line.startswith(b"HELLO "):
        writer.close(); return
    peer = line.split()[1].decode(); peers.add(peer)
    try:
        await reader.read()
    finally:
        peers.discard(peer); writer.close()

async def dial(address):
    host, port = address.rsplit(":", 1)
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
            await greet(reader, writer)
        except OSError:
            pass
        await asyncio.sleep(0.2)

async def info(request):
    height = max(0, int((time.time() - genesis["chain_start_time"]) / genesis["slot_duration"]) + 1)
    return web.json_response({"height": height, "slot": height, "tip": "ab" * 32, "lib": "00" * 32, "mode": "Online"})

async def network(request):
    return web.json_response({"n_peers": len(peers), "n_connections": len(peers), "peer_id": name,
                              "listen_addresses": [config["network"]["listen"]], "n_pending_connections": 0})

async def main():
    app = web.Application()
    app.add_routes([web.get("/cryptarchia/info", info), web.get("/network/info", network)])
    runner = web.AppRunner(app); await runner.setup()
    await web.SockSite(runner, inherited("api")).start()
    await web.SockSite(runner, inherited("testing_api")).start()
    if not deaf:
        await asyncio.start_server(greet, sock=inherited("network"))
        for address in config["network"]["initial_peers"]:
            asyncio.ensure_future(dial(address))
    print(f"fake node {name} ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
'''


def write_fake_node(folder: Path) -> Path:
    path = folder / "fake-node"
    path.write_text(f"#!{sys.executable}\n{FAKE_NODE}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def dials_for(layout: Layout, names: list[str]) -> dict[str, tuple[str, ...]]:
    if layout is Layout.STAR:
        return {name: (names[0],) for name in names[1:]}
    if layout is Layout.CHAIN:
        return {names[i]: (names[i - 1],) for i in range(1, len(names))}
    return {names[i]: tuple(names[:i]) for i in range(1, len(names))}


def plain_topology(validators: int, executors: int = 0, layout: Layout = Layout.STAR,
                   slot_duration: float = 1.0) -> GeneratedTopology:
    """A topology for the fake node, which ignores keys: identities are fixed placeholders."""
    nodes = []
    for ordinal in range(validators + executors):
        role = Role.VALIDATOR if ordinal < validators else Role.EXECUTOR
        index = ordinal if role is Role.VALIDATOR else ordinal - validators
        nodes.append(NodeIdentity(name=f"{role.value}-{index}", role=role, index=index, ordinal=ordinal,
                                  key_seed=f"{ordinal:064x}", signing_pk="00" * 32, vrf_pk="00" * 48, stake=1000))
    genesis = {"slot_duration": slot_duration, "active_slot_coeff": 0.9, "security_param": 10,
               "stake_notes": [], "wallet_notes": []}
    return GeneratedTopology(layout=layout, nodes=tuple(nodes), wallets=(), genesis=genesis,
                             dials=dials_for(layout, [n.name for n in nodes]))


@pytest.fixture(scope="session")
def fake_node_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_node(tmp_path_factory.mktemp("fake-node"))


@pytest.fixture
def use_fake_node(monkeypatch: pytest.MonkeyPatch, fake_node_bin: Path) -> Path:
    monkeypatch.setenv("NOMOS_NODE_BIN", str(fake_node_bin))
    monkeypatch.setenv("NOMOS_EXECUTOR_BIN", str(fake_node_bin))
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")
    monkeypatch.delenv("NOMOS_TESTS_KEEP_LOGS", raising=False)
    monkeypatch.delenv("SLOW_TEST_ENV", raising=False)
    return fake_node_bin


@pytest.fixture
def topology_factory() -> Callable[..., GeneratedTopology]:
    return plain_topology


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


def node_processes_of(run_dir: Path) -> list[psutil.Process]:
    """Live processes whose environment says they belong to run_dir (how `clean` finds them too)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("NOMOS_TESTING_RUN_DIR") == str(run_dir.resolve()) \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


@pytest.fixture
def processes_of() -> Callable[[Path], list[psutil.Process]]:
    return node_processes_of


@pytest.fixture
def reaper() -> Iterator[list[int]]:
    """Pids a test registers here are SIGKILLed (by process group) at the end, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, 9)
