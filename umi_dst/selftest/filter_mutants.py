"""Planted filter bugs: the Sim with one bug each of the kinds real stores shipped (issue 25).

Each factory declares ``filters = True``, so the machine generates metadata and filters for it;
``umi_dst.selftest.filter_mutants:<name>`` is a backend spec, like ``umi_dst.selftest.mutants``.
"""

from __future__ import annotations

from pathlib import Path

from umi_dst.backends.sim import SimFactory, SimVectorBackend
from umi_dst.contract import MAX_LIMIT, Embedding, InjectedFault, SearchResult
from umi_dst.filters import matches, parse_filter
from umi_dst.metadata import Metadata
from umi_dst.selftest.mutants import _SetsFlagDuringWrite
from umi_dst.validation import validate_limit


class MetadataMergedOnUpsert(SimVectorBackend):
    """An upsert merges the new metadata into the old instead of replacing it (a JSON ``||`` update)."""

    def _store_metadata(self, id: str, metadata: Metadata) -> None:
        super()._store_metadata(id, {**self._metadata.get(id, {}), **metadata})


class IntStoredAsFloat(SimVectorBackend):
    """Ints are kept as float64, as a JSON parser or a DOUBLE column does: 1 comes back 1.0."""

    def _store_metadata(self, id: str, metadata: Metadata) -> None:
        widened = {k: float(v) if type(v) is int else v for k, v in metadata.items()}
        super()._store_metadata(id, widened)


class MetadataLostOnReopen(SimVectorBackend):
    """Metadata lives in a cache the store never persists: a fresh connection sees none."""


class _ForgetfulFactory(SimFactory):
    def open(self) -> SimVectorBackend:
        store = self._store
        if store is not None:
            store._metadata = {id: {} for id in store._metadata}
        return super().open()


class FilterAfterLimit(SimVectorBackend):
    """Takes the top ``limit`` of all records, then drops the ones the filter excludes (lancedb #511)."""

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        best = super().search(query, limit)
        if filter is None:
            return best
        node = parse_filter(filter)
        return [r for r in best if matches(node, self._metadata.get(r.id, {}))]


class DeleteWhereHalfApplied(SimVectorBackend):
    """Under a crash, ``delete_where`` has deleted the first half of the matches, not all or none."""

    crashing = False

    def delete_where(self, filter: dict) -> int:
        if not self.crashing:
            return super().delete_where(filter)
        node = parse_filter(filter)
        doomed = [id for id in self._ids if matches(node, self._metadata.get(id, {}))]
        for id in doomed[: (len(doomed) + 1) // 2]:
            self._remove(id)
        raise InjectedFault("crashed in the middle of delete_where")


class SelectiveFilterPaddedFromCandidates(SimVectorBackend):
    """An approximate index that filters after its scan: it keeps the matches among the best
    ``CANDIDATES`` times ``limit`` records of the whole store and, so as never to under-return,
    tops them up with the first other matches in storage order. Right while the filter keeps
    a large share of the store; a selective filter gets mostly arbitrary matches (what padding
    does to pgvector's post-filtered HNSW scan, #259). Every answer matches, is ordered and is
    complete: only filtered recall shows it."""

    CANDIDATES = 4

    def search(self, query: Embedding, limit: int, filter: dict | None = None) -> list[SearchResult]:
        if filter is None:
            return super().search(query, limit)
        limit, node = validate_limit(limit), parse_filter(filter)
        scanned = super().search(query, min(MAX_LIMIT, self.CANDIDATES * limit))
        found = [r.id for r in scanned if matches(node, self._metadata.get(r.id, {}))][:limit]
        padding = [id for id in self._ids if id not in found and matches(node, self._metadata.get(id, {}))]
        ids, scores = self.scores(query)
        score = dict(zip(ids, scores.tolist()))
        chosen = found + padding[: limit - len(found)]
        return sorted((SearchResult(id, score[id]) for id in chosen), key=lambda r: (-r.score, r.id))


FILTER_MUTANTS: dict[str, type[SimVectorBackend]] = {
    "metadata_merged_on_upsert": MetadataMergedOnUpsert,
    "metadata_lost_on_reopen": MetadataLostOnReopen,
    "int_stored_as_float": IntStoredAsFloat,
    "delete_where_half_applied": DeleteWhereHalfApplied,
    "filter_after_limit": FilterAfterLimit,
    "selective_filter_padded_from_candidates": SelectiveFilterPaddedFromCandidates,
}

DECLARED: dict[str, dict[str, object]] = {
    "selective_filter_padded_from_candidates": {"approximate": True, "recall_floor": 0.9},
}
"""What a mutant's factory declares, where it differs from the Sim's."""


def _builder(name: str, backend_class: type[SimVectorBackend]):
    factory_class = _ForgetfulFactory if backend_class is MetadataLostOnReopen else SimFactory

    def build(workdir: Path, dim: int) -> SimFactory:
        nemeses = {"crash_during_write": _SetsFlagDuringWrite("crash_during_write", "crashing")}
        declared = DECLARED.get(name, {})
        return factory_class(
            dim=dim, name=f"mutant:{name}", backend_class=backend_class, nemeses=nemeses, filters=True, **declared
        )

    build.__name__ = name
    return build


globals().update({name: _builder(name, cls) for name, cls in FILTER_MUTANTS.items()})
control = _builder("control", SimVectorBackend)
"""The correct Sim under the same nemesis, to show a seed fails only on the bug."""
