"""The harness: indeterminate writes resolve to all-old or all-new, never a mix."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from backends.sim import SimFactory
from umi_dst.checks import ContractViolation
from umi_dst.contract import WriteCall
from umi_dst.harness import Harness
from umi_dst.operations import Bulk, Count, Delete, Get, Step, Store, StoreBatch
from umi_dst.recipes import OneHot, Random

DIM = 4
BATCH = StoreBatch((("x", OneHot(1)),), Bulk(seed=5, count=40, distinct=30))


@dataclass
class ScriptedNemesis:
    """Applies the first ``applied`` items of a batch (all when ``None``), then raises."""

    applied: int | None
    name: str = "scripted"
    healed: int = 0

    def disturb(self, backend, call: WriteCall) -> None:
        if call.method == "store_batch" and self.applied is not None:
            backend.store_batch(call.args[0][: self.applied])
        elif self.applied is None:
            call.apply(backend)
        raise ConnectionError("connection dropped mid-write")

    def heal(self) -> None:
        self.healed += 1


def harness_with(nemesis) -> Harness:
    return Harness(SimFactory(dim=DIM, nemeses={nemesis.name: nemesis}))


@pytest.mark.parametrize(("applied", "stored"), [(0, 1), (None, 2 + len(set(BATCH.bulk.ids())))])
def test_failed_batch_that_landed_whole_or_not_at_all_is_accepted(applied, stored):
    nemesis = ScriptedNemesis(applied)
    harness = harness_with(nemesis)
    harness.run(Step(Store("a", Random(1))))
    harness.run(Step(BATCH, nemesis.name))
    assert harness.oracle.count() == stored, "the oracle follows the outcome the backend shows"
    assert nemesis.healed == 1
    harness.finish()


def test_failed_batch_that_landed_in_part_is_a_violation():
    nemesis = ScriptedNemesis(applied=10)
    harness = harness_with(nemesis)
    with pytest.raises(ContractViolation, match="neither all-old nor all-new"):
        harness.run(Step(BATCH, nemesis.name))


@pytest.mark.parametrize("fault", ["error_before", "error_after"])
def test_injected_faults_resolve_by_reading_back(fault):
    harness = Harness(SimFactory(dim=DIM))
    harness.run(Step(Store("a", Random(1))))
    harness.run(Step(Delete("a"), fault))
    harness.run(Step(Get("a")))
    assert harness.oracle.exists("a") == (fault == "error_before")


def test_unknown_nemesis_is_reported_not_ignored():
    harness = Harness(SimFactory(dim=DIM))
    with pytest.raises(ContractViolation, match="declares no nemesis 'kill_server'"):
        harness.run(Step(Store("a", Random(1)), "kill_server"))


def test_backend_error_on_valid_write_is_a_violation():
    class Broken(SimFactory):
        def open(self):
            backend = super().open()
            backend.store = lambda id, embedding: (_ for _ in ()).throw(OSError("disk full"))
            return backend

    harness = Harness(Broken(dim=DIM))
    with pytest.raises(ContractViolation, match="store of valid input raised OSError: disk full"):
        harness.run(Step(Store("a", Random(1))))
    harness.run(Step(Count()))
