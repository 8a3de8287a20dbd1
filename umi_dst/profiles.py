"""Hypothesis profiles for contract machines: ``ci``, ``dev`` and ``campaign``.

``ci`` is derandomised (the same cases on every machine and every run, under xdist or alone)
and bounded so the whole contract suite fits a CI run; ``dev`` explores randomly and keeps
failures in the local example database; ``campaign`` searches long and randomly.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

SLOW_BACKEND_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
"""Real backends take milliseconds per call; Hypothesis must not call that unhealthy."""

_COMMON = settings(deadline=None, report_multiple_bugs=False, suppress_health_check=SLOW_BACKEND_CHECKS)

PROFILES = {
    "ci": settings(
        _COMMON, max_examples=60, stateful_step_count=25, derandomize=True, database=None, print_blob=False
    ),
    "dev": settings(_COMMON, max_examples=100, stateful_step_count=30),
    "campaign": settings(_COMMON, max_examples=2000, stateful_step_count=60, database=None, print_blob=False),
}


def register_profiles() -> None:
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)
