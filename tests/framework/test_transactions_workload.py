"""The transactions workload and the tx_inclusion expectation in process: plan checks (no wallets is exit 2
naming the field and the fix), the builder, and a run against an in-process ledger that follows the
transaction contract (signatures, unspent inputs, exact balance) — chained spends go far beyond one per
wallet, refusals resync, inclusion / double inclusion / conservation are judged. The real node end to end:
test_transactions_e2e.py."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from nomos_testing.cli import app
from nomos_testing.errors import PlanError
from nomos_testing.expectations.tx_inclusion import TxInclusion, percentile
from nomos_testing.nodes.client import NodeApiError
from nomos_testing.nodes.reference import transactions as txs
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.events import EventLog
from nomos_testing.scenario.builder import ScenarioBuilder, scenario
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.plan import ComponentSpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.workloads.transactions import Transactions

REPO = Path(__file__).resolve().parents[2]
GENESIS_ID = "00" * 32


class FakeLedgerNode:
    """A node client over an in-process ledger with the contract's rules; `produce()` makes a block."""

    def __init__(self, name: str, wallet_notes: list[dict[str, Any]], feed: BlockFeed, stake: int = 0) -> None:
        self.name = name
        self.feed = feed
        self.unspent = dict(zip(txs.genesis_note_ids(wallet_notes),
                                ({"value": n["value"], "pk": n["pk"]} for n in wallet_notes), strict=True))
        self.stake = stake  # the validators' stake notes: ledger notes too, never spent here
        self.genesis_supply = sum(n["value"] for n in wallet_notes) + stake
        self.pool: dict[str, dict[str, Any]] = {}
        self.burned = 0
        self.tip, self.height = GENESIS_ID, 0
        self.feed._record({"header": {"id": GENESIS_ID, "parent": "", "height": 0, "slot": 0},
                           "transactions": []}, name)
        self.refuse_next: str | None = None

    def _refuse(self, code: str) -> NodeApiError:
        return NodeApiError("/mempool/add/tx", f"HTTP 400: {code}", 400, code)

    async def submit_tx(self, tx: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        if self.refuse_next:
            code, self.refuse_next = self.refuse_next, None
            raise self._refuse(code)
        digest = txs.tx_hash(tx)
        spent = {i for pending in self.pool.values() for i in pending["inputs"]}
        for note_id, signature in zip(tx["inputs"], tx["signatures"], strict=True):
            if note_id not in self.unspent:
                raise self._refuse("unknown_input")
            if note_id in spent:
                raise self._refuse("double_spend")
            try:
                Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.unspent[note_id]["pk"])).verify(
                    bytes.fromhex(signature), bytes.fromhex(digest))
            except InvalidSignature:
                raise self._refuse("bad_signature") from None
        if sum(o["value"] for o in tx["outputs"]) + tx["fee"] != sum(self.unspent[i]["value"] for i in tx["inputs"]):
            raise self._refuse("overspend")
        self.pool[digest] = tx
        return {"tx_hash": digest, "status": "pending"}

    def produce(self) -> None:
        self.height += 1
        block_id = f"{self.height:064x}"
        for digest, tx in self.pool.items():
            for note_id in tx["inputs"]:
                del self.unspent[note_id]
            for i, output in enumerate(tx["outputs"]):
                self.unspent[txs.note_id(digest, i)] = dict(output)
            self.burned += tx["fee"]
        block = {"header": {"id": block_id, "parent": self.tip, "height": self.height, "slot": self.height},
                 "transactions": list(self.pool.values())}
        self.pool = {}
        self.tip = block_id
        self.feed._record(block, self.name)

    async def notes_of(self, pk: str) -> list[dict[str, Any]]:
        return [{"note_id": i, "value": n["value"]} for i, n in self.unspent.items() if n["pk"] == pk]

    async def mantle_status(self) -> dict[str, Any]:
        return {"pending": len(self.pool), "ledger_height": self.height, "tip": self.tip,
                "supply": sum(n["value"] for n in self.unspent.values()) + self.stake,
                "genesis_supply": self.genesis_supply,
                "fees_burned": self.burned, "unspent_notes": len(self.unspent)}

    async def block(self, header_id: str) -> dict[str, Any] | None:
        record = self.feed.blocks.get(header_id)
        return None if record is None else record.block


def a_context(wallets: int, duration: float, tmp_path: Path) -> tuple[RunContext, FakeLedgerNode]:
    plan = resolve_plan(scenario(validators=1, executors=0, wallets=wallets, seed=3, duration=duration,
                                 slot_duration=0.2, active_slot_coeff=0.9), {})
    topology = generate_topology(plan, ReferenceNodeAdapter())
    feed = BlockFeed([], None)
    node = FakeLedgerNode("validator-0", topology.genesis["wallet_notes"], feed,
                          sum(n["value"] for n in topology.genesis["stake_notes"]))
    events = EventLog(tmp_path / "events.jsonl")
    ctx = RunContext(plan=plan, topology=topology, clients={"validator-0": node}, block_feed=feed,  # type: ignore[dict-item]
                     events=events, rng=random.Random(3))
    return ctx, node


async def produce_blocks(node: FakeLedgerNode, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        node.produce()


async def test_chained_spends_go_beyond_one_per_wallet_and_the_expectation_judges_them(tmp_path: Path) -> None:
    ctx, node = a_context(wallets=5, duration=3.0, tmp_path=tmp_path)
    workload = Transactions(tx_per_s=100, users=4, fee=1)
    (expectation,) = workload.expectations()
    await expectation.start_capture(ctx)
    producer = asyncio.create_task(produce_blocks(node, 0.2))
    node.refuse_next = "double_spend"  # the first one is refused: the sender resyncs from /mantle/notes
    try:
        await workload.start(ctx)
        await asyncio.sleep(0.3)
    finally:
        producer.cancel()
    accepted = [s for s in workload.submissions if s.accepted]
    assert len(workload.submissions) >= 200  # 100 tx/s for 3 s, from 4 wallets of 100 tokens: chained
    assert len(accepted) >= len(workload.submissions) - 1 and workload.counters["resyncs"] >= 1
    assert {s.reason for s in workload.submissions if not s.accepted} == {"double_spend"}
    outcome = await expectation.evaluate(ctx)
    assert outcome.passed, outcome.message
    figures = outcome.figures
    assert figures["accepted"] == len(accepted) and figures["included"] == len(accepted)
    assert figures["refused"] == {"double_spend": 1} and figures["double_included"] == 0
    assert figures["nodes"]["validator-0"]["supply"] == figures["genesis_supply"] - len(accepted)
    assert figures["genesis_supply"] == 500 + node.stake  # wallets + the validators' stake notes
    assert figures["latency"]["count"] == len(accepted) and figures["latency"]["p95_s"] < 1.0
    events = (tmp_path / "events.jsonl").read_text().count('"kind":"tx.submit"')
    assert events == len(workload.submissions)


async def test_missing_transactions_double_inclusion_and_broken_conservation_fail(tmp_path: Path) -> None:
    ctx, node = a_context(wallets=3, duration=1.0, tmp_path=tmp_path)
    workload = Transactions(tx_per_s=20, users=3, fee=2)
    await workload.start(ctx)  # nothing produced yet: every accepted transaction is pending
    node.produce()
    first = next(iter(node.feed.blocks.values()))
    assert first.height == 0
    # a block repeating the previous block's transactions, and value that appears from nowhere
    last = node.feed.blocks[node.tip]
    node.height += 1
    repeat = {"header": {"id": f"{node.height:064x}", "parent": node.tip, "height": node.height,
                         "slot": node.height}, "transactions": last.block["transactions"]}
    node.tip = repeat["header"]["id"]
    node.feed._record(repeat, node.name)
    node.unspent["ff" * 32] = {"value": 5, "pk": "00" * 32}
    outcome = await TxInclusion(min_share=0.9).evaluate(ctx)  # used alone: submissions from events.jsonl
    assert not outcome.passed
    assert "included twice" in outcome.message
    assert "fees burned" in outcome.message and "value was created or destroyed" in outcome.message


def test_a_transaction_workload_without_wallets_is_an_input_error_naming_the_field_and_the_fix(
        tmp_path: Path) -> None:
    with pytest.raises(PlanError) as error:
        scenario(validators=1, executors=0, workloads=(ComponentSpec("transactions", {"rate": 5}),))
    assert "wallets.count" in error.value.message and ".wallets(50)" in (error.value.remedy or "")
    path = tmp_path / "tx.toml"
    path.write_text('name = "tx"\nduration = 10\n[topology]\nvalidators = 1\n'
                    '[[workloads]]\nkind = "transactions"\nrate = 5\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")],
                                env={"POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "wallets" in result.output and "count = 50" in result.output
    with pytest.raises(PlanError, match="users"):
        scenario(validators=1, executors=0, wallets=3, workloads=(ComponentSpec("transactions", {"users": 4}),))


def test_the_builder_reads_like_the_original() -> None:
    plan = (ScenarioBuilder.topology_with(lambda t: t.validators(3).executors(1)).wallets(50)
            .transactions_with(lambda t: t.rate(5).users(20)).with_run_duration(90).build())
    (spec,) = plan.workloads
    assert spec.kind == "transactions" and dict(spec.params) == {"rate": 5, "users": 20}
    assert plan.sources["workloads[0].users"].location().startswith("TransactionsConfigurator.users")
    with pytest.raises(PlanError, match="tx_per_s"):
        ScenarioBuilder.topology_with(lambda t: t.validators(1)).wallets(5) \
            .transactions_with(lambda t: t.per_second(-1)).build()


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.95) == 95.0
