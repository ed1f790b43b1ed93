"""Which mode a (re)started node begins in — the real node's rule (nomos `chain-service` `choose_engine_state`).

* Bootstrapping when the LIB is genesis (nothing final yet: a fresh node) or ``consensus.force_bootstrap``;
* otherwise, when the store holds a record of the last time the node was active: Bootstrapping if that was
  longer than ``consensus.offline_grace_period`` ago (or in the future: be conservative), else the mode it was in;
* otherwise (a LIB but no record) Online.

The record — (time, mode) — is written every ``consensus.state_recording_interval`` seconds, on a mode switch
and on a clean stop (storage/blocks.py, ``record_activity``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Mode = Literal["Bootstrapping", "Online"]
MODES: tuple[Mode, ...] = ("Bootstrapping", "Online")


@dataclass(frozen=True)
class LastActivity:
    at: float  # unix seconds
    mode: Mode


def start_mode(*, lib_is_genesis: bool, force_bootstrap: bool, offline_grace_period: float,
               last: LastActivity | None, now: float) -> Mode:
    if lib_is_genesis or force_bootstrap:
        return "Bootstrapping"
    if last is None:
        return "Online"
    offline_for = now - last.at
    if offline_for < 0 or offline_for > offline_grace_period:
        return "Bootstrapping"
    return last.mode
