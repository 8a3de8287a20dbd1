"""Connections (CONTRACT §2) whose calls a driver process, running an older release, performs.

One ``Driver`` process serves every connection to one store; each ``DriverBackend`` is one
lancedb connection inside it. Input is validated here, with the checks the current backends
use, so bad input raises ``InvalidInput`` before anything reaches the older release.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from umi_dst.contract import Embedding, SearchResult
from umi_dst.upgrade import protocol
from umi_dst.validation import (
    last_wins,
    validate_batch,
    validate_embedding,
    validate_id,
    validate_limit,
)


class DriverFailed(RuntimeError):
    """The older release raised, or its driver process ended, while performing a call."""


class Driver:
    """The driver process of one store, run by an older release's interpreter."""

    def __init__(
        self, python: Path, script: Path, path: str, dim: int, table_name: str, extra: Sequence[str] = ()
    ) -> None:
        """``extra``: further arguments of the driver script (the ``lance`` driver's index plan)."""
        self._errors = tempfile.TemporaryFile(mode="w+")
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        self.process = subprocess.Popen(
            [str(python), str(script), path, str(dim), table_name, *extra],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._errors,
            text=True,
            env=environment,
        )
        self._numbers = itertools.count()

    def call(self, connection: int, op: str, **arguments) -> object:
        try:
            self.process.stdin.write(protocol.dumps({"op": op, "connection": connection, **arguments}))
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except (BrokenPipeError, OSError, ValueError):
            line = ""
        if not line:
            self.process.kill()
            self.process.wait()
            self._errors.seek(0)
            raise DriverFailed(
                f"the driver ended (exit {self.process.returncode}) during {op}: {self._errors.read()[-2000:]}"
            )
        answer = protocol.loads(line)
        if "error" in answer:
            raise DriverFailed(f"{op} raised {answer['error']} in the older release: {answer['message']}")
        return answer["ok"]

    def connect(self, dim: int) -> DriverBackend:
        return DriverBackend(self, next(self._numbers), dim)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()
        self._errors.close()


class DriverBackend:
    """One connection to the store, inside its driver process."""

    scan_from = 2
    """A call costs a round trip and a table read; two ids or more are read with one scan."""

    def __init__(self, driver: Driver, number: int, dim: int) -> None:
        self.driver, self.number, self.dim = driver, number, dim
        self._call("open")

    def _call(self, op: str, **arguments) -> object:
        return self.driver.call(self.number, op, **arguments)

    def hello(self) -> dict[str, object]:
        return self._call("hello")

    def ensure_table(self) -> None:
        self._call("ensure_table")

    def store(self, id: str, embedding: Embedding) -> None:
        self._store([(validate_id(id), validate_embedding(embedding, self.dim))])

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = last_wins(validate_batch(items, self.dim))
        if checked:
            self._store(checked)

    def _store(self, items: list[tuple[str, Embedding]]) -> None:
        matrix = np.stack([vector for _, vector in items])
        self._call("store_batch", ids=[id for id, _ in items], vectors=protocol.encode_vector(matrix))

    def delete(self, id: str) -> bool:
        return bool(self._call("delete", id=validate_id(id)))

    def get(self, id: str) -> Embedding | None:
        answer = self._call("get", id=validate_id(id))
        return None if answer is None else protocol.decode_vector(answer)

    def exists(self, id: str) -> bool:
        return bool(self._call("exists", id=validate_id(id)))

    def count(self) -> int:
        return int(self._call("count"))

    def scan(self) -> tuple[list[str], np.ndarray]:
        answer = self._call("scan")
        return list(answer["ids"]), protocol.decode_matrix(answer["vectors"], self.dim)

    def search(self, query: Embedding, limit: int) -> list[SearchResult]:
        vector = validate_embedding(query, self.dim, "query")
        answer = self._call("search", query=protocol.encode_vector(vector), limit=validate_limit(limit))
        return [SearchResult(id, float(score)) for id, score in answer]

    def close(self) -> None:
        self._call("close")
