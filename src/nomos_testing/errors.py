"""Errors the framework raises, each mapped to a CLI exit code (docs/cli.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EXIT_PASSED = 0
EXIT_EXPECTATION_FAILED = 1
EXIT_SETUP_ERROR = 2
EXIT_INTERRUPTED = 130


class FrameworkError(Exception):
    """Base class: a problem the user can act on. `remedy` says how."""

    exit_code = EXIT_SETUP_ERROR

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.remedy})" if self.remedy else self.message


class PlanError(FrameworkError):
    """The scenario (builder arguments, scenario file, CLI flags) is invalid. Names the field."""


class PrerequisiteError(FrameworkError):
    """A preflight check failed (missing binary, daemon, file...)."""


class DeploymentError(FrameworkError):
    """Nodes could not be started or did not become ready."""


@dataclass(frozen=True)
class NotReadyNode:
    """A node that was not ready when readiness timed out: the probe it was stuck at and what it saw."""

    node: str
    probe: str
    seen: str                  # the probe's diagnostic: what was seen versus what is expected
    last_error: str | None = None


class ReadinessError(DeploymentError):
    """Readiness timed out; the message names every node that is not ready, `not_ready` holds the same facts."""

    def __init__(self, message: str, remedy: str | None = None, not_ready: Sequence[NotReadyNode] = (),
                 timeout_s: float | None = None) -> None:
        super().__init__(message, remedy)
        self.not_ready = list(not_ready)
        self.timeout_s = timeout_s


class NodeCrashedError(DeploymentError):
    """Nodes exited on their own before the run window; `crashed` maps each to the runner's account of it
    (how it exited and the tail of its log)."""

    def __init__(self, message: str, remedy: str | None = None, crashed: Mapping[str, str] | None = None) -> None:
        super().__init__(message, remedy)
        self.crashed = dict(crashed or {})


class InternalError(FrameworkError):
    """An unexpected exception inside the framework (a bug): the run is torn down and reported."""


class NodeControlError(FrameworkError):
    """A node-control action could not be done (unknown node, node already running, cluster gone, the
    mechanism failed). In a workload it is a workload failure; on the `node` command it is exit 2."""
