"""The Lance factories: a store's settings, its connections and its nemeses, wired together.

Kept apart from ``store`` so the nemeses can import the store without the store importing them
back (``nemeses`` needs ``LanceStore``; the factory needs both).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import lancedb
import pyarrow as pa
from umi_dst.backends.lance.nemeses import lance_nemeses
from umi_dst.backends.lance.store import (
    MAINTENANCE,
    CompactionPolicy,
    IndexPlan,
    LanceStore,
    LanceVectorBackend,
    RetryPolicy,
)

from umi_dst.contract import DEFAULT_SCORE_ATOL, Nemesis
from umi_dst.export.calls import renderer_at
from umi_dst.validation import validate_dim

COMPACTION_EVERY = (0, 4, 32)
"""Commits of one connection between its automatic compactions a case may draw (0: never)."""
INDEX_MIN_ROWS = (8, 100, 1000)
"""Rows at which an approximate store builds its index on its own, as a case may draw it."""


@dataclass
class LanceFactory:
    """Opens connections to one LanceDB store under a working directory (CONTRACT §6)."""

    store: LanceStore
    name: str = "lance"
    score_atol: float = DEFAULT_SCORE_ATOL
    backend_class: type[LanceVectorBackend] = LanceVectorBackend
    nemeses: Mapping[str, Nemesis] = field(default_factory=dict)
    create_table: bool = True
    """Create the empty table now, while no connection exists (see ``ensure_table``)."""
    filters: bool = False
    """Whether the harness generates metadata and filters for it (docs/filters.md)."""
    maintenance: tuple[str, ...] = MAINTENANCE
    """The maintenance operations the machine runs as steps (``LanceVectorBackend.maintain``)."""

    def __post_init__(self) -> None:
        if self.create_table:
            creator = self.backend_class(self.store)
            creator.ensure_table()
            creator.close()

    @property
    def dim(self) -> int:
        return self.store.dim

    @property
    def data_dir(self) -> Path:
        """All of the store's files (CONTRACT §6): the harness crashes writes inside it."""
        return Path(self.store.path)

    @property
    def approximate(self) -> bool:
        return self.store.index is not None

    @property
    def recall_floor(self) -> float | None:
        return None if self.store.index is None else self.store.index.recall_floor

    @property
    def schedules(self) -> dict[str, tuple[int, ...]]:
        """Lance's automatic schedules a case may set: commits per compaction (0: never
        compact on its own) and, in approximate mode, the rows at which the index is built."""
        declared = {"compaction_every": COMPACTION_EVERY}
        if self.store.index is not None:
            declared["index_min_rows"] = INDEX_MIN_ROWS
        return declared

    def schedule(self, setting: str, value: int) -> None:
        """Apply a schedule to the connections opened from now on (not the nemeses' writers,
        whose commits change no content)."""
        if setting == "compaction_every":
            policy = CompactionPolicy(every=value) if value else None
            self.store = dataclasses.replace(self.store, compaction=policy)
        elif setting == "index_min_rows" and self.store.index is not None:
            self.store = dataclasses.replace(self.store, index=dataclasses.replace(self.store.index, min_rows=value))
        else:
            raise ValueError(f"{self.name} has no schedule {setting!r}; it has {sorted(self.schedules)}")

    def open(self) -> LanceVectorBackend:
        return self.backend_class(self.store)

    def destroy(self) -> None:
        for nemesis in self.nemeses.values():
            nemesis.stop()
        shutil.rmtree(self.store.path, ignore_errors=True)

    def versions(self) -> dict[str, str]:
        return {"lancedb": lancedb.__version__, "pyarrow": pa.__version__}


def build_factory(
    workdir: Path,
    dim: int,
    *,
    name: str,
    index: IndexPlan | None = None,
    backend_class: type[LanceVectorBackend] = LanceVectorBackend,
    retry: RetryPolicy = RetryPolicy(),
    read_consistency: timedelta | None = timedelta(0),
    compaction: CompactionPolicy | None = CompactionPolicy(),
    create_table: bool = True,
    filters: bool = False,
) -> LanceFactory:
    """A factory for a fresh store in ``workdir/<name>``, with the Lance nemeses."""
    store = LanceStore(
        path=str(Path(workdir) / name),
        dim=validate_dim(dim),
        index=index,
        retry=retry,
        read_consistency=read_consistency,
        compaction=compaction,
    )
    return LanceFactory(
        store=store,
        name=name,
        backend_class=backend_class,
        nemeses=lance_nemeses(store, backend_class),
        create_table=create_table,
        filters=filters,
    )


def exact_factory(workdir: Path, dim: int) -> LanceFactory:
    """Registered builder for ``lance``: flat scan, no index; metadata and filters."""
    return build_factory(workdir, dim, name="lance", filters=True)


exact_factory.export_calls = renderer_at("umi_dst.backends.lance.export:exact_calls")


def approximate_factory(workdir: Path, dim: int) -> LanceFactory:
    """Registered builder for ``lance-approx``: HNSW index once 8 rows exist; metadata and filters."""
    return build_factory(workdir, dim, name="lance-approx", index=IndexPlan(), filters=True)


approximate_factory.export_calls = renderer_at("umi_dst.backends.lance.export:approximate_calls")
