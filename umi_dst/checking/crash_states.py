"""Crash states of one write to a file-based store, and the crash point a seed continues from.

A factory that declares ``data_dir`` (CONTRACT §6, ``contract.BackendFactory``) gets the
harness fault ``crash``: the write runs while its file operations are recorded
(``file_ops``), then the store's directory is rebuilt as it would be had the process died
after the first k of them, for every k, plus the torn variants of every file written by
``write`` calls (``torn_variants``). The harness opens each state with a fresh connection and
checks it (see ``Harness``); the run then continues from the one state the step's crash point
names, so a seed replays the same crash every time.

Crash model: the process dies (SIGKILL, abort); the kernel and its page cache survive, so every
completed system call persists, in order, fsynced or not. So:

- a rename, a hard link, a removal, a new directory and a truncation are one call each: atomic;
- ``fsync`` (of a file or a directory) changes nothing a crash can show, so it is no operation;
- only the ``write`` calls that turn a file's old bytes into its new ones can be cut part-way,
  and a cut keeps every byte they had not reached. A new file can be left empty or holding a
  prefix of its bytes; an append keeps the old bytes and a prefix of the appended ones; a file
  cut to a prefix of itself is not torn at all.

A file whose new bytes neither extend nor cut its old ones was either written in place at an
offset or truncated and written again: inotify reports both as modifications, so the torn state
is built on the in-place reading: the new bytes up to the middle of the region that changed,
then the old bytes after it (a file that gets shorter is cut after its writes, so it can also
hold all its new bytes and the old ones after them). That reading never blames an engine that
overwrites pages in place under a journal (SQLite's rollback journal, a WAL restarted from its
start), while a store that truncates a live file and writes it again is still caught: the
spliced file is neither its old nor its new content.

Not covered: power loss on a local file system without fsync ordering (writes to different
files may persist out of order, a renamed file may persist empty), and object stores, whose
puts are atomic, so their torn states cannot happen there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from umi_dst.checking import file_ops
from umi_dst.checking.file_ops import FileOp, Put, Snapshot
from umi_dst.operations import CrashPoint

CRASH = "crash"
"""The harness fault that crashes the process at a crash point inside a write."""
AFTER_OPS = "after_ops"
"""Crash point: the process died after the first k file operations of the write."""
TORN = "torn"
"""Crash point: the process died inside the writes of file operation k, its file torn half-way
(the last of its torn variants, ``torn_variants``; when operation k tears nothing, the crash
falls after the first k operations)."""
FILE_CRASH_POINTS = (AFTER_OPS, TORN)


@dataclass(frozen=True)
class CrashState:
    """The store's files had the process died at ``point`` after ``k`` file operations."""

    point: str
    k: int
    files: Snapshot
    torn_bytes: int | None = None
    """The length of the torn file (``TORN`` states only)."""
    kept: str = ""
    """What the torn file holds of its old and new bytes."""

    def label(self, total: int) -> str:
        if self.torn_bytes is None:
            return f"crash after {self.k} of {total} file operations"
        return (
            f"crash in file operation {self.k + 1} of {total}, its file holding {self.torn_bytes} bytes ({self.kept})"
        )


def torn_variants(old: bytes | None, new: bytes) -> list[tuple[bytes, str]]:
    """What a file can hold had the process died inside the writes that turn ``old`` (``None``:
    no file) into ``new``, each with what it keeps, the half-way one last: the new bytes up to
    the middle of the region that changed and the old bytes after it. A new file can also be
    empty; a file that gets shorter can also hold all its new bytes with the old ones after
    them (written, not yet cut off). A variant equal to the old or the new content is left out
    (nothing tore)."""
    before = old or b""
    same = _common_prefix(before, new)
    cut = same + (len(new) - same) // 2
    variants = {b"": _kept(old, new, 0, 0)} if old is None else {}
    if len(new) < len(before):
        variants[new + before[len(new) :]] = (
            f"its {len(new)} new bytes, then its old bytes {len(new)} to {len(before)}, not yet cut off"
        )
    variants[new[:cut] + before[cut:]] = _kept(old, new, same, cut)
    return [(content, kept) for content, kept in variants.items() if content not in (old, new)]


def _common_prefix(a: bytes, b: bytes) -> int:
    shorter = min(len(a), len(b))
    differ = np.frombuffer(a, np.uint8, shorter) != np.frombuffer(b, np.uint8, shorter)
    return int(differ.argmax()) if differ.any() else shorter


def _kept(old: bytes | None, new: bytes, same: int, cut: int) -> str:
    if old is None:
        return f"a new file, {cut} of its {len(new)} bytes"
    if same == len(old):
        return f"its {len(old)} old bytes and {cut - same} of {len(new) - same} new"
    kept = f"its {same} unchanged bytes, {cut - same} of {len(new) - same} rewritten"
    return f"{kept}, then its old bytes {cut} to {len(old)}" if cut < len(old) else kept


def crash_states(before: Snapshot, ops: list[FileOp]) -> list[CrashState]:
    """Every prefix of ``ops`` applied to ``before``, with the torn variants of written files."""
    states: list[CrashState] = []
    state = before
    for k, op in enumerate(ops):
        states.append(CrashState(AFTER_OPS, k, state))
        if isinstance(op, Put) and op.torn:
            for content, kept in torn_variants(state.get(op.path), op.content):
                states.append(
                    CrashState(TORN, k, file_ops.apply(state, replace(op, content=content)), len(content), kept)
                )
        state = file_ops.apply(state, op)
    states.append(CrashState(AFTER_OPS, len(ops), state))
    return states


def distinct(states: list[CrashState]) -> list[CrashState]:
    """The states with different files, first of each kept (temporary files make many alike)."""
    seen: set[frozenset] = set()
    kept = []
    for state in states:
        key = frozenset(state.files.items())
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
        torn = [s for s in states if s.point == TORN and s.k == k]
        if torn:
            return torn[-1]
    return next(s for s in states if s.point == AFTER_OPS and s.k == k)


def materialize(root: Path, current: Snapshot, target: Snapshot) -> None:
    """Turn directory ``root``, holding ``current``, into ``target`` (touching only differences).

    Only the differing paths are visited: a Lance store holds hundreds of files, and a write's
    crash states differ in a few of them."""
    for path in sorted((p for p in current if p not in target), key=len, reverse=True):
        full = root / path
        if current[path] is None:
            full.rmdir()
        else:
            full.unlink()
    for path in sorted(p for p, content in target.items() if p not in current or current[p] != content):
        full, content = root / path, target[path]
        if content is None:
            full.mkdir(parents=True, exist_ok=True)
        else:
            full.parent.mkdir(parents=True, exist_ok=True)
            full.write_bytes(content)
