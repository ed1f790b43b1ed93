"""`clean`: remove what this user's earlier runs left (from the run index), and with `--all` what any run left
on this machine whose framework process is gone (a wider sweep: other checkouts, other users' index)."""

from __future__ import annotations

from dataclasses import dataclass

from nomos_testing.errors import FrameworkError
from nomos_testing.plugins import Registries, default_registries
from nomos_testing.runners.shared import index


@dataclass(frozen=True)
class Removed:
    runner: str
    item: str


async def clean_index(registries: Registries | None = None, dry_run: bool = False) -> tuple[list[Removed], list[str]]:
    """Every abandoned run of the index (its process gone, or left up with `up`): what was removed, and notes
    (skipped runners, runs still in progress)."""
    registries = registries or default_registries()
    removed: list[Removed] = []
    notes: list[str] = []
    for entry in index.entries():
        if not entry.abandoned():
            notes.append(f"run {entry.run_id} is still in progress (owner {entry.owner}); left alone")
            continue
        try:
            deployer = registries.runners.get(entry.runner)()
        except FrameworkError as exc:
            notes.append(f"{entry.run_id}: runner {entry.runner} unavailable ({exc.message}); skipped")
            continue
        if dry_run:
            removed += [Removed(entry.runner, item.what) for item in deployer.leftovers(entry)]
            continue
        try:
            items = await deployer.remove_leftovers(entry)
        except FrameworkError as exc:
            notes.append(f"{entry.run_id}: {exc}; kept in the index")
            continue
        removed += [Removed(entry.runner, item) for item in items]
        index.unregister(entry.run_id)
    return removed, notes


async def sweep_all(registries: Registries | None = None, dry_run: bool = False) -> tuple[list[Removed], list[str]]:
    """Every runner's machine-wide sweep of runs whose owner process is gone."""
    registries = registries or default_registries()
    removed: list[Removed] = []
    notes: list[str] = []
    for name in registries.runners.names():
        try:
            deployer = registries.runners.get(name)()
            removed += [Removed(name, item) for item in await deployer.sweep(dry_run=dry_run)]
        except FrameworkError as exc:
            notes.append(f"{name}: skipped ({exc.message})")
        except Exception as exc:  # a broken runner must not stop the others from being cleaned
            notes.append(f"{name}: skipped ({type(exc).__name__}: {exc})")
    return removed, notes
