"""Oracle checks: free functions named after the property they check (CONTRACT §2, §3).

Each compares what a backend returned with what the Sim oracle knows and raises
``ContractViolation`` with the expected and the actual outcome when they disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from umi_dst.contract import Embedding


class ContractViolation(AssertionError):
    """A backend's result broke the contract; carries both sides for the seed file."""

    def __init__(self, message: str, expected: object = None, actual: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual


def equal(what: str, actual: object, expected: object) -> None:
    if actual != expected or type(actual) is not type(expected):
        raise ContractViolation(f"{what}: expected {expected!r}, got {actual!r}", expected, actual)


def bit_exact(what: str, actual: object, expected: Embedding | None) -> None:
    """``get`` must return the stored float32 vector bit for bit, or ``None``."""
    if expected is None or actual is None:
        if actual is not expected:
            raise ContractViolation(f"{what}: expected {_short(expected)}, got {_short(actual)}", _short(expected), _short(actual))
        return
    if not isinstance(actual, np.ndarray) or actual.dtype != np.float32 or actual.shape != expected.shape:
        described = f"{type(actual).__name__} {getattr(actual, 'dtype', '')} {getattr(actual, 'shape', '')}"
        raise ContractViolation(f"{what}: expected a float32 array of shape {expected.shape}, got {described}")
    if actual.tobytes() != expected.tobytes():
        index = int(np.flatnonzero(actual.view(np.uint32) != expected.view(np.uint32))[0])
        raise ContractViolation(
            f"{what}: not a bit-exact round trip; value {index} is {actual[index]!r}, stored {expected[index]!r}",
            _short(expected),
            _short(actual),
        )


@dataclass
class RecallMeter:
    """Average recall@limit over the searches of a run (approximate mode)."""

    total: float = 0.0
    searches: int = 0

    def add(self, recall: float) -> None:
        self.total += recall
        self.searches += 1

    @property
    def mean(self) -> float:
        return self.total / self.searches if self.searches else 1.0


def search_results(
    results: object,
    oracle_ids: list[str],
    oracle_scores: np.ndarray,
    limit: int,
    atol: float,
    exact: bool,
) -> float:
    """Check one search against the oracle's scores of every record; return its recall.

    Shape, distinct existing ids, scores within ``atol`` of the oracle's cosine and
    non-increasing order always hold; in exact mode the set must also be a valid top-``limit``
    under the tie rule (no record left out scores more than ``atol`` above one returned).
    """
    if not isinstance(results, list):
        raise ContractViolation(f"search returned {type(results).__name__}, not a list")
    wanted = min(limit, len(oracle_ids))
    returned = [(getattr(r, "id", None), getattr(r, "score", None)) for r in results]
    if len(results) != wanted:
        raise ContractViolation(
            f"search returned {len(results)} results, expected min(limit={limit}, count={len(oracle_ids)}) = {wanted}",
            wanted,
            returned,
        )
    if not all(isinstance(id, str) and isinstance(score, float) for id, score in returned):
        raise ContractViolation("search results must be SearchResult(id: str, score: float)", None, returned)
    true_score = dict(zip(oracle_ids, oracle_scores.tolist()))
    seen: set[str] = set()
    previous = math.inf
    for rank, (id, score) in enumerate(returned):
        if id in seen:
            raise ContractViolation(f"search returned id {id!r} twice", None, returned)
        seen.add(id)
        if id not in true_score:
            raise ContractViolation(f"search returned id {id!r}, which is not stored", None, returned)
        if not math.isfinite(score) or abs(score - true_score[id]) > atol:
            raise ContractViolation(
                f"search score of {id!r} at rank {rank} is {score!r}, but its cosine similarity is "
                f"{true_score[id]!r} (tolerance {atol:g})",
                true_score[id],
                score,
            )
        if score > previous:
            raise ContractViolation(f"search scores are not in non-increasing order at rank {rank}", None, returned)
        previous = score
    if wanted == 0:
        return 1.0
    kth_best = float(np.partition(oracle_scores, len(oracle_scores) - wanted)[len(oracle_scores) - wanted])
    good_enough = [id for id, _ in returned if true_score[id] >= kth_best - atol]
    if exact and len(good_enough) != wanted:
        missed = min((true_score[id], id) for id, _ in returned)
        better = sorted((s, i) for i, s in true_score.items() if i not in seen)[-1]
        raise ContractViolation(
            f"search is not a valid top-{wanted}: it returned {missed[1]!r} (cosine {missed[0]:.6f}) but left out "
            f"{better[1]!r} (cosine {better[0]:.6f}), more than {atol:g} better",
            [better[1]],
            [missed[1]],
        )
    return len(good_enough) / wanted


def recall_floor(meter: RecallMeter, floor: float | None) -> None:
    if floor is not None and meter.searches and meter.mean < floor:
        raise ContractViolation(
            f"mean recall@limit over {meter.searches} searches is {meter.mean:.3f}, below the declared floor {floor}",
            floor,
            round(meter.mean, 4),
        )


def _short(value: object) -> object:
    """A vector as a short list for messages and seed files."""
    if isinstance(value, np.ndarray):
        shown = value.ravel()[:8].tolist()
        return shown + ["..."] if value.size > 8 else shown
    return value
