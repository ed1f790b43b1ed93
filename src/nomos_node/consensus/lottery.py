"""Leader lottery: a key with stake v wins a slot when ticket < 2^256 · φ(f, v/total_stake)."""

from __future__ import annotations

import functools
from decimal import Decimal, localcontext

TICKET_SPACE = 1 << 256


def phi(active_slot_coeff: float, relative_stake: Decimal | float) -> Decimal:
    """φ(f, α) = 1 − (1 − f)^α, computed with 80 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 80
        f = Decimal(repr(active_slot_coeff))
        alpha = Decimal(relative_stake) if not isinstance(relative_stake, Decimal) else relative_stake
        return 1 - ((1 - f).ln() * alpha).exp()


@functools.lru_cache(maxsize=1024)
def win_threshold(active_slot_coeff: float, stake: int, total_stake: int) -> int:
    if not 0 < stake <= total_stake:
        raise ValueError(f"stake must be in (0, total_stake={total_stake}], got {stake}")
    with localcontext() as ctx:
        ctx.prec = 80
        probability = phi(active_slot_coeff, Decimal(stake) / Decimal(total_stake))
        return int(probability * TICKET_SPACE)


def ticket_value(vrf_output: bytes) -> int:
    return int.from_bytes(vrf_output, "big")


def wins(vrf_output: bytes, stake: int, total_stake: int, active_slot_coeff: float) -> bool:
    return ticket_value(vrf_output) < win_threshold(active_slot_coeff, stake, total_stake)
