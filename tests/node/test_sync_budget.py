"""Sync answers fit in one frame: blocks now carry transactions, and 64 full blocks are far over the 8 MiB
frame limit (at the issue's 500 tx/s, ~400 bytes each, a block is ~200 kB)."""

from __future__ import annotations

from typing import Any

from nomos_node.network.framing import MAX_FRAME_BYTES, encode_frame
from nomos_node.network.sync import MAX_BLOCKS_PER_REQUEST, METHOD_ANCESTORS, METHOD_BLOCKS_FROM_SLOT, ChainSync

TX = {"fee": 1, "inputs": ["ab" * 32], "ops": [], "outputs": [{"pk": "cd" * 32, "value": 700},
                                                               {"pk": "ef" * 32, "value": 299}],
      "signatures": ["12" * 64]}


class _Network:
    def __init__(self) -> None:
        self.methods: dict[str, Any] = {}

    def register_method(self, name: str, handler: Any) -> None:
        self.methods[name] = handler


class _Source:
    def __init__(self, blocks: list[dict[str, Any]]) -> None:
        self.blocks = blocks

    def blocks_from_slot(self, slot: int, after: str | None, limit: int) -> list[dict[str, Any]]:
        return self.blocks[:limit]

    def ancestors(self, block_id: str, limit: int) -> list[dict[str, Any]]:
        return list(reversed(self.blocks))[:limit]


def _block(height: int, n_txs: int) -> dict[str, Any]:
    return {"header": {"id": f"{height:064x}", "height": height}, "signature": "", "transactions": [TX] * n_txs}


async def _serve(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `blocks_from_slot` answer (checking the `ancestors` answer is bounded the same way)."""
    network = _Network()
    ChainSync(network, _Source(blocks), None)  # type: ignore[arg-type]
    answer: dict[str, Any] = await network.methods[METHOD_BLOCKS_FROM_SLOT](
        {"slot": 0, "after": None, "limit": MAX_BLOCKS_PER_REQUEST}, "peer")
    assert answer["more"] == (len(answer["blocks"]) < len(blocks))
    backwards: dict[str, Any] = await network.methods[METHOD_ANCESTORS]({"id": "ab" * 32, "limit": 64}, "peer")
    assert backwards["blocks"] and len(encode_frame({"type": "resp", "id": 1, "result": backwards})) <= MAX_FRAME_BYTES
    served: list[dict[str, Any]] = answer["blocks"]
    return served


async def test_an_answer_of_full_blocks_fits_in_one_frame() -> None:
    blocks = [_block(h, 500) for h in range(1, MAX_BLOCKS_PER_REQUEST + 1)]
    answer = await _serve(blocks)
    assert 1 <= len(answer) < len(blocks) and answer == blocks[:len(answer)]  # the peer asks again after the last
    assert len(encode_frame({"type": "resp", "id": 1, "result": answer})) <= MAX_FRAME_BYTES


BIG_TX = {"fee": 0, "inputs": ["ab" * 32] * 16, "ops": [], "outputs": [{"pk": "cd" * 32, "value": 1}] * 6,
          "signatures": ["12" * 64] * 16}  # near the 4096-byte limit of one transaction


async def test_the_largest_block_alone_is_still_served() -> None:
    blocks = [_block(h, 0) | {"transactions": [BIG_TX] * 1024} for h in (1, 2)]  # 1024: the block format's limit
    answer = await _serve(blocks)
    assert answer == blocks[:1]
    assert len(encode_frame({"type": "resp", "id": 1, "result": answer})) <= MAX_FRAME_BYTES


async def test_small_blocks_are_all_served() -> None:
    blocks = [_block(h, 3) for h in range(1, MAX_BLOCKS_PER_REQUEST + 1)]
    assert await _serve(blocks) == blocks
