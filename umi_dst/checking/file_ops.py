"""Record the file operations one write performs under a directory, in order (Linux inotify).

The write runs in this process while an inotify instance watches every directory of the store;
its queued events are read once the write has returned, so recording changes no timing the
engine sees. Events are reduced to name-level operations that a crash can fall between:

- ``Put``: a name now holds new bytes, written by ``write`` calls (a crash in the middle can
  leave them part-written: ``torn``, see ``crash_states.torn_variants``) or made by a hard link
  (atomic);
- ``Rename``: a name moves, atomically, replacing any file at the target;
- ``Remove``: a name goes;
- ``MakeDir``: a directory appears.

A written file counts as one operation, placed where it is closed. Contents come from the
directory as the write left it, followed back through renames; a temporary file that the write
removes again takes the content of the hard link made from it (how object stores publish a
file on a local disk: write a temporary, link it to its final name, remove the temporary).
A directory created during the write is not watched in time, so it appears at once with what
it holds at the end (a coarser view: no crash states inside it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_IN_MODIFY = 0x2
_IN_CLOSE_WRITE = 0x8
_IN_MOVED_FROM = 0x40
_IN_MOVED_TO = 0x80
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_Q_OVERFLOW = 0x4000
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = 0x800
_IN_CLOEXEC = 0x80000
_WATCHED = _IN_MODIFY | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_EVENT = struct.Struct("iIII")

Snapshot = dict[str, bytes | None]
"""Relative path -> file bytes, or ``None`` for a directory."""


class RecordingError(RuntimeError):
    """The file operations of a write could not be recorded exactly; the message says why."""


@dataclass(frozen=True)
class Put:
    path: str
    content: bytes
    torn: bool
    """Written by ``write`` calls, so a crash part-way can tear it (not a hard link)."""


@dataclass(frozen=True)
class Rename:
    path: str
    target: str


@dataclass(frozen=True)
class Remove:
    path: str


@dataclass(frozen=True)
class MakeDir:
    """A directory appears; ``content`` is what it holds at the end of the write, relative
    to it, when it was created too late to be watched (it appears at once, with the directory)."""

    path: str
    content: tuple[tuple[str, bytes | None], ...] = ()


FileOp = Put | Rename | Remove | MakeDir


def supported() -> bool:
    """Whether file operations can be recorded here (Linux inotify)."""
    return sys.platform.startswith("linux")


def snapshot(root: Path) -> Snapshot:
    """Every directory and file under ``root`` with its bytes (a file removed while it is read is
    left out: its removal is an event, and ``record`` reads again after any event)."""
    found: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath).relative_to(root)
        for name in dirnames:
            found[(base / name).as_posix()] = None
        for name in filenames:
            try:
                found[(base / name).as_posix()] = (Path(dirpath) / name).read_bytes()
            except FileNotFoundError:
                continue
    return found


def record(root: Path, action: Callable[[], T]) -> tuple[T, Snapshot, list[FileOp], Snapshot]:
    """Run ``action`` and return its result, the state before, the operations, the state after.

    Each state is read again until no event arrives while it is read: an engine's threads can
    finish file work after a call returns (a temporary file dropped later), and the state and
    the events must agree."""
    root = Path(root)
    watcher = _Inotify()
    try:
        for path in [Path(dirpath) for dirpath, _, _ in os.walk(root)]:
            watcher.watch(path, root)
        before, _ = _settled(root, watcher)
        result = action()
        after, events = _settled(root, watcher)
    finally:
        watcher.close()
    return result, before, _operations(events, before, after), after


def _settled(root: Path, watcher: _Inotify) -> tuple[Snapshot, list[tuple[int, int, str]]]:
    """The directory's state once no event arrived while reading it, and the events until then."""
    events = watcher.drain()
    state = snapshot(root)
    while late := watcher.drain():
        events += late
        state = snapshot(root)
    return state, events


def apply(state: Snapshot, op: FileOp) -> Snapshot:
    """The state after ``op``."""
    state = dict(state)
    if isinstance(op, Put):
        if _parent(op.path) and _parent(op.path) not in state:
            return state  # its directory is gone in this state
        state[op.path] = op.content
    elif isinstance(op, Rename):
        for path in [p for p in state if p == op.path or p.startswith(op.path + "/")]:
            state[op.target + path[len(op.path) :]] = state.pop(path)
    elif isinstance(op, Remove):
        for path in [p for p in state if p == op.path or p.startswith(op.path + "/")]:
            del state[path]
    else:
        state[op.path] = None
        for relative, content in op.content:
            state[f"{op.path}/{relative}"] = content
    return state


class _Inotify:
    def __init__(self) -> None:
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = self._libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self._fd < 0:
            raise RecordingError(f"inotify_init1 failed: {os.strerror(ctypes.get_errno())}")
        self._dirs: dict[int, str] = {}

    def watch(self, path: Path, root: Path) -> None:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), _WATCHED)
        if wd < 0:
            raise RecordingError(f"cannot watch {path}: {os.strerror(ctypes.get_errno())}")
        relative = path.relative_to(root).as_posix()
        self._dirs[wd] = "" if relative == "." else relative

    def drain(self) -> list[tuple[int, int, str]]:
        """(mask, cookie, relative path) of every queued event, in order."""
        data = b""
        while True:
            try:
                chunk = os.read(self._fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        events = []
        offset = 0
        while offset < len(data):
            wd, mask, cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0").decode()
            offset += _EVENT.size + length
            if mask & _IN_Q_OVERFLOW:
                raise RecordingError("inotify queue overflowed: too many file events in one write")
            if wd in self._dirs and name:
                base = self._dirs[wd]
                events.append((mask, cookie, f"{base}/{name}" if base else name))
        return events

    def close(self) -> None:
        os.close(self._fd)


def _operations(events: list[tuple[int, int, str]], before: Snapshot, after: Snapshot) -> list[FileOp]:
    """Name-level operations with their contents, from the ordered events of one write."""
    steps: list[tuple[str, str, str | None]] = []  # (kind, path, target)
    moving: dict[int, str] = {}
    for mask, cookie, path in events:
        if mask & _IN_ISDIR:
            if mask & _IN_CREATE:
                steps.append(("mkdir", path, None))
            elif mask & _IN_DELETE:
                steps.append(("remove", path, None))
            elif mask & _IN_MOVED_FROM:
                moving[cookie] = path
            elif mask & _IN_MOVED_TO:
                steps.append(("rename", moving.pop(cookie), path))
            continue
        if mask & _IN_CREATE:
            steps.append(("create", path, None))
        elif mask & _IN_MODIFY:
            steps.append(("modify", path, None))
        elif mask & _IN_CLOSE_WRITE:
            steps.append(("close", path, None))
        elif mask & _IN_MOVED_FROM:
            moving[cookie] = path
        elif mask & _IN_MOVED_TO:
            source = moving.pop(cookie, None)
            if source is None:
                raise RecordingError(f"{path!r} was moved in from outside the store")
            steps.append(("rename", source, path))
        elif mask & _IN_DELETE:
            steps.append(("remove", path, None))
    if moving:
        raise RecordingError(f"moved out of the store during the write: {sorted(moving.values())}")
    return _with_contents(steps, before, after)


def _with_contents(steps: list[tuple[str, str, str | None]], before: Snapshot, after: Snapshot) -> list[FileOp]:
    """Turn create/modify/close steps into ``Put``s and give every ``Put`` its bytes."""
    ops: list[tuple[str, object]] = []  # ("put", [path, token, torn]) | ("rename"/"remove"/"mkdir", ...)
    writing: dict[str, tuple[str, list]] = {}  # path -> its open Put (files may be written side by side)
    tokens = 0
    for kind, path, target in steps:
        if kind == "create" or (kind == "modify" and path not in writing):  # modify: rewritten in place
            writing[path] = ("put", [path, tokens, kind == "modify"])
            ops.append(writing[path])
            tokens += 1
        if kind == "modify":
            writing[path][1][2] = True
        elif kind == "close":
            entry = writing.pop(path, None)
            if entry is not None and entry[1][2]:  # a written file counts where it is closed
                ops.append(ops.pop(next(i for i, op in enumerate(ops) if op is entry)))
        elif kind != "create":
            writing.pop(path, None)
            ops.append((kind, (path, target)))
    return _resolve(ops, before, after)


def _resolve(ops: list[tuple[str, object]], before: Snapshot, after: Snapshot) -> list[FileOp]:
    """Give each ``Put`` the bytes its token holds: from the name it has at the end, or from the
    hard link made from it before it was removed; a ``Put`` whose bytes are unknowable (replaced
    again within the write) is left out, so the name keeps its previous content there."""
    holder: dict[str, int] = {}  # path -> token it holds now
    put_at: dict[int, int] = {}
    written: set[int] = set()
    links: list[tuple[int, str, int]] = []  # (op index, directory, token) of hard links
    pairs: dict[int, int] = {}  # removed written token -> the link made from it
    for index, (kind, data) in enumerate(ops):
        if kind == "put":
            path, token, torn = data
            holder[path] = token
            put_at[token] = index
            if torn:
                written.add(token)
            else:
                links.append((index, _parent(path), token))
        elif kind == "rename":
            source, target = data
            for path in [p for p in holder if p == source or p.startswith(source + "/")]:
                holder[target + path[len(source) :]] = holder.pop(path)
        elif kind == "remove":
            for gone in [p for p in holder if p == data[0] or p.startswith(data[0] + "/")]:
                token = holder.pop(gone)
                made = [
                    link
                    for i, d, link in links
                    if d == _parent(gone) and i > put_at[token] and link not in pairs.values()
                ]
                if token in written and made:
                    pairs[token] = made[-1]
    contents: dict[int, bytes] = {}
    for path, token in holder.items():
        content = after.get(path)
        if content is None:
            raise RecordingError(f"{path!r} is not a file after the write")
        contents[token] = content
    for written_token, link in pairs.items():
        if link in contents:
            contents.setdefault(written_token, contents[link])
    result: list[FileOp] = []
    for kind, data in ops:
        if kind == "put":
            path, token, torn = data
            if token in contents:
                result.append(Put(path, contents[token], torn))
        elif kind == "rename":
            result.append(Rename(*data))
        elif kind == "remove":
            result.append(Remove(data[0]))
        else:
            result.append(MakeDir(data[0]))
    return _with_unwatched(result, before, after)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _with_unwatched(ops: list[FileOp], before: Snapshot, after: Snapshot) -> list[FileOp]:
    """Give each directory created during the write what it holds at the end."""
    replayed: Snapshot = dict(before)
    for op in ops:
        replayed = apply(replayed, op)
    missing = {p for p, content in after.items() if p not in replayed or replayed[p] != content}
    extra = set(replayed) - set(after)
    if extra:
        raise RecordingError(f"the recorded operations leave files the write did not: {sorted(extra)[:5]}")
    result: list[FileOp] = []
    for op in ops:
        if isinstance(op, MakeDir):
            inside = sorted(p for p in missing if p.startswith(op.path + "/"))
            missing.difference_update(inside)
            op = MakeDir(op.path, tuple((p[len(op.path) + 1 :], after[p]) for p in inside))
        result.append(op)
    if missing:
        raise RecordingError(f"changes the watch did not see: {sorted(missing)[:5]}")
    return result
