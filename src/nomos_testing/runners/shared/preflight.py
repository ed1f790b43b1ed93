"""The "no leftovers of earlier runs" check every runner makes, from the run index (runs anywhere on disk)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nomos_testing.runners.shared import index

if TYPE_CHECKING:
    from nomos_testing.runners.base import Check, Deployer

NAME = "no leftovers of earlier runs"
SHOWN = 5


def leftovers_check(deployer: Deployer, required: bool = True) -> Check:
    """Fails (or warns, when not `required`) when an earlier run of this runner whose process is gone still has
    running nodes; clusters left up on purpose with `up`, and kept data, are mentioned only."""
    from nomos_testing.runners.base import Check

    orphans: list[str] = []
    detached: list[str] = []
    kept = 0
    for entry in index.entries():
        if entry.runner != deployer.name or not entry.abandoned():
            continue
        found = deployer.leftovers(entry)
        live = [item.what for item in found if item.live]
        kept += len(found) - len(live)
        if live and entry.detached:
            detached.append(entry.run_id)
        elif live:
            orphans += live
    notes = []
    if detached:
        notes.append(f"{len(detached)} cluster(s) left up with `up`: {', '.join(detached[:SHOWN])}")
    if kept:
        notes.append(f"{kept} kept data dir(s)")
    extra = "; " + "; ".join(notes) if notes else ""
    if orphans:
        shown = ", ".join(orphans[:SHOWN]) + (" …" if len(orphans) > SHOWN else "")
        return Check(NAME, False, f"{len(orphans)} item(s) of earlier runs still running: {shown}{extra}",
                     "run `nomos-testing clean` (or `nomos-testing down RUN_ID` for a cluster kept with `up`)",
                     required=required)
    return Check(NAME, True, f"none in the run index ({index.index_dir()}){extra}")
