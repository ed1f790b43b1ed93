"""Python reference node for the Nomos / Logos blockchain (Cryptarchia consensus, gossip, HTTP API)."""
