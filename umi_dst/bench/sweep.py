"""Approximate search knobs swept as recall against queries per second.

Runs on a store that already holds the data set: each knob value runs every query at
limit 10, timing the calls and scoring recall@10 against the Sim. Each knob is swept with
the others at their defaults, and put back afterwards.
"""

from __future__ import annotations

from umi_dst.bench import engines
from umi_dst.bench.data import Dataset
from umi_dst.bench.timing import summary, timed_calls
from umi_dst.bench.truth import GroundTruth
from umi_dst.contract import VectorBackend

LIMIT = 10


def sweep(backend: VectorBackend, dataset: Dataset, truth: GroundTruth) -> list[dict]:
    """One curve per search knob of ``backend`` (none for an exact backend)."""
    curves = []
    for knob in engines.knobs(backend):
        points = []
        for value in knob.values:
            knob.set(value)
            times, results = timed_calls(lambda q: backend.search(q, LIMIT), dataset.queries)
            points.append(
                {"value": value, "recall_at_10": truth.mean_recall(dataset.queries, results), **summary(times)}
            )
        knob.set(knob.default)
        curves.append({"knob": knob.name, "default": knob.default, "points": points})
    return curves
