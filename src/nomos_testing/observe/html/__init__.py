"""The HTML report (`report.html`): a self-contained page per run directory (docs/report.md)."""
