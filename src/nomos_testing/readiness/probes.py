"""Composable readiness probes (docs/runners.md, readiness). Each probe `collect`s one sample from a node, judges
it with `is_ready`, and explains a not-ready sample with `diagnostic` ("peers=0, expected ≥ 1").

Probes may keep state (height advancing remembers the first height it saw), so build one set per node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from nomos_testing.nodes.client import NodeClient
from nomos_testing.topology.model import GeneratedTopology


class Probe(ABC):
    name: str

    @abstractmethod
    async def collect(self, client: NodeClient) -> Any:
        """One sample; raises NodeApiError when the node does not answer."""

    @abstractmethod
    def is_ready(self, sample: Any) -> bool: ...

    @abstractmethod
    def diagnostic(self, sample: Any | None) -> str:
        """What was seen versus what is expected; sample is None when no answer ever came."""


class HttpUp(Probe):
    """The base API answers `GET /cryptarchia/info` with 200 and a JSON body."""

    name = "http"

    async def collect(self, client: NodeClient) -> dict[str, Any]:
        return await client.consensus_info()

    def is_ready(self, sample: Any) -> bool:
        return isinstance(sample, dict)

    def diagnostic(self, sample: Any | None) -> str:
        if sample is None:
            return "http=no answer, expected GET /cryptarchia/info → 200"
        return f"http=unexpected body {str(sample)[:80]!r}, expected a JSON object"


class PeersAtLeast(Probe):
    """`/network/info` reports at least as many peers as the node has neighbours in the layout."""

    name = "peers"

    def __init__(self, expected: int) -> None:
        if expected < 0:
            raise ValueError(f"expected peers must be ≥ 0, got {expected}")
        self.expected = expected

    async def collect(self, client: NodeClient) -> int:
        info = await client.network_info()
        return int(info.get("n_peers", 0))

    def is_ready(self, sample: Any) -> bool:
        return isinstance(sample, int) and sample >= self.expected

    def diagnostic(self, sample: Any | None) -> str:
        seen = "unknown" if sample is None else sample
        return f"peers={seen}, expected ≥ {self.expected}"


class HeightAdvancing(Probe):
    """The node follows a growing chain: height ≥ 1, or higher than the first height this probe saw."""

    name = "height"

    def __init__(self) -> None:
        self.first_seen: int | None = None

    async def collect(self, client: NodeClient) -> int:
        info = await client.consensus_info()
        height = int(info.get("height", 0))
        if self.first_seen is None:
            self.first_seen = height
        return height

    def is_ready(self, sample: Any) -> bool:
        return isinstance(sample, int) and (sample >= 1 or (self.first_seen is not None and sample > self.first_seen))

    def diagnostic(self, sample: Any | None) -> str:
        seen = "unknown" if sample is None else sample
        return f"height={seen}, expected ≥ 1 or advancing past {self.first_seen}"


class DaMembership(Probe):
    """`POST /test/da/membership` (session 0) names at least one member for every subnet, and some subnet."""

    name = "da_membership"

    async def collect(self, client: NodeClient) -> dict[str, int]:
        answer = await client.da_membership(0)
        assignations = answer.get("assignations")
        if not isinstance(assignations, dict):
            raise ValueError(f"no assignations object in {str(answer)[:80]!r}")
        return {str(subnet): len(members) if isinstance(members, list) else 0
                for subnet, members in assignations.items()}

    def is_ready(self, sample: Any) -> bool:
        return isinstance(sample, dict) and bool(sample) and all(count > 0 for count in sample.values())

    def diagnostic(self, sample: Any | None) -> str:
        seen = "no answer" if sample is None else (f"members per subnet {sample}" if sample else "empty")
        return f"da_membership={seen}, expected ≥ 1 member in every subnet"


class DaBalancerConnected(Probe):
    """`GET /da/balancer-stats`: connected (inbound or outbound) to members of at least `subnets` subnets."""

    name = "da_balancer"

    def __init__(self, subnets: int = 1) -> None:
        self.subnets = subnets

    async def collect(self, client: NodeClient) -> int:
        stats = await client.balancer_stats()
        return sum(1 for value in stats.values() if isinstance(value, dict)
                   and (int(value.get("inbound", 0)) > 0 or int(value.get("outbound", 0)) > 0))

    def is_ready(self, sample: Any) -> bool:
        return isinstance(sample, int) and sample >= self.subnets

    def diagnostic(self, sample: Any | None) -> str:
        seen = "unknown" if sample is None else sample
        return f"da_balancer=connected to {seen} subnet(s), expected ≥ {self.subnets}"


def da_probes(topology: GeneratedTopology, name: str) -> list[Probe]:
    """For plans with DA: the default probes, then the DA membership (every node) and the balancer connected to
    at least one subnet (the original's threshold, num_samples = 1; skipped for a lone node)."""
    probes = [*default_probes(topology, name), DaMembership()]
    if len(topology.nodes) > 1:
        probes.append(DaBalancerConnected(1))
    return probes


def default_probes(topology: GeneratedTopology, name: str) -> list[Probe]:
    """HTTP up, then peers per layout (when the node has neighbours), then height advancing."""
    probes: list[Probe] = [HttpUp()]
    neighbours = len(topology.neighbours(name))
    if neighbours:
        probes.append(PeersAtLeast(neighbours))
    probes.append(HeightAdvancing())
    return probes
