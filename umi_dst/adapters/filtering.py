"""What every adapter does with metadata and filters before it calls the store.

A declaration (``LangChainStore``, ``Mem0Store``) names a ``filter_argument`` (a parsed filter
as the store's own ``filter``) and a ``filter_support`` (the part of the dialect it takes);
these functions refuse what the declaration does not take, as ``InvalidInput``, before the
store is called, and hand the rest over in the store's terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from umi_dst.adapters import records
from umi_dst.contract import Embedding, InvalidInput
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import Filter, parse_filter


def record_metadata(
    name: str, filtered: bool, id: str, vector: Embedding, user: Mapping, store_keys: tuple[str, ...] = ()
) -> dict:
    """The metadata (or payload) written for a record; user metadata only where filters are
    declared, and none under a key the store adds to what it returns (``store_keys``)."""
    if user and not filtered:
        raise InvalidInput(f"{name} is declared without filters: it takes no metadata")
    return records.tagged(id, vector, user, store_keys)


def store_filter(
    name: str,
    argument: Callable[[Filter], object] | None,
    support: FilterSupport | None,
    raw: object,
) -> object:
    """The store's own filter for the contract's ``raw`` one, or ``InvalidInput``."""
    node = parse_filter(raw)
    if argument is None:
        raise InvalidInput(f"{name} is declared without filters: search it without one")
    if support is not None and not support.allows(node):
        raise InvalidInput(f"{name} takes only the filters of {support}: got {raw!r:.80}")
    return argument(node)
