from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.events import EventLog, read_events


def test_event_log_is_whole_lines_under_concurrent_threads(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "events.jsonl")

    def writer(index: int) -> None:
        for i in range(200):
            log.emit("workload.op", thread=index, i=i, payload="x" * 300)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    events = read_events(tmp_path / "events.jsonl")
    assert len(events) == 1600 and log.counts() == {"workload.op": 1600}
    assert all({"time", "elapsed_s", "kind"} <= set(e) for e in events)
    elapsed = [e["elapsed_s"] for e in events]
    assert elapsed == sorted(elapsed)


def block(block_id: str, parent: str, height: int, txs: int = 0) -> dict[str, object]:
    return {"header": {"id": block_id, "parent": parent, "height": height, "slot": height * 2},
            "transactions": [{}] * txs}


async def test_block_feed_keeps_every_branch_and_answers_ancestry(tmp_path: Path) -> None:
    feed = BlockFeed([], tmp_path / "blocks.jsonl")
    queue = feed.subscribe()
    for b in (block("g", "0" * 64, 0), block("a1", "g", 1), block("a2", "a1", 2, txs=3), block("b2", "a1", 2),
              block("b3", "b2", 3)):
        feed._record(b, "validator-0")
    await feed.stop()
    assert [queue.get_nowait().id for _ in range(5)] == ["g", "a1", "a2", "b2", "b3"]
    assert feed.fork_points() == 1
    assert feed.fork_depth("a2", "b3") == 1 and feed.fork_depth("b3", "a2") == 2
    assert feed.fork_depth("a1", "b3") == 0
    assert feed.on_one_branch("a1", "b3") is True and feed.on_one_branch("a2", "b3") is False
    assert feed.on_one_branch("a2", "unknown") is None
    lines = [json.loads(line) for line in (tmp_path / "blocks.jsonl").read_text().splitlines()]
    assert lines[2] == {"node": "validator-0", "height": 2, "id": "a2", "parent": "a1", "slot": 4, "tx_count": 3,
                        "time": lines[2]["time"]}
    assert feed.stats()["blocks"] == 5


async def test_late_subscriber_gets_a_replay() -> None:
    feed = BlockFeed([])
    feed._record(block("g", "0", 0), "n")
    queue = feed.subscribe()
    assert queue.get_nowait().id == "g"
    await asyncio.sleep(0)
