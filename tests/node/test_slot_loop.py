"""The node's slot loop yields to the event loop on every pass, however short the slots.

Regression: when one pass (a VRF evaluation, maybe a block) took longer than a slot, the loop always found the
next slot due and never awaited anything: the API, the network and the SIGTERM handler starved (at 0.1 ms slots
the process had to be killed).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from nomos_node.config import parse_config
from nomos_node.consensus.clock import SlotClock
from nomos_node.node import Node

pytestmark = pytest.mark.timeout(15)


async def test_slot_loop_yields_when_slots_are_shorter_than_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_dict_factory, genesis_dict_factory
) -> None:
    monkeypatch.setenv("POL_PROOF_DEV_MODE", "true")
    document = config_dict_factory(0, tmp_path / "data", genesis_dict_factory(3, chain_start_time=time.time() - 1))
    node = Node(parse_config(document, tmp_path))
    await node.start()
    try:
        # 1 µs slots (below what a config may set): every pass of the loop ends after the next slot began.
        node.chain.clock = SlotClock(node.chain.clock.chain_start_time, 1e-6)
        started = time.monotonic()
        await asyncio.sleep(0.1)  # never returned before the fix (pytest-timeout ended the test)
        assert time.monotonic() - started < 5.0
        assert node.metrics.registry.get_sample_value("consensus_current_slot") > 1_000_000  # the loop ran meanwhile
    finally:
        await node.stop()
