"""The specification's leader case (`cryptarchia/test_leader.py` of logos-co/nomos-specs) on this node's lottery.

The spec draws `ticket = sha256("LEAD" ‖ epoch nonce ‖ slot ‖ note commitment ‖ sk)` against
`2^256 · φ(f, value / total stake)` and checks the leader rate over N slots, N from the margin-of-error equation
(margin 1e-4, Z = 3: about 460,000 slots at f = 0.05, α = 1 %). This node's ticket is the Blake2b hash of a BLS
VRF proof over (epoch nonce, slot, note id) — 1 ms per evaluation, so the spec's N runs here on the same threshold
(`lottery.wins`) with hashed tickets of the same inputs, and a second case runs the real VRF and `Chain.leadership`
on fewer slots with a 4-sigma bound.
"""

from __future__ import annotations

import math
from decimal import Decimal

from nomos_node.config import parse_genesis
from nomos_node.consensus.lottery import phi, wins
from nomos_node.crypto.hashing import blake2b_256
from tests.node.conftest import genesis_dict, keys_for
from tests.node.spec.stakekit import genesis_note


def test_slot_leader_statistics() -> None:
    """Spec case: test_slot_leader_statistics."""
    epoch_nonce, total_stake, value, f = b"1010101010", 1000, 10, 0.05
    note_id = bytes(32)
    margin_of_error = 1e-4
    p = float(phi(f, Decimal(value) / total_stake))
    std = math.sqrt(p * (1 - p))
    n = int((3 * std / margin_of_error) ** 2)
    won = sum(wins(blake2b_256(b"LEAD", epoch_nonce, slot.to_bytes(8, "big"), note_id), value, total_stake, f)
              for slot in range(n))
    leader_rate = won / n
    assert abs(leader_rate - p) < margin_of_error, f"{leader_rate} != {p} over {n} slots"


def test_slot_leader_statistics_with_the_real_vrf_on_a_chain(kit) -> None:
    """Spec case: test_slot_leader_statistics, on Chain.leadership (real VRF, note of 250 of a snapshot of 1000)."""
    raw = genesis_dict(2, stakes=[250, 750], chain_start_time=0.0, slot_duration=1.0, active_slot_coeff=0.5,
                       security_param=3, epoch=(1, 1, 1))
    raw["wallet_notes"] = []  # conftest's wallets belong to the leader keys: they would lead too
    chain = kit.chain(parse_genesis(raw))
    slots = 1500
    won = 0
    for slot in range(1, slots + 1):
        ticket = chain.leadership(slot, keys_for(0), chain.genesis_id)
        if ticket is not None:
            assert ticket.note_id == genesis_note(chain, 0)
            won += 1
    p = float(phi(0.5, Decimal(250) / 1000))
    sigma = math.sqrt(p * (1 - p) / slots)
    assert abs(won / slots - p) < 4 * sigma, f"rate {won / slots:.4f} vs φ = {p:.4f} (σ = {sigma:.4f})"
