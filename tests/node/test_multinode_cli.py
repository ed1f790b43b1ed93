"""The `nomos-node` / `nomos-executor` entry points as real processes: config errors, log settings, clean
shutdown, the start line, and the observable cost of the proof of leadership without POL_PROOF_DEV_MODE."""

from __future__ import annotations

import re
import signal
import statistics
import subprocess
from pathlib import Path

import pytest
import yaml

from nomos_node.devnet import EXECUTOR_BIN, NODE_BIN, LocalNetwork, ready, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(NODE_BIN), *args], capture_output=True, text=True, timeout=30, env=env)


def _config(tmp_path: Path) -> tuple[LocalNetwork, Path]:
    network = LocalNetwork(tmp_path, 1, topology="none")
    return network, network.nodes[0].config_path


def _edit(path: Path, edit) -> None:
    document = yaml.safe_load(path.read_text())
    edit(document)
    path.write_text(yaml.safe_dump(document))


def test_usage_and_missing_file(tmp_path: Path) -> None:
    result = _run([])
    assert result.returncode == 2 and "usage: nomos-node CONFIG.yaml" in result.stderr
    result = _run([str(tmp_path / "nope.yaml")])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("config error:")


@pytest.mark.parametrize(("edit", "key"), [
    (lambda doc: doc["api"].update(colour="blue"), "api.colour"),
    (lambda doc: doc["genesis"].update(active_slot_coeff=1.5), "genesis.active_slot_coeff"),
    (lambda doc: doc["node"].pop("key_seed"), "node.key_seed"),
])
def test_config_errors_exit_2_naming_the_key(tmp_path: Path, edit, key: str) -> None:
    network, path = _config(tmp_path)
    try:
        _edit(path, edit)
        result = _run([str(path)])
    finally:
        network.stop()
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], result.stderr


def test_invalid_log_level_is_a_config_error(tmp_path: Path) -> None:
    network, path = _config(tmp_path)
    env = dict(network.nodes[0].env, NOMOS_LOG_LEVEL="loud")
    try:
        result = _run([str(path)], env=env)
    finally:
        network.stop()
    assert result.returncode == 2 and "NOMOS_LOG_LEVEL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_start_line_and_clean_shutdown_on_sigterm(tmp_path: Path) -> None:
    with LocalNetwork(tmp_path, 1, topology="none", roles=["executor"]) as network:
        node = network.nodes[0]
        node.config["node"]["role"] = "executor"
        node.write_config()
        network.start()
        wait_until(lambda: ready(node), 20, "the executor's API")
        assert node.log_path.name == "nomos-executor-0.log"
        line = next(line for line in node.log_text().splitlines() if "node started" in line)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO node node started ", line), line
        assert "role=executor" in line and "peer_id=12D3KooW" in line and "genesis=" in line and "p2p=/ip4/" in line
        assert node.proc is not None
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(15) == 0
        assert "node stopped" in node.log_text()
    assert EXECUTOR_BIN.exists()


def _proof_times(log_text: str) -> list[float]:
    return [float(ms) for ms in re.findall(r"block produced .* proof_ms=([\d.]+)", log_text)]


def test_without_dev_mode_blocks_carry_an_expensive_proof(tmp_path: Path) -> None:
    # Difficulty lowered for tests via NOMOS_POL_DIFFICULTY_BITS (docs/node.md): ~2^18 hashes per won slot, a few
    # hundred ms on average. The search time is geometric, so compare means over several blocks.
    runs = {}
    for dev_mode in (True, False):
        with LocalNetwork(tmp_path / str(dev_mode), 1, topology="none", slot=1.5, dev_mode=dev_mode,
                          extra_env={"NOMOS_POL_DIFFICULTY_BITS": "18"}) as network:
            node = network.nodes[0]
            network.start()
            wait_until(lambda node=node: len(_proof_times(node.log_text())) >= 4, 60, "four produced blocks")
            tip = node.post("/storage/block", node.info()["tip"])
            runs[dev_mode] = (statistics.mean(_proof_times(node.log_text())), tip["header"]["leader"]["proof"])
    (dev_ms, dev_proof), (full_ms, full_proof) = runs[True], runs[False]
    assert dev_proof == "" and re.fullmatch(r"[0-9a-f]{16}", full_proof)
    assert dev_ms < 1.0 and full_ms > 20.0, f"proof took {full_ms:.1f} ms without dev mode, {dev_ms:.1f} ms with it"


def test_log_filter_levels_per_target(tmp_path: Path) -> None:
    network, path = _config(tmp_path)
    bad = _run([str(path)], env=dict(network.nodes[0].env, NOMOS_LOG_FILTER="chain=debug"))
    assert bad.returncode == 2 and "NOMOS_LOG_FILTER" in bad.stderr
    network.nodes[0].env["NOMOS_LOG_FILTER"] = "node=warn,consensus=debug"
    with network:
        node = network.nodes[0]
        network.start()
        wait_until(lambda: "block produced" in node.log_text(), 30, "a produced block")
        assert ready(node)
        assert " node node started" not in node.log_text()
