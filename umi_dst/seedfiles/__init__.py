"""Seed files: their JSON codec, bounds, writing, loading and replay, sequential and parallel."""
