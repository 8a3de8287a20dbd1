"""Ground truth from the Sim oracle and tie-tolerant recall, as ann-benchmarks counts it.

A returned id is a hit when its true score is within the tolerance of the true k-th best
score, so an engine that picks a different one of several tied records is not charged a miss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.bench.data import Dataset
from umi_dst.contract import DEFAULT_SCORE_ATOL, SearchResult


@dataclass(frozen=True)
class GroundTruth:
    """The Sim loaded with one data set, and each query's true k-th best score."""

    oracle: SimVectorBackend
    k: int
    kth_scores: np.ndarray

    @classmethod
    def of(cls, dataset: Dataset, k: int = 10) -> GroundTruth:
        oracle = SimVectorBackend(dataset.dim)
        oracle.store_batch(dataset.items())
        k = min(k, dataset.n)
        kth = [oracle.search(query, k)[-1].score for query in dataset.queries]
        return cls(oracle, k, np.array(kth))

    def true_score(self, query: np.ndarray, id: str) -> float | None:
        """Float64 cosine of ``query`` and the stored record, or None if ``id`` is not stored."""
        stored = self.oracle.get(id)
        if stored is None:
            return None
        a, b = stored.astype(np.float64), query.astype(np.float64)
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    def recall(
        self, index: int, query: np.ndarray, results: Sequence[SearchResult], atol: float = DEFAULT_SCORE_ATOL
    ) -> float:
        """Recall@k of one query's results (query ``index`` of the data set); a repeated id counts once."""
        floor = self.kth_scores[index] - atol
        hits = 0
        for id in dict.fromkeys(result.id for result in results[: self.k]):
            score = self.true_score(query, id)
            hits += score is not None and score >= floor
        return hits / self.k

    def mean_recall(self, queries: np.ndarray, results: Sequence[Sequence[SearchResult]]) -> float:
        """Average recall@k over the data set's queries, given each query's results in order."""
        return float(np.mean([self.recall(i, q, r) for i, (q, r) in enumerate(zip(queries, results))]))
