"""Crash states: recorded file operations of real writes, every prefix checked, crash points exact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from umi_dst.selftest import json_files
from backends.lance.factory import exact_factory
from backends.lance.upstream import batch_loop
from umi_dst import crash_states, file_ops
from umi_dst.checks import ContractViolation
from umi_dst.codec import decode_step, encode_step
from umi_dst.crash_states import AFTER_OPS, CRASH, TORN
from umi_dst.harness import Harness, timing_dependent
from umi_dst.operations import CrashPoint, Delete, Step, Store, StoreBatch
from umi_dst.recipes import Random, random_matrix

DIM = 8
WRITES = [
    Step(Store("kept", Random(1)), CRASH, CrashPoint(AFTER_OPS, 9)),
    Step(StoreBatch((("a", Random(2)), ("b", Random(3)), ("kept", Random(4)))), CRASH, CrashPoint(AFTER_OPS, 2)),
    Step(Store("c", Random(5)), CRASH, CrashPoint(TORN, 0)),
    Step(Delete("kept"), CRASH, CrashPoint(AFTER_OPS, 1000)),
]


def run_steps(factory, steps) -> Harness:
    harness = Harness(factory)
    try:
        for step in steps:
            harness.run(step)
        harness.finish()
    finally:
        harness.close()
        factory.destroy()
    return harness


def test_a_lance_commit_is_recorded_in_order_and_replays_to_the_directory_it_left(tmp_path):
    factory = exact_factory(tmp_path, DIM)
    backend = factory.open()
    backend.store("x", random_matrix(0, 1, DIM)[0])
    batch = list(zip(["a", "b"], random_matrix(1, 2, DIM)))
    _, before, ops, after = file_ops.record(factory.data_dir, lambda: backend.store_batch(batch))
    replayed = before
    for op in ops:
        replayed = file_ops.apply(replayed, op)
    assert replayed == after
    published = [i for i, op in enumerate(ops) if isinstance(op, file_ops.Put) and op.path.endswith(".manifest")]
    data = [i for i, op in enumerate(ops) if isinstance(op, file_ops.Rename) and op.target.endswith(".lance")]
    assert len(published) == 1 and data and max(data) < published[0], "the manifest is published after the data"
    assert not ops[published[0]].torn, "the manifest appears by a hard link, atomically"
    factory.destroy()


def test_crash_states_are_every_prefix_with_torn_writes_and_a_point_names_one():
    before = {"d": None, "d/old": b"0"}
    ops = [file_ops.Put("d/new.tmp", b"abcd", True), file_ops.Rename("d/new.tmp", "d/new"), file_ops.Remove("d/old")]
    states = crash_states.crash_states(before, ops)
    assert [(s.point, s.k, s.torn_bytes) for s in states] == [
        (AFTER_OPS, 0, None), (TORN, 0, 0), (TORN, 0, 2), (AFTER_OPS, 1, None), (AFTER_OPS, 2, None), (AFTER_OPS, 3, None)
    ]
    assert states[2].files == {"d": None, "d/old": b"0", "d/new.tmp": b"ab"}
    assert states[-1].files == {"d": None, "d/new": b"abcd"}
    assert crash_states.chosen(states, CrashPoint(TORN, 0)) is states[2]
    assert crash_states.chosen(states, CrashPoint(TORN, 1)) is states[3], "a rename cannot tear"
    assert crash_states.chosen(states, CrashPoint(AFTER_OPS, 99)) is states[-1]
    with pytest.raises(ValueError, match="not a file crash point"):
        crash_states.chosen(states, CrashPoint("mid_copy", 1))


def test_materialize_turns_a_directory_into_any_crash_state(tmp_path):
    current = file_ops.snapshot(tmp_path)
    for target in ({"a": None, "a/b": b"1", "c": b""}, {"c": b"2"}, {}):
        crash_states.materialize(tmp_path, current, target)
        assert file_ops.snapshot(tmp_path) == target
        current = target


@pytest.mark.parametrize("builder", [exact_factory, json_files.correct], ids=["lance", "json-files"])
def test_a_correct_file_store_passes_every_crash_state_of_every_write(tmp_path, builder):
    harness = run_steps(builder(tmp_path, DIM), WRITES)
    assert harness.crash_states_checked >= 4 * 3, "every crash write checks several states"


@pytest.mark.parametrize(
    ("builder", "violation"),
    [
        (json_files.rewrites_in_place, "file operation 1 of 1, its file holding 0 bytes: a fresh connection fails"),
        (json_files.acknowledges_before_durable, "lost the write"),
        (batch_loop, "neither all-old nor all-new"),
    ],
    ids=["rewrites-in-place", "acknowledges-before-durable", "lance-batch-loop"],
)
def test_crash_states_catch_planted_crash_bugs(tmp_path, builder, violation):
    with pytest.raises(ContractViolation, match=violation):
        run_steps(builder(tmp_path, DIM), WRITES)


def test_the_crash_point_decides_where_the_run_continues(tmp_path):
    batch = StoreBatch((("a", Random(2)), ("b", Random(3))))
    factory = json_files.correct(tmp_path, DIM)
    for point, expected in [(CrashPoint(AFTER_OPS, 0), 0), (CrashPoint(TORN, 0), 0), (CrashPoint(AFTER_OPS, 5), 2)]:
        harness = Harness(factory)
        harness.run(Step(batch, CRASH, point))
        assert harness.backend.count() == harness.oracle.count() == expected, point
        harness.close()
        factory.destroy()


def test_a_crash_point_round_trips_and_is_bounded():
    step = Step(Delete("x"), CRASH, CrashPoint(TORN, 7))
    encoded = json.loads(json.dumps(encode_step(step)))
    assert encoded["at"] == {"point": TORN, "k": 7}
    assert decode_step(encoded, "steps[0]") == step
    for bad, field in [({"point": TORN, "k": -1}, "steps[0].at.k"), ({"point": "", "k": 1}, "steps[0].at.point")]:
        with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
            decode_step({**encoded, "at": bad}, "steps[0]")
    with pytest.raises(ValueError, match="needs the fault"):
        decode_step({"kind": "delete", "id": "x", "at": {"point": TORN, "k": 1}}, "steps[0]")


def test_only_unplaced_nemeses_depend_on_timing():
    assert not timing_dependent(WRITES + [Step(Delete("x"), "error_after")])
    assert timing_dependent([Step(Delete("x"), "competing_writer")])


def test_a_store_without_data_dir_offers_no_crash(tmp_path):
    from backends.sim import SimFactory

    harness = Harness(SimFactory(dim=DIM))
    assert CRASH not in harness.available_faults()
    with pytest.raises(ContractViolation, match="declares no data_dir"):
        harness.run(WRITES[1])
    assert CRASH in Harness(json_files.correct(Path(tmp_path), DIM)).available_faults()


def test_a_file_replaced_twice_in_one_write_keeps_only_its_last_version_the_documented_gap(tmp_path):
    """inotify names a file, not its bytes: once the write replaces it again, the first version's
    bytes are gone, so that version is left out and no state holds it (README, crash model)."""

    def replace(content: bytes) -> None:
        (tmp_path / "file.tmp").write_bytes(content)
        (tmp_path / "file.tmp").rename(tmp_path / "file")

    (tmp_path / "file").write_bytes(b"old")
    _, before, ops, _ = file_ops.record(tmp_path, lambda: (replace(b"first"), replace(b"second")))
    assert [type(op).__name__ for op in ops] == ["Rename", "Put", "Rename"], "the first version's write is left out"
    seen = {state.files.get("file") for state in crash_states.crash_states(before, ops)}
    assert seen == {b"old", b"second"}, "no state holds the first version"


def test_file_work_an_engine_finishes_after_the_call_returns_is_recorded_with_it(tmp_path, monkeypatch):
    """An engine's thread may drop a temporary file just after the write returned (Lance's
    ``_deletions/.tmp…``): the state read at the end and the events must still agree."""
    reads = []
    unpatched = file_ops.snapshot

    def snapshot_racing_a_late_removal(root):
        reads.append(root)
        if len(reads) == 2:  # the first read after the write: the thread removes its temporary now
            (tmp_path / ".tmpLATE").unlink()
        return unpatched(root)

    monkeypatch.setattr(file_ops, "snapshot", snapshot_racing_a_late_removal)
    _, _, ops, after = file_ops.record(tmp_path, lambda: (tmp_path / ".tmpLATE").write_bytes(b"scratch"))
    assert ops == [file_ops.Remove(".tmpLATE")], "the removal is the write's; the scratch bytes are unknowable"
    assert ".tmpLATE" not in after and len(reads) == 3, "the state was read again after the late event"


def test_files_written_side_by_side_each_count_where_they_are_closed(tmp_path):
    """An engine's threads write several files at once (Lance's data and deletion files); each
    is placed at its own close, whatever was created or renamed between."""
    (tmp_path / "c").write_bytes(b"renamed")

    def write_two_files() -> None:
        with open(tmp_path / "a", "wb") as first, open(tmp_path / "b", "wb") as second:
            (tmp_path / "c").rename(tmp_path / "d")
            first.write(b"first")
            first.close()
            second.write(b"second")

    _, _, ops, _ = file_ops.record(tmp_path, write_two_files)
    assert ops == [
        file_ops.Rename("c", "d"),
        file_ops.Put("a", b"first", torn=True),
        file_ops.Put("b", b"second", torn=True),
    ]
