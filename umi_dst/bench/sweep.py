"""Approximate search knobs swept as recall against queries per second."""

from __future__ import annotations

from pathlib import Path

from umi_dst.bench.data import Dataset
from umi_dst.bench.truth import GroundTruth


def sweep(spec: str, dataset: Dataset, truth: GroundTruth, workdir: Path) -> dict | None:
    """Recall@10 and QPS at each value of ``spec``'s search knob; None if it has none."""
    return None
