"""A small file-based store, correct and with planted crash bugs: self-test material for crash states.

The store keeps every record in one JSON file in its data directory (``records.json``: id ->
float32 bytes in hex) and answers reads through the Sim on what it loads, so only its file
handling differs from the oracle. It declares ``data_dir`` and nothing else about crashes: the
harness's ``crash`` fault finds its crash bugs with no nemesis written for it. The correct
store writes a temporary file and renames it over the old one; each planted bug is one that
embedded stores have shipped:

- ``rewrites_in_place``: truncates the file and writes it again, so a crash leaves it torn;
- ``acknowledges_before_durable``: returns before saving, saving when the connection closes.

Each name is a module attribute holding its builder, so ``umi_dst.selftest.json_files:<name>`` is a
backend spec.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from backends.sim import SimVectorBackend
from umi_dst.contract import DEFAULT_SCORE_ATOL, Embedding, Nemesis, SearchResult
from umi_dst.validation import last_wins, validate_batch, validate_dim, validate_embedding, validate_id

RECORDS = "records.json"


class JsonFileBackend:
    """One connection: every call reads the file; every write saves it whole, atomically."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = Path(directory)
        self.dim = validate_dim(dim)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> SimVectorBackend:
        sim = SimVectorBackend(self.dim)
        path = self.directory / RECORDS
        if path.exists():
            records = json.loads(path.read_text(encoding="utf-8"))
            for id, hex_bytes in records.items():
                sim.store(id, np.frombuffer(bytes.fromhex(hex_bytes), np.float32))
        return sim

    def _save(self, sim: SimVectorBackend) -> None:
        temporary = self.directory / (RECORDS + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(_encoded(sim))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.directory / RECORDS)

    # -- writes -------------------------------------------------------------------------
    def store(self, id: str, embedding: Embedding) -> None:
        id = validate_id(id)
        vector = validate_embedding(embedding, self.dim)
        self.store_batch([(id, vector)])

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

    # -- reads --------------------------------------------------------------------------
    def get(self, id: str) -> Embedding | None:
        return self._load().get(id)

    def exists(self, id: str) -> bool:
        return self._load().exists(id)

    def count(self) -> int:
        return self._load().count()

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return self._load().search(query, limit)

    def close(self) -> None:
        pass


def _encoded(sim: SimVectorBackend) -> str:
    return json.dumps({id: sim.get(id).tobytes().hex() for id in sim.ids()}, ensure_ascii=False)


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


@dataclass
class JsonFileFactory:
    """A JSON-file store under a working directory (CONTRACT §6), declaring its ``data_dir``."""

    workdir: Path
    dim: int
    backend_class: type[JsonFileBackend] = JsonFileBackend
    name: str = "json-files"
    score_atol: float = DEFAULT_SCORE_ATOL
    approximate: bool = False
    recall_floor: float | None = None
    nemeses: dict[str, Nemesis] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return Path(self.workdir) / self.name

    def open(self) -> JsonFileBackend:
        return self.backend_class(self.data_dir, self.dim)

    def destroy(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)


def correct(workdir: Path, dim: int) -> JsonFileFactory:
    return JsonFileFactory(workdir, dim)


def rewrites_in_place(workdir: Path, dim: int) -> JsonFileFactory:
    return JsonFileFactory(workdir, dim, RewritesInPlace, name="json-rewrites-in-place")


def acknowledges_before_durable(workdir: Path, dim: int) -> JsonFileFactory:
    return JsonFileFactory(workdir, dim, AcknowledgesBeforeDurable, name="json-acknowledges-before-durable")
