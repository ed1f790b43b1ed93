"""The mode a restarted node starts in (consensus/modes.py, the real node's `choose_engine_state`): Online unless
the LIB is genesis, bootstrapping is forced, or the node was offline longer than its grace period."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nomos_node.config import ConsensusConfig
from nomos_node.consensus.chain import Chain
from nomos_node.consensus.modes import LastActivity, start_mode
from nomos_node.devnet import LocalNetwork, NodeProcess, ready, wait_until
from nomos_node.storage import BlockStore

GRACE = 1200.0


@pytest.mark.parametrize(("lib_is_genesis", "force", "last", "expected"), [
    (True, False, None, "Bootstrapping"),  # nothing final yet: a fresh node
    (True, False, LastActivity(990.0, "Online"), "Bootstrapping"),
    (False, True, LastActivity(990.0, "Online"), "Bootstrapping"),  # consensus.force_bootstrap
    (False, False, None, "Online"),  # a LIB and no record
    (False, False, LastActivity(990.0, "Online"), "Online"),  # back within the grace period
    (False, False, LastActivity(990.0, "Bootstrapping"), "Bootstrapping"),  # the mode it was in
    (False, False, LastActivity(1000.0 - GRACE - 1, "Online"), "Bootstrapping"),  # offline too long
    (False, False, LastActivity(1010.0, "Online"), "Bootstrapping"),  # a record from the future: be conservative
])
def test_start_mode_rule(lib_is_genesis: bool, force: bool, last: LastActivity | None, expected: str) -> None:
    assert start_mode(lib_is_genesis=lib_is_genesis, force_bootstrap=force, offline_grace_period=GRACE, last=last,
                      now=1000.0) == expected


def _chain(kit, genesis, data_dir: Path, started_at: float, **consensus: object) -> Chain:
    return Chain(genesis, ConsensusConfig(**consensus),  # type: ignore[arg-type]
                 BlockStore.open(data_dir), pol_dev_mode=True, pol_difficulty_bits=4, started_at=started_at)


def test_restarted_chain_resumes_online_within_the_grace_period(kit, tmp_path: Path) -> None:
    genesis = kit.genesis()
    first = _chain(kit, genesis, tmp_path, started_at=5000.0)
    assert first.mode == "Bootstrapping"  # fresh: LIB at genesis
    first.tick(now=5001.0)
    kit.extend(first, 6)
    assert first.mode == "Online" and first.lib.height == 3
    first.record_activity(now=5100.0)
    first.store.close()

    again = _chain(kit, genesis, tmp_path, started_at=5100.0 + GRACE - 1)
    assert again.mode == "Online" and again.lib.height == 3
    again.store.close()
    late = _chain(kit, genesis, tmp_path, started_at=5100.0 + 2 * GRACE)
    assert late.mode == "Bootstrapping" and late.lib.height == 3  # the LIB stays final while bootstrapping
    late.store.close()
    forced = _chain(kit, genesis, tmp_path, started_at=late.started_at + 1, force_bootstrap=True)
    assert forced.mode == "Bootstrapping"
    forced.store.close()


def test_restarted_chain_with_lib_at_genesis_bootstraps(kit, tmp_path: Path) -> None:
    genesis = kit.genesis()
    first = _chain(kit, genesis, tmp_path, started_at=5000.0, prolonged_bootstrap_period=1e9)
    kit.extend(first, 6)
    assert first.mode == "Bootstrapping" and first.lib.id == first.genesis_id
    first.store.close()
    again = _chain(kit, genesis, tmp_path, started_at=5010.0)
    assert again.mode == "Bootstrapping" and again.height == 6


def _restart(node: NodeProcess, **consensus: object) -> dict:
    node.terminate()
    node.config["consensus"].update(consensus)
    node.write_config()
    node.start()
    wait_until(lambda: ready(node), 15, "the restarted node's API")
    info: dict = node.info()
    return info


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_restarted_node_process_resumes_online_unless_its_lib_is_genesis(tmp_path: Path) -> None:
    with LocalNetwork(tmp_path, 1, slot=0.25, k=2, start_in=1.0) as net:
        node = net.nodes[0]
        node.config["consensus"]["prolonged_bootstrap_period"] = 600.0  # stays Bootstrapping: the LIB stays genesis
        node.write_config()
        net.start()
        wait_until(lambda: ready(node) and node.info()["height"] >= 2, 20, "a few blocks while bootstrapping")
        genesis_lib = node.info()["lib"]
        info = _restart(node)
        assert info["mode"] == "Bootstrapping" and info["lib"] == genesis_lib, info

        info = _restart(node, prolonged_bootstrap_period=0.0)  # Online at once; the LIB moves
        wait_until(lambda: node.info()["lib"] != genesis_lib, 20, "a LIB above genesis")
        started = time.monotonic()
        info = _restart(node, prolonged_bootstrap_period=600.0)
        assert info["mode"] == "Online" and info["lib"] != genesis_lib, info
        assert time.monotonic() - started < 600.0
