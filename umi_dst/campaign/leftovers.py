"""Scratch directories that name their owner, and the sweep of what killed runs left behind.

A campaign or replay works in ``<tmp>/umi-<kind>-<pid>-<random>``, removed when it ends. A run
killed with SIGKILL cannot remove anything, so every run first sweeps: a scratch directory whose
owning process is gone is deleted, and so is an embedded PostgreSQL server whose owner is gone
(stopped so that it frees its shared memory). What a live process owns is never touched.
Schemas on an external PostgreSQL server are swept by ``umi_dst.backends.postgres.server`` when a
store is made there, since only then is the server known.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_SCRATCH = re.compile(r"umi-(campaign|replay)-(\d+)-.+")


@contextlib.contextmanager
def scratch_directory(kind: str, parent: Path | None = None) -> Iterator[Path]:
    """A fresh ``umi-<kind>-<pid>-*`` directory, removed on exit; stale ones are swept first."""
    sweep(parent)
    with tempfile.TemporaryDirectory(prefix=f"umi-{kind}-{os.getpid()}-", dir=parent) as path:
        yield Path(path)


def sweep(parent: Path | None = None) -> list[Path]:
    """Remove what dead runs left in ``parent`` (default: the temp dir); return what went."""
    swept = []
    for path in Path(parent or tempfile.gettempdir()).glob("umi-*-*-*"):
        match = _SCRATCH.fullmatch(path.name)
        if match and path.is_dir() and not path.is_symlink() and not _alive(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True)
            swept.append(path)
    return swept + _stale_postgres_servers()


def _stale_postgres_servers() -> list[Path]:
    try:
        from umi_dst.backends.postgres.server import sweep_stale_data_dirs
    except ImportError:  # the postgres extra is not installed: it cannot have left anything
        return []
    return sweep_stale_data_dirs()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True
