"""Every committed seed with a crash point replays to the same verdict, run after run."""

from __future__ import annotations

from pathlib import Path

import pytest

from umi_dst.seedfiles import seeds
from umi_dst.seedfiles.replay import replay

REPLAYS = 20
"""The issue's bar; by default a quicker 3 (each replay builds and checks every crash state)."""
SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"
CRASH_SEEDS = sorted(
    path
    for path in SEEDS_DIR.rglob("*.json")
    if seeds.is_seed_file(path) and any(step.at is not None for step in seeds.load(path).steps)
)


def test_there_are_committed_crash_point_seeds():
    assert CRASH_SEEDS, "the half-applied batch of lance-upstream is a crash-point seed"


@pytest.mark.parametrize("replays", [3, pytest.param(REPLAYS, marks=pytest.mark.slow)])
@pytest.mark.parametrize("path", CRASH_SEEDS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_a_crash_point_seed_replays_to_its_verdict_every_time(path, replays):
    seed = seeds.load(path)
    for spec, outcome in seed.expectations().items():
        verdicts = [replay(seed, spec).reproduced for _ in range(replays)]
        assert verdicts == [outcome == "fail"] * replays, f"{spec}: expected to {outcome} every time, got {verdicts}"
