"""Thin calls to a Prometheus HTTP API (`/api/v1/query`, `/api/v1/query_range`) over aiohttp. Every failure —
unreachable, a refused query (bad PromQL: HTTP 400 with Prometheus's own message), an unreadable answer — is a
`PrometheusError` naming the query and the cause."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import aiohttp

QUERY_TIMEOUT_S = 10.0


class PrometheusError(Exception):
    def __init__(self, query: str, cause: str) -> None:
        super().__init__(f"query {query!r}: {cause}")
        self.query = query
        self.cause = cause


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)  # (unix time, value), oldest first

    def describe(self) -> str:
        """`{node="nomos-node-0", role="validator"}` (`{}` for a series without labels)."""
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items())) + "}"


class PrometheusClient:
    def __init__(self, url: str, timeout_s: float = QUERY_TIMEOUT_S) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def query(self, promql: str, at: float | None = None) -> list[Series]:
        """An instant query (at `at`, default now): one point per series (a scalar is one unlabelled series)."""
        params = {"query": promql} | ({"time": f"{at:.3f}"} if at is not None else {})
        return await self._get("/api/v1/query", promql, params)

    async def query_range(self, promql: str, start: float, end: float, step_s: float) -> list[Series]:
        params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}"}
        return await self._get("/api/v1/query_range", promql, params)

    async def _get(self, path: str, promql: str, params: dict[str, str]) -> list[Series]:
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session, \
                    session.get(self.url + path, params=params) as response:
                try:
                    body: Any = await response.json(content_type=None)
                except ValueError:
                    body = None
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PrometheusError(promql, f"Prometheus at {self.url} is unreachable "
                                          f"({type(exc).__name__}: {exc or 'timed out'})") from exc
        if not isinstance(body, dict):
            raise PrometheusError(promql, f"Prometheus at {self.url} answered HTTP {status} without a JSON body")
        if body.get("status") != "success":
            kind = body.get("errorType", "error")
            raise PrometheusError(promql, f"Prometheus refused it (HTTP {status}, {kind}): {body.get('error')}")
        return parse_result(promql, body.get("data") or {})


def parse_result(promql: str, data: dict[str, Any]) -> list[Series]:
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list):
        return [Series({}, [_point(result)])]
    if kind == "vector" and isinstance(result, list):
        return [Series(dict(item.get("metric", {})), [_point(item["value"])]) for item in result]
    if kind == "matrix" and isinstance(result, list):
        return [Series(dict(item.get("metric", {})), [_point(v) for v in item.get("values", [])]) for item in result]
    raise PrometheusError(promql, f"unsupported result type {kind!r} (a string?); the query must give numbers")


def _point(pair: list[Any]) -> tuple[float, float]:
    return float(pair[0]), float(pair[1])  # "NaN", "+Inf" parse as floats


def finite(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return [p for p in points if math.isfinite(p[1])]
