"""Concurrency: parallel programs, their clients, recorded histories and the linearizability checker."""
