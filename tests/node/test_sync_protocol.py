"""The sync requests refuse malformed parameters, and a peer's malformed answers end the fetch from that peer
without an exception escaping (the session goes on with the other peers)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from nomos_node.network.chain_source import ChainSyncSource
from nomos_node.network.service import RequestRejected
from nomos_node.network.sync import METHOD_ANCESTORS, METHOD_BLOCKS_FROM_SLOT, METHOD_TIP, ChainSync, ImportOutcome


class _Network:
    """Registers the handlers and answers the client's requests from a script (peer → method → answer)."""

    def __init__(self, answers: dict[str, dict[str, Any]] | None = None) -> None:
        self.methods: dict[str, Any] = {}
        self.answers = answers or {}
        self.requests: list[tuple[str, str, Any]] = []

    def register_method(self, name: str, handler: Any) -> None:
        self.methods[name] = handler

    def peers(self) -> list[str]:
        return sorted(self.answers)

    async def request(self, peer_id: str, method: str, params: Any, timeout: float = 10.0) -> Any:
        self.requests.append((peer_id, method, params))
        return self.answers[peer_id][method]


async def _refuse(imported: list[Any]) -> ImportOutcome:
    return "rejected"


@pytest.mark.parametrize(("method", "params"), [
    (METHOD_BLOCKS_FROM_SLOT, None),
    (METHOD_BLOCKS_FROM_SLOT, {"slot": -1}),
    (METHOD_BLOCKS_FROM_SLOT, {"slot": "0"}),
    (METHOD_BLOCKS_FROM_SLOT, {"slot": True}),
    (METHOD_BLOCKS_FROM_SLOT, {"slot": 0, "after": 7}),
    (METHOD_BLOCKS_FROM_SLOT, {"slot": 0, "after": "x" * 1000}),
    (METHOD_ANCESTORS, []),
    (METHOD_ANCESTORS, {"id": None}),
])
async def test_malformed_requests_are_refused(kit, caplog, method: str, params: Any) -> None:
    network = _Network()
    ChainSync(network, ChainSyncSource(kit.chain()), None)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="nomos_node.network"), pytest.raises(RequestRejected):
        await network.methods[method](params, "peer-x")
    assert "sync request refused peer=peer-x" in caplog.text


async def test_limits_are_clamped_and_unknown_ids_answer_nothing(kit) -> None:
    chain = kit.chain(online=False)
    blocks = kit.extend(chain, 70)
    network = _Network()
    ChainSync(network, ChainSyncSource(chain), None)  # type: ignore[arg-type]
    page = await network.methods[METHOD_BLOCKS_FROM_SLOT]({"slot": 0, "limit": 10**9}, "peer")
    assert len(page["blocks"]) == 64 and page["more"]
    last = page["blocks"][-1]["header"]
    rest = await network.methods[METHOD_BLOCKS_FROM_SLOT]({"slot": last["slot"], "after": last["id"]}, "peer")
    assert [b["header"]["id"] for b in rest["blocks"]] == [b.id for b in blocks[64:]] and not rest["more"]
    assert (await network.methods[METHOD_ANCESTORS]({"id": "ab" * 32}, "peer")) == {"blocks": []}
    back = await network.methods[METHOD_ANCESTORS]({"id": blocks[-1].id, "limit": 3}, "peer")
    assert [b["header"]["id"] for b in back["blocks"]] == [b.id for b in reversed(blocks[-3:])]


@pytest.mark.parametrize("answer", [
    None, [], {"blocks": "x"}, {"blocks": [{"header": None}]}, {"blocks": [{"header": {"slot": 5, "id": 1}}]},
    {"blocks": [{"header": {"slot": 9, "id": "b" * 64, "parent": "c" * 64}},
                {"header": {"slot": 8, "id": "d" * 64, "parent": "c" * 64}}], "more": True},  # out of order
])
async def test_a_malformed_answer_ends_the_fetch_from_that_peer(kit, caplog, answer: Any) -> None:
    local = kit.chain()
    tip = {"id": "e" * 64, "height": 50, "slot": 60, "vrf_output": ""}
    network = _Network({"bad": {METHOD_TIP: tip, METHOD_BLOCKS_FROM_SLOT: answer, METHOD_ANCESTORS: answer}})
    imported: list[Any] = []
    sync = ChainSync(network, ChainSyncSource(local), lambda block, peer: _refuse(imported))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="nomos_node.network"):
        stats = await sync.sync({"bad": "test"})
    assert "range fetch stopped peer=bad" in caplog.text
    assert stats.imported == 0 and local.height == 0
    assert [method for _, method, _ in network.requests] == [METHOD_TIP, METHOD_BLOCKS_FROM_SLOT]
