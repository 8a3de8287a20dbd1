"""Planted-bug backends: the Sim with one realistic bug each, to prove the machine finds bugs.

Every mutant is a bug that real vector stores have shipped. ``MUTANTS`` maps a name to its
backend class; each name is also a module attribute holding its builder, so
``umi_dst.selftest.mutants:<name>`` is a backend spec for ``umi-dst run``, ``replay`` and pytest.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from umi_dst.backends.sim import SimFactory, SimVectorBackend
from umi_dst.contract import DEFAULT_SCORE_ATOL, MAX_LIMIT, Embedding, Nemesis, SearchResult, WriteCall
from umi_dst.validation import last_wins, validate_batch, validate_id, validate_limit


class UpsertAppendsDuplicate(SimVectorBackend):
    """Storing an existing id appends a second record instead of replacing the first."""

    def _put_many(self, ids: list[str], vectors: np.ndarray) -> None:
        for id in ids:
            if id in self._slot:  # forget the old slot: it stays behind as a duplicate row
                self._ids.append(id)
                self._reserve(len(self._ids))
                self._slot[id] = len(self._ids) - 1
        super()._put_many(ids, vectors)


class ScoreIsDistance(SimVectorBackend):
    """Reports cosine distance (1 - similarity) as the score, as L2-minded engines do."""

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return [SearchResult(r.id, 1.0 - r.score) for r in super().search(query, limit)]


class ScoreRescaled(SimVectorBackend):
    """Rescales the cosine from [-1, 1] to [0, 1]."""

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return [SearchResult(r.id, (r.score + 1.0) / 2.0) for r in super().search(query, limit)]


class UpsertLeavesNormUncomputed(SimVectorBackend):
    """Divides each score by a cached norm, and an overwrite marks the record's entry "to be
    computed" (NaN) that nothing computes: a record stored over an existing one scores NaN.
    Ranking uses the right scores."""

    def __init__(self, dim: int, fault_plan=None) -> None:
        super().__init__(dim, fault_plan)
        self._uncomputed: set[str] = set()

    def _put_many(self, ids: list[str], vectors: np.ndarray) -> None:
        self._uncomputed.update(id for id in ids if id in self._slot)
        super()._put_many(ids, vectors)

    def _remove(self, id: str) -> bool:
        self._uncomputed.discard(id)
        return super()._remove(id)

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return [
            SearchResult(r.id, math.nan if r.id in self._uncomputed else r.score) for r in super().search(query, limit)
        ]


class LimitOffByOne(SimVectorBackend):
    """Returns one result more than asked for."""

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return super().search(query, min(limit + 1, MAX_LIMIT))


class SkipsLastRecordInScan(SimVectorBackend):
    """The scan stops one row short, so the most recently placed record is never found."""

    def scores(self, query: Embedding) -> tuple[list[str], np.ndarray]:
        ids, scores = super().scores(query)
        return ids[:-1], scores[:-1]


class DeleteLeavesRecordInSearch(SimVectorBackend):
    """A deleted record disappears from get/count but its vector stays in the search index."""

    def __init__(self, dim: int, fault_plan=None) -> None:
        super().__init__(dim, fault_plan)
        self._ghosts: dict[str, Embedding] = {}

    def _remove(self, id: str) -> bool:
        vector = self.get(id)
        removed = super()._remove(id)
        if removed:
            self._ghosts[id] = vector
        return removed

    def _put_many(self, ids: list[str], vectors: np.ndarray) -> None:
        for id in ids:
            self._ghosts.pop(id, None)
        super()._put_many(ids, vectors)

    def scores(self, query: Embedding) -> tuple[list[str], np.ndarray]:
        ids, scores = super().scores(query)
        if not self._ghosts:
            return ids, scores
        ghosts = np.array([v / np.linalg.norm(v.astype(np.float64)) for v in self._ghosts.values()])
        q = query.astype(np.float64) / np.linalg.norm(query.astype(np.float64))
        return ids + list(self._ghosts), np.concatenate([scores, ghosts @ q])


class NonAtomicBatch(SimVectorBackend):
    """Applies a batch item by item, so an invalid item leaves the earlier ones stored."""

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        validate_batch(items[:0] if isinstance(items, Sequence) else items, self.dim)
        for item in items:
            self.store(*validate_batch([item], self.dim)[0])


class FirstWinsInBatch(SimVectorBackend):
    """For an id repeated inside a batch, keeps the first embedding instead of the last."""

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = validate_batch(items, self.dim)
        first: dict[str, Embedding] = {}
        for id, vector in checked:
            first.setdefault(id, vector)
        super().store_batch(list(first.items()))


class _SkipsOneEmbeddingCheck(SimVectorBackend):
    """Base for stores whose embedding validation misses one kind of bad vector.

    A vector of the right shape that ``slips_through`` is accepted by every entry point that
    takes a vector: ``store``, each item of ``store_batch``, and the ``search`` query.
    """

    def slips_through(self, vector: np.ndarray) -> bool:
        raise NotImplementedError

    def _slipped(self, embedding: object) -> np.ndarray | None:
        with np.errstate(all="ignore"):
            try:
                vector = np.asarray(embedding, dtype=np.float32)
            except (TypeError, ValueError):
                return None
        return vector if vector.shape == (self.dim,) and self.slips_through(vector) else None

    def store(self, id: str, embedding: Embedding) -> None:
        vector = self._slipped(embedding)
        if vector is None:
            return super().store(id, embedding)
        with np.errstate(all="ignore"):  # its unit vector is NaN: the bug, not the harness's
            self._put(validate_id(id), vector)

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        if isinstance(items, Sequence) and any(
            isinstance(item, tuple) and len(item) == 2 and self._slipped(item[1]) is not None for item in items
        ):
            for id, embedding in items:
                self.store(id, embedding)
            return
        super().store_batch(items)

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        if self._slipped(query) is None:
            return super().search(query, limit)
        return []


class AcceptsNonFinite(_SkipsOneEmbeddingCheck):
    """Lets NaN and infinite values through validation."""

    def slips_through(self, vector: np.ndarray) -> bool:
        return not np.isfinite(vector).all()


class AcceptsZeroVector(_SkipsOneEmbeddingCheck):
    """Accepts an all-zero embedding, whose cosine is undefined."""

    def slips_through(self, vector: np.ndarray) -> bool:
        return not vector.any()


class Float16Storage(SimVectorBackend):
    """Stores vectors in half precision, so get is no longer a bit-exact round trip."""

    def _put_many(self, ids: list[str], vectors: np.ndarray) -> None:
        super()._put_many(ids, vectors.astype(np.float16).astype(np.float32))


class GetReturnsNormalised(SimVectorBackend):
    """Returns the unit vector it searches with instead of the stored embedding."""

    def get(self, id: str) -> Embedding | None:
        slot = self._slot.get(validate_id(id))
        return None if slot is None else self._unit[slot].astype(np.float32)


class DeleteAlwaysTrue(SimVectorBackend):
    """Reports every delete as successful, even of a missing id."""

    def delete(self, id: str) -> bool:
        super().delete(id)
        return True


class _MangledIds(SimVectorBackend):
    """Base for stores that compare ids after rewriting them."""

    def mangle(self, id: str) -> str:
        raise NotImplementedError

    def store(self, id: str, embedding: Embedding) -> None:
        super().store(self.mangle(validate_id(id)), embedding)

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        super().store_batch([(self.mangle(id), v) for id, v in validate_batch(items, self.dim)])

    def get(self, id: str) -> Embedding | None:
        return super().get(self.mangle(validate_id(id)))

    def exists(self, id: str) -> bool:
        return super().exists(self.mangle(validate_id(id)))

    def delete(self, id: str) -> bool:
        return super().delete(self.mangle(validate_id(id)))


class StripsIds(_MangledIds):
    """Strips leading and trailing spaces from ids (as a CHAR column or a form handler does)."""

    def mangle(self, id: str) -> str:
        return id.strip() or id


class LowercasesIds(_MangledIds):
    """Compares ids case-insensitively (a case-insensitive collation)."""

    def mangle(self, id: str) -> str:
        return id.lower()


class TruncatesIdsAt64(_MangledIds):
    """Truncates ids to 64 characters (a VARCHAR(64) column in a lenient database)."""

    def mangle(self, id: str) -> str:
        return id[:64]


class UnderscoreWildcardDelete(SimVectorBackend):
    """Deletes with ``LIKE id`` unescaped, so ``_`` and ``%`` match other ids too."""

    def delete(self, id: str) -> bool:
        pattern = re.compile(
            "".join("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in validate_id(id)), re.S
        )
        matches = [stored for stored in list(self._ids) if pattern.fullmatch(stored)]
        for stored in matches:
            super().delete(stored)
        return bool(matches)


class LosesLastWriteOnReopen(SimVectorBackend):
    """Buffers the latest store and drops it when the connection is reopened."""

    unflushed: str | None = None

    def _put_many(self, ids: list[str], vectors: np.ndarray) -> None:
        super()._put_many(ids, vectors)
        self.unflushed = ids[-1]


class _LossyFactory(SimFactory):
    def open(self) -> SimVectorBackend:
        store = self._store
        if store is not None and store.unflushed is not None:
            store._remove(store.unflushed)
            store.unflushed = None
        return super().open()


class TiesAtCutOffDropBest(SimVectorBackend):
    """Takes the last ``limit`` of the candidates at or above the k-th score instead of the
    first: when records tie at the cut-off, the best records are the ones left out."""

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        everything = super().search(query, MAX_LIMIT)
        kth = everything[min(limit, len(everything)) - 1].score if everything else 0.0
        candidates = [r for r in everything if r.score >= kth]
        return candidates[-min(limit, len(everything)) :] if everything else []


class CloseRaises(SimVectorBackend):
    """``close()`` always raises, though nothing went wrong."""

    def close(self) -> None:
        raise OSError("close failed: connection already in use")


class SearchReturnsFarthest(SimVectorBackend):
    """An index that walks its graph the wrong way: search returns the ``limit`` least similar records."""

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        ranked = super().search(query, MAX_LIMIT)
        return ranked[len(ranked) - min(limit, len(ranked)) :]


class LargeBatchLosesLastItem(SimVectorBackend):
    """A crash during a batch of more than 64 distinct ids loses its last one (a torn final
    page): the rest lands and the write reports failure. When the lost item was an update,
    ``count()`` does not move; only reading back every id the batch touched shows it."""

    crashing = False

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = last_wins(validate_batch(items, self.dim))
        if self.crashing and len(checked) > 64:
            super().store_batch(checked[:-1])
            raise ConnectionError("server crashed while the batch was committing")
        super().store_batch(checked)


class StaleUpsertInLargeStore(SimVectorBackend):
    """Once the store holds more than 256 records, a batch keeps the old vector of an id it
    updates (a bulk path that inserts with ON CONFLICT DO NOTHING): ``count()`` never moves,
    and only comparing every record, not a sample, finds the stale one."""

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = validate_batch(items, self.dim)
        if len(self._ids) > 256:
            checked = [(id, vector) for id, vector in checked if id not in self._slot]
        super().store_batch(checked)


class QuantisedScoresInvertNearTies(SimVectorBackend):
    """A quantised index: each record's score is off by 0.95 of the tolerance, up or down
    (fixed per record), and results are ranked by these scores. Every reported score is
    within the tolerance and in order, yet two records less than two tolerances apart can
    come back inverted."""

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        biased = [SearchResult(r.id, r.score + _quantisation_error(r.id)) for r in super().search(query, MAX_LIMIT)]
        biased.sort(key=lambda r: (-r.score, r.id))
        return biased[: validate_limit(limit)]


def _quantisation_error(id: str) -> float:
    sign = 1.0 if hashlib.blake2b(id.encode(), digest_size=1).digest()[0] & 1 else -1.0
    return sign * 0.95 * DEFAULT_SCORE_ATOL


class DeleteReportsRetry(SimVectorBackend):
    """When the acknowledgement of a delete is lost, the client retries it and reports the
    retry's answer (False: the first attempt had already deleted the record)."""

    ack_lost = False

    def delete(self, id: str) -> bool:
        existed = super().delete(id)
        return super().delete(id) if self.ack_lost else existed


MUTANTS: dict[str, type[SimVectorBackend]] = {
    "upsert_appends_duplicate": UpsertAppendsDuplicate,
    "score_is_distance": ScoreIsDistance,
    "score_rescaled": ScoreRescaled,
    "upsert_leaves_norm_uncomputed": UpsertLeavesNormUncomputed,
    "limit_off_by_one": LimitOffByOne,
    "skips_last_record_in_scan": SkipsLastRecordInScan,
    "delete_leaves_record_in_search": DeleteLeavesRecordInSearch,
    "non_atomic_batch": NonAtomicBatch,
    "first_wins_in_batch": FirstWinsInBatch,
    "accepts_non_finite": AcceptsNonFinite,
    "accepts_zero_vector": AcceptsZeroVector,
    "float16_storage": Float16Storage,
    "get_returns_normalised": GetReturnsNormalised,
    "delete_always_true": DeleteAlwaysTrue,
    "strips_ids": StripsIds,
    "lowercases_ids": LowercasesIds,
    "truncates_ids_at_64": TruncatesIdsAt64,
    "underscore_wildcard_delete": UnderscoreWildcardDelete,
    "loses_last_write_on_reopen": LosesLastWriteOnReopen,
    "ties_at_cut_off_drop_best": TiesAtCutOffDropBest,
    "close_raises": CloseRaises,
    "delete_reports_retry": DeleteReportsRetry,
    "search_returns_farthest": SearchReturnsFarthest,
    "large_batch_loses_last_item": LargeBatchLosesLastItem,
    "stale_upsert_in_large_store": StaleUpsertInLargeStore,
    "quantised_scores_invert_near_ties": QuantisedScoresInvertNearTies,
}


@dataclass
class _SetsFlagDuringWrite:
    """A nemesis that sets a flag on the backend while the write runs in this process."""

    name: str
    flag: str

    def disturb(self, backend: SimVectorBackend, call: WriteCall) -> None:
        setattr(backend, self.flag, True)
        try:
            call.apply(backend)
        finally:
            setattr(backend, self.flag, False)

    def heal(self) -> None:
        """Nothing to undo: the flag is cleared when the write ends."""


NEMESES: dict[str, Callable[[], dict[str, Nemesis]]] = {
    "large_batch_loses_last_item": lambda: {
        "crash_during_write": _SetsFlagDuringWrite("crash_during_write", "crashing")
    },
    "delete_reports_retry": lambda: {"lost_ack": _SetsFlagDuringWrite("lost_ack", "ack_lost")},
}
"""Mutants whose bug shows only under a fault: the nemesis their factory declares."""

DECLARATIONS: dict[str, dict[str, object]] = {
    "search_returns_farthest": {"approximate": True, "recall_floor": 0.9},
}
"""What a mutant's factory declares, where it differs from the Sim's."""

REFUSED: dict[str, tuple[type[SimVectorBackend], dict[str, object]]] = {
    "loose_tolerance_hides_rescaled_scores": (ScoreRescaled, {"score_atol": 1.0}),
    "approximate_without_floor": (SearchReturnsFarthest, {"recall_floor": None, "approximate": True}),
}
"""Mutants whose factory declares what the contract forbids: they must be refused when built."""


def _builder(name: str, backend_class: type[SimVectorBackend], declared: dict[str, object]):
    factory_class = _LossyFactory if backend_class is LosesLastWriteOnReopen else SimFactory

    def build(workdir: Path, dim: int) -> SimFactory:
        nemeses = NEMESES[name]() if name in NEMESES else {}
        return factory_class(dim=dim, name=f"mutant:{name}", backend_class=backend_class, nemeses=nemeses, **declared)

    build.__name__ = name
    return build


globals().update({name: _builder(name, cls, DECLARATIONS.get(name, {})) for name, cls in MUTANTS.items()})
globals().update({name: _builder(name, cls, declared) for name, (cls, declared) in REFUSED.items()})
globals().update({f"control_{name}": _builder(name, SimVectorBackend, {}) for name in NEMESES})
"""``control_<mutant>``: the correct Sim under the same nemesis, to show a seed fails only on the bug."""
