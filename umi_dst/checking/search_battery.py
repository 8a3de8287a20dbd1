"""The search battery: a fixed, seeded set of searches over the final state of every test case.

A test case's own searches see the states its steps happened to make; the battery makes sure
the final one, reached through all of the case's writes, faults and reopens, is searched too,
on every backend, exact ones included, and where ties are likeliest. It picks records of the
final state with a seeded generator over the sorted ids and searches by

- each picked record's stored vector (an exact tie with any scaled copy of it),
- its negation,
- a near tie between it and another picked record, the gap half the score tolerance,

each at two limits: the rank where the query's true scores tie (exactly, else within the
tolerance, else closest: ``search_mix.concrete_limit``) and one of the count, 10, 40 or 100.
Every search is checked like a step's: by the full top-k rule on an exact backend. The battery
depends only on the oracle's state, so a replay runs the same searches.
"""

from __future__ import annotations

import numpy as np

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.checking import checks
from umi_dst.contract import Embedding, VectorBackend
from umi_dst.generation.search_mix import LimitChoice, concrete_limit
from umi_dst.recipes import NearTie

RECORDS = 3
"""Records picked per battery; three queries each, two limits per query."""
SEED = 20261207
SECOND_LIMITS = (LimitChoice("count"), LimitChoice("near_10"), LimitChoice("near_40"), LimitChoice("near_100"))


def searches(oracle: SimVectorBackend, atol: float) -> list[tuple[str, Embedding, int]]:
    """``(kind, query, limit)`` of the battery for the oracle's state (none for an empty store)."""
    ids = oracle.ids()
    if not ids:
        return []
    rng = np.random.default_rng(SEED)
    battery = []
    for number in range(RECORDS):
        of, other = ids[rng.integers(len(ids))], ids[rng.integers(len(ids))]
        stored = oracle.get(of)
        queries = {
            "stored": stored,
            "negated": -stored,
            "near_tie": NearTie(of, other, atol / 2).make(oracle.dim, oracle.get),
        }
        for kind, query in queries.items():
            _, scores = oracle.scores(query)
            second = SECOND_LIMITS[(number + len(battery)) % len(SECOND_LIMITS)]
            for choice in (LimitChoice("tie", index=int(rng.integers(16))), second):
                battery.append((kind, query, concrete_limit(choice, scores, atol)))
    return battery


def run(backend: VectorBackend, oracle: SimVectorBackend, atol: float, exact: bool) -> int:
    """Run the battery on ``backend``, checking every search; return how many ran."""
    battery = searches(oracle, atol)
    for kind, query, limit in battery:
        try:
            results = backend.search(query, limit)
        except Exception as exc:
            raise checks.ContractViolation(
                f"search battery: a {kind} query raised {type(exc).__name__}: {exc}"
            ) from exc
        ids, scores = oracle.scores(query)
        try:
            checks.search_results(results, ids, scores, limit, atol, exact=exact)
        except checks.ContractViolation as violation:
            where = f"search battery, {kind} query, limit {limit}: {violation.message}"
            raise checks.ContractViolation(where, violation.expected, violation.actual) from violation
    return len(battery)
