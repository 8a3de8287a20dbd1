"""Shards: deterministic slices of a campaign (backend x sub-seed x share of the budget).

A campaign of ``examples`` test cases per backend under seed ``seed`` is cut into shards; shard
``i`` of ``n`` for a backend runs ``share(examples, n, i)`` test cases under the Hypothesis seed
``sub_seed(seed, backend, i)``. The cut depends only on those numbers, never on how many
processes, CI jobs or cluster workers run the shards, so any way of spreading them runs the
same cases (the same seeds, the same verdicts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    """One independent unit of a campaign: a backend, a Hypothesis seed and a number of cases."""

    backend: str
    index: int
    count: int
    """How many shards the backend's budget was cut into."""
    seed: int
    examples: int


def sub_seed(seed: int, backend: str, index: int) -> int:
    """A 64-bit Hypothesis seed for one shard, the same on every machine and Python."""
    digest = hashlib.sha256(f"umi-dst/{seed}/{backend}/{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def share(total: int, parts: int, index: int) -> int:
    """Index ``index``'s part of ``total`` cut into ``parts`` near-equal parts."""
    return total // parts + (1 if index < total % parts else 0)


def plan(backends: Sequence[str], *, examples: int, shards_per_backend: int, seed: int) -> list[Shard]:
    """Every shard of a campaign, backend by backend; shards with no test case are left out."""
    return [
        Shard(
            backend,
            index,
            shards_per_backend,
            sub_seed(seed, backend, index),
            share(examples, shards_per_backend, index),
        )
        for backend in backends
        for index in range(shards_per_backend)
        if share(examples, shards_per_backend, index) > 0
    ]


def slice_of(shards: Sequence[Shard], k: int, n: int) -> list[Shard]:
    """The ``k``-th (1-based) of ``n`` deterministic slices, for ``--shard K/N``: every n-th shard."""
    if not 1 <= k <= n:
        raise ValueError(f"shard {k}/{n}: K must be between 1 and N")
    return list(shards[k - 1 :: n])
