"""The pure core: events, effects and the state machine that applies them (no I/O)."""
