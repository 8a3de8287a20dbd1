"""The crash-points report's measurements, on the small JSON-file store (fast, no server)."""

from __future__ import annotations

from umi_dst.bench.crash_points import WRITE_KINDS, crash_state_rows, soak
from umi_dst.crash_states import CRASH


def test_every_write_kind_gets_its_crash_states_checked_and_a_verdict():
    rows = crash_state_rows("umi_dst.selftest.json_files:correct")
    assert [row.write for row in rows] == list(WRITE_KINDS)
    assert all(row.verdict == "pass" and row.checked >= 2 for row in rows)
    broken = crash_state_rows("umi_dst.selftest.json_files:rewrites_in_place")
    assert all(row.verdict.startswith("violation:") for row in broken)


def test_the_soak_counts_acknowledged_writes_lost():
    assert soak("umi_dst.selftest.json_files:correct", CRASH, cycles=2).lost == 0
    lossy = soak("umi_dst.selftest.json_files:acknowledges_before_durable", CRASH, cycles=2)
    assert lossy.lost > 0 and lossy.violations > 0
