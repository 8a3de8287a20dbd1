"""What the self-test file stores share: reads answered by the Sim, and a factory with ``data_dir``.

A store keeps its records in files of its data directory; each call of a connection loads them
again (``_load``) and answers through the Sim, so only the store's file handling differs from
the oracle. The factory declares ``data_dir`` and nothing else about crashes: the harness's
``crash`` fault finds the planted crash bugs with no nemesis written for them.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.contract import DEFAULT_SCORE_ATOL, Embedding, Nemesis, SearchResult
from umi_dst.validation import validate_dim, validate_embedding, validate_id


class FileBackend:
    """One connection to a store kept in files; a subclass reads them in ``_load`` and writes them."""

    scan_from = 2
    """Every read loads the whole store, so the harness reads two ids or more with one ``scan``."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory = Path(directory)
        self.dim = validate_dim(dim)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> SimVectorBackend:
        """The records the files hold now, in a Sim."""
        raise NotImplementedError

    def store(self, id: str, embedding: Embedding) -> None:
        """A batch of one."""
        self.store_batch([(validate_id(id), validate_embedding(embedding, self.dim))])

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        raise NotImplementedError

    def get(self, id: str) -> Embedding | None:
        return self._load().get(id)

    def exists(self, id: str) -> bool:
        return self._load().exists(id)

    def count(self) -> int:
        return self._load().count()

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        return self._load().search(query, limit)

    def scan(self) -> tuple[list[str], np.ndarray]:
        """Every record at once (the optional ``FullScan`` capability)."""
        sim = self._load()
        ids = sim.ids()
        return ids, np.array([sim.get(id) for id in ids], dtype=np.float32).reshape(len(ids), self.dim)

    def close(self) -> None:
        pass


def hex_of(vector: Embedding) -> str:
    """A float32 vector's bytes in hex (what the stores write)."""
    return vector.tobytes().hex()


def vector_of(hex_bytes: str) -> Embedding:
    return np.frombuffer(bytes.fromhex(hex_bytes), np.float32)


@dataclass
class FileStoreFactory:
    """A file store under a working directory (CONTRACT §6), declaring its ``data_dir``."""

    workdir: Path
    dim: int
    backend_class: type[FileBackend]
    name: str
    score_atol: float = DEFAULT_SCORE_ATOL
    approximate: bool = False
    recall_floor: float | None = None
    nemeses: dict[str, Nemesis] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return Path(self.workdir) / self.name

    def open(self) -> FileBackend:
        return self.backend_class(self.data_dir, self.dim)

    def destroy(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
