"""Wait until every node of a cluster passes its probes, polling all nodes concurrently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from nomos_testing import settings
from nomos_testing.errors import NodeCrashedError, NotReadyNode, ReadinessError
from nomos_testing.nodes.client import NodeApiError, NodeClient
from nomos_testing.observe.events import EventSink, record_event
from nomos_testing.params import Source, check_value
from nomos_testing.readiness.probes import Probe, default_probes
from nomos_testing.runners.base import Cluster, NodeEndpoint
from nomos_testing.scenario.fields import plan_field
from nomos_testing.topology.model import GeneratedTopology

DEFAULT_TOTAL_S = 60.0


@dataclass(frozen=True)
class ReadinessTimeouts:
    total_s: float = DEFAULT_TOTAL_S  # for the whole cluster
    poll_s: float = 0.2               # pause between polling rounds
    request_s: float = 2.0            # one HTTP request

    def __post_init__(self) -> None:
        for name in ("total_s", "poll_s", "request_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"ReadinessTimeouts.{name} must be > 0, got {getattr(self, name)}")

    @classmethod
    def from_env(cls) -> ReadinessTimeouts:
        """The total from NOMOS_TESTS_READINESS_TIMEOUT (checked like the plan's readiness.timeout)."""
        text = settings.raw("NOMOS_TESTS_READINESS_TIMEOUT")
        if text is None:
            return cls()
        total = settings.parse_number("NOMOS_TESTS_READINESS_TIMEOUT", text)
        check_value(plan_field("readiness.timeout").param, total, "readiness.timeout",
                    Source("env", "NOMOS_TESTS_READINESS_TIMEOUT", text=text))
        return cls(total_s=total)

    def scaled(self, factor: float) -> ReadinessTimeouts:
        return replace(self, total_s=self.total_s * factor, request_s=self.request_s * factor)


@dataclass
class NodeProgress:
    endpoint: NodeEndpoint
    probes: list[Probe]
    samples: dict[str, Any] = field(default_factory=dict)
    last_error: str | None = None
    ready_s: float | None = None

    async def poll(self, client: NodeClient) -> bool:
        for probe in self.probes:
            try:
                sample = await probe.collect(client)
            except NodeApiError as exc:
                self.last_error = exc.detail
                return False
            except (TypeError, ValueError, KeyError, AttributeError) as exc:  # an answer of the wrong shape
                self.last_error = f"{probe.name}: malformed answer ({exc})"
                return False
            self.samples[probe.name] = sample
            if not probe.is_ready(sample):
                return False
        return True

    def not_ready(self) -> NotReadyNode:
        """The first probe the node does not pass, and what it saw."""
        failing = next((p for p in self.probes if not (p.name in self.samples and p.is_ready(self.samples[p.name]))),
                       self.probes[0])
        return NotReadyNode(self.endpoint.name, failing.name, failing.diagnostic(self.samples.get(failing.name)),
                            self.last_error)

    def diagnostic(self) -> str:
        facts = self.not_ready()
        return f"{facts.node}: {facts.seen}" + (f"; last error: {facts.last_error}" if facts.last_error else "")


async def wait_ready(
    cluster: Cluster,
    topology: GeneratedTopology,
    timeouts: ReadinessTimeouts | None = None,
    events: EventSink | None = None,
    probes: Callable[[GeneratedTopology, str], list[Probe]] = default_probes,
    started_at: float | None = None,
) -> dict[str, float]:
    """Poll every node until all are ready; returns name -> seconds from `started_at` (a `time.monotonic()`
    value, default: the call) to that node's readiness. Raises DeploymentError as soon as a node exits and
    ReadinessError on timeout, naming every node that is not ready."""
    limits = (timeouts or ReadinessTimeouts.from_env()).scaled(settings.slow_factor())
    origin = time.monotonic() if started_at is None else started_at
    deadline = time.monotonic() + limits.total_s
    progress = {n.name: NodeProgress(n, probes(topology, n.name)) for n in cluster.nodes}
    clients = {n.name: topology.adapter.client(n, timeout_s=limits.request_s) for n in cluster.nodes}
    try:
        while True:
            await _fail_if_crashed(cluster, events)
            pending = [p for p in progress.values() if p.ready_s is None]
            results = await asyncio.gather(*(p.poll(clients[p.endpoint.name]) for p in pending))
            for node, ready in zip(pending, results, strict=True):
                if ready:
                    node.ready_s = round(time.monotonic() - origin, 3)
                    record_event(events, "readiness.node_ready", node=node.endpoint.name, ready_s=node.ready_s)
            if all(p.ready_s is not None for p in progress.values()):
                return {name: p.ready_s for name, p in progress.items() if p.ready_s is not None}
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(limits.poll_s, max(0.0, deadline - time.monotonic())))
    finally:
        await asyncio.gather(*(client.close() for client in clients.values()), return_exceptions=True)
    await _fail_if_crashed(cluster, events)
    stuck = [p for p in progress.values() if p.ready_s is None]
    not_ready = [p.diagnostic() for p in stuck]
    record_event(events, "readiness.timeout", nodes=not_ready, timeout_s=limits.total_s)
    summary = f"{len(not_ready)} of {len(progress)} node(s) not ready after {limits.total_s:g} s"
    raise ReadinessError(
        summary + ":\n  " + "\n  ".join(not_ready),
        "see each node's log in the run directory's logs/; on a slow machine set SLOW_TEST_ENV=true "
        "or raise NOMOS_TESTS_READINESS_TIMEOUT",
        not_ready=[p.not_ready() for p in stuck], timeout_s=limits.total_s,
    )


async def _fail_if_crashed(cluster: Cluster, events: EventSink | None) -> None:
    crashed = await cluster.crashed()
    if crashed:
        for name, reason in crashed.items():
            record_event(events, "node.crashed", node=name, reason=reason)
        details = "\n".join(f"{name}: {reason}" for name, reason in sorted(crashed.items()))
        raise NodeCrashedError(f"{len(crashed)} node(s) exited during readiness:\n{details}",
                               "read the log tail above; `nomos-node CONFIG` prints config errors on its own",
                               crashed=crashed)

