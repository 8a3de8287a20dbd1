"""Checking: one step on backend and oracle, the checks, faults, crash states and the recall battery."""
