"""How the harness runs and checks the filter operations (docs/filters.md, CONTRACT §8).

Kept apart from ``umi_dst.checking.harness`` so the capability is one module: the harness hands over the
filter operations, the read-back of a failed write of a backend that declares filters (old and
new states then differ in metadata too, so vectors alone cannot tell them apart), and the final
comparison of every record's metadata on a fresh connection.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Protocol

from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.filter_checks import filtered_search, metadata_equal
from umi_dst.contract import MetadataScan, WriteCall
from umi_dst.filter_ops import DeleteWhere, FilteredSearch, GetMetadata, StoreBatchTagged, StoreTagged, from_text
from umi_dst.filters import matches, parse_filter

if TYPE_CHECKING:
    from umi_dst.backends.sim import SimVectorBackend


class Harness(Protocol):
    """What these steps use of ``umi_dst.checking.harness.Harness``, which calls them (named
    here, not imported, so the two modules do not import each other)."""

    backend: Any
    oracle: SimVectorBackend
    factory: Any

    def embedding(self, recipe: Any) -> Any: ...

    def stored(self, backend: Any, ids: list[str]) -> dict[str, Any]: ...

    def stored_metadata(self, backend: Any, ids: list[str]) -> dict[str, dict | None]: ...

    def scan_metadata(self, backend: Any) -> dict[str, dict]: ...


def write_call(harness: Harness, op: StoreTagged | StoreBatchTagged | DeleteWhere) -> WriteCall:
    """Concrete arguments of a filter write, with recipes made against the oracle's state."""
    if isinstance(op, StoreTagged):
        return WriteCall("store", (op.id, harness.embedding(op.embedding), from_text(op.metadata)))
    if isinstance(op, StoreBatchTagged):
        return WriteCall("store_batch", ([(id, harness.embedding(r), from_text(m)) for id, r, m in op.items],))
    return WriteCall("delete_where", (from_text(op.filter),))


def read(harness: Harness, op: GetMetadata | FilteredSearch) -> int | None:
    """Run and check a read; a filtered search returns how many records matched (for coverage)."""
    if isinstance(op, GetMetadata):
        metadata_equal(
            f"get_metadata({op.id!r})", harness.backend.get_metadata(op.id), harness.oracle.get_metadata(op.id)
        )
        return None
    query, filter = harness.embedding(op.query), from_text(op.filter)
    try:
        results = harness.backend.search(query, op.limit, filter=filter)
    except Exception as exc:
        raise ContractViolation(f"filtered search of valid input raised {type(exc).__name__}: {exc}") from exc
    factory = harness.factory
    _, matching = filtered_search(
        results, harness.oracle, query, filter, op.limit, factory.score_atol, exact=not factory.approximate
    )
    return matching


def changed_ids(oracle: SimVectorBackend, call: WriteCall) -> list[str]:
    """The ids a write may change: its own, or every record a ``delete_where`` selects now."""
    if call.method == "delete_where":
        node = parse_filter(call.args[0])
        return [id for id in oracle.ids() if matches(node, oracle.get_metadata(id) or {})]
    return call.changed_ids()


def resolve_indeterminate(harness: Harness, call: WriteCall) -> str:
    """A failed write may have landed or not: read back each id it changes, vector and metadata,
    and accept all-old (``"old"``) or all-new (``"new"``, applied to the oracle), never a mix."""
    before = harness.oracle
    after = copy.deepcopy(before)
    call.apply(after)
    informative = [id for id in changed_ids(before, call) if _state(before, id) != _state(after, id)]
    if not informative:
        return "unchanged"
    seen = _states(harness, informative)
    old = [id for id in informative if seen[id] == _state(before, id)]
    new = [id for id in informative if seen[id] == _state(after, id)]
    if len(old) == len(informative):
        return "old"
    if len(new) == len(informative):
        call.apply(before)
        return "new"
    raise ContractViolation(
        f"failed {call.method} left a state that is neither all-old nor all-new: {len(old)} of "
        f"{len(informative)} ids old, {len(new)} new",
        "all old or all new",
        {"old": old[:5], "new": new[:5]},
    )


def _state(backend: object, id: str) -> tuple:
    """One record as comparable data: its vector's bytes and its metadata with each value's type."""
    return _comparable(backend.get(id), backend.get_metadata(id))


def _states(harness: Harness, ids: list[str]) -> dict[str, tuple]:
    """``_state`` of each id on the harness's backend, read by scans where they pay."""
    vectors = harness.stored(harness.backend, ids)
    metadata = harness.stored_metadata(harness.backend, ids)
    return {id: _comparable(vectors[id], metadata[id]) for id in ids}


def _comparable(vector: Any, metadata: dict | None) -> tuple:
    typed = None if metadata is None else sorted((k, type(v).__name__, v) for k, v in metadata.items())
    return (None if vector is None else vector.tobytes(), typed)


def compare_every_metadata(harness: Harness, where: str) -> None:
    """Every stored record's metadata against the oracle's (after a reopen: nothing lost):
    one ``scan_metadata`` when the backend offers it, else one ``get_metadata`` per id."""
    expected_ids = harness.oracle.ids()
    if not isinstance(harness.backend, MetadataScan):
        compare_metadata_of(harness, expected_ids, where)
        return
    stored = harness.scan_metadata(harness.backend)
    extra = sorted(set(stored) - set(expected_ids))
    if extra:
        raise ContractViolation(f"scan_metadata() {where} holds {extra[0]!r}, which is not stored", None, extra[:5])
    for id in expected_ids:
        metadata_equal(f"scan_metadata() {where}, record {id!r}", stored.get(id), harness.oracle.get_metadata(id))


def compare_metadata_of(harness: Harness, ids: list[str], where: str) -> None:
    """These ids' metadata against the oracle's (``None`` for an id neither holds)."""
    for id in ids:
        metadata_equal(
            f"get_metadata({id!r}) {where}", harness.backend.get_metadata(id), harness.oracle.get_metadata(id)
        )
