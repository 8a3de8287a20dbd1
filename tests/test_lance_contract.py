"""The whole contract machine (every rule, fault and nemesis) against lance in both modes,
at a small dimension and at the 1536 of common embedding models, as ``ContractTests`` classes:
each is cut into ``umi_shards`` items that ``pytest -n auto`` spreads over the workers, and a
failure leaves a seed file.

The budget is the ``ci`` profile's with fewer examples: every Lance step is a real commit or
scan, and a nemesis step starts a helper process, so the full ``ci`` count would take minutes
per case on a 2-core runner. Campaigns (``umi-dst run --backend lance``) search longer. The
seeds of these backends run from ``seeds/`` itself, so the classes do not collect them again.
"""

from __future__ import annotations

from umi_dst.contract_tests import ContractTests


class LanceContract(ContractTests):
    committed_seeds = False


class TestLance(LanceContract):
    factory, dim, examples = "lance", 8, 40


class TestLance1536(LanceContract):
    factory, dim, examples = "lance", 1536, 20


class TestLanceApprox(LanceContract):
    factory, dim, examples = "lance-approx", 8, 40


class TestLanceApprox1536(LanceContract):
    factory, dim, examples = "lance-approx", 1536, 20
