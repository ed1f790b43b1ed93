"""The transaction routes of one real node process (docs/node-api.md): a transfer from submission to a block,
every refusal reason over HTTP changing nothing, wallet notes, metrics, and hostile clients (garbage, huge
bodies, replays, double spends, 50 concurrent clients) answered 200 / 4xx JSON while blocks keep coming.

Two nodes: `node` packs transactions; `frozen` never does (max_block_transactions 0, max_pending 3), so what
is pending there stays pending (resubmissions, a full pool) whatever the timing."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from nomos_node.devnet import LocalNetwork, NodeProcess, http, make_genesis, ready, wait_until
from tests.node.txkit import (
    ZERO,
    blob_op,
    channel_id,
    genesis_note_ids,
    inscribe_op,
    msg_id,
    op_tx,
    output_ids,
    pk,
    transfer,
    tx_hash,
    wallet_keys,
)

pytestmark = pytest.mark.timeout(150)

VALUE = 1000
N_CLIENTS = 50
SOLO = 10  # wallets 0..9: the sequential tests; 10..59: one per concurrent client
WALLET_NOTES = [{"value": VALUE, "pk": pk(i)} for i in range(SOLO + N_CLIENTS)]
NOTES = genesis_note_ids(WALLET_NOTES)
LEDGER_FIELDS = ("supply", "genesis_supply", "fees_burned", "unspent_notes", "pending")
METRICS = ("mempool_pending", "mempool_added_total", "mempool_rejected_total", "mempool_dropped_total",
           "mempool_returned_total", "transactions_included_total")


def _network(root: Path, mempool: dict[str, int] | None = None) -> LocalNetwork:
    genesis = make_genesis(1, start_in=1.0, slot=0.5)
    genesis["wallet_notes"] = WALLET_NOTES
    network = LocalNetwork(root, 1, genesis=genesis, topology="none")
    if mempool is not None:
        network.nodes[0].config["mempool"] = mempool
        network.nodes[0].write_config()
    return network


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with _network(tmp_path_factory.mktemp("mantle")) as network:
        network.start()
        only = network.nodes[0]
        wait_until(lambda: ready(only), 20, "the node's API")
        wait_until(lambda: only.info()["height"] >= 1, 30, "a first block")
        yield only


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    with _network(tmp_path_factory.mktemp("frozen"), {"max_pending": 3, "max_block_transactions": 0}) as network:
        network.start()
        only = network.nodes[0]
        wait_until(lambda: ready(only), 20, "the node's API")
        yield only


def submit(node: NodeProcess, tx: Any) -> tuple[int, Any]:
    return http("POST", node.api_url + "/mempool/add/tx", json.dumps(tx).encode())


def statuses(node: NodeProcess, hashes: list[str]) -> list[Any]:
    answer: list[Any] = node.post("/mantle/status", hashes)
    return answer


def ledger(node: NodeProcess) -> dict[str, Any]:
    status = node.get("/mantle/status")
    assert set(status) == {"pending", "ledger_height", "tip", "supply", "genesis_supply", "fees_burned",
                           "unspent_notes"}
    stake = 1000  # the one validator's genesis stake note is a ledger note too
    assert status["supply"] + status["fees_burned"] == status["genesis_supply"] == VALUE * len(WALLET_NOTES) + stake
    return {key: status[key] for key in LEDGER_FIELDS}


def notes_of(node: NodeProcess, wallet: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = node.get(f"/mantle/notes?pk={pk(wallet)}")
    return found


def in_block(node: NodeProcess, hashes: list[str], timeout: float = 30) -> list[str]:
    """The blocks including ``hashes``, once POST /mantle/status reports all of them InBlock."""
    def done() -> list[str] | None:
        answer = statuses(node, hashes)
        if all(isinstance(s, dict) for s in answer):
            return [s["InBlock"]["block"] for s in answer]
        assert all(s in ("Pending",) or isinstance(s, dict) for s in answer), answer
        return None

    found: list[str] = wait_until(done, timeout, f"{len(hashes)} transaction(s) in a block")
    return found


def pay(wallet: int, note: str, to: int, value: int, total: int = VALUE, fee: int = 0) -> dict[str, Any]:
    outputs = [(value, pk(to))] + ([(total - value - fee, pk(wallet))] if total - value - fee else [])
    return transfer([(note, wallet_keys(wallet))], outputs, fee=fee)


def refused(status: int, body: Any, expected: tuple[int, str]) -> None:
    assert (status, body.get("error") if isinstance(body, dict) else body) == expected, body
    assert isinstance(body["detail"], str) and body["detail"] and "\n" not in body["detail"]


# ---------------------------------------------------------------- a transfer, end to end


def test_a_transfer_is_accepted_then_included_and_moves_the_wallet_notes(node: NodeProcess) -> None:
    assert notes_of(node, 0) == [{"note_id": NOTES[0], "value": VALUE, "pk": pk(0)}]
    assert notes_of(node, 1) == [{"note_id": NOTES[1], "value": VALUE, "pk": pk(1)}]
    tx = pay(0, NOTES[0], 1, 600, fee=2)
    digest = tx_hash(tx)
    assert statuses(node, [digest]) == ["Unknown"]
    status, body = submit(node, tx)
    assert (status, body) == (200, {"tx_hash": digest, "status": "accepted"})
    status, body = submit(node, tx)  # a block may have taken it in between
    assert status == 200 and body["tx_hash"] == digest and body["status"] in ("pending", "included")
    metrics = node.get("/mantle/metrics")
    assert set(metrics) == {"pending_items", "last_item_timestamp"}
    assert abs(metrics["last_item_timestamp"] - time.time()) < 60

    [block_id] = in_block(node, [digest])
    block = node.post("/storage/block", block_id)
    assert block["header"]["id"] == block_id and tx in block["transactions"]
    assert submit(node, tx) == (200, {"tx_hash": digest, "status": "included"})
    assert statuses(node, [digest, "0x" + digest.upper()]) == [{"InBlock": {"block": block_id}}] * 2

    change, paid = output_ids(tx)[1], output_ids(tx)[0]
    assert notes_of(node, 0) == [{"note_id": change, "value": 398, "pk": pk(0)}]
    assert sorted(notes_of(node, 1), key=lambda n: n["value"]) == [
        {"note_id": paid, "value": 600, "pk": pk(1)}, {"note_id": NOTES[1], "value": VALUE, "pk": pk(1)}]
    assert len(node.get(f"/mantle/notes?pk=0x{pk(1).upper()}&limit=1")) == 1
    assert ledger(node)["fees_burned"] >= 2


def test_a_resubmission_is_pending_and_a_full_pool_refuses_with_429(frozen: NodeProcess) -> None:
    txs = [pay(i, NOTES[i], 9, 10) for i in range(4)]
    assert submit(frozen, txs[0]) == (200, {"tx_hash": tx_hash(txs[0]), "status": "accepted"})
    for _ in range(3):
        assert submit(frozen, txs[0]) == (200, {"tx_hash": tx_hash(txs[0]), "status": "pending"})
    assert statuses(frozen, [tx_hash(txs[0])]) == ["Pending"]
    for tx in txs[1:3]:
        assert submit(frozen, tx)[1]["status"] == "accepted"
    before = ledger(frozen)
    assert before["pending"] == 3
    refused(*submit(frozen, txs[3]), (429, "mempool_full"))
    assert ledger(frozen) == before
    assert statuses(frozen, [tx_hash(txs[3])]) == ["Unknown"]  # not a verdict on the transaction
    assert submit(frozen, txs[1])[1]["status"] == "pending"  # resubmissions are still answered
    assert frozen.get("/mantle/metrics")["pending_items"] == 3
    _, text = http("GET", frozen.api_url + "/metrics")
    assert 'mempool_rejected_total{reason="mempool_full",source="api"} 1.0' in text
    assert "\nmempool_pending 3.0" in text


# ---------------------------------------------------------------- refusals


def test_every_refusal_reason_over_http_changes_nothing(node: NodeProcess) -> None:
    spent = pay(2, NOTES[2], 3, 1, fee=0)
    assert submit(node, spent)[0] == 200
    in_block(node, [tx_hash(spent)])
    wait_until(lambda: ledger(node)["pending"] == 0, 20, "an empty mempool")
    before = ledger(node)
    mine, owner = NOTES[4], wallet_keys(4)
    good = pay(4, mine, 5, 100)
    cases: list[tuple[str, bytes, tuple[int, str], bool]] = [  # (what, body, answer, has a tx hash)
        ("empty object", b"{}", (400, "malformed"), False),
        ("not json", b"{not json", (400, "malformed"), False),
        ("unknown field", json.dumps({**good, "memo": "hi"}).encode(), (400, "malformed"), False),
        ("negative fee", json.dumps(transfer([(mine, owner)], [(1001, pk(4))], fee=-1)).encode(),
         (400, "malformed"), False),
        ("unknown input", json.dumps(pay(4, "ab" * 32, 5, 1, total=1)).encode(), (400, "unknown_input"), True),
        ("signed by another key", json.dumps(transfer([(mine, wallet_keys(5))], [(VALUE, pk(5))])).encode(),
         (400, "bad_signature"), True),
        ("no signature", json.dumps({**good, "signatures": []}).encode(), (400, "bad_signature"), True),
        ("overspend", json.dumps(pay(4, mine, 5, 1001, total=1001)).encode(), (400, "overspend"), True),
        ("silent burn", json.dumps(pay(4, mine, 5, 900, total=900)).encode(), (400, "overspend"), True),
        ("spent note", json.dumps(pay(2, NOTES[2], 4, VALUE)).encode(), (409, "double_spend"), True),
        ("input twice", json.dumps(transfer([(mine, owner)] * 2, [(2000, pk(4))])).encode(),
         (409, "double_spend"), True),
        ("over 4096 bytes", json.dumps(transfer([(mine, owner)], [(1, pk(i % 9)) for i in range(16)])
                                       | {"signatures": ["ab" * 64] * 40}).encode(), (413, "too_large"), False),
        ("over the body limit", b'"' + b"a" * (2 * 1024 * 1024) + b'"', (413, "too_large"), False),
    ]
    rejected = []
    for name, body, expected, has_hash in cases:
        status, answer = http("POST", node.api_url + "/mempool/add/tx", body, timeout=10)
        refused(status, answer, expected)
        assert ledger(node) == before, name
        if has_hash:
            rejected.append(tx_hash(json.loads(body)))
    assert statuses(node, rejected) == ["Rejected"] * len(rejected)
    assert notes_of(node, 4) == [{"note_id": mine, "value": VALUE, "pk": pk(4)}]
    assert submit(node, good)[1]["status"] == "accepted"  # the owner's own transaction still goes through
    assert statuses(node, [tx_hash(good)])[0] != "Rejected"


def test_channel_ops_over_http_chain_and_refuse_with_their_reasons(node: NodeProcess) -> None:
    channel = channel_id("http")
    assert http("GET", node.api_url + f"/mantle/channels/{channel}")[0] == 404
    status, answer = http("GET", node.api_url + "/mantle/channels/xyz")
    refused(status, answer, (400, "bad_id"))
    first = inscribe_op(channel, ZERO, wallet_keys(6), "68656c6c6f")
    second = inscribe_op(channel, msg_id(first), wallet_keys(6), "776f726c64")  # no DA here: blobs are never packed
    txs = [op_tx([(first, wallet_keys(6))]), op_tx([(second, wallet_keys(6))])]  # the second on a pending parent
    assert [submit(node, tx)[1]["status"] for tx in txs] == ["accepted", "accepted"]
    in_block(node, [tx_hash(tx) for tx in txs])
    assert node.get(f"/mantle/channels/0x{channel.upper()}") == {"last_msg_id": msg_id(second), "owner": pk(6),
                                                                 "messages": 2}
    before = ledger(node)
    status, answer = submit(node, op_tx([(blob_op(channel, msg_id(first), wallet_keys(6), "cc" * 32), wallet_keys(6))]))
    refused(status, answer, (409, "bad_parent"))
    status, answer = submit(node, op_tx([(blob_op(channel, msg_id(second), wallet_keys(7)), wallet_keys(7))]))
    refused(status, answer, (403, "not_channel_owner"))
    status, answer = submit(node, op_tx([(blob_op(channel, msg_id(second), wallet_keys(6), blob_size=0),
                                          wallet_keys(6))]))
    refused(status, answer, (400, "malformed"))
    assert "ops[0].blob_size" in answer["detail"]
    assert ledger(node) == before


def test_the_mempool_metrics_are_exposed(node: NodeProcess) -> None:
    refused(*submit(node, pay(8, NOTES[8], 9, 1001, total=1001)), (400, "overspend"))
    valid = pay(8, NOTES[8], 9, 1)
    assert submit(node, valid)[0] == 200
    in_block(node, [tx_hash(valid)])
    _, text = http("GET", node.api_url + "/metrics")
    for name in METRICS:
        assert f"# TYPE {name} " in text, name
    assert 'mempool_added_total{source="api"}' in text
    assert 'mempool_rejected_total{reason="overspend",source="api"}' in text
    included = next(line for line in text.splitlines() if line.startswith("transactions_included_total"))
    assert float(included.split()[-1]) >= 1


# ---------------------------------------------------------------- hostile clients


GARBAGE = [
    b"", b"null", b"true", b"[]", b"42", b'"tx"', b"\x00" * 64, b"\xff\xfe{}", b'{"a":' * 100, b"[" * 5000,
    b"[" * 100_000 + b"]" * 100_000, b'{"fee": 1' + b"0" * 5000 + b"}", b'{"fee": 1e999}', b'{"fee": NaN}',
    b'"\\ud800"', json.dumps({"ops": [], "inputs": ["\ud800"], "outputs": [], "fee": 0, "signatures": []},
                               ensure_ascii=True).encode(),
    json.dumps({"ops": [], "inputs": [NOTES[6]], "outputs": [{"value": 1, "pk": pk(6), "x": 1}], "fee": 0,
                "signatures": ["00" * 64]}).encode(),
    json.dumps({"ops": {}, "inputs": {}, "outputs": "", "fee": "1", "signatures": None}).encode(),
    json.dumps([pay(6, NOTES[6], 7, 1)]).encode(),
    json.dumps({"ops": [], "inputs": [NOTES[6]] * 17, "outputs": [{"value": 1, "pk": pk(6)}], "fee": 0,
                "signatures": []}).encode(),
]


def _5xx(node: NodeProcess) -> float:
    _, text = http("GET", node.api_url + "/metrics")
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("http_requests_total{") and 'status="5' in line)


def _post_encoded(node: NodeProcess, path: str, body: bytes, encoding: str) -> tuple[int, Any]:
    connection = HTTPConnection("127.0.0.1", int(node.api_url.rsplit(":", 1)[1]), timeout=10)
    try:
        connection.request("POST", path, body=body,
                           headers={"Content-Type": "application/json", "Content-Encoding": encoding})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_garbage_bodies_get_4xx_json(node: NodeProcess) -> None:
    before, errors = ledger(node), _5xx(node)
    for body in GARBAGE:
        status, answer = http("POST", node.api_url + "/mempool/add/tx", body, timeout=10)
        assert 400 <= status < 500 and answer["error"] in ("malformed", "too_large", "double_spend"), \
            (body[:40], answer)
        status, answer = http("POST", node.api_url + "/mantle/status", body, timeout=10)
        assert (status == 200 and answer == []) if body == b"[]" else (400 <= status < 500 and answer["error"]), \
            (body[:40], answer)
    for encoding, packed in (("gzip", gzip.compress(b"{}")[:-6] + b"junk"), ("deflate", b"not deflated")):
        status, answer = _post_encoded(node, "/mempool/add/tx", packed, encoding)
        assert status == 400 and answer["error"] == "malformed", answer
    assert ledger(node)["supply"] == before["supply"] and _5xx(node) == errors == 0
    assert node.alive()


def test_replays_and_double_spends(node: NodeProcess) -> None:
    first = pay(6, NOTES[6], 7, 250, fee=1)
    assert submit(node, first)[1]["status"] == "accepted"
    rivals = [pay(6, NOTES[6], 8, 250, fee=1), pay(6, NOTES[6], 6, VALUE), pay(6, NOTES[6], 7, 250, fee=2)]
    for _ in range(3):  # replayed: never a second entry, never an error
        status, body = submit(node, first)
        assert status == 200 and body["status"] in ("pending", "included")
        for rival in rivals:
            refused(*submit(node, rival), (409, "double_spend"))
    # the same transaction encoded differently: the same hash, still one entry
    assert submit(node, json.loads(json.dumps(first, indent=2)))[0] == 200
    [block_id] = in_block(node, [tx_hash(first)])
    assert submit(node, first) == (200, {"tx_hash": tx_hash(first), "status": "included"})
    for rival in rivals:
        refused(*submit(node, rival), (409, "double_spend"))
    assert statuses(node, [tx_hash(r) for r in rivals]) == ["Rejected"] * 3
    block = node.post("/storage/block", block_id)
    assert sum(tx_hash(t) == tx_hash(first) for t in block["transactions"]) == 1


async def _client(session: aiohttp.ClientSession, url: str, index: int) -> list[tuple[str, int, Any]]:
    """One wallet's mix of good and bad requests; (what, HTTP status, JSON answer) for each."""
    wallet, note = SOLO + index, NOTES[SOLO + index]
    to = SOLO + (index + 1) % N_CLIENTS
    first = pay(wallet, note, to, 700, fee=1)
    change = output_ids(first)[1]
    second = pay(wallet, change, to, 99, total=299, fee=2)
    requests: list[tuple[str, str, bytes]] = [
        ("first", "/mempool/add/tx", json.dumps(first).encode()),
        ("replay", "/mempool/add/tx", json.dumps(first).encode()),
        ("double", "/mempool/add/tx", json.dumps(pay(wallet, note, wallet, VALUE)).encode()),
        ("forged", "/mempool/add/tx",
         json.dumps(transfer([(change, wallet_keys(to))], [(299, pk(to))])).encode()),
        ("overspend", "/mempool/add/tx", json.dumps(pay(wallet, change, to, 300, total=300)).encode()),
        ("second", "/mempool/add/tx", json.dumps(second).encode()),
        ("garbage", "/mempool/add/tx", bytes(range(256)) * (index % 4 + 1)),
        ("large", "/mempool/add/tx", json.dumps({**first, "ops": ["x" * 5000]}).encode()),
        ("status", "/mantle/status", json.dumps([tx_hash(first), tx_hash(second), "ee" * 32]).encode()),
        ("bad status", "/mantle/status", b'{"not": "a list"}'),
    ]
    if index % 10 == 0:
        requests.append(("huge", "/mempool/add/tx", b"[" + b"1," * (600 * 1024) + b"1]"))
    answers = []
    for what, path, body in requests:
        async with session.post(url + path, data=body, headers={"Content-Type": "application/json"}) as response:
            answers.append((what, response.status, await response.json(content_type=None)))
        await asyncio.sleep(0)
    return answers


EXPECTED = {"first": (200, "accepted"), "double": (409, "double_spend"), "forged": (400, "bad_signature"),
            "second": (200, "accepted"), "garbage": (400, "malformed"), "large": (413, "too_large"),
            "overspend": (400, "overspend"), "bad status": (400, "bad_request"), "huge": (413, "too_large")}


async def _clients(url: str) -> list[list[tuple[str, int, Any]]]:
    timeout = aiohttp.ClientTimeout(total=30)

    async def one(index: int) -> list[tuple[str, int, Any]]:
        # one session, so one connection pool, per client: 50 clients really are concurrent
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return await _client(session, url, index)

    return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(N_CLIENTS))), 90)


def test_fifty_concurrent_clients_get_json_answers_and_blocks_keep_coming(node: NodeProcess) -> None:
    errors = _5xx(node)
    results = asyncio.run(_clients(node.api_url))
    good: list[str] = []
    for index, answers in enumerate(results):
        for what, status, body in answers:
            assert isinstance(body, (dict, list)), (index, what, status, body)
            if what in EXPECTED:
                code = body.get("status") if status == 200 else body.get("error")
                assert (status, code) == EXPECTED[what], (index, what, body)
            elif what == "replay":
                assert status == 200 and body["status"] in ("pending", "included"), (index, body)
            else:  # status
                assert status == 200 and len(body) == 3 and body[2] == "Unknown", (index, body)
                assert all(s == "Pending" or isinstance(s, dict) for s in body[:2]), (index, body)
        good += [body["tx_hash"] for what, status, body in answers if what in ("first", "second")]
    assert len(good) == 2 * N_CLIENTS and _5xx(node) == errors
    height = node.info()["height"]
    in_block(node, good, timeout=60)
    wait_until(lambda: node.info()["height"] >= height + 2, 20, "two more blocks")
    status = ledger(node)  # conservation checked there
    assert status["fees_burned"] >= 3 * N_CLIENTS
    # every client ends with the change of its second transfer, and what its neighbour paid it
    for index in (0, N_CLIENTS // 2, N_CLIENTS - 1):
        values = sorted(n["value"] for n in notes_of(node, SOLO + index))
        assert values == [99, 198, 700], (index, values)
