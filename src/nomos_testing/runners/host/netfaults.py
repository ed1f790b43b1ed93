"""Network faults on the host runner: every node has its own loopback address (addresses.py), so the shared
engine's rules act between two nodes' addresses in the host's network namespace and touch nothing else (not
other runs, not the framework's own HTTP traffic from 127.0.0.1)."""

from __future__ import annotations

import contextlib
import subprocess
from typing import TYPE_CHECKING

from nomos_testing.runners.shared.netfaults import iptables
from nomos_testing.runners.shared.netfaults.engine import Endpoint, IptablesNetworkFaults, unavailable_capabilities
from nomos_testing.runners.shared.netfaults.namespace import Namespace

if TYPE_CHECKING:
    from nomos_testing.runners.host.cluster import HostCluster

HOST = Namespace.host()
WHERE = "host network namespace, one loopback address per node"


class HostNetworkFaults(IptablesNetworkFaults):
    def __init__(self, cluster: HostCluster) -> None:
        async def resolve(name: str) -> Endpoint:
            return Endpoint(HOST, cluster.address(name))

        super().__init__(cluster.run_id, resolve, WHERE, namespaces=False, always_clean=[HOST])


def chains_left(run_id: str) -> list[iptables.Installed]:
    """The run's chains in the host namespace (synchronously; empty when iptables cannot be read)."""
    if unavailable_capabilities():
        return []
    chains = iptables.Chains.of_run(run_id)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        saved = subprocess.run(["iptables-save"], capture_output=True, text=True, timeout=10, check=True).stdout
        return [item for item in iptables.installed(saved) if item.chain in (chains.filter, chains.nat)]
    return []


def remove_chains_now(run_id: str) -> None:
    """Synchronous removal of the run's chains (for teardown without an event loop, e.g. an exit hook)."""
    found = chains_left(run_id)
    if found:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["iptables-restore", "-w", "--noflush"], input=iptables.removal_batch(found), text=True,
                           capture_output=True, timeout=10, check=False)


async def remove_run_chains(run_id: str) -> list[str]:
    if unavailable_capabilities():
        return []
    removed = await iptables.remove_run(HOST, iptables.Chains.of_run(run_id))
    return [item.describe() for item in removed]


async def sweep_chains(dry_run: bool) -> list[str]:
    if unavailable_capabilities():
        return []
    return [item.describe() for item in await iptables.sweep(HOST, dry_run=dry_run)]
