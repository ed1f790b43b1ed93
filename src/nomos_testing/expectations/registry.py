"""Expectation kinds by name, so plans, TOML files and the builder refer to them as data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nomos_testing.errors import PlanError
from nomos_testing.expectations.base import Expectation

ExpectationFactory = Callable[[Mapping[str, Any]], Expectation]

_FACTORIES: dict[str, ExpectationFactory] = {}


def register_expectation(kind: str, factory: ExpectationFactory) -> None:
    _FACTORIES[kind] = factory


def known_expectations() -> list[str]:
    _load_builtins()
    return sorted(_FACTORIES)


def build_expectation(spec: Any, field_name: str = "expectation") -> Expectation:
    """Instantiate `spec` (a ComponentSpec); unknown kinds and bad parameters raise PlanError."""
    _load_builtins()
    factory = _FACTORIES.get(spec.kind)
    if factory is None:
        raise PlanError(f"{field_name}: unknown expectation kind {spec.kind!r}",
                        "use one of: " + ", ".join(sorted(_FACTORIES)))
    try:
        return factory(spec.params)
    except PlanError as exc:
        raise PlanError(f"{field_name} ({spec.kind}): {exc.message}", exc.remedy) from None


def _load_builtins() -> None:
    # Importing registers them; kept lazy so a plan import does not pull in every expectation.
    from nomos_testing.expectations import liveness  # noqa: F401
