"""Hypothesis profiles for contract machines: ``ci``, ``nightly``, ``dev`` and ``campaign``.

``ci`` is derandomised (the same cases on every machine and every run, under xdist or alone)
and bounded so the whole contract suite fits a pull-request run; ``nightly`` searches randomly
with a larger budget per round, for a scheduled job that runs under a time budget
(``--umi-time-budget``) and uploads the seeds it writes; ``dev`` explores randomly and keeps
failures in the local example database; ``campaign`` searches long and randomly.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

SLOW_BACKEND_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
"""Real backends take milliseconds per call; Hypothesis must not call that unhealthy."""

WITHOUT_EXPLAIN = tuple(phase for phase in Phase if phase is not Phase.explain)
"""The explain phase reruns the shrunk failure many times to annotate it; for a real backend
that costs more than the shrinking, and the seed file's replay already tells the story."""

_COMMON = settings(deadline=None, report_multiple_bugs=False, suppress_health_check=SLOW_BACKEND_CHECKS)
_UNATTENDED = settings(_COMMON, database=None, print_blob=False, phases=WITHOUT_EXPLAIN)

PROFILES = {
    "ci": settings(_UNATTENDED, max_examples=60, stateful_step_count=25, derandomize=True),
    "nightly": settings(_UNATTENDED, max_examples=200, stateful_step_count=50, derandomize=False),
    "dev": settings(_COMMON, max_examples=100, stateful_step_count=30),
    "campaign": settings(_UNATTENDED, max_examples=2000, stateful_step_count=60),
}


def register_profiles() -> None:
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)
