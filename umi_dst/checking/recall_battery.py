"""How the recall floor is judged: a fixed, seeded battery of queries at the end of a test case.

A recall floor is a statistical promise, so it is judged on many queries of a stated kind,
not on whichever few searches a test case happened to make. At the end of every test case of
an approximate backend the harness runs the same battery against the final state:

- ``TYPICAL`` queries drawn like real ones: a stored record (picked by a seeded generator from
  the sorted ids) plus Gaussian noise of relative size 0.2 to 1, so the query's nearest
  record has cosine about 0.7 to 0.98 with it. The floor is judged on their mean recall@10;
- ``ADVERSARIAL`` queries, reported apart and not judged: negated stored records and random
  directions, far from every record, where graph indexes are weakest.

Every query is also checked like any search (CONTRACT §3 except the top-k rule). The battery
depends only on the oracle's state, so a replay runs the same queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.checking import checks
from umi_dst.contract import Embedding, InvalidInput, VectorBackend
from umi_dst.validation import validate_embedding

LIMIT = 10
TYPICAL = 32
ADVERSARIAL = 8
SEED = 20261129
NOISE = (0.2, 1.0)
"""Relative size of a typical query's noise: its norm over the stored record's norm."""


@dataclass(frozen=True)
class Query:
    kind: str
    """``near`` (typical), ``negated`` or ``random`` (adversarial)."""
    vector: Embedding


@dataclass(frozen=True)
class RecallReport:
    """Mean recall@limit per kind of query of one battery."""

    typical: list[float]
    adversarial: list[float]

    def summary(self) -> str:
        return (
            f"mean recall@{LIMIT} {_mean(self.typical):.3f} over {len(self.typical)} typical queries; "
            f"{_mean(self.adversarial):.3f} over {len(self.adversarial)} adversarial ones (not judged)"
        )

    def judge(self, floor: float | None) -> None:
        if floor is not None and self.typical:
            checks.recall_floor(
                f"typical queries (adversarial ones, not judged: {_mean(self.adversarial):.3f})", self.typical, floor
            )


def queries(oracle: SimVectorBackend) -> list[Query]:
    """The battery for the oracle's current state (empty for a store of at most ``LIMIT`` records)."""
    ids = oracle.ids()
    if len(ids) <= LIMIT:
        return []  # every search returns every record: the per-step checks already judge that
    rng = np.random.default_rng(SEED)
    battery = []
    for _ in range(TYPICAL):
        battery.append(Query("near", near_query(oracle, ids, rng)))
    for number in range(ADVERSARIAL):
        if number % 2 == 0:
            battery.append(Query("negated", -oracle.get(ids[rng.integers(len(ids))])))
        else:
            battery.append(Query("random", rng.standard_normal(oracle.dim).astype(np.float32)))
    return battery


def near_query(oracle: SimVectorBackend, ids: list[str], rng: np.random.Generator) -> Embedding:
    """A typical query: a stored record picked by ``rng`` from ``ids``, plus noise of relative size ``NOISE``."""
    base = oracle.get(ids[rng.integers(len(ids))]).astype(np.float64)
    noise = rng.standard_normal(oracle.dim) * (rng.uniform(*NOISE) * np.linalg.norm(base) / np.sqrt(oracle.dim))
    return _valid(base + noise, base)


def run(backend: VectorBackend, oracle: SimVectorBackend, atol: float) -> RecallReport:
    """Run the battery on ``backend``; every search is checked, recall is collected per kind."""
    typical: list[float] = []
    adversarial: list[float] = []
    for query in queries(oracle):
        try:
            results = backend.search(query.vector, LIMIT)
        except Exception as exc:
            raise checks.ContractViolation(
                f"search of a recall-battery query raised {type(exc).__name__}: {exc}"
            ) from exc
        ids, scores = oracle.scores(query.vector)
        recall = checks.search_results(results, ids, scores, LIMIT, atol, exact=False)
        (typical if query.kind == "near" else adversarial).append(recall)
    return RecallReport(typical, adversarial)


def _valid(vector: np.ndarray, fallback: np.ndarray) -> Embedding:
    """The query as float32, or the stored record itself if noise broke the contract's bounds."""
    try:
        return validate_embedding(vector, len(vector), "query")
    except InvalidInput:
        return fallback.astype(np.float32)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 1.0
