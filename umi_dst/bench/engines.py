"""What the bench reads from (and does to) a backend's engine beyond the contract.

The contract says nothing about fragments, versions, index knobs or table sizes; the Lance
and Postgres backends expose them for the bench. This module is the one place that knows
those hooks, so every other bench module stays engine-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def after_load(factory, backend, note: Callable[[str], None]) -> dict:
    """Engine facts right after the bulk load (and after any maintenance the engine needs)."""
    return {}


def after_writes(factory, backend) -> dict:
    """Engine facts after the single writes, updates and deletes."""
    return {}


def disk_mib(factory, backend, workdir: Path) -> float | None:
    """Size of the store as the engine counts it, or None to measure the working directory."""
    return None


def lance_index_params(specs, workdir: Path, dim: int) -> dict | None:
    """``create_index`` arguments of the approximate Lance backend, for the raw baseline."""
    return None


def postgres_hnsw_params(specs, workdir: Path, dim: int) -> dict | None:
    """``WITH (...)`` options of the approximate Postgres backend's HNSW index, for the raw baseline."""
    return None


def with_postgres(workdir: Path, action):
    """Run ``action(conninfo)`` against the server the postgres backends use in this process."""
    from backends.postgres_server import ensure_vector_extension, server

    pg = server()
    with pg.connect(autocommit=True) as connection:
        ensure_vector_extension(connection)
    return action(pg.url)
