"""The `doctor` check for network faults: optional, since only scenarios with partition, delay or loss faults
need root with iptables and ss (and nsenter to act inside containers)."""

from __future__ import annotations

from nomos_testing.runners.base import Check
from nomos_testing.runners.shared.netfaults.engine import ROOT_REMEDY, unavailable_capabilities

NETWORK_FAULTS_CHECK = "network faults (partition, delay, loss)"


def network_faults_check(namespaces: bool = False) -> Check:
    missing = unavailable_capabilities(namespaces)
    tools = "root, iptables, ss" + (" and nsenter" if namespaces else "")
    if missing:
        packages = "iptables iproute2" + (" util-linux" if namespaces else "")
        return Check(NETWORK_FAULTS_CHECK, False, next(iter(missing.values())),
                     f"{ROOT_REMEDY}; Debian: apt-get install {packages} (only scenarios with partition, delay or "
                     "loss faults need this)", required=False)
    return Check(NETWORK_FAULTS_CHECK, True, f"{tools}: partition, delay and loss available", required=False)
