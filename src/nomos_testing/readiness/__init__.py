"""Readiness: composable probes and the concurrent wait over a cluster."""

from nomos_testing.readiness.probes import (
    DaBalancerConnected,
    DaMembership,
    HeightAdvancing,
    HttpUp,
    PeersAtLeast,
    Probe,
    da_probes,
    default_probes,
)
from nomos_testing.readiness.wait import ReadinessTimeouts, wait_ready

__all__ = ["DaBalancerConnected", "DaMembership", "HeightAdvancing", "HttpUp", "PeersAtLeast", "Probe",
           "ReadinessTimeouts", "da_probes", "default_probes", "wait_ready"]
