"""Suite-wide policy.

* A test that needs something missing skips locally with the reason, but in CI (`CI=true`) a skip is a
  failure, so a missing prerequisite can never pass unnoticed. The one exception: the tests marked `k8s`
  (every test under tests/k8s/) skip when no Kubernetes cluster is reachable, in CI too, because none can run
  on this project's machines; where a cluster must be there (.github/workflows/k8s.yml),
  `NOMOS_K8S_REQUIRE_CLUSTER=1` makes their skips failures as well.
* The run index (`XDG_STATE_HOME`) of the whole session, subprocesses included, is a private temporary
  directory: tests never see or clean the developer's own runs.
* Marks: every test under tests/compose/ is `compose` (needs a Docker engine); `slow` marks tests that run
  real node networks or whole scenarios (see pyproject.toml). `-m "not slow"` is the quick loop.
* `make test` runs on two pytest-xdist workers (`-n 2 --dist loadgroup`); the tests that use Docker are one
  unit of work, so one worker runs them all in order and one image build serves them (the scheduler below:
  xdist's own `xdist_group` marks do nothing under pytest 9.2, whose nodes no longer keep `_nodeid`).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
_COMPOSE_DIR = Path(__file__).parent / "compose"
_K8S_DIR = Path(__file__).parent / "k8s"
# Under xdist these run on one worker, in order: the tests that build or sweep Docker images and stacks, and
# those that sweep every run of the machine (`clean --all`) or leave detached runs (`up`) such a sweep would take.
_DOCKER_TESTS = ("tests/compose/", "tests/docs/test_documented_commands.py", "tests/framework/test_host_managed.py",
                 "tests/framework/test_cli_e2e.py")
# Modules whose tests share module-scoped real runs: kept on one worker, so the runs happen once.
_MODULES_TOGETHER = ("tests/framework/test_html_browser.py",)
_K8S_REQUIRED = os.environ.get("NOMOS_K8S_REQUIRE_CLUSTER", "").strip().lower() in {"1", "true", "yes"}


def pytest_configure(config: pytest.Config) -> None:
    state_home = tempfile.mkdtemp(prefix="nomos-testing-state-")
    os.environ["XDG_STATE_HOME"] = state_home


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _COMPOSE_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.compose)
            item.add_marker(pytest.mark.slow)
        if _K8S_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.k8s)
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    exempt = item.get_closest_marker("k8s") is not None and not _K8S_REQUIRED  # no cluster can run here
    if _IN_CI and report.skipped and not hasattr(report, "wasxfail") and not exempt:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (CI=true), which is not allowed: {reason}"


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist is a dev dependency; without it the suite runs in one process
    LoadScopeScheduling = None

if LoadScopeScheduling is not None:

    class _DockerTogether(LoadScopeScheduling):  # type: ignore[misc, valid-type]
        """Every test is its own unit of work, except the Docker tests, which are one, and the tests of a module
        that shares its runs, which are one per module."""

        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(_DOCKER_TESTS):
                return "docker"
            module = nodeid.split("::", 1)[0]
            return module if module in _MODULES_TOGETHER else nodeid

    def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
        if config.getvalue("dist") != "loadgroup":
            return None
        return _DockerTogether(config, log)
