"""The factory every adapter backend shares: one store object, connections over it.

An integration-layer store is an object in this process (its engine may keep files under the
working directory), so every ``open()`` is a new connection to that one object, as the sim's
are, and ``destroy()`` closes it and removes the directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from umi_dst.contract import DEFAULT_SCORE_ATOL, Nemesis, VectorBackend
from umi_dst.filter_support import FilterSupport


@dataclass
class AdapterFactory:
    """A backend factory (CONTRACT §6) over one store reached through an integration layer."""

    name: str
    dim: int
    workdir: Path
    connect: Callable[[], VectorBackend]
    """A new connection to the store."""
    close_store: Callable[[], None]
    """Release the store's own resources (a client, a file lock) before its files go."""
    library_versions: Mapping[str, str]
    score_atol: float = DEFAULT_SCORE_ATOL
    approximate: bool = False
    recall_floor: float | None = None
    nemeses: Mapping[str, Nemesis] = field(default_factory=dict)
    filters: bool = False
    """Connections take metadata and filters (CONTRACT §8): the store's filter is declared."""
    filter_support: FilterSupport | None = None
    """The part of the dialect the store's filter takes (None: all of it)."""
    shared_across_processes: ClassVar[bool] = False
    """The store is an object in this process: a client process would get a copy of it."""

    def open(self) -> VectorBackend:
        return self.connect()

    def destroy(self) -> None:
        try:
            self.close_store()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def versions(self) -> dict[str, str]:
        return dict(self.library_versions)


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of the distributions that make up an integration, for seed files."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
