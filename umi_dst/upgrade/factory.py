"""A test case that starts on an older release and ends on the current one, on one store.

``UpgradeFactory`` opens connections of the older release until the harness finishes the
case's steps; then ``upgrade`` switches to the current release on the same directory, checks
the full state against the oracle (count, every record bit for bit, searches), and continues
with writes and searches on the current release, which the harness's final checks then
judge again. The continuation is derived from the oracle's state alone, so a seed replays it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from umi_dst.checking import checks
from umi_dst.contract import BackendFactory, Nemesis, VectorBackend
from umi_dst.operations import Delete, Reopen, Search, Step, Store, StoreBatch
from umi_dst.recipes import Random

CONTINUATION_SEED = 28_000
"""Where the continuation's vector seeds start: far from the small seeds strategies draw."""
SEARCH_LIMITS = (1, 10, 100)


@dataclass
class UpgradeFactory:
    """Connections of ``old`` until ``upgrade``, then of ``new``: two releases, one store."""

    old: BackendFactory
    new: BackendFactory
    name: str
    upgraded: bool = False
    steps_after_upgrade: list[Step] = field(default_factory=list)

    def __post_init__(self) -> None:
        for promise in ("dim", "score_atol", "approximate", "recall_floor"):
            if getattr(self.old, promise) != getattr(self.new, promise):
                raise ValueError(f"the two releases of {self.name!r} declare different {promise}")

    @property
    def current(self) -> BackendFactory:
        return self.new if self.upgraded else self.old

    @property
    def dim(self) -> int:
        return self.old.dim

    @property
    def score_atol(self) -> float:
        return self.old.score_atol

    @property
    def approximate(self) -> bool:
        return self.old.approximate

    @property
    def recall_floor(self) -> float | None:
        return self.old.recall_floor

    @property
    def nemeses(self) -> dict[str, Nemesis]:
        """The older release's faults: the generated steps all run on it."""
        return dict(self.old.nemeses)

    @property
    def data_dir(self) -> Path | None:
        return getattr(self.old, "data_dir", None)

    def open(self) -> VectorBackend:
        return self.current.open()

    def upgrade(self, harness) -> None:
        """Reopen the store with the current release, check all of it, and keep writing."""
        self.upgraded = True
        harness.reopen()
        end = getattr(self.old, "end_connections", None)
        if end is not None:
            end()
        checks.equal("count() after the upgrade", harness.backend.count(), harness.oracle.count())
        harness._compare_every_record("after the upgrade")
        self.steps_after_upgrade = continuation(harness.oracle.ids())
        for step in self.steps_after_upgrade:
            harness.run(step)

    def destroy(self) -> None:
        self.old.destroy()
        self.new.destroy()

    def versions(self) -> dict[str, str]:
        written = {f"{name} (written with)": version for name, version in getattr(self.old, "versions", dict)().items()}
        return {**written, **getattr(self.new, "versions", dict)()}


def continuation(ids: list[str]) -> list[Step]:
    """Searches, then writes of new and existing ids and a delete, on the upgraded store."""
    seed = iter(range(CONTINUATION_SEED, CONTINUATION_SEED + 100))
    steps = [Step(Search(Random(next(seed)), limit)) for limit in SEARCH_LIMITS]
    steps.append(Step(Store("after-upgrade-0", Random(next(seed)))))
    steps.append(Step(StoreBatch(tuple((f"after-upgrade-{i}", Random(next(seed))) for i in range(1, 9)))))
    existing = sorted(ids)
    if existing:
        steps.append(Step(Store(existing[-1], Random(next(seed)))))
        steps.append(Step(Delete(existing[0])))
    steps.append(Step(Reopen()))
    steps.extend(Step(Search(Random(next(seed)), limit)) for limit in SEARCH_LIMITS)
    return steps
