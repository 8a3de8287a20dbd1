"""The whole contract machine (every rule, fault and nemesis) against postgres, in both modes,
at a small dimension and at the 1536 of common embedding models.

The ``ci`` profile's cases, fewer of them: each crash nemesis restarts the server, and at 1536
every bulk step writes megabytes, so the full budget would take minutes per backend. Longer
searches are for ``umi-dst run --backend postgres``.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from umi_dst.machine import run_contract_machine

EXAMPLES = {8: 60, 1536: 25}


@pytest.mark.parametrize("dim", sorted(EXAMPLES))
@pytest.mark.parametrize("backend", ["postgres", "postgres-approx"])
def test_contract_machine(backend, dim, tmp_path, ci_settings):
    run_contract_machine(backend, dim=dim, workdir=tmp_path, settings=settings(ci_settings, max_examples=EXAMPLES[dim]))
