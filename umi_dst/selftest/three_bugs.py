"""A Sim carrying three planted bugs at once, for the proof that one campaign reports each.

Scores are cosine distances, a search returns one result more than asked, and every delete
reports success. The three fail different checks (or the same check on different operations),
so a campaign must save three seeds, each replaying to its own failure.
"""

from __future__ import annotations

from pathlib import Path

from umi_dst.backends.sim import SimFactory
from umi_dst.selftest.mutants import DeleteAlwaysTrue, LimitOffByOne, ScoreIsDistance


class ThreeBugs(ScoreIsDistance, LimitOffByOne, DeleteAlwaysTrue):
    """``ScoreIsDistance`` + ``LimitOffByOne`` + ``DeleteAlwaysTrue``."""


def factory(workdir: Path, dim: int) -> SimFactory:
    return SimFactory(dim=dim, name="mutant:three_bugs", backend_class=ThreeBugs)
