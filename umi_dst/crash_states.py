"""Crash states of one write to a file-based store, and the crash point a seed continues from.

A factory that declares ``data_dir`` (CONTRACT §6, ``contract.BackendFactory``) gets the
harness fault ``crash``: the write runs while its file operations are recorded
(``file_ops``), then the store's directory is rebuilt as it would be had the process died
after the first k of them, for every k, plus a torn variant of every file written by
``write`` calls (empty, and half of its bytes). The harness opens each state with a fresh
connection and checks it (see ``Harness``); the run then continues from the one state the
step's crash point names, so a seed replays the same crash every time.

Crash model: the process dies (SIGKILL, abort); the kernel and its page cache survive, so every
completed file operation persists, in order, and a rename or hard link is atomic. Not covered:
power loss on a local file system without fsync ordering (writes to different files may persist
out of order, a renamed file may persist empty), and object stores, whose puts are atomic, so
their torn states cannot happen there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from umi_dst import file_ops
from umi_dst.file_ops import FileOp, Put, Snapshot
from umi_dst.operations import CrashPoint

CRASH = "crash"
"""The harness fault that crashes the process at a crash point inside a write."""
AFTER_OPS = "after_ops"
"""Crash point: the process died after the first k file operations of the write."""
TORN = "torn"
"""Crash point: the process died while writing file operation k, which holds half its bytes
(when operation k writes no file, the crash falls after the first k operations)."""
FILE_CRASH_POINTS = (AFTER_OPS, TORN)


@dataclass(frozen=True)
class CrashState:
    """The store's files had the process died at ``point`` after ``k`` file operations."""

    point: str
    k: int
    files: Snapshot
    torn_bytes: int | None = None

    def label(self, total: int) -> str:
        if self.torn_bytes is None:
            return f"crash after {self.k} of {total} file operations"
        return f"crash in file operation {self.k + 1} of {total}, its file holding {self.torn_bytes} bytes"


def crash_states(before: Snapshot, ops: list[FileOp]) -> list[CrashState]:
    """Every prefix of ``ops`` applied to ``before``, with the torn variants of written files."""
    states: list[CrashState] = []
    state = before
    for k, op in enumerate(ops):
        states.append(CrashState(AFTER_OPS, k, state))
        if isinstance(op, Put) and op.torn:
            for length in sorted({0, len(op.content) // 2}):
                states.append(CrashState(TORN, k, file_ops.apply(state, op, length), length))
        state = file_ops.apply(state, op)
    states.append(CrashState(AFTER_OPS, len(ops), state))
    return states


def distinct(states: list[CrashState]) -> list[CrashState]:
    """The states with different files, first of each kept (temporary files make many alike)."""
    seen: set[tuple] = set()
    kept = []
    for state in states:
        key = tuple(sorted(state.files.items(), key=lambda item: item[0]))
        if key not in seen:
            seen.add(key)
            kept.append(state)
    return kept


def chosen(states: list[CrashState], at: CrashPoint) -> CrashState:
    """The state a crash point names; k beyond the write's operations means after all of them."""
    if at.point not in FILE_CRASH_POINTS:
        raise ValueError(f"crash point {at.point!r} is not a file crash point; expected one of {FILE_CRASH_POINTS}")
    total = states[-1].k
    k = min(at.k, total)
    if at.point == TORN:
        torn = [s for s in states if s.point == TORN and s.k == k and s.torn_bytes]
        torn = torn or [s for s in states if s.point == TORN and s.k == k]
        if torn:
            return torn[-1]
    return next(s for s in states if s.point == AFTER_OPS and s.k == k)


def materialize(root: Path, current: Snapshot, target: Snapshot) -> None:
    """Turn directory ``root``, holding ``current``, into ``target`` (touching only differences)."""
    for path in sorted((p for p in current if p not in target), key=len, reverse=True):
        full = root / path
        if current[path] is None:
            full.rmdir()
        else:
            full.unlink()
    for path, content in sorted(target.items()):
        full = root / path
        if content is None:
            full.mkdir(parents=True, exist_ok=True)
        elif current.get(path) != content:
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_bytes(content)
