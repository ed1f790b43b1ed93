"""Preflight: the prerequisites every runner shares (docs/runners.md), merged with a runner's own checks.

`doctor` prints them; `run` and `up` stop with exit 2 when a required one does not hold.
"""

from __future__ import annotations

from pathlib import Path

from nomos_testing import settings
from nomos_testing.errors import FrameworkError, PrerequisiteError
from nomos_testing.nodes.base import NodeAdapter
from nomos_testing.plugins import Registries, default_registries
from nomos_testing.runners.base import Check, Deployer
from nomos_testing.scenario.plan import ScenarioPlan

VERSIONS_FILE = "versions.env"


def find_versions_file(start: Path | None = None) -> Path | None:
    """versions.env in the current directory or any parent (the repository root)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / VERSIONS_FILE).is_file():
            return folder / VERSIONS_FILE
    return None


def versions_check() -> Check:
    found = find_versions_file()
    return Check(VERSIONS_FILE, found is not None,
                 str(found) if found else f"no {VERSIONS_FILE} in {Path.cwd()} or its parents",
                 "run nomos-testing from the repository root (where versions.env is)")


def environment_check() -> Check:
    malformed = settings.problems(skip=frozenset({"POL_PROOF_DEV_MODE"}))  # that one has its own check
    detail = "; ".join(exc.message for exc in malformed) or "every set variable parses (docs/environment.md)"
    return Check("environment variables", not malformed, detail, "; ".join(exc.remedy or "" for exc in malformed))


def pol_dev_mode_check() -> Check:
    try:
        dev_mode = settings.pol_dev_mode()
    except FrameworkError as exc:  # a malformed boolean
        return Check("POL_PROOF_DEV_MODE", False, exc.message, "export POL_PROOF_DEV_MODE=true")
    if dev_mode:
        return Check("POL_PROOF_DEV_MODE", True, "true: leadership proved with the VRF alone")
    explicit = settings.raw("POL_PROOF_DEV_MODE") is not None
    consequence = ("nodes compute the expensive proof of leadership for every won slot, so the chain grows far "
                   "slower than expected and liveness fails")
    # Explicitly false is a choice (measuring the real proof cost): a warning. Unset is a mistake.
    return Check("POL_PROOF_DEV_MODE", False, ("false: " if explicit else "unset: ") + consequence,
                 "export POL_PROOF_DEV_MODE=true", required=not explicit)


def plugins_check(registries: Registries | None = None) -> Check:
    """Every installed plug-in (entry points of the nomos_testing.* groups) loads."""
    registries = registries or default_registries()
    broken, count = [], 0
    for group, registry in registries.groups().items():
        for name, loaded in registry.load_all().items():
            count += 1
            if isinstance(loaded, Exception):
                broken.append(f"{group}/{name}: {loaded}")
    if broken:
        return Check("plug-ins", False, "; ".join(broken), "reinstall the distributions that provide them")
    return Check("plug-ins", True, f"{count} loaded (`nomos-testing plugins` lists them)")


def framework_checks() -> list[Check]:
    return [versions_check(), environment_check(), pol_dev_mode_check(), plugins_check()]


DA_KINDS = frozenset({"da", "da_inclusion"})


def needs_da(plan: ScenarioPlan) -> bool:
    """Whether the plan disperses or judges blobs (a `da` workload or a `da_inclusion` expectation)."""
    return any(spec.kind in DA_KINDS for spec in (*plan.workloads, *plan.expectations))


def plan_checks(plan: ScenarioPlan | None) -> list[Check]:
    """What this plan needs besides the runner: the KZG parameters when it has DA (the nodes load them at
    start; the compose image bakes them in)."""
    if plan is None or not needs_da(plan):
        return []
    from nomos_testing.kzg import params_check

    return [params_check()]


def preflight_checks(deployer: Deployer, adapter: NodeAdapter | None = None,
                     plan: ScenarioPlan | None = None) -> list[Check]:
    """The shared checks, the plan's (`plan_checks`), then the runner's own (for nodes of `adapter`)."""
    return [*framework_checks(), *plan_checks(plan), *deployer.preflight(adapter)]


def da_prerequisite_problems() -> list[str]:
    """The two usual causes of a failed DA run (the original documents them): POL_PROOF_DEV_MODE not true, and
    missing or corrupt KZG parameters. Empty when neither is the case."""
    from nomos_testing.kzg import params_problem

    problems = []
    check = pol_dev_mode_check()
    if not check.ok:
        problems.append(f"POL_PROOF_DEV_MODE is {check.detail} ({check.remedy})")
    kzg = params_problem()
    if kzg is not None:
        problems.append(kzg)
    return problems


def require(checks: list[Check]) -> None:
    missing = [check for check in checks if check.required and not check.ok]
    if missing:
        lines = "; ".join(f"{c.name}: {c.detail}" for c in missing)
        remedies = "; ".join(c.remedy for c in missing if c.remedy)
        raise PrerequisiteError(f"{len(missing)} prerequisite(s) missing: {lines}", remedies or None)
