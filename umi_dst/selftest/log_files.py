"""An append-only log store, correct and with a planted crash bug: self-test material for crash states.

The store keeps one log in its data directory (``records.log``): every write appends one line,
``<crc32 of the payload, 8 hex digits> <payload JSON>\\n``, and fsyncs it; the payload is
``{"put": [[id, float32 bytes in hex], ...]}`` or ``{"delete": id}``. Every call reads the log
(``file_stores``) and replays it, stopping at the first line that is torn or fails its
checksum: what a crash cut off is ignored, and the next write cuts it away before it appends.
This is how WAL-based
engines stay correct across a crash, so the harness's crash states must pass it: an append cut
short keeps the lines before it (the crash model, ``umi_dst.checking.crash_states``).

- ``correct``: a write, a batch included, is one line, so it lands whole or not at all;
- ``batch_per_item``: appends a batch as one line per item, so a crash can keep half a batch.

Each name is a module attribute holding its builder, so ``umi_dst.selftest.log_files:<name>`` is a
backend spec.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.contract import Embedding
from umi_dst.selftest.file_stores import FileBackend, FileStoreFactory, hex_of, vector_of
from umi_dst.validation import last_wins, validate_batch, validate_id

LOG = "records.log"


class LogFileBackend(FileBackend):
    """One connection: every call reads the log (replaying it when it changed); every write
    appends one checksummed line."""

    _replayed: tuple[bytes, SimVectorBackend, int] | None = None
    """The log last read, its records, and where its intact lines end."""

    def _load(self) -> SimVectorBackend:
        return self._replay()[0]

    def _replay(self) -> tuple[SimVectorBackend, int]:
        """The log's records and where its intact lines end."""
        path = self.directory / LOG
        log = path.read_bytes() if path.exists() else b""
        if self._replayed is None or self._replayed[0] != log:
            records: dict[str, str] = {}
            entries, end = _intact(log)
            for entry in entries:
                if "put" in entry:
                    records.update(entry["put"])
                else:
                    records.pop(entry["delete"], None)
            sim = SimVectorBackend(self.dim)
            sim.store_batch([(id, vector_of(hex_bytes)) for id, hex_bytes in records.items()])
            self._replayed = (log, sim, end)
        return self._replayed[1], self._replayed[2]

    def _append(self, entries: list[dict]) -> None:
        """Append one line per entry after the log's intact lines (cutting off a torn tail), fsynced."""
        end = self._replay()[1]
        with open(self.directory / LOG, "ab") as log:
            if log.tell() > end:
                log.truncate(end)
            log.write(b"".join(_line(entry) for entry in entries))
            log.flush()
            os.fsync(log.fileno())

    def _batch_entries(self, items: list[tuple[str, Embedding]]) -> list[dict]:
        """The one entry that holds the whole batch."""
        return [{"put": [[id, hex_of(vector)] for id, vector in items]}]

    # -- writes -------------------------------------------------------------------------
    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = last_wins(validate_batch(items, self.dim))
        if checked:
            self._append(self._batch_entries(checked))

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        existed = self._load().exists(id)
        if existed:
            self._append([{"delete": id}])
        return existed


def _line(entry: dict) -> bytes:
    payload = json.dumps(entry, ensure_ascii=False).encode("utf-8")  # JSON escapes newlines in ids
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _intact(log: bytes) -> tuple[list[dict], int]:
    """The entries of the log's lines up to the first torn or bad-checksum one, and where they end."""
    entries: list[dict] = []
    end = 0
    while (newline := log.find(b"\n", end)) != -1:
        checksum, _, payload = log[end:newline].partition(b" ")
        if checksum != b"%08x" % zlib.crc32(payload):
            break
        entries.append(json.loads(payload))
        end = newline + 1
    return entries, end


class BatchPerItem(LogFileBackend):
    """Appends a batch as one line per item: a crash inside the append keeps the first items only."""

    def _batch_entries(self, items: list[tuple[str, Embedding]]) -> list[dict]:
        return [{"put": [[id, hex_of(vector)]]} for id, vector in items]


def correct(workdir: Path, dim: int) -> FileStoreFactory:
    return FileStoreFactory(workdir, dim, LogFileBackend, name="log-files")


def batch_per_item(workdir: Path, dim: int) -> FileStoreFactory:
    return FileStoreFactory(workdir, dim, BatchPerItem, name="log-batch-per-item")
