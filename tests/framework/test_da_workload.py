"""The da workload and the da_inclusion expectation in process, against a fake network that follows the DA
contract (docs/data-availability.md): channel ops chained by parent and signed by the channel's owner (checked
with Ed25519 over the tx hash), executors that answer /disperse-data and submit the channel_blob transaction,
validators that serve commitments and shares per subnet. The share codec is a stand-in (the crypto library's
real verification is tested with nomos_da); everything else is the framework's real code.

Also: the op transactions the reference adapter builds, plan checks (a DA workload without executors is exit 2
naming topology.executors and the fix), the builder's da_with, the original's channel sizing."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from typer.testing import CliRunner

from nomos_da.encoder import encode
from nomos_da.params import spec_setup
from nomos_testing.cli import app
from nomos_testing.errors import PlanError
from nomos_testing.expectations.da_inclusion import DaInclusion
from nomos_testing.kzg import NomosDaCodec
from nomos_testing.nodes.client import NodeApiError
from nomos_testing.nodes.reference import transactions as txs
from nomos_testing.nodes.reference.adapter import ReferenceNodeAdapter
from nomos_testing.observe.block_feed import BlockFeed
from nomos_testing.observe.events import EventLog, read_events
from nomos_testing.scenario.builder import ScenarioBuilder, scenario
from nomos_testing.scenario.context import RunContext
from nomos_testing.scenario.plan import ComponentSpec
from nomos_testing.scenario.resolve import resolve_plan
from nomos_testing.topology.generate import generate_topology
from nomos_testing.topology.model import Role
from nomos_testing.workloads.da import DataAvailability, planned_channels

GENESIS_ID = "00" * 32
SUBNETS = 2


def _refuse(path: str, status: int, code: str, detail: str = "") -> NodeApiError:
    return NodeApiError(path, f"HTTP {status}: {code} {detail}", status, code)


class FakeDaNet:
    """One chain every node agrees on, a mempool, channel state and the shares of dispersed blobs."""

    def __init__(self, feed: BlockFeed) -> None:
        self.feed = feed
        self.tip, self.height = GENESIS_ID, 0
        self.feed._record({"header": {"id": GENESIS_ID, "parent": "", "height": 0, "slot": 0},
                           "transactions": []}, "validator-0")
        self.channels: dict[str, dict[str, Any]] = {}   # on chain: last msg id, owner, messages
        self.pool: list[dict[str, Any]] = []
        self.payloads: dict[str, bytes] = {}
        self.dispersal_failure: str | None = None        # detail of a 503 dispersal_failed
        self.tamper = False                              # shares served with a flipped byte
        self.withhold_blobs = False                      # leaders never pack blob transactions
        self.refused: list[str] = []
        self.params: Any = None                          # nomos_da parameters: real encoding and shares
        self.disperse_s = 0.01                           # how long an executor takes to answer
        self.encoded: dict[str, Any] = {}

    def _state(self, pending: bool) -> dict[str, dict[str, Any]]:
        state = {c: dict(v) for c, v in self.channels.items()}
        if pending:
            for tx in self.pool:
                _apply(state, tx)
        return state

    def submit(self, tx: dict[str, Any]) -> str:
        digest = txs.tx_hash(tx)
        if len(tx["signatures"]) != len(tx["inputs"]) + len(tx["ops"]):
            raise _refuse("/mempool/add/tx", 400, "bad_signature")
        state = self._state(pending=True)
        for op, signature in zip(tx["ops"], tx["signatures"][len(tx["inputs"]):], strict=True):
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(op["signer"])).verify(
                bytes.fromhex(signature), bytes.fromhex(digest))
            channel = state.get(op["channel"])
            last = channel["last"] if channel else txs.ZERO_MSG_ID
            if op["parent"] != last:
                self.refused.append("bad_parent")
                raise _refuse("/mempool/add/tx", 409, "bad_parent", f"{op['parent'][:8]} is not {last[:8]}")
            if channel and op["signer"] != channel["owner"]:
                raise _refuse("/mempool/add/tx", 403, "not_channel_owner")
            _apply(state, {"ops": [op]})
        self.pool.append(tx)
        return digest

    def produce(self) -> None:
        packed = [tx for tx in self.pool
                  if not (self.withhold_blobs and any(op["type"] == txs.CHANNEL_BLOB for op in tx["ops"]))]
        self.pool = [tx for tx in self.pool if tx not in packed]
        for tx in packed:
            _apply(self.channels, tx)
        self.height += 1
        block_id = f"{self.height:064x}"
        block = {"header": {"id": block_id, "parent": self.tip, "height": self.height, "slot": self.height},
                 "transactions": packed}
        self.tip = block_id
        self.feed._record(block, "validator-0")

    def share(self, blob_id: str, index: int) -> dict[str, Any] | None:
        if self.params is not None:
            encoded = self.encoded.get(blob_id)
            if encoded is None:
                return None
            share: dict[str, Any] = encoded.shares[index].to_json()
            if self.tamper:  # one flipped bit of the first field element
                first = share["column"][0]
                share["column"][0] = first[:-1] + format(int(first[-1], 16) ^ 1, "x")
            return share
        data = self.payloads.get(blob_id)
        if data is None or index >= SUBNETS:
            return None
        column = bytes(data)
        if self.tamper:
            column = bytes([column[0] ^ 1]) + column[1:]
        return {"blob_id": blob_id, "share_idx": index, "column": [column.hex()],
                "combined_column_proof": _proof(data, index), "rows_commitments": _commitments(blob_id)}


def _apply(state: dict[str, dict[str, Any]], tx: Mapping[str, Any]) -> None:
    for op in tx["ops"]:
        entry = state.setdefault(op["channel"], {"last": txs.ZERO_MSG_ID, "owner": op["signer"], "messages": 0})
        entry["last"] = txs.msg_id(op)
        entry["messages"] += 1


def _commitments(blob_id: str) -> list[str]:
    return [hashlib.blake2b(bytes.fromhex(blob_id) + b"row", digest_size=32).hexdigest()]


def _proof(data: bytes, index: int) -> str:
    return hashlib.blake2b(data + bytes([index]), digest_size=32).hexdigest()


class StandInCodec:
    """Verifies the fake shares (the proof binds the column to its index) and rebuilds the payload."""

    def verify(self, share: Mapping[str, Any], num_columns: int | None = None) -> bool:
        column = bytes.fromhex(share["column"][0])
        return bool(_proof(column, int(share["share_idx"])) == share["combined_column_proof"])

    def reconstruct(self, shares: Sequence[Mapping[str, Any]], original_size: int,
                    num_columns: int | None = None) -> bytes:
        if len(shares) < SUBNETS // 2:
            raise ValueError("fewer than half of the columns")
        return bytes.fromhex(shares[0]["column"][0])[:original_size]


class FakeDaClient:
    def __init__(self, net: FakeDaNet, name: str, role: Role, index: int) -> None:
        self.net, self.name, self.role = net, name, role
        self.peer_id = f"peer-{name}"
        self.index = index
        self.dispersals = 0

    async def consensus_info(self) -> dict[str, Any]:
        return {"tip": self.net.tip, "height": self.net.height}

    async def block(self, header_id: str) -> dict[str, Any] | None:
        record = self.net.feed.blocks.get(header_id)
        return None if record is None else record.block

    async def network_info(self) -> dict[str, Any]:
        return {"peer_id": self.peer_id}

    async def submit_tx(self, tx: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"tx_hash": self.net.submit(tx)}

    async def disperse_data(self, channel_id: str, parent_msg_id: str, signer: str, data: bytes) -> dict[str, Any]:
        await asyncio.sleep(self.net.disperse_s)
        if self.role is not Role.EXECUTOR:
            raise _refuse("/disperse-data", 403, "not_an_executor")
        if self.net.dispersal_failure:
            raise _refuse("/disperse-data", 503, "dispersal_failed", self.net.dispersal_failure)
        self.dispersals += 1
        blob_id = hashlib.blake2b(data + channel_id.encode() + parent_msg_id.encode(), digest_size=32).hexdigest()
        if self.net.params is not None:
            encoded = encode(data, SUBNETS, self.net.params)
            blob_id = encoded.blob_id.hex()
            self.net.encoded[blob_id] = encoded
        self.net.payloads[blob_id] = data
        op = txs.channel_blob_op(channel_id, blob_id, len(data), parent_msg_id, signer)
        tx, digest = txs.build_op_tx([(op, txs.TEST_SIGNER_SECRET)])
        try:
            self.net.submit(tx)
        except NodeApiError as exc:
            raise _refuse("/disperse-data", exc.status or 409, exc.code or "refused") from None
        return {"blob_id": blob_id, "tx_hash": digest}

    async def channel(self, channel_id: str) -> dict[str, Any] | None:
        entry = self.net.channels.get(channel_id)
        return None if entry is None else {"last_msg_id": entry["last"], "owner": entry["owner"],
                                           "messages": entry["messages"]}

    async def da_membership(self, session: int = 0) -> dict[str, Any]:
        return {"assignations": {str(s): [f"peer-validator-{s}"] for s in range(SUBNETS)}, "addressbook": {}}

    async def da_commitments(self, blob_id: str) -> list[str] | None:
        if self.net.params is not None:
            encoded = self.net.encoded.get(blob_id)
            return None if encoded is None else [c.hex() for c in encoded.rows_commitments]
        return _commitments(blob_id) if blob_id in self.net.payloads else None

    async def da_share(self, blob_id: str, share_idx: int) -> dict[str, Any] | None:
        return self.net.share(blob_id, share_idx) if self.index == share_idx else None

    async def historic_sampling(self, block_id: str, blob_ids: list[str]) -> bool:
        record = self.net.feed.blocks[block_id]
        carried = {op.get("blob") for tx in record.block["transactions"] for op in tx["ops"]}
        return all(blob in carried and blob in self.net.payloads for blob in blob_ids)


def a_context(tmp_path: Path, duration: float, executors: int = 2) -> tuple[RunContext, FakeDaNet,
                                                                            dict[str, FakeDaClient]]:
    plan = resolve_plan(scenario(validators=2, executors=executors, seed=5, duration=duration, slot_duration=0.2,
                                 active_slot_coeff=0.9), {})
    topology = generate_topology(plan, ReferenceNodeAdapter())
    feed = BlockFeed([], None)
    net = FakeDaNet(feed)
    clients = {node.name: FakeDaClient(net, node.name, node.role, node.index) for node in topology.nodes}
    ctx = RunContext(plan=plan, topology=topology, clients=clients, block_feed=feed,  # type: ignore[arg-type]
                     events=EventLog(tmp_path / "events.jsonl"), rng=random.Random(5))
    return ctx, net, clients


async def produce_blocks(net: FakeDaNet, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        net.produce()


async def run_workload(ctx: RunContext, net: FakeDaNet, workload: DataAvailability) -> None:
    producer = asyncio.create_task(produce_blocks(net, ctx.block_interval))
    try:
        await workload.start(ctx)
        await asyncio.sleep(ctx.block_interval * 2)  # the last blobs get their block
    finally:
        producer.cancel()


async def test_inscriptions_then_chained_blobs_at_the_rate_judged_and_fetched_back(tmp_path: Path) -> None:
    ctx, net, _ = a_context(tmp_path, duration=4.0)
    workload = DataAvailability(channel_rate=1, blob_rate=2, headroom_percent=20, payload_min_bytes=100,
                                payload_max_bytes=300, retrieve_sample=3)
    (expectation,) = workload.expectations()
    assert isinstance(expectation, DaInclusion)
    expectation.codec = StandInCodec()
    await expectation.start_capture(ctx)
    await run_workload(ctx, net, workload)
    events = read_events(tmp_path / "events.jsonl")
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "da.plan" and kinds.count("da.inscribe") == 2  # 1 + ceil(20 %) channels
    assert kinds.index("da.disperse") > max(i for i, k in enumerate(kinds) if k == "da.inscribe")
    dispersals = [e for e in events if e["kind"] == "da.disperse"]
    expected = 2 * ctx.plan.expected_blocks  # blob rate 2 × blocks of the window
    assert expected * 0.7 <= len(dispersals) <= expected + 1
    assert all(d["ok"] and d["executor"].startswith("executor-") and 100 <= d["size"] <= 300 for d in dispersals)
    assert {d["executor"] for d in dispersals} == {"executor-0", "executor-1"}  # spread over the executors
    assert all(d["latency_ms"] >= 0 and len(d["payload_hash"]) == 64 for d in dispersals)
    # chained per channel: each blob names the previous message of its channel, none was refused
    assert not net.refused
    for channel, state in net.channels.items():
        ours = [d for d in dispersals if d["channel"] == channel]
        assert state["messages"] == 1 + len(ours)
        assert ours[0]["parent"] == next(e["msg_id"] for e in events
                                         if e["kind"] == "da.inscribe" and e["channel"] == channel)
        assert all(b["parent"] == a["msg_id"] for a, b in itertools.pairwise(ours))
        assert state["last"] == ours[-1]["msg_id"]
    outcome = await expectation.evaluate(ctx)
    assert outcome.passed, outcome.message
    figures = outcome.figures
    assert figures["planned_channels"] == 2 and figures["inscribed"] == 2
    assert figures["included"] == len(dispersals) and figures["failed"] == {}
    retrieval = figures["retrievability"]
    assert retrieval["sampled"] == 3 and retrieval["retrieved"] == 3
    assert all(b["verified"] == SUBNETS and b["reconstructed"] for b in retrieval["blobs"].values())
    assert all(b["historic_sampling"] is True for b in retrieval["blobs"].values())
    assert figures["nodes"]["validator-0"]["required_blobs"] >= 1


async def test_dispersal_failures_are_events_and_fail_the_expectation_with_the_reason(tmp_path: Path) -> None:
    ctx, net, _ = a_context(tmp_path, duration=1.5)
    net.dispersal_failure = "subnet 1: no member acknowledged within 20 s"
    workload = DataAvailability(blob_rate=2, retrieve_sample=0)
    await run_workload(ctx, net, workload)
    dispersals = [e for e in read_events(tmp_path / "events.jsonl") if e["kind"] == "da.disperse"]
    assert dispersals and all(not d["ok"] and d["error"] == "dispersal_failed" for d in dispersals)
    assert "subnet 1" in dispersals[0]["detail"] and dispersals[0]["blob_id"] is None
    outcome = await DaInclusion().evaluate(ctx)  # used alone: from events.jsonl
    assert not outcome.passed
    assert "no dispersal succeeded" in outcome.message and "subnet 1" in outcome.message
    assert outcome.figures["inscribed"] == 2 and outcome.figures["failed"] == {"dispersal_failed": len(dispersals)}


async def test_blobs_never_packed_fail_the_blob_threshold_and_resync_their_channels(tmp_path: Path) -> None:
    ctx, net, _ = a_context(tmp_path, duration=3.0)
    net.withhold_blobs = True
    workload = DataAvailability(blob_rate=1, stale_blocks=1, retrieve_sample=0)
    await run_workload(ctx, net, workload)
    assert workload.counters["stale"] >= 1 and workload.counters["resyncs"] >= 1
    outcome = await DaInclusion(retrieve_sample=0, source=workload).evaluate(ctx)
    assert not outcome.passed and "0 blobs included, fewer than" in outcome.message
    # one line per finding, naming every node it holds for
    assert outcome.message.count("blobs included") == 1
    assert "validator-0, validator-1, executor-0, executor-1: 0 blobs included" in outcome.message


async def test_a_refused_parent_resynchronises_the_channel_from_the_node(tmp_path: Path) -> None:
    ctx, net, _ = a_context(tmp_path, duration=2.0)
    workload = DataAvailability(blob_rate=2, retrieve_sample=0)
    producer = asyncio.create_task(produce_blocks(net, ctx.block_interval))
    task = asyncio.create_task(workload.start(ctx))
    try:
        while not any(c.blobs for c in workload.channels):
            await asyncio.sleep(0.01)
        broken = next(c for c in workload.channels if c.blobs)
        broken.parent = "ab" * 32  # the framework's idea of the chain is off
        await task
    finally:
        producer.cancel()
    assert "bad_parent" in net.refused and workload.counters["resyncs"] >= 1
    resyncs = [e for e in read_events(tmp_path / "events.jsonl") if e["kind"] == "da.resync"]
    assert resyncs and resyncs[0]["channel"] == broken.channel_id
    later = [d for d in workload.dispersals if d.channel == broken.channel_id and d.sent_at > 0]
    assert later[-1].ok  # the channel went on after the resync


async def test_a_dispersal_still_awaiting_its_answer_when_the_window_ends_is_an_event(tmp_path: Path) -> None:
    ctx, net, _ = a_context(tmp_path, duration=30.0)
    net.disperse_s = 60.0  # acknowledgements that never come in time
    workload = DataAvailability(blob_rate=2, inscription_wait_blocks=0)
    task = asyncio.create_task(workload.start(ctx))
    while not any(c.busy for c in workload.channels):
        await asyncio.sleep(0.01)
    task.cancel()  # the run window ends
    with pytest.raises(asyncio.CancelledError):
        await task
    events = read_events(tmp_path / "events.jsonl")
    cancelled = [e for e in events if e["kind"] == "da.disperse"]
    assert cancelled and all(e["error"] == "cancelled" and not e["ok"] and e["blob_id"] is None for e in cancelled)
    assert events[-1]["kind"] == "da.done" and events[-1]["failed"] == len(cancelled)


async def test_tampered_shares_are_not_retrievable(tmp_path: Path) -> None:
    ctx, net, _ = a_context(tmp_path, duration=1.5)
    workload = DataAvailability(blob_rate=2, retrieve_sample=2)
    await run_workload(ctx, net, workload)
    net.tamper = True
    outcome = await DaInclusion(retrieve_sample=2, codec=StandInCodec()).evaluate(ctx)
    assert not outcome.passed and "not retrievable" in outcome.message
    blobs = outcome.figures["retrievability"]["blobs"]
    assert all(b["rejected"] == SUBNETS and not b["reconstructed"] for b in blobs.values())


async def test_retrievability_with_the_real_encoding_and_a_flipped_bit(tmp_path: Path) -> None:
    """nomos_da encodes at the executors (2 columns, as 2 subnets); da_inclusion fetches the shares back,
    verifies them with the KZG parameters and reconstructs every sampled payload; one flipped bit fails it."""
    ctx, net, _ = a_context(tmp_path, duration=1.5)
    net.params = spec_setup()
    workload = DataAvailability(blob_rate=2, payload_min_bytes=1, payload_max_bytes=200, retrieve_sample=3)
    await run_workload(ctx, net, workload)
    codec = NomosDaCodec(net.params)
    outcome = await DaInclusion(retrieve_sample=3, codec=codec).evaluate(ctx)
    assert outcome.passed, outcome.message
    retrieval = outcome.figures["retrievability"]
    assert retrieval["sampled"] == retrieval["retrieved"] == 3
    assert all(b["verified"] == SUBNETS and b["reconstructed"] for b in retrieval["blobs"].values())
    assert set(retrieval["blobs"]) <= set(net.encoded)  # real blob ids: Blake2b of the row commitments
    net.tamper = True
    outcome = await DaInclusion(retrieve_sample=3, codec=codec).evaluate(ctx)
    assert not outcome.passed and "not retrievable" in outcome.message
    assert all(b["rejected"] == SUBNETS and b["verified"] == 0 for b in outcome.figures["retrievability"]["blobs"]
               .values())


def test_op_transactions_of_the_reference_adapter_follow_the_contract() -> None:
    adapter = ReferenceNodeAdapter()
    signer = adapter.da_signer()
    assert signer == txs.signer_pk("00" * 32) and len(signer) == 64
    op = adapter.channel_inscription("11" * 32, b"hello", adapter.first_parent())
    (inscribe,) = op.tx["ops"]
    assert inscribe == {"type": "channel_inscribe", "channel": "11" * 32, "inscription": b"hello".hex(),
                        "parent": "00" * 32, "signer": signer}
    assert op.tx["inputs"] == [] and op.tx["outputs"] == [] and op.tx["fee"] == 0
    assert op.tx_hash == txs.tx_hash(op.tx)
    assert op.msg_id == hashlib.blake2b(txs.canonical_json(inscribe), digest_size=32).hexdigest()
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(signer)).verify(bytes.fromhex(op.tx["signatures"][0]),
                                                                    bytes.fromhex(op.tx_hash))
    blob = txs.channel_blob_op("11" * 32, "22" * 32, 5, op.msg_id, signer)
    assert adapter.blob_msg_id("11" * 32, "22" * 32, 5, op.msg_id) == txs.msg_id(blob)
    messages = adapter.channel_messages({"ops": [inscribe, blob]})
    assert [(m.kind, m.msg_id, m.blob_id) for m in messages] == [("inscribe", op.msg_id, None),
                                                                  ("blob", txs.msg_id(blob), "22" * 32)]
    with pytest.raises(ValueError, match="inscription"):
        txs.channel_inscribe_op("11" * 32, b"", "00" * 32, signer)
    # the node reads them the same way (tests may import the node; the framework never does)
    from nomos_node.ledger.transaction import parse_transaction

    parsed = parse_transaction(op.tx)
    assert parsed.hash == op.tx_hash and [o.msg_id for o in parsed.ops] == [op.msg_id]
    blob_tx, blob_hash = txs.build_op_tx([(blob, txs.TEST_SIGNER_SECRET)])
    parsed = parse_transaction(blob_tx)
    assert parsed.hash == blob_hash and parsed.ops[0].msg_id == txs.msg_id(blob) and parsed.ops[0].blob_size == 5


def test_a_da_workload_without_executors_is_an_input_error_naming_the_field_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as error:
        scenario(validators=2, executors=0, workloads=(ComponentSpec("da", {"blob_rate": 2}),))
    assert "topology.executors" in error.value.message and "executors(2)" in (error.value.remedy or "")
    path = tmp_path / "da.toml"
    path.write_text('name = "da"\nduration = 10\n[topology]\nvalidators = 2\n'
                    '[[workloads]]\nkind = "da"\nblob_rate = 2\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out")],
                                env={"POL_PROOF_DEV_MODE": "true", "NO_COLOR": "1"}, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "executors" in result.output and "executors = 2" in result.output
    with pytest.raises(PlanError, match="payload_min_bytes"):
        scenario(validators=1, executors=1,
                 workloads=(ComponentSpec("da", {"payload_min_bytes": 10, "payload_max_bytes": 5}),))


def test_the_builder_reads_like_the_original() -> None:
    plan = (ScenarioBuilder.topology_with(lambda t: t.validators(3).executors(2))
            .da_with(lambda d: d.channel_rate(1).blob_rate(2).headroom_percent(20).payload_bytes(512, 4096))
            .with_run_duration(90).build())
    (spec,) = plan.workloads
    assert spec.kind == "da" and dict(spec.params) == {"channel_rate": 1, "blob_rate": 2, "headroom_percent": 20,
                                                       "payload_min_bytes": 512, "payload_max_bytes": 4096}
    assert plan.sources["workloads[0].blob_rate"].location().startswith("DaConfigurator.blob_rate")
    with pytest.raises(PlanError, match="blob_rate"):
        ScenarioBuilder.topology_with(lambda t: t.validators(1).executors(1)).da_with(lambda d: d.blob_rate(0)).build()


def test_channel_sizing_is_the_originals() -> None:
    assert planned_channels(1, 20) == 2
    assert planned_channels(2, 20) == 3
    assert planned_channels(5, 0) == 5
    assert planned_channels(10, 25) == 13


def test_the_da_scenario_file_is_the_issues() -> None:
    from nomos_testing.plugins import default_registries
    from nomos_testing.scenario.files import load_scenario
    from nomos_testing.scenario.validate import validate_plan

    plan = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "da.toml")
    for runner in ("host", "compose"):
        validate_plan(plan, default_registries(), runner=runner)
    assert (plan.topology.validators, plan.topology.executors, plan.duration_s) == (3, 2, 90)
    (spec,) = plan.workloads
    workload = DataAvailability(**spec.params)
    assert (spec.kind, workload.channel_rate, workload.blob_rate, workload.planned_channels) == ("da", 1, 2, 2)
