"""The harness: indeterminate writes resolve to all-old or all-new, never a mix."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
from umi_dst.backends.sim import SimFactory, SimVectorBackend

from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.harness import Harness
from umi_dst.contract import InvalidDeclaration, WriteCall
from umi_dst.operations import Bulk, Count, Delete, Get, Reopen, Step, Store, StoreBatch
from umi_dst.recipes import OneHot, Random
from umi_dst.validation import last_wins

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


def test_a_mixed_state_is_explained_for_one_id_with_both_candidates():
    nemesis = ScriptedNemesis(applied=None)
    harness = harness_with(nemesis)
    harness.run(Step(Store("a", Random(1))))

    class Nudged(ScriptedNemesis):
        def disturb(self, backend, call):
            backend.store("a", np.nextafter(call.args[1], np.float32(np.inf)))  # one ulp off in every value
            raise ConnectionError("connection dropped mid-write")

    harness.factory.nemeses = {"nudged": Nudged(None, name="nudged")}
    with pytest.raises(ContractViolation) as raised:
        harness.run(Step(Store("a", Random(2)), "nudged"))
    message = raised.value.message
    assert "0 ids old, 0 new, 1 neither; 'a' reads back [" in message, message
    assert f"against the old state {DIM} of {DIM} components differ" in message
    assert f"against the new {DIM} of {DIM} components differ, by up to 1 ulps" in message


def test_every_id_of_a_failed_batch_is_read_back():
    """A large failed batch that landed but for its last item is a mix, however many ids it has."""

    class AllButLast(ScriptedNemesis):
        def disturb(self, backend, call):
            backend.store_batch(last_wins(call.args[0])[:-1])
            raise ConnectionError("connection dropped mid-commit")

    nemesis = AllButLast(None, name="all_but_last")
    harness = harness_with(nemesis)
    big = StoreBatch((), Bulk(seed=9, count=1000, distinct=4000))
    with pytest.raises(ContractViolation, match="neither all-old nor all-new: 1 ids old"):
        harness.run(Step(big, nemesis.name))


def test_final_check_compares_every_record():
    harness = Harness(SimFactory(dim=DIM))
    harness.run(Step(StoreBatch((), Bulk(seed=3, count=1000, distinct=4000))))
    stale = harness.oracle.ids()[777]
    harness.backend._put(stale, np.ones(DIM, dtype=np.float32))  # behind the oracle's back
    with pytest.raises(ContractViolation, match=f"get\\({stale!r}\\) on a fresh connection: not a bit-exact"):
        harness.finish()


def test_close_that_raises_is_a_violation_unless_a_fault_came_first():
    class CloseRaises(SimFactory):
        def open(self):
            backend = super().open()
            backend.close = lambda: (_ for _ in ()).throw(OSError("close failed"))
            return backend

    harness = Harness(CloseRaises(dim=DIM))
    with pytest.raises(ContractViolation, match="close\\(\\) of the connection raised OSError with no fault injected"):
        harness.run(Step(Reopen()))
    injected = Harness(CloseRaises(dim=DIM))
    injected.run(Step(Store("a", Random(1)), "error_before"))  # raised by the harness: the connection is fine
    with pytest.raises(ContractViolation, match="close"):
        injected.finish()
    crashed = Harness(CloseRaises(dim=DIM, nemeses={"scripted": ScriptedNemesis(None)}))
    crashed.run(Step(Store("a", Random(1)), "scripted"))  # the reopen after a real fault may fail to close
    assert crashed.oracle.exists("a")


def test_a_write_that_completes_under_a_nemesis_has_its_return_value_checked():
    class Completes(ScriptedNemesis):
        def disturb(self, backend, call):
            call.apply(backend)
            backend.delete("a")  # a retried delete: the last answer is the one reported

    harness = harness_with(Completes(None))
    harness.run(Step(Store("a", Random(1))))
    with pytest.raises(ContractViolation, match="delete returned under scripted: expected True, got False"):
        harness.run(Step(Delete("a"), "scripted"))


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        ({"score_atol": 1.0}, "score_atol = 1.0"),
        ({"approximate": True}, "recall_floor = None"),
        ({"recall_floor": 1.5}, "recall_floor = 1.5"),
    ],
)
def test_declarations_beyond_the_contract_are_refused(declared, field):
    with pytest.raises(InvalidDeclaration, match=f"declares .*{re.escape(field)}.*CONTRACT §3"):
        Harness(SimFactory(dim=DIM, **declared))


class ScanningSim(SimVectorBackend):
    """A Sim that offers ``scan``, altered by ``change`` so that the scan lies about one record."""

    change = staticmethod(lambda ids, matrix: (ids, matrix))

    def scan(self):
        ids = self.ids()
        return self.change(list(ids), self.vectors(ids).copy())


def _flip_low_bit(ids, matrix):
    matrix.view(np.uint32)[1, 2] ^= 1
    return ids, matrix


def _negative_zero(ids, matrix):
    matrix[1, 0] = -0.0
    return ids, matrix


@pytest.mark.parametrize(
    "change, named",
    [
        (_flip_low_bit, "record 'r1'"),
        (_negative_zero, "record 'r1'"),
        (lambda ids, matrix: (ids[1:], matrix[1:]), "record 'r0'"),
        (lambda ids, matrix: ([*ids, "ghost"], np.vstack([matrix, matrix[:1]])), "holds 'ghost'"),
    ],
)
def test_a_scan_that_differs_from_the_oracle_by_one_bit_is_named(change, named):
    """The final check compares a whole scan at once; a difference still names its record."""
    records = [("r0", np.ones(DIM, np.float32)), ("r1", np.array([0.0, 1.0, 2.0, 3.0], np.float32))]
    lying = type("Lying", (ScanningSim,), {"change": staticmethod(change)})
    for backend_class in (ScanningSim, lying):
        harness = Harness(SimFactory(dim=DIM, backend_class=backend_class))
        harness.backend.store_batch(records)
        harness.oracle.store_batch(records)
        if backend_class is ScanningSim:
            harness._compare_every_record("now")  # the honest scan passes
    with pytest.raises(ContractViolation, match=re.escape(named)):
        harness._compare_every_record("now")


class ReversedScan(SimVectorBackend):
    """Scans its records newest first (``FullScan``), so a scan's order is not the oracle's."""

    def scan(self) -> tuple[list[str], np.ndarray]:
        ids = list(reversed(self._ids))
        return ids, np.stack([self.get(id) for id in ids]) if ids else np.empty((0, self.dim), np.float32)


class RepeatingScan(ReversedScan):
    """A planted bug: the scan returns its first record twice."""

    def scan(self) -> tuple[list[str], np.ndarray]:
        ids, matrix = super().scan()
        return [*ids, ids[0]], np.vstack([matrix, matrix[:1]])


class DriftingScan(ReversedScan):
    """A planted bug: the scan flips the sign bit of one value of record ``b`` (``-0.0`` for ``0.0``)."""

    def scan(self) -> tuple[list[str], np.ndarray]:
        ids, matrix = super().scan()
        matrix[ids.index("b"), 0] = -matrix[ids.index("b"), 0]
        return ids, matrix


@pytest.mark.parametrize(
    ("backend_class", "violation"),
    [
        (ReversedScan, None),
        (RepeatingScan, r"scan\(\) returned id 'c' more than once"),
        (DriftingScan, r"scan\(\) after the test, record 'b'"),
    ],
)
def test_every_record_is_compared_bit_for_bit_in_any_scan_order(backend_class, violation):
    harness = Harness(SimFactory(dim=DIM, backend_class=backend_class))
    for id, axis in (("a", 0), ("b", 1), ("c", 2)):
        harness.run(Step(Store(id, OneHot(axis))))
    if violation is None:
        harness._compare_every_record("after the test")
    else:
        with pytest.raises(ContractViolation, match=violation):
            harness._compare_every_record("after the test")
