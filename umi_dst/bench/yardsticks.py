"""Figures to measure against: the original Rust plan's published Criterion results, and
the bulk-load goals the backend issues set (at 10,000 x 1536).

The Rust plan's benchmarks stored single records, batches of 10 to 100, and searched 100
records with limits 1 to 20; the nearest case here is the 100-record data set. Postgres
was never benchmarked there.
"""

from __future__ import annotations

from dataclasses import dataclass

RUST_PLAN = {
    "sim": {"store_ms": 156e-6, "load_per_s": 1.23e6, "search_100_ms": 0.318},
    "lance": {"store_ms": 15.0, "load_per_s": 39.0, "search_100_ms": 13.0},
}
"""Per engine: single insert latency, batch insert throughput (35-43 elements/s for Lance,
taken at its midpoint), search latency over 100 records."""

GOAL_CASE = (10_000, 1536)


@dataclass(frozen=True)
class Goal:
    """``spec``'s bulk load at ``GOAL_CASE`` must reach ``factor`` times a reference rate."""

    spec: str
    factor: float
    reference: str
    fixed_per_s: float | None = None
    """A published rate; None means the raw engine measured in the same run."""


GOALS = (
    Goal("lance", 0.8, "raw lancedb create_table, same run"),
    Goal("lance", 1000, "Rust plan Lance batch insert (35 /s)", 35.0),
    Goal("postgres", 2.5, "psycopg COPY write_row as first measured here (7,000 /s)", 7000.0),
)


def rust_ratios(spec: str, small_case: dict | None) -> dict[str, float] | None:
    """How many times better than the Rust plan ``spec`` is on the 100-record case.

    Oriented so that above 1 is better here: plan latency / our latency, and our
    throughput / plan throughput. None when the plan has no figures for this engine.
    """
    plan = RUST_PLAN.get(spec.removesuffix("-approx"))
    if plan is None or small_case is None or "error" in small_case:
        return None
    return {
        "store": plan["store_ms"] / small_case["store"]["p50_ms"],
        "load": small_case["load"]["per_s"] / plan["load_per_s"],
        "search": plan["search_100_ms"] / small_case["search"]["limit_10"]["p50_ms"],
    }


def goal_rows(report: dict) -> list[list[object]]:
    """``[spec, reference, target /s, measured /s, ratio to target]`` for each goal with data."""
    cases = [case for case in report["cases"] if (case["n"], case["dim"]) == GOAL_CASE]
    if not cases:
        return []
    case = cases[0]
    rows = []
    for goal in GOALS:
        figures = case["backends"].get(goal.spec)
        if not figures or "error" in figures:
            continue
        reference = goal.fixed_per_s
        if reference is None:
            raw = (case.get("baselines") or {}).get(goal.spec.split("-")[0]) or {}
            reference = raw.get("load_per_s")
        if reference is None:
            continue
        target = goal.factor * reference
        rows.append(
            [
                goal.spec,
                f"{goal.factor:g} x {goal.reference}",
                target,
                figures["load"]["per_s"],
                figures["load"]["per_s"] / target,
            ]
        )
    return rows
