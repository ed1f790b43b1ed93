"""Readiness: composable probes and the concurrent wait over a cluster."""

from nomos_testing.readiness.probes import HeightAdvancing, HttpUp, PeersAtLeast, Probe, default_probes
from nomos_testing.readiness.sink import EventSink, record_event
from nomos_testing.readiness.wait import ReadinessTimeouts, wait_ready

__all__ = ["EventSink", "HeightAdvancing", "HttpUp", "PeersAtLeast", "Probe", "ReadinessTimeouts",
           "default_probes", "record_event", "wait_ready"]
