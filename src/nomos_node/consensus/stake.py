"""Stake: which ledger notes may lead, and the stake distribution snapshot an epoch's lottery reads.

* **Leader keys** are declared in genesis: each stake note names a signing key (Ed25519, the note's owner) and
  the VRF key (BLS) that key leads with. A key without a declaration can own notes but never lead.
* **Eligibility**: a note leads when it is in the epoch's stake distribution snapshot, is owned by a declared
  leader key, and is still unspent on the branch the block extends (the spec's "commitment in the snapshot,
  nullifier not in the parent's state"). It leads with its own value as stake.
* **Total stake** of a snapshot: the summed value of its eligible notes (the real node sums its genesis notes;
  the spec's inferred total stake is not used: docs/consensus.md "Stake and epochs").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nomos_node.config import GenesisConfig
from nomos_node.ledger import Note


@dataclass(frozen=True)
class LeaderKeys:
    """signing_pk → vrf_pk, from the genesis stake notes (the first declaration of a signing key counts)."""

    vrf_pk_of: Mapping[str, str]

    @classmethod
    def from_genesis(cls, genesis: GenesisConfig) -> LeaderKeys:
        declared: dict[str, str] = {}
        for note in genesis.stake_notes:
            declared.setdefault(note.signing_pk, note.vrf_pk)
        return cls(declared)

    def can_lead(self, owner_pk: str) -> bool:
        return owner_pk in self.vrf_pk_of

    def vrf_pk(self, signing_pk: str) -> str | None:
        return self.vrf_pk_of.get(signing_pk)


@dataclass(frozen=True)
class StakeSnapshot:
    """The eligible notes of the ledger state after ``block_id``, indexed by owner."""

    block_id: str
    notes: Mapping[str, Note]  # note id -> note
    total_stake: int
    _by_owner: Mapping[str, tuple[tuple[str, Note], ...]] = field(repr=False, compare=False)

    @classmethod
    def of(cls, block_id: str, notes: Mapping[str, Note]) -> StakeSnapshot:
        by_owner: dict[str, list[tuple[str, Note]]] = {}
        for nid in sorted(notes):
            by_owner.setdefault(notes[nid].pk, []).append((nid, notes[nid]))
        return cls(block_id, dict(notes), sum(note.value for note in notes.values()),
                   {owner: tuple(owned) for owner, owned in by_owner.items()})

    def note(self, nid: str) -> Note | None:
        return self.notes.get(nid)

    def notes_of(self, owner_pk: str) -> tuple[tuple[str, Note], ...]:
        """(note id, note) of ``owner_pk`` in the snapshot, by note id."""
        return self._by_owner.get(owner_pk, ())
