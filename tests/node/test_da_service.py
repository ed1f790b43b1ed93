"""The DA service over real loopback p2p connections (in process): shares verified, stored and replicated within
the subnetwork, every bad share refused with its reason and counted (malformed, wrong subnetwork, one flipped
byte), da/sample answering the share or null; the share store's bound; KZG parameters missing -> the path and
the remedy."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from nomos_da import encoder
from nomos_da import params as da_params
from nomos_node.config import DaConfig, HostPort
from nomos_node.crypto.keys import NodeKeys
from nomos_node.da import service as da_service
from nomos_node.da.service import METHOD_DISPERSE, METHOD_SAMPLE, DaService, DaStartError, load_kzg_params
from nomos_node.da.storage import ShareStore
from nomos_node.metrics import NodeMetrics
from nomos_node.network import NetworkService, RequestFailed
from nomos_node.network.identity import LocalIdentity

GENESIS = "aa" * 32
PAYLOAD = bytes(range(124))  # 31 * 4 bytes: 4 rows of 2 columns


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory) -> da_params.KzgParams:
    try:
        return load_kzg_params()
    except DaStartError:  # no parameters in this checkout: generate them for the tests
        path = tmp_path_factory.mktemp("kzg") / da_params.PARAMS_FILENAME
        da_params.generate_params(path)
        return da_params.load_params(path)


def _keys(i: int) -> NodeKeys:
    return NodeKeys.from_seed(bytes([0x40 + i]) * 32)


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


class Net:
    """Validators 0 and 1 (members of both subnetworks), and a bare peer 2 playing the executor."""

    def __init__(self, params: da_params.KzgParams) -> None:
        self.params = params
        self.networks: list[NetworkService] = []
        self.services: list[DaService] = []
        self.metrics: list[NodeMetrics] = []

    async def start(self, assignations: tuple[tuple[int, ...], ...] = ((0, 1), (1, 0))) -> None:
        self.networks = [NetworkService(LocalIdentity.from_keys(_keys(i)), GENESIS, "127.0.0.1:0") for i in range(3)]
        for network in self.networks:
            await network.start()
        ids = [_keys(i).peer_id for i in range(3)]
        book = tuple(sorted((ids[i], HostPort("127.0.0.1", int(self.networks[i].listen_addresses[0].rsplit("/", 1)[1])))
                            for i in range(2)))
        config = DaConfig(assignations=tuple(tuple(ids[i] for i in members) for members in assignations),
                          addressbook=book)
        for i in range(2):
            metrics = NodeMetrics()
            service = DaService(config, self.networks[i], "validator", metrics, self.params)
            service.start()
            self.services.append(service)
            self.metrics.append(metrics)
        self.executor = DaService(config, self.networks[2], "executor", NodeMetrics(), self.params)
        self.executor.start()
        await _until(lambda: all(self.networks[2].is_connected(ids[i]) for i in range(2)))

    async def stop(self) -> None:
        for service in (*self.services, self.executor):
            await service.stop()
        for network in self.networks:
            await network.stop()

    def peer(self, i: int) -> str:
        return _keys(i).peer_id

    async def send(self, to: int, share: dict[str, Any], replica: bool = False) -> Any:
        return await self.networks[2].request(self.peer(to), METHOD_DISPERSE, {"share": share, "replica": replica})


@pytest.fixture
async def net(params: da_params.KzgParams) -> AsyncIterator[Net]:
    created = Net(params)
    yield created
    await created.stop()


def _value(metrics: NodeMetrics, name: str, labels: dict[str, str] | None = None) -> float:
    value = metrics.registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


async def test_a_share_is_verified_stored_and_replicated_in_its_subnetwork(net: Net, params: Any) -> None:
    await net.start()
    blob = encoder.encode(PAYLOAD, 2, params)
    blob_id = blob.blob_id.hex()
    answer = await net.send(0, blob.shares[1].to_json())
    assert answer == {"blob_id": blob_id, "share_idx": 1, "stored": True}
    await _until(lambda: net.services[1].share_json(blob_id, 1) is not None)  # replicated to the other member
    assert net.services[0].share_json(blob_id, 1) == blob.shares[1].to_json()
    assert net.services[0].commitments(blob_id) == [c.hex() for c in blob.rows_commitments]
    assert net.services[0].share_json(blob_id, 0) is None and net.services[0].commitments("00" * 32) is None
    assert (await net.send(0, blob.shares[1].to_json()))["stored"] is False  # a resend is acknowledged again
    metrics = net.metrics[0]
    assert _value(metrics, "da_shares_received_total") == 2 and _value(metrics, "da_shares_verified_total") == 1
    assert _value(metrics, "da_shares_stored") == 1
    assert _value(net.metrics[1], "da_shares_verified_total") == 1  # the replica, verified too
    sampled = await net.networks[2].request(net.peer(1), METHOD_SAMPLE, {"blob_id": blob_id, "share_idx": 1})
    assert sampled == {"share": blob.shares[1].to_json()}
    assert await net.networks[2].request(net.peer(1), METHOD_SAMPLE, {"blob_id": blob_id, "share_idx": 0}) is None


def _flip(share: dict[str, Any], field: str) -> dict[str, Any]:
    """One byte of the share flipped (its last byte), in ``field``."""
    tampered = copy.deepcopy(share)
    if field == "column":
        text = tampered["column"][0]
        tampered["column"][0] = text[:-2] + f"{int(text[-2:], 16) ^ 0x01:02x}"
    elif field == "rows_commitments":
        text = tampered["rows_commitments"][0]
        tampered["rows_commitments"][0] = text[:-2] + f"{int(text[-2:], 16) ^ 0x01:02x}"
    else:
        text = tampered[field]
        tampered[field] = text[:-2] + f"{int(text[-2:], 16) ^ 0x01:02x}"
    return tampered


@pytest.mark.parametrize("field", ["column", "combined_column_proof", "rows_commitments", "blob_id"])
async def test_a_share_with_one_flipped_byte_is_rejected_and_counted(net: Net, params: Any, field: str) -> None:
    await net.start()
    blob = encoder.encode(PAYLOAD, 2, params)
    with pytest.raises(RequestFailed, match=r"share rejected \((invalid|malformed)\)"):
        await net.send(0, _flip(blob.shares[0].to_json(), field))
    rejected = sum(_value(net.metrics[0], "da_shares_rejected_total", {"reason": r}) for r in ("invalid", "malformed"))
    assert rejected == 1 and _value(net.metrics[0], "da_shares_verified_total") == 0
    assert len(net.services[0].store) == 0 and net.services[0].commitments(blob.blob_id.hex()) is None


async def test_malformed_and_wrong_subnet_shares_are_refused_with_their_reason(net: Net, params: Any) -> None:
    await net.start(assignations=((0,), (1,)))  # validator 0 holds subnetwork 0 only
    blob = encoder.encode(PAYLOAD, 2, params)
    for share, reason in (({"blob_id": "zz"}, "malformed"), (blob.shares[1].to_json(), "wrong_subnet"),
                          ({**blob.shares[0].to_json(), "share_idx": 7}, "wrong_subnet")):
        with pytest.raises(RequestFailed, match=rf"share rejected \({reason}\)"):
            await net.send(0, share)
    with pytest.raises(RequestFailed, match=r"share rejected \(malformed\)"):
        await net.networks[2].request(net.peer(0), METHOD_DISPERSE, ["not", "an", "object"])
    metrics = net.metrics[0]
    assert _value(metrics, "da_shares_rejected_total", {"reason": "malformed"}) == 2
    assert _value(metrics, "da_shares_rejected_total", {"reason": "wrong_subnet"}) == 2
    assert len(net.services[0].store) == 0
    assert (await net.send(0, blob.shares[0].to_json()))["stored"] is True


def test_the_store_forgets_the_oldest_blobs_beyond_its_bound(params: Any) -> None:
    store = ShareStore(max_blobs=2)
    blobs = [encoder.encode(bytes([i]) * 31, 2, params) for i in range(3)]
    for blob in blobs:
        assert store.add(blob.shares[0]) and store.add(blob.shares[1])
        assert not store.add(blob.shares[1])
    assert len(store) == 4 and store.get(blobs[0].blob_id.hex(), 0) is None
    assert store.get(blobs[2].blob_id.hex(), 1) == blobs[2].shares[1]


def test_missing_parameters_name_the_path_and_the_remedy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOMOS_KZGRS_PARAMS_PATH", str(tmp_path / "absent"))
    with pytest.raises(DaStartError, match=r"absent.*nomos-testing setup kzg"):
        load_kzg_params()
    corrupt = tmp_path / "corrupt"
    corrupt.write_bytes(b"not parameters")
    monkeypatch.setenv("NOMOS_KZGRS_PARAMS_PATH", str(corrupt))
    with pytest.raises(DaStartError, match=r"corrupt.*nomos-testing setup kzg"):
        load_kzg_params()
    assert da_service.REPO_PARAMS.name == da_params.PARAMS_FILENAME
