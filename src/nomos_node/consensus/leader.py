"""Leadership: the cheap lottery check yields a ticket; the PoL (unless dev mode) is the expensive part."""

from __future__ import annotations

from dataclasses import dataclass

from nomos_node.consensus.pol import DEFAULT_POL_DIFFICULTY_BITS, solve_pol


@dataclass(frozen=True)
class LeaderTicket:
    """Proof that note ``note_id`` of ``signing_pk`` (VRF key ``vrf_pk``) won ``slot`` on ``parent_id``'s branch."""

    slot: int
    parent_id: str
    parent_height: int
    vrf_pk: str
    signing_pk: str
    note_id: str  # the winning note
    vrf_output: bytes
    vrf_proof: bytes


def prove_leadership(ticket: LeaderTicket, difficulty_bits: int = DEFAULT_POL_DIFFICULTY_BITS) -> str:
    """The expensive proof of leadership (non-dev mode). Pure and picklable: run it in an executor."""
    return solve_pol(ticket.vrf_output, ticket.slot, difficulty_bits)
