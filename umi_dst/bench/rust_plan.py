"""The original Rust plan's published Criterion figures: the first yardstick to beat.

Its benchmarks stored single records, batches of 10 to 100, and searched 100 records with
limits 1 to 20; the nearest case here is the 100-record data set. Postgres was never
benchmarked there.
"""

from __future__ import annotations

RUST_PLAN = {
    "sim": {"store_ms": 156e-6, "load_per_s": 1.23e6, "search_100_ms": 0.318},
    "lance": {"store_ms": 15.0, "load_per_s": 39.0, "search_100_ms": 13.0},
}
"""Per backend: single insert latency, batch insert throughput (35-43 elements/s for Lance,
taken at its midpoint), search latency over 100 records."""


def ratios(spec: str, small_case: dict | None) -> dict[str, float] | None:
    """How many times faster than the Rust plan ``spec`` is on the 100-record case.

    Ratios are oriented so that above 1 is better here: plan latency / our latency, and our
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
