"""The node's DA service (docs/data-availability.md, "Node services").

* Membership: the static session 0 of the config; validators keep connections to the other members of their own
  subnetworks, executors to every member; other members are dialled on demand.
* Shares: p2p method ``da/disperse`` receives a share (from an executor, or replicated by a subnetwork peer),
  refuses it unless it is well formed, for a subnetwork this node is a member of, and verifies
  (``nomos_da.verifier``); stores it; replicates a share received from an executor to the other members.
* ``da/sample`` answers a peer's sample request with the share (its row commitments included) or null.
* Sampling: a blob transaction entering the mempool makes the node ask a member of ``num_samples`` random
  subnetworks for the blob's share there and verify it; success puts the blob in the *validated* set, and a
  leader packs a ``channel_blob`` op only when its blob is validated.
* Dispersal (executors): encode, send share j to the members of subnetwork j, wait for an acknowledgement from
  each subnetwork (per attempt ``dispersal_timeout``, ``retry_limit`` retries ``retry_cooldown`` apart); the node
  then submits the ``channel_blob`` transaction, signed with the fixed test key, to its own mempool.
* The KZG parameters are loaded when the service is built (node start): missing or corrupt parameters stop the
  node with the path and the remedy.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nomos_da import params as da_params
from nomos_da.encoder import EncodedBlob, encode
from nomos_da.share import Share, ShareFormatError
from nomos_da.verifier import check_share
from nomos_node.codec import HexError, normalize_hex
from nomos_node.config import DaConfig
from nomos_node.consensus.block import transaction_hash
from nomos_node.da.membership import Membership
from nomos_node.da.storage import ShareStore
from nomos_node.ledger import Transaction
from nomos_node.logs import event
from nomos_node.metrics import NodeMetrics
from nomos_node.network import NetworkService
from nomos_node.network.service import RequestFailed, RequestRejected

log = logging.getLogger("nomos_node.da")

METHOD_DISPERSE = "da/disperse"
METHOD_SAMPLE = "da/sample"
REPLICATION_TIMEOUT_S = 5.0
VERDICT_MEMORY = 100_000  # blobs whose sampling verdict is remembered
# The executors' fixed test key for channel ops (Ed25519 secret = 32 zero bytes, as the original tool's).
TEST_SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(32))
TEST_SIGNER_PK = TEST_SIGNER.public_key().public_bytes_raw().hex()
CONNECT_POLL_S = 0.05
# <repo>/assets/kzgrs_test_params/kzgrs_test_params for a checkout (src/nomos_node/da/service.py -> repo root)
REPO_PARAMS = Path(__file__).resolve().parents[3] / da_params.DEFAULT_PARAMS_PATH


class DaStartError(Exception):
    """The DA service cannot start (the KZG parameters are missing or corrupt): the message names the path and
    the remedy."""


def load_kzg_params() -> da_params.KzgParams:
    """The parameters at NOMOS_KZGRS_PARAMS_PATH (a file, or a directory holding one), else the checkout's
    default path."""
    path = da_params.resolve_params_path(REPO_PARAMS)
    try:
        return da_params.load_params(path)
    except da_params.ParamsError as exc:
        raise DaStartError(str(exc)) from exc


class DispersalError(Exception):
    """Some subnetwork did not acknowledge its share; the message says which, and why."""


def blob_ids(tx: Transaction) -> list[str]:
    return [op.blob for op in tx.ops if op.blob is not None]


def blob_transaction(channel: str, parent: str, signer: str, blob_id: str, blob_size: int) -> dict[str, Any]:
    """The executor's transaction for a dispersed blob: one channel_blob op, no value moved, signed with the
    fixed test key (``signer`` must be its public key)."""
    op = {"type": "channel_blob", "channel": channel, "session": 0, "blob": blob_id, "blob_size": blob_size,
          "parent": parent, "signer": signer}
    tx: dict[str, Any] = {"ops": [op], "inputs": [], "outputs": [], "fee": 0}
    tx["signatures"] = [TEST_SIGNER.sign(transaction_hash(tx)).hex()]
    return tx


class DaService:
    def __init__(self, config: DaConfig, network: NetworkService, role: str, metrics: NodeMetrics,
                 params: da_params.KzgParams | None = None) -> None:
        self.config = config
        self.network = network
        self.role = role
        self.metrics = metrics
        self.params = load_kzg_params() if params is None else params
        self.membership = Membership(config, network.identity.peer_id)
        self.store = ShareStore()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.validated: OrderedDict[str, None] = OrderedDict()
        self.failed: OrderedDict[str, str] = OrderedDict()
        self._sampling: dict[str, asyncio.Task[bool]] = {}
        network.register_method(METHOD_DISPERSE, self._on_disperse)
        network.register_method(METHOD_SAMPLE, self._on_sample)

    @property
    def is_executor(self) -> bool:
        return self.role == "executor"

    @property
    def num_subnets(self) -> int:
        return self.config.num_subnets

    # -- lifecycle and connections -------------------------------------------------------------------------
    def start(self) -> None:
        """Dial the members this node works with (after the network started)."""
        own = self.network.identity.peer_id
        if self.is_executor:
            wanted = self.membership.peers()
        else:
            members = self.membership.members
            wanted = sorted({peer for subnet in self.membership.own_subnets for peer in members(subnet)})
        for peer in wanted:
            if peer != own:
                self.connect_later(peer)
        event(log, logging.INFO, "da started", subnets=self.num_subnets,
              own_subnets=",".join(map(str, self.membership.own_subnets)) or "-", dialled=len(wanted) - (own in wanted))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def connect_later(self, peer_id: str) -> bool:
        """Keep a connection to ``peer_id`` from now on (its addressbook address); False when unknown there."""
        address = self.membership.addressbook.get(peer_id)
        if address is None or peer_id == self.network.identity.peer_id:
            return False
        self.network.add_peer(address)
        return True

    async def connected(self, peer_id: str, timeout: float) -> bool:
        """Whether a connection to ``peer_id`` exists, dialling it (and waiting up to ``timeout``) if not."""
        if self.network.is_connected(peer_id):
            return True
        if not self.connect_later(peer_id):
            return False
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(CONNECT_POLL_S)
            if self.network.is_connected(peer_id):
                return True
        return False

    async def request(self, peer_id: str, method: str, params: Any, timeout: float) -> Any:
        """A request to a member, dialling it first when needed; RequestFailed when it cannot be reached."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        if not await self.connected(peer_id, timeout):
            raise RequestFailed(f"{peer_id} unreachable at {self.membership.addressbook.get(peer_id, '?')}")
        remaining = max(0.1, timeout - (loop.time() - started))
        return await self.network.request(peer_id, method, params, timeout=remaining)

    # -- membership (HTTP) ---------------------------------------------------------------------------------
    def membership_json(self) -> dict[str, Any]:
        return self.membership.to_json()

    def balancer_stats(self) -> dict[str, dict[str, int]]:
        return self.membership.balancer_stats(self.network.connection_directions())

    # -- shares ----------------------------------------------------------------------------------------------
    def _reject(self, reason: str, detail: str, peer_id: str) -> RequestRejected:
        self.metrics.da_shares_rejected.labels(reason=reason).inc()
        event(log, logging.WARNING, "share rejected", reason=reason, detail=detail, peer=peer_id)
        return RequestRejected(f"share rejected ({reason}): {detail}")

    def receive_share(self, document: Any, peer_id: str) -> tuple[Share, bool]:
        """Judge and store one share: (the share, whether it is new); RequestRejected with the reason."""
        self.metrics.da_shares_received.inc()
        try:
            share = Share.from_json(document)
        except ShareFormatError as exc:
            raise self._reject("malformed", str(exc), peer_id) from None
        if share.share_idx >= self.num_subnets:
            raise self._reject("wrong_subnet", f"share_idx {share.share_idx}: there are {self.num_subnets} "
                               "subnetworks", peer_id)
        if share.share_idx not in self.membership.own_subnets:
            raise self._reject("wrong_subnet", f"this node is not a member of subnetwork {share.share_idx}",
                               peer_id)
        held = self.store.get(share.blob_id.hex(), share.share_idx)
        if held is not None and held == share:
            return held, False
        reason = check_share(share, self.params, self.num_subnets)
        if reason is not None:
            raise self._reject("invalid", reason, peer_id)
        self.metrics.da_shares_verified.inc()
        new = self.store.add(share)
        self.metrics.da_shares_stored.set(len(self.store))
        return share, new

    async def _on_disperse(self, params: Any, peer_id: str) -> dict[str, Any]:
        if not isinstance(params, dict):
            raise self._reject("malformed", "expected {\"share\": {...}, \"replica\": bool}", peer_id)
        share, new = self.receive_share(params.get("share"), peer_id)
        if new:
            event(log, logging.DEBUG, "share stored", blob=share.blob_id.hex(), index=share.share_idx, peer=peer_id,
                  replica=params.get("replica") is True)
            if params.get("replica") is not True:
                self.spawn(self._replicate(share))
        return {"blob_id": share.blob_id.hex(), "share_idx": share.share_idx, "stored": new}

    async def _replicate(self, share: Share) -> None:
        """Offer a share received from an executor to the other members of its subnetwork (best effort)."""
        message = {"share": share.to_json(), "replica": True}
        for peer in self.membership.replicas(share.share_idx):
            try:
                await self.request(peer, METHOD_DISPERSE, message, REPLICATION_TIMEOUT_S)
            except RequestFailed as exc:
                event(log, logging.DEBUG, "replication failed", peer=peer, error=exc)

    async def _on_sample(self, params: Any, peer_id: str) -> dict[str, Any] | None:
        if not isinstance(params, dict):
            raise RequestRejected("expected {\"blob_id\", \"share_idx\"}")
        try:
            blob_id = normalize_hex(params.get("blob_id"), 32, "blob_id")
        except HexError as exc:
            raise RequestRejected(str(exc)) from None
        index = params.get("share_idx")
        if not isinstance(index, int) or isinstance(index, bool):
            raise RequestRejected("share_idx: expected an integer")
        share = self.store.get(blob_id, index)
        return None if share is None else {"share": share.to_json()}

    # -- HTTP reads ------------------------------------------------------------------------------------------
    def commitments(self, blob_id: str) -> list[str] | None:
        found = self.store.commitments(blob_id)
        return None if found is None else [commitment.hex() for commitment in found]

    def share_json(self, blob_id: str, share_idx: int) -> dict[str, Any] | None:
        share = self.store.get(blob_id, share_idx)
        return None if share is None else share.to_json()

    # -- sampling --------------------------------------------------------------------------------------------
    def admissible(self, tx: Transaction) -> bool:
        """A leader may pack ``tx``: every blob it names has been sampled successfully."""
        return all(blob in self.validated for blob in blob_ids(tx))

    def schedule_sampling(self, tx: Transaction) -> None:
        """Sample the blobs of a transaction that entered the mempool (once per blob)."""
        for blob in blob_ids(tx):
            if blob not in self.validated and blob not in self.failed and blob not in self._sampling:
                self._sampling[blob] = self.spawn(self._sample_and_record(blob))

    async def _sample_and_record(self, blob_id: str) -> bool:
        try:
            ok, detail = await self.sample(blob_id)
        finally:
            self._sampling.pop(blob_id, None)
        self.metrics.da_sampling.labels(result="success" if ok else "failure").inc()
        verdicts: OrderedDict[str, Any] = self.validated if ok else self.failed
        verdicts[blob_id] = None if ok else detail
        if len(verdicts) > VERDICT_MEMORY:
            verdicts.popitem(last=False)
        event(log, logging.INFO if ok else logging.WARNING, "blob sampled" if ok else "blob sampling failed",
              blob=blob_id, detail=detail)
        return ok

    async def sample(self, blob_id: str) -> tuple[bool, str]:
        """Ask a member of ``num_samples`` random subnetworks for the blob's share there and verify it:
        (all verified, what was sampled or what failed)."""
        subnets = sorted(random.sample(range(self.num_subnets), self.config.num_samples))
        for subnet in subnets:
            ok, detail = await self._sample_subnet(blob_id, subnet)
            if not ok:
                return False, detail
        return True, "subnetwork(s) " + ",".join(map(str, subnets))

    async def _sample_subnet(self, blob_id: str, subnet: int) -> tuple[bool, str]:
        if self.store.get(blob_id, subnet) is not None:  # verified when it was received
            return True, ""
        members = [peer for peer in self.membership.members(subnet) if peer != self.network.identity.peer_id]
        random.shuffle(members)
        problems: list[str] = []
        for peer in members:
            try:
                answer = await self.request(peer, METHOD_SAMPLE, {"blob_id": blob_id, "share_idx": subnet},
                                            self.config.sampling_timeout)
            except RequestFailed as exc:
                problems.append(f"{peer}: {exc}")
                continue
            if not isinstance(answer, dict):
                problems.append(f"{peer}: holds no share {subnet}")
                continue
            try:
                share = Share.from_json(answer.get("share"))
            except ShareFormatError as exc:
                problems.append(f"{peer}: {exc}")
                continue
            reason = "another share" if (share.blob_id.hex(), share.share_idx) != (blob_id, subnet) else \
                check_share(share, self.params, self.num_subnets)
            if reason is None:
                return True, ""
            problems.append(f"{peer}: {reason}")
        return False, f"subnetwork {subnet}: " + ("; ".join(problems) or "no member to ask")

    async def historic_sampling(self, blobs: list[str]) -> bool:
        """Whether every blob can be sampled now (validated before, or sampled successfully again)."""
        for blob in blobs:
            if blob not in self.validated and not (await self.sample(blob))[0]:
                return False
        return True

    # -- dispersal (executors) -------------------------------------------------------------------------------
    async def disperse(self, data: bytes) -> EncodedBlob:
        """Encode ``data`` and have every subnetwork acknowledge its share; DispersalError otherwise."""
        started = time.perf_counter()
        encoded = await asyncio.to_thread(encode, data, self.num_subnets, self.params)
        pending = dict(enumerate(encoded.shares))
        failures: dict[int, str] = {}
        for attempt in range(self.config.retry_limit + 1):
            if attempt:
                await asyncio.sleep(self.config.retry_cooldown)
            outcomes = await asyncio.gather(*(self._send_subnet(j, share) for j, share in pending.items()))
            for (j, _share), (ok, why) in zip(list(pending.items()), outcomes, strict=True):
                if ok:
                    del pending[j]
                    failures.pop(j, None)
                else:
                    failures[j] = why
            if not pending:
                break
        if pending:
            self.metrics.da_dispersals.labels(result="failure").inc()
            detail = "; ".join(f"subnetwork {j}: {failures[j]}" for j in sorted(pending))
            event(log, logging.WARNING, "dispersal failed", blob=encoded.blob_id.hex(), detail=detail,
                  attempts=self.config.retry_limit + 1)
            raise DispersalError(f"no acknowledgement after {self.config.retry_limit + 1} attempt(s) from "
                                 f"{detail}")
        elapsed = time.perf_counter() - started
        self.metrics.da_dispersals.labels(result="success").inc()
        self.metrics.da_dispersal_seconds.observe(elapsed)
        event(log, logging.INFO, "blob dispersed", blob=encoded.blob_id.hex(), size=len(data),
              seconds=f"{elapsed:.3f}")
        return encoded

    async def _send_subnet(self, subnet: int, share: Share) -> tuple[bool, str]:
        """Send the share to every member of its subnetwork: (acknowledged by one of them at least, why not)."""
        message = {"share": share.to_json()}
        own = self.network.identity.peer_id
        problems: list[str] = []
        if own in self.membership.members(subnet):
            try:
                self.receive_share(message["share"], own)
                return True, ""
            except RequestRejected as exc:
                problems.append(f"{own} (this node): {exc}")
        sends = [self.spawn(self._send_one(peer, message)) for peer in self.membership.members(subnet)
                 if peer != own]
        for next_done in asyncio.as_completed(sends):
            ok, why = await next_done
            if ok:
                return True, ""
            problems.append(why)
        return False, "; ".join(problems) or "no member"

    async def _send_one(self, peer: str, message: dict[str, Any]) -> tuple[bool, str]:
        try:
            await self.request(peer, METHOD_DISPERSE, message, self.config.dispersal_timeout)
        except RequestFailed as exc:
            return False, f"{peer}: {exc}"
        return True, ""
