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


def default_probes(topology: GeneratedTopology, name: str) -> list[Probe]:
    """HTTP up, then peers per layout (when the node has neighbours), then height advancing."""
    probes: list[Probe] = [HttpUp()]
    neighbours = len(topology.neighbours(name))
    if neighbours:
        probes.append(PeersAtLeast(neighbours))
    probes.append(HeightAdvancing())
    return probes
