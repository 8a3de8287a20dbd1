"""A small file-based store, correct and with planted crash bugs: self-test material for crash states.

The store keeps every record in one JSON file in its data directory (``records.json``: id ->
float32 bytes in hex), loaded by every call as ``file_stores`` describes. The correct store
writes a temporary file and renames it over the old one; each planted bug is one that embedded
stores have shipped:

- ``rewrites_in_place``: truncates the file and writes it again, so a crash leaves it torn;
- ``acknowledges_before_durable``: returns before saving, saving when the connection closes.

Each name is a module attribute holding its builder, so ``umi_dst.selftest.json_files:<name>`` is a
backend spec.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.contract import Embedding
from umi_dst.selftest.file_stores import FileBackend, FileStoreFactory, hex_of, vector_of
from umi_dst.validation import last_wins, validate_batch, validate_id

RECORDS = "records.json"


class JsonFileBackend(FileBackend):
    """One connection: every call reads the file; every write saves it whole, atomically."""

    def _load(self) -> SimVectorBackend:
        sim = SimVectorBackend(self.dim)
        path = self.directory / RECORDS
        if path.exists():
            records = json.loads(path.read_text(encoding="utf-8"))
            for id, hex_bytes in records.items():
                sim.store(id, vector_of(hex_bytes))
        return sim

    def _save(self, sim: SimVectorBackend) -> None:
        temporary = self.directory / (RECORDS + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(_encoded(sim))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.directory / RECORDS)

    # -- writes -------------------------------------------------------------------------
    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = last_wins(validate_batch(items, self.dim))
        if checked:
            sim = self._load()
            sim.store_batch(checked)
            self._save(sim)

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        sim = self._load()
        existed = sim.delete(id)
        if existed:
            self._save(sim)
        return existed


def _encoded(sim: SimVectorBackend) -> str:
    return json.dumps({id: hex_of(sim.get(id)) for id in sim.ids()}, ensure_ascii=False)


class RewritesInPlace(JsonFileBackend):
    """Saves by truncating the one file and writing it again: a crash leaves it torn."""

    def _save(self, sim: SimVectorBackend) -> None:
        with open(self.directory / RECORDS, "w", encoding="utf-8") as out:
            out.write(_encoded(sim))


class AcknowledgesBeforeDurable(JsonFileBackend):
    """Keeps writes in memory and saves them when the connection closes: acknowledged, not durable."""

    def __init__(self, directory: Path, dim: int) -> None:
        super().__init__(directory, dim)
        self._unsaved: SimVectorBackend | None = None

    def _load(self) -> SimVectorBackend:
        unsaved = getattr(self, "_unsaved", None)
        return unsaved if unsaved is not None else super()._load()

    def _save(self, sim: SimVectorBackend) -> None:
        self._unsaved = sim

    def close(self) -> None:
        if self._unsaved is not None:
            super()._save(self._unsaved)
            self._unsaved = None


def correct(workdir: Path, dim: int) -> FileStoreFactory:
    return FileStoreFactory(workdir, dim, JsonFileBackend, name="json-files")


def rewrites_in_place(workdir: Path, dim: int) -> FileStoreFactory:
    return FileStoreFactory(workdir, dim, RewritesInPlace, name="json-rewrites-in-place")


def acknowledges_before_durable(workdir: Path, dim: int) -> FileStoreFactory:
    return FileStoreFactory(workdir, dim, AcknowledgesBeforeDurable, name="json-acknowledges-before-durable")
