"""Listening sockets handed over through NOMOS_LISTEN_FDS (the config file stays free of fd numbers), the
errors a malformed value gives, and a node restarted at once on the fixed ports of a node that just stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nomos_node.config import HostPort, NetworkConfig
from nomos_node.devnet import NODE_BIN, LocalNetwork, NodeProcess, http, ready, wait_until
from nomos_node.node import _advertise

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[LocalNetwork]:
    with LocalNetwork(tmp_path, 1, topology="none") as net:
        yield net


@pytest.fixture
def taken() -> Iterator[list[socket.socket]]:
    """Three listening sockets of this process: a node that tried to bind their ports would fail to start."""
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(3)]
    yield sockets
    for sock in sockets:
        sock.close()


def _port(sock: socket.socket) -> int:
    return sock.getsockname()[1]


def _clean_config(node: NodeProcess, listen_ports: tuple[int, int, int]) -> None:
    """The node's config without any listen_fd, listening (by the file) on `listen_ports`."""
    for section, port in zip(("api", "testing_api", "network"), listen_ports, strict=True):
        node.config[section].pop("listen_fd", None)
        node.config[section]["listen"] = f"127.0.0.1:{port}"
    node.write_config()
    assert "listen_fd" not in node.config_path.read_text()


def _fds(node: NodeProcess, names: tuple[str, ...] = ("api", "testing_api", "network")) -> str:
    sockets = {"api": node.api, "testing_api": node.testing, "network": node.p2p}
    return ",".join(f"{name}={sockets[name].fileno()}" for name in names)


def _started_line(node: NodeProcess) -> str:
    return next(line for line in node.log_text().splitlines() if "node started" in line)


def test_node_serves_on_the_sockets_named_by_the_variable(network: LocalNetwork,
                                                          taken: list[socket.socket]) -> None:
    node = network.nodes[0]
    _clean_config(node, tuple(_port(sock) for sock in taken))  # ports already in use: binding them would fail
    node.env["NOMOS_LISTEN_FDS"] = _fds(node)
    node.start()  # pass_fds: the three sockets the parent bound
    wait_until(lambda: ready(node), 20, "the API on the handed-over socket")
    status, body = http("GET", node.testing_url + "/cryptarchia/info")
    assert status == 404 and body["error"] == "not_found"  # the testing API's answer, on its own socket
    listen = node.get("/network/info")["listen_addresses"]
    assert listen == [f"/ip4/127.0.0.1/tcp/{_port(node.p2p)}"], listen
    line = _started_line(node)
    assert f"api=127.0.0.1:{_port(node.api)} " in line and f"testing_api=127.0.0.1:{_port(node.testing)} " in line


def test_listeners_not_named_bind_the_config_address(network: LocalNetwork) -> None:
    node = network.nodes[0]
    _clean_config(node, (0, 0, 0))
    node.env["NOMOS_LISTEN_FDS"] = _fds(node, ("api",))
    node.start()
    wait_until(lambda: ready(node), 20, "the API on the handed-over socket")
    line = _started_line(node)
    assert f"api=127.0.0.1:{_port(node.api)} " in line
    assert f"testing_api=127.0.0.1:{_port(node.testing)} " not in line  # bound its own (port 0)
    assert f"/tcp/{_port(node.p2p)} " not in line


def test_variable_takes_precedence_over_listen_fd_in_the_config(network: LocalNetwork) -> None:
    node = network.nodes[0]
    for section in ("api", "testing_api", "network"):
        node.config[section]["listen_fd"] = 999  # not open in the node: would be "cannot listen"
    node.write_config()
    node.env["NOMOS_LISTEN_FDS"] = _fds(node)
    node.start()
    wait_until(lambda: ready(node), 20, "the API on the handed-over socket")


def _run(config: Path, value: str, pass_fds: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {key: val for key, val in os.environ.items() if not key.startswith(("NOMOS_", "POL_"))}
    env["NOMOS_LISTEN_FDS"] = value
    return subprocess.run([str(NODE_BIN), str(config)], env=env, pass_fds=pass_fds, capture_output=True,
                          text=True, timeout=30)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("config error: NOMOS_LISTEN_FDS: expected "), result.stderr
    return lines[0]


FORMAT_AND_FIX = ("name=fd pairs with names api, testing_api, network (e.g. NOMOS_LISTEN_FDS=api=3,testing_api=4,"
                  "network=5; unset it to bind the config's listen addresses)")


@pytest.mark.parametrize(("value", "expected", "got"), [
    ("rpc=3", FORMAT_AND_FIX, "the unknown name 'rpc' in 'rpc=3'"),
    ("api=three", FORMAT_AND_FIX, "'api=three'"),
    ("api", FORMAT_AND_FIX, "'api'"),
    ("api=-1", FORMAT_AND_FIX, "'api=-1'"),
    ("api=3,,network=4", FORMAT_AND_FIX, "'api=3,,network=4'"),
    ("api=3,api=4", "each name at most once", "api twice in 'api=3,api=4'"),
    ("api=3,network=3", "a different socket for each listener", "fd 3 for both api and network"),
])
def test_malformed_value_exits_2_with_one_line(network: LocalNetwork, value: str, expected: str, got: str) -> None:
    line = _one_error_line(_run(network.nodes[0].config_path, value))
    assert expected in line and line.endswith(f", got {got}"), line


def _not_listening() -> Iterator[tuple[str, Any]]:
    with open(os.devnull, "rb") as file:
        yield "a descriptor that is not a socket", file
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield "a TCP socket that is not listening", bound
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        yield "a socket that is not TCP", udp


def test_fd_that_is_not_a_listening_tcp_socket_exits_2(network: LocalNetwork) -> None:
    config = network.nodes[0].config_path
    line = _one_error_line(_run(config, "api=200"))  # not open in the node (nothing passed)
    assert line.endswith("got fd 200: a descriptor that is not open"), line
    assert "pass_fds" in line and "leave api out to bind api.listen" in line, line
    for problem, handle in _not_listening():
        fd = handle.fileno()
        line = _one_error_line(_run(config, f"network={fd}", pass_fds=(fd,)))
        assert f"expected network={fd} to be a listening TCP socket" in line and f"got fd {fd}: {problem}" in line, line


def test_advertise_defaults_to_the_inherited_sockets_own_address() -> None:
    listen = HostPort("127.0.0.1", 3000)
    inherited = NetworkConfig(listen, 5, listen, ())
    assert _advertise(inherited) is None  # announce what the socket is bound to, not the unbound listen
    assert _advertise(NetworkConfig(listen, 5, HostPort("10.0.0.1", 4000), ())) == "10.0.0.1:4000"
    assert _advertise(NetworkConfig(listen, None, listen, ())) == "127.0.0.1:3000"
    assert _advertise(NetworkConfig(HostPort("127.0.0.1", 0), None, HostPort("127.0.0.1", 0), ())) is None


# ------------------------------------------------------------------------------- restart on fixed ports

def _free_ports(count: int) -> list[int]:
    probes = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [_port(probe) for probe in probes]
    for probe in probes:
        probe.close()
    return ports


def _time_wait_ports() -> set[int]:
    """Local ports with a connection in TIME_WAIT (Linux /proc), to show the restart below meets them."""
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            with open(table) as file:
                for row in file.read().splitlines()[1:]:
                    fields = row.split()
                    if fields[3] == "06":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _request_the_server_closes(port: int) -> None:
    """One "Connection: close" request whose socket this side closes only after the node's FIN has arrived,
    so the node is the active closer and the TIME_WAIT lands on its port (an HTTP client may close first
    as soon as it has Content-Length bytes, which leaves the TIME_WAIT on the client's port instead)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(b"GET /cryptarchia/info HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        received = b""
        while chunk := conn.recv(65536):  # b"" only once the node has closed its side
            received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:80]


def _start(config: Path, env: dict[str, str], stderr: Path) -> subprocess.Popen[bytes]:
    with open(stderr, "ab") as sink:
        return subprocess.Popen([str(NODE_BIN), str(config)], env=env, stdout=subprocess.DEVNULL, stderr=sink)


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(15)


def test_restart_at_once_on_the_same_fixed_ports(network: LocalNetwork) -> None:
    node = network.nodes[0]
    api, testing, p2p = _free_ports(3)
    _clean_config(node, (api, testing, p2p))  # a hand-written config: fixed ports, no fds
    url = f"http://127.0.0.1:{api}"
    first = _start(node.config_path, node.env, node.workdir / "stderr.txt")
    try:
        wait_until(lambda: http("GET", url + "/cryptarchia/info", timeout=2)[0] == 200, 20, "the first node")
        for _ in range(3):
            _request_the_server_closes(api)
        with socket.create_connection(("127.0.0.1", p2p)):  # open on p2p while the node stops
            assert _stop(first) == 0
    finally:
        if first.poll() is None:
            first.kill()
    if os.path.exists("/proc/net/tcp"):
        assert api in _time_wait_ports()
    second = _start(node.config_path, node.env, node.workdir / "stderr.txt")
    try:
        wait_until(lambda: http("GET", url + "/cryptarchia/info", timeout=2)[0] == 200, 20, "the restarted node")
        assert second.poll() is None
        assert f"/tcp/{p2p}" in http("GET", url + "/network/info")[1]["listen_addresses"][0]
        assert _stop(second) == 0
    finally:
        if second.poll() is None:
            second.kill()
    assert "cannot listen" not in (node.workdir / "stderr.txt").read_text()


def test_docs_show_the_real_error_lines(network: LocalNetwork) -> None:
    documented = (Path(__file__).resolve().parents[2] / "docs" / "node-config.md").read_text(encoding="utf-8")
    config = network.nodes[0].config_path
    for value in ("rpc=3", "api=7"):  # fd 7 is not open in the node: nothing is passed
        line = _one_error_line(_run(config, value))
        assert f"\n{line}\n" in documented, line
