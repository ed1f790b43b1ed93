"""The UTXO ledger: notes, transactions and their validation, and the per-block state that follows fork choice."""

from nomos_node.ledger.notes import Note, genesis_stake_transaction, genesis_transaction, note_id
from nomos_node.ledger.state import BlockDiff, ChannelState, Ledger, LedgerError, LedgerMove, StateView
from nomos_node.ledger.transaction import ChannelOp, Transaction, TxError, TxReason, parse_transaction

__all__ = [
           "BlockDiff",
           "ChannelOp",
           "ChannelState",
           "Ledger",
           "LedgerError",
           "LedgerMove",
           "Note",
           "StateView",
           "Transaction",
           "TxError",
           "TxReason",
           "genesis_stake_transaction",
           "genesis_transaction",
           "note_id",
           "parse_transaction",
]
