"""Shared fixtures: every test works in its own temporary directory (isolated per xdist worker)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import settings

from umi_dst.campaign.shard import CampaignResult, run_campaign


@pytest.fixture
def ci_settings() -> settings:
    """The ``ci`` profile's budget, whatever profile the run was started with."""
    return settings.get_profile("ci")


@pytest.fixture
def ci_campaign(tmp_path, ci_settings) -> Callable[[str], CampaignResult]:
    """Runs a campaign of a backend spec in the ci budget (dim 8, seed 0), in ``tmp_path``."""

    def campaign(spec: str) -> CampaignResult:
        return run_campaign(
            spec,
            dim=8,
            examples=ci_settings.max_examples,
            steps=ci_settings.stateful_step_count,
            seed=0,
            seeds_dir=tmp_path / "seeds",
            workdir=tmp_path,
        )

    return campaign
