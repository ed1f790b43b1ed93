"""Fixtures of the end-to-end tests on a real Kubernetes cluster (the kubeconfig's context, or
K8S_RUNNER_CONTEXT). With no cluster reachable they skip with the reason — also in CI, the one exception to
"no skips in CI" (tests/conftest.py), unless NOMOS_K8S_REQUIRE_CLUSTER=1 (.github/workflows/k8s.yml)."""

from __future__ import annotations

import asyncio

import pytest

from nomos_testing.runners.k8s.api import Kr8sApi, Unreachable


@pytest.fixture(scope="session")
def k8s_cluster() -> str:
    """The context of a reachable cluster, or a skip naming why there is none."""

    async def probe() -> str:
        api = await Kr8sApi.connect()
        try:
            return f"{api.context} ({await api.server_version()})"
        finally:
            await api.close()

    try:
        return asyncio.run(probe())
    except Unreachable as exc:
        pytest.skip(f"{exc} — the k8s end-to-end tests need a cluster (kind create cluster; docs/runners.md)")
