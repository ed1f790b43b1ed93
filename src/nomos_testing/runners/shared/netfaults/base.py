"""The seam between node control and a runner's network-fault mechanism.

`NodeControl` keeps the bookkeeping (intent, events, run-state); a runner gives it a `NetworkFaults` that
installs and removes the faults on the real network: on the host runner in the host's network namespace
(every node has its own loopback address), on the compose runner inside each container's namespace.
Nodes are named as in the topology; the implementation maps names to addresses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any


class NetworkFaultError(Exception):
    """A fault could not be applied or removed (missing privilege, a tool failed): the message says why."""

    def __init__(self, message: str, remedy: str = "") -> None:
        super().__init__(message)
        self.remedy = remedy


@dataclass(frozen=True)
class Applied:
    """What applying one fault did: its mechanism (recorded in events.jsonl and the report) and details."""

    mechanism: str
    detail: dict[str, Any]


class NetworkFaults(ABC):
    """Installs network faults between named nodes. Every method is idempotent per fault id."""

    # Capabilities this mechanism offers here (a subset of partition, delay, loss), e.g. empty without root.
    @abstractmethod
    def capabilities(self) -> frozenset[str]: ...

    @abstractmethod
    async def partition(self, fault_id: str, links: list[tuple[str, str]]) -> Applied:
        """Drop all traffic both ways between each pair of `links`; connections open between them are cut."""

    @abstractmethod
    async def delay(self, fault_id: str, a: str, b: str, ms: float, jitter_ms: float) -> Applied:
        """Delay traffic between a and b by ms (± jitter_ms, order kept) in each direction."""

    @abstractmethod
    async def loss(self, fault_id: str, a: str, b: str, percent: float) -> Applied:
        """Drop `percent` % of packets between a and b, each direction independently."""

    @abstractmethod
    async def remove(self, fault_id: str) -> Applied:
        """Remove one fault; unknown ids are a no-op."""

    async def node_restarted(self, name: str) -> None:  # noqa: B027 - optional hook
        """A node's process / container started again: re-install what its namespace lost (compose)."""

    async def node_added(self, name: str) -> None:  # noqa: B027 - optional hook
        """A node joined mid-run: learn its address."""

    @abstractmethod
    async def close(self) -> None:
        """Remove every fault and whatever the mechanism installed (chains, proxies). Idempotent."""
