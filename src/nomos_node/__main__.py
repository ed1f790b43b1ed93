"""`python -m nomos_node CONFIG.yaml` runs a node (role from the config)."""

from nomos_node.cli import main_validator

main_validator()
