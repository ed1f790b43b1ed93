"""Async HTTP client for one node's base and testing APIs (docs/node-api.md).

The framework talks to nodes only through this client, never through the node's internals.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import aiohttp

DEFAULT_TIMEOUT_S = 5.0
# /disperse-data waits for every subnetwork's acknowledgements: 20 s per attempt, 3 attempts, 3 s between
# (the DA contract), so its answer may take about a minute; other requests keep the client's timeout.
DISPERSE_TIMEOUT_S = 75.0


class NodeApiError(Exception):
    """A request to a node failed: connection error, timeout, or a non-200 answer."""

    def __init__(self, url: str, detail: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(f"{url}: {detail}")
        self.url = url
        self.detail = detail
        self.status = status
        self.code = code  # the node's error code of a 4xx JSON error body ({"error": code, "detail": …})


class NodeClient:
    """One node's API. Create inside a running event loop; `close()` when done."""

    def __init__(self, name: str, api_url: str, testing_url: str | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.name = name
        self.api_url = api_url.rstrip("/")
        self.testing_url = testing_url.rstrip("/") if testing_url else None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, url: str, body: Any = None, *, as_text: bool = False,
                       timeout_s: float | None = None) -> Any:
        try:
            kwargs: dict[str, Any] = {} if body is None else {"json": body}
            if timeout_s is not None:
                kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout_s)
            async with self._http().request(method, url, **kwargs) as response:
                if response.status != 200:
                    text = await response.text()
                    raise NodeApiError(url, f"HTTP {response.status}: {text[:300]}", response.status,
                                       _error_code(text))
                return await response.text() if as_text else await response.json()
        except NodeApiError:
            raise
        except TimeoutError as exc:
            raise NodeApiError(url, "timed out") from exc
        except aiohttp.ClientConnectorError as exc:
            raise NodeApiError(url, "connection refused") from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise NodeApiError(url, f"{type(exc).__name__}: {exc}") from exc

    async def get(self, path: str) -> Any:
        return await self._request("GET", self.api_url + path)

    async def post(self, path: str, body: Any) -> Any:
        return await self._request("POST", self.api_url + path, body)

    async def post_testing(self, path: str, body: Any) -> Any:
        if self.testing_url is None:
            raise NodeApiError(path, "this node has no testing API URL")
        return await self._request("POST", self.testing_url + path, body)

    # Base API: each answer is checked for its shape, a wrong one is a NodeApiError like any failure
    async def consensus_info(self) -> dict[str, Any]:
        return _shaped(await self.get("/cryptarchia/info"), dict, self.api_url + "/cryptarchia/info")

    async def headers(self, from_id: str | None = None, to_id: str | None = None) -> list[str]:
        params = [f"{key}={value}" for key, value in (("from", from_id), ("to", to_id)) if value]
        path = "/cryptarchia/headers" + ("?" + "&".join(params) if params else "")
        return _shaped(await self.get(path), list, self.api_url + path)

    async def block(self, header_id: str) -> dict[str, Any] | None:
        answer = await self.post("/storage/block", header_id)
        return None if answer is None else _shaped(answer, dict, self.api_url + "/storage/block")

    async def network_info(self) -> dict[str, Any]:
        return _shaped(await self.get("/network/info"), dict, self.api_url + "/network/info")

    async def block_peer(self, peer_id: str) -> bool:
        return _shaped(await self.post("/da/block-peer", peer_id), bool, self.api_url + "/da/block-peer")

    async def unblock_peer(self, peer_id: str) -> bool:
        return _shaped(await self.post("/da/unblock-peer", peer_id), bool, self.api_url + "/da/unblock-peer")

    async def blacklisted_peers(self) -> list[str]:
        return _shaped(await self.get("/da/blacklisted-peers"), list, self.api_url + "/da/blacklisted-peers")

    # Transactions (docs/transactions.md)
    async def submit_tx(self, tx: Mapping[str, Any]) -> dict[str, Any]:
        """POST /mempool/add/tx: `{"tx_hash", "status"?}`; a refusal is a NodeApiError with `code` set."""
        return _shaped(await self.post("/mempool/add/tx", tx), dict, self.api_url + "/mempool/add/tx")

    async def tx_status(self, tx_hashes: list[str]) -> list[Any]:
        """POST /mantle/status: per hash "Unknown" | "Pending" | "Rejected" | {"InBlock": {"block": id}}."""
        return _shaped(await self.post("/mantle/status", tx_hashes), list, self.api_url + "/mantle/status")

    async def mantle_status(self) -> dict[str, Any]:
        """GET /mantle/status: pending, ledger_height, tip, supply, genesis_supply, fees_burned, unspent_notes."""
        return _shaped(await self.get("/mantle/status"), dict, self.api_url + "/mantle/status")

    async def mantle_metrics(self) -> dict[str, Any]:
        return _shaped(await self.get("/mantle/metrics"), dict, self.api_url + "/mantle/metrics")

    async def notes_of(self, pk: str) -> list[dict[str, Any]]:
        """GET /mantle/notes?pk=: the unspent notes of one key on the node's canonical chain."""
        path = f"/mantle/notes?pk={pk}"
        return _shaped(await self.get(path), list, self.api_url + path)

    # Data availability (docs/data-availability.md): a refusal is a NodeApiError with `code` set
    async def disperse_data(self, channel_id: str, parent_msg_id: str, signer: str, data: bytes) -> dict[str, Any]:
        """POST /disperse-data (executors only): `{"blob_id", "tx_hash"}`. A validator answers 403/404; a
        dispersal whose subnetworks did not acknowledge answers 503 `dispersal_failed`."""
        body = {"channel_id": channel_id, "parent_msg_id": parent_msg_id, "signer": signer, "data": data.hex()}
        answer = _shaped(await self._request("POST", self.api_url + "/disperse-data", body,
                                             timeout_s=DISPERSE_TIMEOUT_S), dict, self.api_url + "/disperse-data")
        if not isinstance(answer.get("blob_id"), str):
            raise NodeApiError(self.api_url + "/disperse-data",
                               f"malformed answer: no blob_id in {str(answer)[:120]!r}")
        return answer

    async def da_commitments(self, blob_id: str) -> list[str] | None:
        """POST /da/get-commitments: the blob's row commitments, or None when the node holds none."""
        url = self.api_url + "/da/get-commitments"
        answer = await self.post("/da/get-commitments", {"blob_id": blob_id})
        if answer is None:
            return None
        commitments = _shaped(answer, dict, url).get("rows_commitments")
        return _shaped(commitments, list, url)

    async def da_share(self, blob_id: str, share_idx: int) -> dict[str, Any] | None:
        """POST /da/get-share: the share (column `share_idx`) as JSON, or None when the node holds none."""
        answer = await self.post("/da/get-share", {"blob_id": blob_id, "share_idx": share_idx})
        return None if answer is None else _shaped(answer, dict, self.api_url + "/da/get-share")

    async def da_membership(self, session: int = 0) -> dict[str, Any]:
        """POST /test/da/membership (testing API): `{"assignations": {subnet: [peer id…]}, "addressbook"}`."""
        answer = await self.post_testing("/test/da/membership", session)
        return _shaped(answer, dict, f"{self.testing_url}/test/da/membership")

    async def balancer_stats(self) -> dict[str, Any]:
        """GET /da/balancer-stats: `{subnet: {"inbound", "outbound"}}`."""
        return _shaped(await self.get("/da/balancer-stats"), dict, self.api_url + "/da/balancer-stats")

    async def historic_sampling(self, block_id: str, blob_ids: list[str]) -> bool:
        """POST /test/da/historic-sampling (testing API): whether the blobs of that block can be sampled."""
        answer = await self.post_testing("/test/da/historic-sampling", {"block_id": block_id, "blob_ids": blob_ids})
        return _shaped(answer, bool, f"{self.testing_url}/test/da/historic-sampling")

    async def channel(self, channel_id: str) -> dict[str, Any] | None:
        """GET /mantle/channels/{channel}: `{"last_msg_id", "owner", "messages"}`, None for an unknown channel."""
        url = f"{self.api_url}/mantle/channels/{channel_id}"
        try:
            return _shaped(await self.get(f"/mantle/channels/{channel_id}"), dict, url)
        except NodeApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def metrics_text(self) -> str:
        return _shaped(await self._request("GET", self.api_url + "/metrics", as_text=True), str,
                       self.api_url + "/metrics")


def _error_code(text: str) -> str | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    code = body.get("error") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


T = TypeVar("T")
_SHAPES = {dict: "a JSON object", list: "a JSON array", bool: "true or false", str: "text"}


def _shaped(answer: Any, shape: type[T], url: str) -> T:
    if not isinstance(answer, shape):
        raise NodeApiError(url, f"malformed answer: expected {_SHAPES.get(shape, shape.__name__)}, "
                                f"got {str(answer)[:120]!r}")
    return answer
