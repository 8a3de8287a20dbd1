"""A segment store in two releases, one with a planted upgrade bug: self-test material for upgrades.

Every write appends one segment file (records written, ids deleted); a connection replays the
segments in order. Release 1 names its segments ``seg-<n>.v1.json``; release 2 writes
``seg-<n>.v2.json`` and reads both layouts. The planted bug is the one engines ship when they
convert an old layout: release 2's reader of release-1 segments stops one segment short, so the
records of the old layout's last segment vanish after the upgrade (``drops_last_old_segment``);
``reads_old_segments`` is the correct release 2, which must pass. Neither needs an installed
older release, so these are the fast tests of the upgrade machinery.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from umi_dst.backends.sim import SimVectorBackend
from umi_dst.contract import Embedding
from umi_dst.selftest.file_stores import (
    FileBackend,
    FileStoreFactory,
    hex_of,
    vector_of,
)
from umi_dst.upgrade.factory import UpgradeFactory
from umi_dst.validation import last_wins, validate_batch, validate_id

STORE_NAME = "segments"


class SegmentBackend(FileBackend):
    """One connection of a release: each write is one new segment, renamed into place."""

    layout = "v1"

    def _segments(self) -> list[tuple[int, str, Path]]:
        found = []
        for path in self.directory.glob("seg-*.json"):
            number, layout = path.name[len("seg-") : -len(".json")].split(".")
            found.append((int(number), layout, path))
        return sorted(found)

    def _readable(self, segments: list[tuple[int, str, Path]]) -> list[Path]:
        return [path for _, layout, path in segments if layout == "v1"]

    def _load(self) -> SimVectorBackend:
        sim = SimVectorBackend(self.dim)
        for path in self._readable(self._segments()):
            segment = json.loads(path.read_text(encoding="utf-8"))
            sim.store_batch([(id, vector_of(hex_bytes)) for id, hex_bytes in segment["stored"]])
            for id in segment["deleted"]:
                sim.delete(id)
        return sim

    def _append(self, stored: list[tuple[str, Embedding]], deleted: list[str]) -> None:
        segments = self._segments()
        number = segments[-1][0] + 1 if segments else 0
        final = self.directory / f"seg-{number:06d}.{self.layout}.json"
        temporary = final.with_suffix(".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump({"stored": [[id, hex_of(vector)] for id, vector in stored], "deleted": deleted}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)

    def store_batch(self, items: Sequence[tuple[str, Embedding]]) -> None:
        checked = last_wins(validate_batch(items, self.dim))
        if checked:
            self._append(checked, [])

    def delete(self, id: str) -> bool:
        id = validate_id(id)
        existed = self._load().exists(id)
        if existed:
            self._append([], [id])
        return existed


class ReadsOldSegments(SegmentBackend):
    """Release 2, correct: writes the v2 layout and reads both."""

    layout = "v2"

    def _readable(self, segments: list[tuple[int, str, Path]]) -> list[Path]:
        return [path for _, _, path in segments]


class DropsLastOldSegment(ReadsOldSegments):
    """Release 2 with the planted bug: its conversion of v1 segments skips the last one."""

    def _readable(self, segments: list[tuple[int, str, Path]]) -> list[Path]:
        old = [path for _, layout, path in segments if layout == "v1"]
        kept = set(old[:-1])
        return [path for _, layout, path in segments if layout == "v2" or path in kept]


def _upgrade(new_release: type[SegmentBackend], name: str):
    def build(workdir: Path, dim: int) -> UpgradeFactory:
        old = FileStoreFactory(workdir, dim, SegmentBackend, STORE_NAME)
        new = FileStoreFactory(workdir, dim, new_release, STORE_NAME)
        return UpgradeFactory(old, new, name=name)

    return build


reads_old_segments = _upgrade(ReadsOldSegments, "segments v1 -> v2")
drops_last_old_segment = _upgrade(DropsLastOldSegment, "segments v1 -> v2 (drops the last v1 segment)")
