"""The whole contract machine (every rule, fault and nemesis) against postgres, in both modes,
at a small dimension and at the 1536 of common embedding models, as ``ContractTests`` classes:
each is cut into ``umi_shards`` items that ``pytest -n auto`` spreads over the workers, and a
failure leaves a seed file.

The ``ci`` profile's cases, fewer of them: each crash nemesis restarts the server, and at 1536
every bulk step writes megabytes, so the full budget would take minutes per backend. Longer
searches are for ``umi-dst run --backend postgres``. The seeds of these backends run from
``seeds/`` itself, so the classes do not collect them again.
"""

from __future__ import annotations

from umi_dst.contract_tests import ContractTests


class PostgresContract(ContractTests):
    committed_seeds = False


class TestPostgres(PostgresContract):
    factory, dim, examples = "postgres", 8, 60


class TestPostgres1536(PostgresContract):
    factory, dim, examples = "postgres", 1536, 25


class TestPostgresApprox(PostgresContract):
    factory, dim, examples = "postgres-approx", 8, 60


class TestPostgresApprox1536(PostgresContract):
    factory, dim, examples = "postgres-approx", 1536, 25
