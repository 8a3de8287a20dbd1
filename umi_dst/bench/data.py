"""Benchmark data: seeded, clustered, normalised vectors and queries drawn near the clusters.

Pure Gaussian noise in high dimension puts every vector at nearly the same angle from every
other, which makes an approximate index look worse (or better) than it is on real embeddings.
Real embeddings cluster, so the bench draws points around random centres and queries around
the same centres, as ann-benchmarks' clustered sets do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SPREAD = 0.6
"""Norm of a point's offset from its (unit) centre before normalising: cosine to the centre ~0.86."""


@dataclass(frozen=True)
class Dataset:
    """``n`` records of dimension ``dim`` and the queries to run against them."""

    seed: int
    ids: list[str]
    vectors: np.ndarray
    """float32, shape ``(n, dim)``, unit norm."""
    queries: np.ndarray
    """float32, shape ``(queries, dim)``, unit norm."""
    clusters: int

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def items(self, start: int = 0, stop: int | None = None) -> list[tuple[str, np.ndarray]]:
        """``(id, embedding)`` pairs for ``store_batch``."""
        stop = self.n if stop is None else stop
        return list(zip(self.ids[start:stop], self.vectors[start:stop]))

    def fresh(self, count: int, tag: str) -> list[tuple[str, np.ndarray]]:
        """``count`` records whose ids are not in the data set, drawn like it (for single writes)."""
        rng = np.random.default_rng([self.seed, 1, count, *tag.encode()])
        vectors = _around(rng, _centres(self.seed, self.clusters, self.dim), count)
        return [(f"{tag}{i:07d}", vector) for i, vector in enumerate(vectors)]


def cluster_count(n: int) -> int:
    """About sqrt(n) clusters of about sqrt(n) points each, at least 2, at most 1,024."""
    return min(1024, max(2, round(math.sqrt(n))))


def clustered(n: int, dim: int, *, queries: int, seed: int = 0) -> Dataset:
    """The data set for one case; the same ``(n, dim, seed)`` always gives the same vectors."""
    clusters = cluster_count(n)
    centres = _centres(seed, clusters, dim)
    vectors = _around(np.random.default_rng([seed, 2, n, dim]), centres, n)
    probes = _around(np.random.default_rng([seed, 3, n, dim]), centres, queries)
    return Dataset(seed, [f"v{i:07d}" for i in range(n)], vectors, probes, clusters)


def _centres(seed: int, clusters: int, dim: int) -> np.ndarray:
    return _normalise(
        np.random.default_rng([seed, 0, clusters, dim]).standard_normal((clusters, dim), dtype=np.float32)
    )


def _around(rng: np.random.Generator, centres: np.ndarray, count: int) -> np.ndarray:
    dim = centres.shape[1]
    which = rng.integers(0, len(centres), size=count)
    offsets = rng.standard_normal((count, dim), dtype=np.float32) * np.float32(SPREAD / math.sqrt(dim))
    return _normalise(centres[which] + offsets)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), dtype=np.float32)
