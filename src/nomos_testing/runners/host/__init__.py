"""Host runner: nodes as local child processes."""

from nomos_testing.runners.host.cluster import HostCluster
from nomos_testing.runners.host.deployer import HostDeployer

__all__ = ["HostCluster", "HostDeployer"]
