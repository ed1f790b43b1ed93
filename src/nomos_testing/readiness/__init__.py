"""Readiness: composable probes and the concurrent wait over a cluster."""

from nomos_testing.readiness.probes import HeightAdvancing, HttpUp, PeersAtLeast, Probe, default_probes
from nomos_testing.readiness.wait import ReadinessTimeouts, wait_ready

__all__ = ["HeightAdvancing", "HttpUp", "PeersAtLeast", "Probe", "ReadinessTimeouts", "default_probes", "wait_ready"]
