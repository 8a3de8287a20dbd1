"""Case studies of filtered search on Lance: what real projects did, ported onto ``lance``.

- ``lance-postfilter``: the filter applied after the vector search's ``LIMIT`` (lancedb's
  ``postfilter()``, and what lancedb itself did in #511): the nearest ``limit`` rows are
  found first and those the filter excludes are dropped, so a filtered search returns fewer
  than ``limit`` matches, often none.
- ``lance-spliced-filter``: filter values spliced into the ``where`` string as
  ``'{value}'``, unescaped, as LangChain-style wrappers built it: a value with a quote is a
  syntax error, and ``') OR ('1'='1`` selects records the filter excludes.

Both declare filters, so campaigns draw them; their seeds are in ``seeds/<name>/``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from lancedb.query import AsyncVectorQuery
from umi_dst.backends.lance.factory import LanceFactory, build_factory
from umi_dst.backends.lance.filter_sql import WhereWriter
from umi_dst.backends.lance.store import LanceVectorBackend

from umi_dst.export.calls import renderer_at


class PostfilterLanceBackend(LanceVectorBackend):
    """``lance`` with the filter applied to the first ``limit`` results, not before them."""

    def _nearest(self, query: AsyncVectorQuery, where: str | None, limit: int) -> pa.Table:
        if where is not None:
            query = query.where(where).postfilter()
        return self.run(query.select(["id", "_distance"]).limit(limit).to_arrow())


class SplicingWhereWriter(WhereWriter):
    def string(self, value: str) -> str:
        return f"'{value}'"


class SplicedFilterLanceBackend(LanceVectorBackend):
    """``lance`` with string values spliced into the ``where`` text unescaped."""

    where_writer = SplicingWhereWriter


def postfilter(workdir: Path, dim: int) -> LanceFactory:
    """Registered builder for ``lance-postfilter``."""
    return build_factory(workdir, dim, name="lance-postfilter", backend_class=PostfilterLanceBackend, filters=True)


def spliced_filter(workdir: Path, dim: int) -> LanceFactory:
    """Registered builder for ``lance-spliced-filter``."""
    return build_factory(
        workdir, dim, name="lance-spliced-filter", backend_class=SplicedFilterLanceBackend, filters=True
    )


postfilter.export_calls = renderer_at("umi_dst.backends.lance.export:postfilter_calls")
spliced_filter.export_calls = renderer_at("umi_dst.backends.lance.export:spliced_filter_calls")
