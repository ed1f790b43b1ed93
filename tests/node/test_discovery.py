"""Peer discovery: nodes dial the addresses their peers learned in HELLO, so a star becomes a mesh and the
leaves stay connected (and keep one chain) while the hub is down."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nomos_node.devnet import LocalNetwork, NodeProcess, ready, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _peers(node: NodeProcess) -> int:
    return node.get("/network/info")["n_peers"]


def test_leaves_of_a_star_find_each_other_and_survive_a_hub_restart(tmp_path: Path) -> None:
    with LocalNetwork(tmp_path, 3, slot=0.5, f=0.9, k=10, start_in=2.0) as net:
        hub, leaf_a, leaf_b = net.nodes
        net.start()
        for node in net.nodes:
            wait_until(lambda node=node: ready(node), 20, f"node {node.index} API")
        # Only the hub is configured; the leaves learn each other through it.
        assert leaf_a.config["network"]["initial_peers"] == [hub.p2p_address]
        wait_until(lambda: all(_peers(node) == 2 for node in net.nodes), 20, "a full mesh from a star")

        hub.kill()
        time.sleep(1.0)
        assert _peers(leaf_a) == 1 and _peers(leaf_b) == 1, "the leaves lost each other with the hub"
        start = leaf_b.info()["height"]
        wait_until(lambda: leaf_b.info()["height"] >= start + 4, 20, "the chain to grow without the hub")
        wait_until(lambda: leaf_a.info()["lib"] == leaf_b.info()["lib"], 20, "the leaves to agree without the hub")

        hub.start()
        wait_until(lambda: ready(hub), 20, "the restarted hub")
        wait_until(lambda: all(_peers(node) == 2 for node in net.nodes), 20, "the mesh after the hub restart")
        target = leaf_a.info()["height"]
        wait_until(lambda: hub.info()["height"] >= target, 20, "the hub to catch up")
