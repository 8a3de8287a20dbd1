"""Shared fixtures: every test works in its own temporary directory (isolated per xdist worker)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

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


BLOCKER = """\
import importlib.abc
import sys


class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("umi_dst", "backends"):
            raise ImportError(f"an exported script must not need {name}")
        return None


sys.meta_path.insert(0, _Blocked())
"""


@pytest.fixture
def standalone(tmp_path):
    """Start exported scripts in fresh interpreters that cannot import umi_dst or backends
    (a ``sitecustomize`` on the path blocks them, in spawned children too)."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {key: value for key, value in os.environ.items() if not key.startswith("UMI_DST")}
    env["PYTHONPATH"] = str(blocker)

    def start(script: Path, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, str(script), *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    return start
