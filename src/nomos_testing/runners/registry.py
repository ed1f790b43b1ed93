"""Runner name -> Deployer. Imports are lazy: a runner's dependencies load only when it is chosen."""

from __future__ import annotations

import importlib

from nomos_testing.errors import PrerequisiteError
from nomos_testing.runners.base import Deployer

RUNNERS: dict[str, str] = {
    "host": "nomos_testing.runners.host.deployer:HostDeployer",
    "compose": "nomos_testing.runners.compose.deployer:ComposeDeployer",
}
PLANNED = {"k8s": "the Kubernetes runner is not available yet"}


def runner_names() -> list[str]:
    return [*RUNNERS, *PLANNED]


def get_deployer(name: str) -> Deployer:
    if name in PLANNED:
        raise PrerequisiteError(f"runner {name!r}: {PLANNED[name]}", "use --runner host or --runner compose")
    target = RUNNERS.get(name)
    if target is None:
        raise PrerequisiteError(f"unknown runner {name!r}", "use one of: " + ", ".join(runner_names()))
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
        deployer_class = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise PrerequisiteError(f"runner {name!r} is not installed in this checkout ({exc})",
                                "use --runner host, or update the checkout") from exc
    return deployer_class()
