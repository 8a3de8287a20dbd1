"""The ``lance`` backend written by an older lancedb release, then opened by the current one.

The older release runs in its own environment (``umi_dst.upgrade.envs``) behind the driver
script ``umi_dst/upgrade/lance_driver.py``; the current release is the ``lance`` backend's own
``LanceVectorBackend`` on the same directory. The older side declares ``data_dir``, so the
harness's ``crash`` fault kills its writes mid-way (the file operations are watched whichever
process makes them) and the current release must read the state the crash left.

``lance-approx from lancedb==X`` is the approximate store: the older release builds the
IVF_HNSW_SQ index of ``lance-approx``'s ``IndexPlan`` once the rows it needs exist and
searches through it; the current release opens that index (it finds it built, so it builds
none) and searches, and recall is checked, through the index the older release trained.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from umi_dst.backends.lance.factory import build_factory
from umi_dst.backends.lance.store import IndexPlan, LanceStore

from umi_dst.contract import DEFAULT_SCORE_ATOL, FactoryBuilder, Nemesis
from umi_dst.upgrade import envs
from umi_dst.upgrade.client import Driver, DriverBackend
from umi_dst.upgrade.factory import UpgradeFactory
from umi_dst.validation import validate_dim

DRIVER = Path(__file__).resolve().parents[2] / "umi_dst" / "upgrade" / "lance_driver.py"
STORE_NAME = "lance"


def start_driver(python: Path, store: LanceStore) -> Driver:
    """A driver process of the release ``python`` belongs to, serving connections to ``store``
    (approximate, with the store's index plan, when it has one)."""
    extra = () if store.index is None else (json.dumps(dataclasses.asdict(store.index)),)
    return Driver(python, DRIVER, store.path, store.dim, store.table_name, extra)


@dataclass
class OldLanceFactory:
    """Connections to one Lance store, all served by one driver process of the older release."""

    python: Path
    store: LanceStore
    name: str = "lance (older release)"
    score_atol: float = DEFAULT_SCORE_ATOL
    nemeses: dict[str, Nemesis] = field(default_factory=dict)
    _driver: Driver | None = None
    _versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        creator = self.open()
        creator.ensure_table()
        hello = creator.hello()
        self._versions = {name: str(hello[name]) for name in ("lancedb", "pyarrow")}
        creator.close()

    @property
    def dim(self) -> int:
        return self.store.dim

    @property
    def approximate(self) -> bool:
        return self.store.index is not None

    @property
    def recall_floor(self) -> float | None:
        return None if self.store.index is None else self.store.index.recall_floor

    @property
    def data_dir(self) -> Path:
        return Path(self.store.path)

    def open(self) -> DriverBackend:
        if self._driver is None:
            self._driver = start_driver(self.python, self.store)
        return self._driver.connect(self.dim)

    def end_connections(self) -> None:
        """Stop the driver: no connection of the older release outlives the upgrade."""
        if self._driver is not None:
            self._driver.stop()
            self._driver = None

    def destroy(self) -> None:
        self.end_connections()
        shutil.rmtree(self.store.path, ignore_errors=True)

    def versions(self) -> dict[str, str]:
        return dict(self._versions)


def builder(requirement: str, spec: str, index: IndexPlan | None = None) -> FactoryBuilder:
    """Builds, for each test case, a store written by ``requirement`` and read by this lancedb
    (approximate, with ``index``, as ``lance-approx``)."""
    from umi_dst.registry import BackendUnavailable

    try:  # made now, when the spec is resolved: a campaign's workers then find it cached
        python = envs.ensure_env(requirement)
    except envs.EnvironmentFailed as exc:
        raise BackendUnavailable(str(exc)) from None

    def build(workdir: Path, dim: int) -> UpgradeFactory:
        store = LanceStore(path=str(Path(workdir) / STORE_NAME), dim=validate_dim(dim), index=index, compaction=None)
        old = OldLanceFactory(python, store)
        new = build_factory(workdir, dim, name=STORE_NAME, index=index, create_table=False)
        return UpgradeFactory(old, new, name=spec)

    return build


def approximate_builder(requirement: str, spec: str) -> FactoryBuilder:
    """``lance-approx from <release>``: the index built by the older release."""
    return builder(requirement, spec, IndexPlan())
