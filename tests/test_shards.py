"""Shards: the cut of a campaign depends only on its numbers, so every spread runs the same cases."""

from __future__ import annotations

import pytest

from umi_dst.campaign import shards


def test_shares_add_up_and_differ_by_at_most_one():
    for total in (0, 1, 7, 50, 101):
        for parts in (1, 2, 3, 8):
            cut = [shards.share(total, parts, i) for i in range(parts)]
            assert sum(cut) == total
            assert max(cut) - min(cut) <= 1


def test_sub_seeds_are_stable_and_distinct():
    assert shards.sub_seed(0, "sim", 0) == shards.sub_seed(0, "sim", 0)
    seeds = {shards.sub_seed(s, b, i) for s in (0, 1) for b in ("sim", "lance") for i in range(4)}
    assert len(seeds) == 16
    assert shards.sub_seed(0, "sim", 0) == 0x45A68A25F19E837C  # pinned: the same on every machine


def test_slices_partition_the_plan():
    plan = shards.plan(["sim", "lance"], examples=10, shards_per_backend=3, seed=7)
    assert sum(s.examples for s in plan) == 20
    slices = [shards.slice_of(plan, k, 4) for k in range(1, 5)]
    assert sorted((s.backend, s.index) for part in slices for s in part) == sorted((s.backend, s.index) for s in plan)
    with pytest.raises(ValueError, match="between 1 and N"):
        shards.slice_of(plan, 0, 4)


def test_empty_shards_are_left_out():
    assert [s.examples for s in shards.plan(["sim"], examples=2, shards_per_backend=4, seed=0)] == [1, 1]
