"""Oracle checks of the filter capability (CONTRACT §8): metadata round trips and filtered search.

A filtered search is judged as a search over the matching records only, so the rules of §3
(count, ties, order, exact top-k) apply unchanged; a result the filter excludes and an
under-return are named as such first, since they are the known failure modes of engines.
"""

from __future__ import annotations

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.checking import checks
from umi_dst.checking.checks import ContractViolation
from umi_dst.contract import Embedding
from umi_dst.metadata import Metadata


def metadata_equal(what: str, actual: object, expected: Metadata | None) -> None:
    """The same keys, and each value of the same type and value (``1`` is not ``1.0`` nor ``True``)."""
    if expected is None or actual is None:
        if actual is not expected:
            raise ContractViolation(f"{what}: expected {expected!r}, got {actual!r}", expected, actual)
        return
    if not isinstance(actual, dict):
        raise ContractViolation(f"{what}: expected a dict, got {type(actual).__name__}", expected, actual)
    if set(actual) != set(expected):
        missing, extra = sorted(set(expected) - set(actual)), sorted(set(actual) - set(expected))
        raise ContractViolation(f"{what}: keys differ; missing {missing}, unexpected {extra}", expected, actual)
    for key, value in expected.items():
        got = actual[key]
        if type(got) is not type(value) or got != value:
            raise ContractViolation(
                f"{what}: key {key!r} holds {type(got).__name__} {got!r}, stored {type(value).__name__} {value!r}",
                expected,
                actual,
            )


def filtered_search(
    results: object,
    oracle: SimVectorBackend,
    query: Embedding,
    filter: dict,
    limit: int,
    atol: float,
    exact: bool,
) -> tuple[float, int]:
    """Check one filtered search; return its recall and how many records matched."""
    ids, scores = oracle.scores(query)
    selected = oracle.matching(filter)
    matching_ids = [ids[slot] for slot in selected]
    allowed = set(matching_ids)
    if isinstance(results, list):
        stored = set(ids)
        for rank, result in enumerate(results):
            id = getattr(result, "id", None)
            if id in stored and id not in allowed:
                raise ContractViolation(
                    f"filtered search returned {id!r} at rank {rank}, which the filter {filter!r} excludes "
                    f"(its metadata is {oracle.get_metadata(id)!r})",
                    None,
                    [getattr(r, "id", None) for r in results],
                )
        wanted = min(limit, len(matching_ids))
        if len(results) < wanted:
            raise ContractViolation(
                f"filtered search under-returned: {len(results)} results, but {len(matching_ids)} records match "
                f"{filter!r}, so min(limit={limit}, matching={len(matching_ids)}) = {wanted} are due",
                wanted,
                [getattr(r, "id", None) for r in results],
            )
    recall = checks.search_results(results, matching_ids, scores[selected], limit, atol, exact)
    return recall, len(matching_ids)
