"""Errors the framework raises, each mapped to a CLI exit code (docs/cli.md)."""

from __future__ import annotations

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


class ReadinessError(DeploymentError):
    """Readiness timed out; the message names every node that is not ready."""


class NodeControlError(FrameworkError):
    """A node-control action could not be done (unknown node, node already running, cluster gone, the
    mechanism failed). In a workload it is a workload failure; on the `node` command it is exit 2."""
