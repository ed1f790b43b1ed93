"""Machinery every runner shares: owner tokens, the run-state file, the run index, the intended state of each
node and the node-control bookkeeping built on it, and the leftovers check."""
