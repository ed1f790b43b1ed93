"""Node control per runner (DESIGN §2): restart, stop, start, kill."""
