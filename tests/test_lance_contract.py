"""The whole contract machine (every rule, fault and nemesis) against lance in both modes,
at a small dimension and at the 1536 of common embedding models.

The budget is the ``ci`` profile's with fewer examples: every Lance step is a real commit or
scan, and a nemesis step starts a helper process, so the full ``ci`` count would take minutes
per case on a 2-core runner. Campaigns (``umi-dst run --backend lance``) search longer.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from umi_dst.machine import run_contract_machine

EXAMPLES = {8: 40, 1536: 20}


@pytest.mark.parametrize("dim", sorted(EXAMPLES))
@pytest.mark.parametrize("backend", ["lance", "lance-approx"])
def test_contract_machine(backend, dim, tmp_path, ci_settings):
    budget = settings(ci_settings, max_examples=EXAMPLES[dim])
    run_contract_machine(backend, dim=dim, workdir=tmp_path, settings=budget)
