"""The adapter of the project's own reference node (`nomos-node`, `nomos-executor`; src/nomos_node)."""
