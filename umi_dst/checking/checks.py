"""Oracle checks: free functions named after the property they check (CONTRACT §2, §3).

Each compares what a backend returned with what the Sim oracle knows and raises
``ContractViolation`` with the expected and the actual outcome when they disagree.
"""

from __future__ import annotations

import math

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
            raise ContractViolation(
                f"{what}: expected {short(expected)}, got {short(actual)}", short(expected), short(actual)
            )
        return
    if not isinstance(actual, np.ndarray) or actual.dtype != np.float32 or actual.shape != expected.shape:
        described = f"{type(actual).__name__} {getattr(actual, 'dtype', '')} {getattr(actual, 'shape', '')}"
        raise ContractViolation(f"{what}: expected a float32 array of shape {expected.shape}, got {described}")
    if actual.tobytes() != expected.tobytes():
        index = int(np.flatnonzero(actual.view(np.uint32) != expected.view(np.uint32))[0])
        raise ContractViolation(
            f"{what}: not a bit-exact round trip; value {index} is {actual[index]!r}, stored {expected[index]!r}",
            short(expected),
            short(actual),
        )


def search_results(
    results: object,
    oracle_ids: list[str],
    oracle_scores: np.ndarray,
    limit: int,
    atol: float,
    exact: bool,
) -> float:
    """Check one search against the oracle's scores of every record; return its recall.

    Always: shape, distinct existing ids, scores within ``atol`` of the oracle's cosine,
    reported scores non-increasing, and true scores in order up to ``atol`` (no record ranked
    below one it beats by more than ``atol``). In exact mode the set must also be a valid
    top-``limit``: no record left out beats the weakest returned one by more than ``atol``.
    The recall is the share of the returned records that some valid top-``limit`` holds
    together (see ``_valid_overlap``), so an exact-valid answer has recall 1.
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
    weakest: tuple[float, str] | None = None
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
        if weakest is not None and true_score[id] > weakest[0] + atol:
            raise ContractViolation(
                f"search ranks {id!r} (cosine {true_score[id]:.6f}) at rank {rank}, below {weakest[1]!r} "
                f"(cosine {weakest[0]:.6f}), which it beats by more than {atol:g}",
                None,
                returned,
            )
        weakest = min(weakest or (math.inf, ""), (true_score[id], id))
    if wanted == 0:
        return 1.0
    if exact:
        _full_top_k(true_score, seen, weakest, atol)
    return _valid_overlap([true_score[id] for id, _ in returned], oracle_scores, wanted, atol) / wanted


def _full_top_k(true_score: dict[str, float], returned: set[str], weakest: tuple[float, str], atol: float) -> None:
    """No record left out may beat the weakest returned one by more than ``atol``."""
    left_out = [(score, id) for id, score in true_score.items() if id not in returned]
    if not left_out:
        return
    best_left_out = max(left_out)
    if best_left_out[0] > weakest[0] + atol:
        raise ContractViolation(
            f"search is not a valid top-{len(returned)}: it returned {weakest[1]!r} (cosine {weakest[0]:.6f}) but left "
            f"out {best_left_out[1]!r} (cosine {best_left_out[0]:.6f}), more than {atol:g} better",
            [best_left_out[1]],
            [weakest[1]],
        )


def _valid_overlap(returned_scores: list[float], all_scores: np.ndarray, k: int, atol: float) -> int:
    """How many returned records one valid top-``k`` can hold together.

    A record is *required* when fewer than ``k`` other records come within ``atol`` of it:
    every valid top-``k`` holds it. The rest of a valid answer is drawn from records within
    ``atol`` of the true k-th best score. So the overlap is the required records returned
    plus the other candidates returned, capped by the places left after the required ones.
    """
    ordered = np.sort(all_scores)
    kth = float(ordered[len(ordered) - k])
    # records scoring at least (score - atol), the record itself included
    required_everywhere = len(ordered) - np.searchsorted(ordered, ordered - atol, side="left") <= k
    places = k - int(required_everywhere.sum())
    mine = np.asarray(returned_scores)
    mine_required = len(ordered) - np.searchsorted(ordered, mine - atol, side="left") <= k
    candidates = int(((mine >= kth - atol) & ~mine_required).sum())
    return int(mine_required.sum()) + min(places, candidates)


def recall_floor(what: str, recalls: list[float], floor: float) -> None:
    """Mean recall@limit over a battery of queries must meet the declared floor."""
    mean = sum(recalls) / len(recalls)
    if mean < floor:
        raise ContractViolation(
            f"mean recall@limit over {len(recalls)} {what} is {mean:.3f}, below the declared floor {floor}",
            floor,
            round(mean, 4),
        )


def ulps_apart(a: Embedding, b: Embedding) -> np.ndarray:
    """Per component, how many float32 steps separate ``a`` from ``b`` (0 where bit-equal)."""
    return np.abs(_ordered_bits(a) - _ordered_bits(b))


def _ordered_bits(vector: Embedding) -> np.ndarray:
    """float32 bit patterns as integers in the order of the values (-0.0 and 0.0 both 0)."""
    bits = vector.view(np.int32).astype(np.int64)
    return np.where(bits < 0, -(2**31) - bits, bits)


def describe_vector_difference(actual: Embedding | None, candidate: Embedding | None) -> str:
    """How far a read-back vector is from one candidate state, for indeterminate-write messages."""
    if candidate is None or actual is None:
        return "absent" if candidate is None else "present"
    if not isinstance(actual, np.ndarray) or actual.shape != candidate.shape or actual.dtype != np.float32:
        return f"not comparable ({type(actual).__name__})"
    ulps = ulps_apart(actual, candidate)
    differing = int(np.count_nonzero(ulps))
    if not differing:
        return "bit-identical"
    return f"{differing} of {ulps.size} components differ, by up to {int(ulps.max())} ulps"


def short(value: object) -> object:
    """A vector as a short list for messages and seed files."""
    if isinstance(value, np.ndarray):
        shown = value.ravel()[:8].tolist()
        return shown + ["..."] if value.size > 8 else shown
    return value
