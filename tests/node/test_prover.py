"""Without dev mode the proof of leadership runs in a worker process: the node's own process (event loop,
API, network) stays idle while a long proof is searched, and the worker goes away with the node.

Regression: the search used to run in a thread, holding the GIL for seconds per won slot.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import psutil
import pytest

from nomos_node.devnet import LocalNetwork, http, ready, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

BITS = "27"  # ~2^27 hashes: over a minute, so a proof is always in progress while we measure


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def test_long_proof_runs_in_a_worker_process_and_the_api_stays_fast(tmp_path: Path) -> None:
    with LocalNetwork(tmp_path, 1, topology="none", slot=1.0, dev_mode=False,
                      extra_env={"NOMOS_POL_DIFFICULTY_BITS": BITS}) as network:
        node = network.nodes[0]
        network.start()
        wait_until(lambda: ready(node), 20, "the API")
        assert node.proc is not None
        main = psutil.Process(node.proc.pid)
        workers = wait_until(lambda: [c for c in main.children(recursive=True) if _cpu(c) > 0.3], 30,
                             "a worker process searching a proof")
        main_before, workers_before, began = _cpu(main), sum(_cpu(w) for w in workers), time.monotonic()
        latencies = []
        for _ in range(20):
            started = time.monotonic()
            status, _ = http("GET", node.api_url + "/cryptarchia/info")
            latencies.append(time.monotonic() - started)
            assert status == 200
            time.sleep(0.1)
        wall = time.monotonic() - began
        main_share = (_cpu(main) - main_before) / wall
        worker_share = (sum(_cpu(w) for w in workers) - workers_before) / wall
        assert worker_share > 0.4, f"the worker used {worker_share:.0%} of a core"
        assert main_share < 0.3, f"the node process used {main_share:.0%} of a core while a proof was searched"
        assert statistics.median(latencies) < 0.05, f"API latency median {statistics.median(latencies):.3f} s"
        assert node.terminate() == 0
        for worker in workers:
            worker.wait(5)  # raises psutil.TimeoutExpired if the worker outlived the node
        assert "block produced" not in node.log_text()
