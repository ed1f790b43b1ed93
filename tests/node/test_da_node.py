"""Data availability on real node processes: an executor disperses a blob to 2 validators (one subnetwork each),
which verify and store the shares; the blob transaction is sampled and included in a block, the shares
reconstruct the payload and historic sampling agrees; a share with one flipped byte is rejected and counted; a
blob whose shares nobody holds is never included; bad requests are 4xx naming the field; an unreachable
subnetwork makes /disperse-data fail with 503 naming it; missing KZG parameters stop a node with exit 2."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nomos_da import encoder, verifier
from nomos_da import params as da_params
from nomos_da.share import Share
from nomos_node.config import parse_genesis
from nomos_node.consensus.block import genesis_block
from nomos_node.crypto.keys import NodeKeys
from nomos_node.da.service import METHOD_DISPERSE, TEST_SIGNER, TEST_SIGNER_PK, DaStartError, load_kzg_params
from nomos_node.devnet import LocalNetwork, NodeProcess, http, make_genesis, ready, wait_until
from nomos_node.network import NetworkService, RequestFailed
from nomos_node.network.identity import LocalIdentity
from tests.node.txkit import ZERO, msg_id, tx_hash

pytestmark = pytest.mark.timeout(180)

PAYLOAD = bytes(range(100, 224))  # 31 * 4 bytes
SETTINGS = {"dispersal_timeout": 2.0, "retry_limit": 1, "retry_cooldown": 0.3, "sampling_timeout": 2.0}
VALIDATORS, EXECUTOR = (0, 1), 2


@pytest.fixture(scope="module")
def params_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    try:
        load_kzg_params()
        return {}
    except DaStartError:  # this checkout has none: the nodes use freshly generated ones
        path = tmp_path_factory.mktemp("kzg") / da_params.PARAMS_FILENAME
        da_params.generate_params(path)
        return {"NOMOS_KZGRS_PARAMS_PATH": str(path)}


@pytest.fixture(scope="module")
def params(params_env: dict[str, str]) -> da_params.KzgParams:
    path = params_env.get("NOMOS_KZGRS_PARAMS_PATH")
    return da_params.load_params(path) if path else load_kzg_params()


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, params_env: dict[str, str]) -> Iterator[LocalNetwork]:
    root = tmp_path_factory.mktemp("da-node")
    with LocalNetwork(root, 3, genesis=make_genesis(3, start_in=1.0, slot=0.5), roles=["validator", "validator",
                      "executor"], extra_env=params_env) as network:
        network.enable_da(num_subnets=2, dispersal_factor=1, members=list(VALIDATORS), **SETTINGS)
        network.start()
        for node in network.nodes:
            wait_until(lambda node=node: ready(node), 20, f"node {node.index}'s API")
        executor = network.nodes[EXECUTOR]
        wait_until(lambda: all(v["outbound"] + v["inbound"] == 1
                               for v in executor.get("/da/balancer-stats").values()), 20, "the executor's members")
        yield network


def disperse(node: NodeProcess, channel: str, parent: str, data: bytes = PAYLOAD,
             signer: str = TEST_SIGNER_PK, timeout: float = 30) -> tuple[int, Any]:
    body = {"channel_id": channel, "parent_msg_id": parent, "signer": signer, "data": data.hex()}
    return http("POST", node.api_url + "/disperse-data", json.dumps(body).encode(), timeout=timeout)


def metric(node: NodeProcess, name: str, labels: str = "") -> float:
    text = http("GET", node.api_url + "/metrics")[1]
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def in_block(node: NodeProcess, digest: str, timeout: float = 30) -> str:
    def done() -> str | None:
        [status] = node.post("/mantle/status", [digest])
        return status["InBlock"]["block"] if isinstance(status, dict) else None

    found: str = wait_until(done, timeout, f"transaction {digest[:12]} in a block")
    return found


def blob_op(channel: str, parent: str, blob_id: str, size: int) -> dict[str, Any]:
    return {"type": "channel_blob", "channel": channel, "session": 0, "blob": blob_id, "blob_size": size,
            "parent": parent, "signer": TEST_SIGNER_PK}


def test_a_dispersed_blob_is_stored_sampled_included_and_retrievable(net: LocalNetwork, params: Any) -> None:
    executor, validators = net.nodes[EXECUTOR], [net.nodes[i] for i in VALIDATORS]
    channel = "c1" * 32
    status, answer = disperse(executor, channel, ZERO)
    assert status == 200, answer
    expected = encoder.encode(PAYLOAD, 2, params)
    blob_id = expected.blob_id.hex()
    assert answer["blob_id"] == blob_id
    _, membership = http("POST", executor.testing_url + "/test/da/membership", b"0")
    holders = {subnet: members[0] for subnet, members in membership["assignations"].items()}
    by_peer = {net.peer_id(node): node for node in validators}
    for subnet, peer in holders.items():  # each validator holds its subnetwork's share, verified
        holder = by_peer[peer]
        share = holder.post("/da/get-share", {"blob_id": blob_id, "share_idx": int(subnet)})
        assert share == expected.shares[int(subnet)].to_json()
        assert holder.post("/da/get-commitments", {"blob_id": blob_id}) == {
            "rows_commitments": [c.hex() for c in expected.rows_commitments]}
        assert metric(holder, "da_shares_verified_total") >= 1
    op = blob_op(channel, ZERO, blob_id, len(PAYLOAD))
    assert tx_hash({"ops": [op], "inputs": [], "outputs": [], "fee": 0}) == answer["tx_hash"]
    block_id = in_block(validators[0], answer["tx_hash"])
    block = validators[0].post("/storage/block", block_id)
    assert any(tx.get("ops") == [op] for tx in block["transactions"])
    assert validators[0].get(f"/mantle/channels/{channel}") == {"last_msg_id": msg_id(op), "owner": TEST_SIGNER_PK,
                                                               "messages": 1}
    # retrievability: the shares fetched from the validators verify and reconstruct the payload
    shares = [Share.from_json(by_peer[peer].post("/da/get-share", {"blob_id": blob_id, "share_idx": int(s)}))
              for s, peer in holders.items()]
    assert all(verifier.verify_share(share, params, 2) for share in shares)
    assert verifier.reconstruct(shares[:1], len(PAYLOAD), 2) == PAYLOAD
    # metrics of the whole path
    assert metric(executor, "da_dispersal_seconds_count") >= 1
    assert metric(executor, "da_dispersals_total", '{result="success"}') >= 1
    assert sum(metric(node, "da_sampling_total", '{result="success"}') for node in net.nodes) >= 1
    # historic sampling: true for the block's blob, false for a blob it does not carry, 404 for an unknown block
    for body, expected_answer in (({"block_id": block_id, "blob_ids": [blob_id]}, (200, True)),
                                  ({"block_id": block_id, "blob_ids": ["ee" * 32]}, (200, False)),
                                  ({"block_id": block_id, "blob_ids": []}, (200, True))):
        assert http("POST", validators[1].testing_url + "/test/da/historic-sampling",
                    json.dumps(body).encode()) == expected_answer
    status, answer = http("POST", validators[1].testing_url + "/test/da/historic-sampling",
                          json.dumps({"block_id": "ab" * 32, "blob_ids": [blob_id]}).encode())
    assert (status, answer["error"]) == (404, "unknown_block")
    # the channel goes on: the next blob names the first one's message as its parent
    status, second = disperse(executor, channel, msg_id(op), PAYLOAD[::-1])
    assert status == 200, second
    in_block(validators[1], second["tx_hash"])
    status, stale = disperse(executor, channel, msg_id(op), b"x" * 31)  # dispersed, but its parent is stale
    assert (status, stale["error"]) == (409, "bad_parent") and "dispersed" in stale["detail"]


async def _send_share(net: LocalNetwork, to: NodeProcess, share: dict[str, Any]) -> Any:
    genesis_id = genesis_block(parse_genesis(net.genesis)).id
    client = NetworkService(LocalIdentity.from_keys(NodeKeys.from_seed(b"\x77" * 32)), genesis_id, "127.0.0.1:0",
                            initial_peers=[to.p2p_address])
    await client.start()
    try:
        peer = net.peer_id(to)
        for _ in range(100):
            if client.is_connected(peer):
                break
            await asyncio.sleep(0.05)
        return await client.request(peer, METHOD_DISPERSE, {"share": share})
    finally:
        await client.stop()


def test_a_share_with_one_flipped_byte_is_rejected_and_counted(net: LocalNetwork, params: Any) -> None:
    blob = encoder.encode(b"tampered" * 31, 2, params)
    _, membership = http("POST", net.nodes[0].testing_url + "/test/da/membership", b"0")
    subnet = next(int(s) for s, members in membership["assignations"].items() if net.peer_id(net.nodes[0]) in members)
    share = blob.shares[subnet].to_json()
    element = share["column"][1]
    share["column"][1] = element[:-2] + f"{int(element[-2:], 16) ^ 0x04:02x}"
    before = metric(net.nodes[0], "da_shares_rejected_total", '{reason="invalid"}')
    with pytest.raises(RequestFailed, match=r"share rejected \(invalid\)"):
        asyncio.run(_send_share(net, net.nodes[0], share))
    assert metric(net.nodes[0], "da_shares_rejected_total", '{reason="invalid"}') == before + 1
    assert net.nodes[0].post("/da/get-share", {"blob_id": blob.blob_id.hex(), "share_idx": subnet}) is None
    assert asyncio.run(_send_share(net, net.nodes[0], blob.shares[subnet].to_json()))["stored"] is True


def test_a_blob_whose_shares_cannot_be_sampled_is_never_included(net: LocalNetwork) -> None:
    channel = "c2" * 32
    op = blob_op(channel, ZERO, "ee" * 32, 124)  # never dispersed: no member holds its shares
    tx: dict[str, Any] = {"ops": [op], "inputs": [], "outputs": [], "fee": 0}
    tx["signatures"] = [TEST_SIGNER.sign(bytes.fromhex(tx_hash(tx))).hex()]
    failures = sum(metric(node, "da_sampling_total", '{result="failure"}') for node in net.nodes)
    node = net.nodes[0]
    assert node.post("/mempool/add/tx", tx)["status"] == "accepted"
    wait_until(lambda: sum(metric(n, "da_sampling_total", '{result="failure"}') for n in net.nodes) >= failures + 3,
               20, "every node's sampling to fail")
    height = node.info()["height"]
    wait_until(lambda: node.info()["height"] >= height + 4, 30, "four more blocks")
    for each in net.nodes:
        assert each.post("/mantle/status", [tx_hash(tx)]) == ["Pending"]
    assert http("GET", node.api_url + f"/mantle/channels/{channel}")[0] == 404


def test_bad_dispersal_requests_are_refused_naming_the_field(net: LocalNetwork) -> None:
    executor, validator = net.nodes[EXECUTOR], net.nodes[0]
    status, answer = disperse(validator, "c3" * 32, ZERO)
    assert (status, answer["error"]) == (403, "not_executor")
    status, answer = disperse(executor, "c3" * 32, ZERO, signer="ab" * 32)
    assert (status, answer["error"]) == (400, "bad_signer") and TEST_SIGNER_PK in answer["detail"]
    good = {"channel_id": "c3" * 32, "parent_msg_id": ZERO, "signer": TEST_SIGNER_PK, "data": "00"}
    for change, fragment in (({"channel_id": "c3"}, "channel_id"), ({"parent_msg_id": None}, "parent_msg_id"),
                             ({"signer": 5}, "signer"), ({"data": "zz"}, "data"), ({"data": ""}, "data"),
                             ({"memo": 1}, "'memo'")):
        status, answer = http("POST", executor.api_url + "/disperse-data", json.dumps({**good, **change}).encode())
        assert status == 400 and fragment in answer["detail"], (change, answer)
    status, answer = http("POST", executor.api_url + "/disperse-data", json.dumps(
        {k: v for k, v in good.items() if k != "data"}).encode())
    assert status == 400 and "'data'" in answer["detail"]


def test_an_unreachable_subnetwork_fails_the_dispersal_with_503(net: LocalNetwork) -> None:
    gone = net.nodes[1]  # the last test of the module: one validator (one subnetwork) goes away
    gone.terminate()
    executor = net.nodes[EXECUTOR]
    status, answer = disperse(executor, "c4" * 32, ZERO, timeout=60)
    assert (status, answer["error"]) == (503, "dispersal_failed"), answer
    assert net.peer_id(gone) in answer["detail"] and "subnetwork" in answer["detail"]
    assert "2 attempt(s)" in answer["detail"]
    assert metric(executor, "da_dispersals_total", '{result="failure"}') >= 1


def test_missing_kzg_parameters_stop_the_node_with_exit_2(tmp_path: Path) -> None:
    absent = tmp_path / "nowhere" / "kzgrs_test_params"
    with LocalNetwork(tmp_path, 1, topology="none", extra_env={"NOMOS_KZGRS_PARAMS_PATH": str(absent)}) as network:
        network.enable_da()
        node = network.nodes[0]
        node.start()
        assert node.proc is not None
        assert node.proc.wait(30) == 2
        stderr = (node.workdir / "stderr.txt").read_text()
        assert str(absent) in stderr and "nomos-testing setup kzg" in stderr, stderr
