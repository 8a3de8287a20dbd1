"""Crash states: recorded file operations of real writes, every prefix checked, crash points exact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from umi_dst.backends.lance.factory import exact_factory
from umi_dst.backends.lance.upstream import batch_loop

from umi_dst.checking import crash_states, file_ops
from umi_dst.checking.checks import ContractViolation
from umi_dst.checking.crash_states import AFTER_OPS, CRASH, TORN
from umi_dst.checking.harness import Harness, timing_dependent
from umi_dst.operations import CrashPoint, Delete, Step, Store, StoreBatch
from umi_dst.recipes import Random, random_matrix
from umi_dst.seedfiles.codec import decode_step, encode_step
from umi_dst.selftest import json_files, log_files

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
        (AFTER_OPS, 0, None),
        (TORN, 0, 0),
        (TORN, 0, 2),
        (AFTER_OPS, 1, None),
        (AFTER_OPS, 2, None),
        (AFTER_OPS, 3, None),
    ]
    assert states[2].files == {"d": None, "d/old": b"0", "d/new.tmp": b"ab"}
    assert (
        states[2].label(3) == "crash in file operation 1 of 3, its file holding 2 bytes (a new file, 2 of its 4 bytes)"
    )
    assert states[-1].files == {"d": None, "d/new": b"abcd"}
    assert crash_states.chosen(states, CrashPoint(TORN, 0)) is states[2]
    assert crash_states.chosen(states, CrashPoint(TORN, 1)) is states[3], "a rename cannot tear"
    assert crash_states.chosen(states, CrashPoint(AFTER_OPS, 99)) is states[-1]
    with pytest.raises(ValueError, match="not a file crash point"):
        crash_states.chosen(states, CrashPoint("mid_copy", 1))


def torn(old: bytes | None, new: bytes) -> list[bytes]:
    return [content for content, _ in crash_states.torn_variants(old, new)]


def test_a_new_file_is_torn_empty_and_half_written():
    assert crash_states.torn_variants(None, b"abcd") == [
        (b"", "a new file, 0 of its 4 bytes"),
        (b"ab", "a new file, 2 of its 4 bytes"),
    ]
    assert torn(None, b"a") == [b""] and torn(None, b"") == []


def test_an_append_keeps_every_old_byte_and_a_prefix_of_the_new_ones():
    assert crash_states.torn_variants(b"0123456789", b"0123456789abcd") == [
        (b"0123456789ab", "its 10 old bytes and 2 of 4 new")
    ]
    assert torn(b"old", b"old!") == [], "one appended byte lands whole or not at all"
    assert torn(b"", b"abcd") == [b"ab"], "an existing empty file is appended to, not created"


def test_a_truncation_is_atomic():
    assert torn(b"0123456789", b"0123") == [] and torn(b"0123", b"") == []


def test_an_in_place_write_is_torn_only_in_the_bytes_it_changed():
    assert crash_states.torn_variants(b"abcdefgh", b"abWXYZgh") == [
        (b"abWXYfgh", "its 2 unchanged bytes, 3 of 6 rewritten, then its old bytes 5 to 8")
    ]
    assert torn(b"abcd", b"abXYZWVU") == [b"abXYZ"], "past the old end, no old bytes are left"
    assert torn(b"abcd", b"abXd") == [], "one changed byte lands whole or not at all"


def test_a_rewrite_that_shrinks_a_file_is_torn_in_place_or_left_uncut():
    assert crash_states.torn_variants(b"{a,b,c}", b"{a,c}") == [
        (b"{a,c}c}", "its 5 new bytes, then its old bytes 5 to 7, not yet cut off"),
        (b"{a,c,c}", "its 3 unchanged bytes, 1 of 2 rewritten, then its old bytes 4 to 7"),
    ]
    assert torn(b"{a,b}", b"{a}") == [b"{a}b}"], "a one-byte change leaves only the state before the cut"


def test_recorded_appends_and_truncations_tear_as_the_model_says(tmp_path):
    """A real append is one torn ``Put`` whose torn state keeps the old bytes; a real ftruncate
    is a ``Put`` with no torn state."""
    log = tmp_path / "log"
    log.write_bytes(b"old\n")

    def append() -> None:
        with open(log, "ab") as out:
            out.write(b"new!\n")

    _, before, ops, _ = file_ops.record(tmp_path, append)
    assert ops == [file_ops.Put("log", b"old\nnew!\n", torn=True)]
    assert crash_states.chosen(crash_states.crash_states(before, ops), CrashPoint(TORN, 0)).files == {"log": b"old\nne"}
    _, before, ops, _ = file_ops.record(tmp_path, lambda: os.truncate(log, 2))
    assert ops == [file_ops.Put("log", b"ol", torn=True)]
    assert [s.point for s in crash_states.crash_states(before, ops)] == [AFTER_OPS, AFTER_OPS]


def test_renames_links_removals_and_new_directories_never_tear():
    before = {"d": None, "d/a": b"old", "d/b": b"gone"}
    ops = [
        file_ops.MakeDir("e"),
        file_ops.Put("d/link", b"old", torn=False),
        file_ops.Rename("d/link", "d/a"),
        file_ops.Remove("d/b"),
    ]
    states = crash_states.crash_states(before, ops)
    assert [s.point for s in states] == [AFTER_OPS] * 5
    assert crash_states.chosen(states, CrashPoint(TORN, 3)) is states[3]


def test_a_torn_write_is_torn_from_what_its_path_holds_at_that_point():
    """A file renamed into place earlier in the write is the old content its next write tears."""
    before = {"log": b"line 1\n"}
    ops = [
        file_ops.Put("log.tmp", b"line 1\nline 2\n", torn=False),
        file_ops.Rename("log.tmp", "log"),
        file_ops.Put("log", b"line 1\nline 2\nline 3\n", torn=True),
    ]
    states = crash_states.crash_states(before, ops)
    chosen = crash_states.chosen(states, CrashPoint(TORN, 2))
    assert chosen.files == {"log": b"line 1\nline 2\nlin"} and chosen.torn_bytes == 17
    assert (
        chosen.label(3) == "crash in file operation 3 of 3, its file holding 17 bytes (its 14 old bytes and 3 of 7 new)"
    )


def test_materialize_turns_a_directory_into_any_crash_state(tmp_path):
    current = file_ops.snapshot(tmp_path)
    for target in ({"a": None, "a/b": b"1", "c": b""}, {"c": b"2"}, {}):
        crash_states.materialize(tmp_path, current, target)
        assert file_ops.snapshot(tmp_path) == target
        current = target


def test_materialize_leaves_the_files_two_states_share_untouched(tmp_path):
    """A store's crash states differ in a few of its many files: only those are rewritten."""
    current = {"d": None, "d/same": b"kept", "d/changed": b"old", "gone": b"x"}
    crash_states.materialize(tmp_path, {}, current)
    os.utime(tmp_path / "d" / "same", ns=(1, 1))
    target = {"d": None, "d/same": b"kept", "d/changed": b"new", "d/added": b"+"}
    crash_states.materialize(tmp_path, current, target)
    assert file_ops.snapshot(tmp_path) == target
    assert (tmp_path / "d" / "same").stat().st_mtime_ns == 1, "a file both states hold alike was rewritten"


@pytest.mark.parametrize(
    "builder", [exact_factory, json_files.correct, log_files.correct], ids=["lance", "json-files", "log-files"]
)
def test_a_correct_file_store_passes_every_crash_state_of_every_write(tmp_path, builder):
    harness = run_steps(builder(tmp_path, DIM), WRITES)
    assert harness.crash_states_checked >= 4 * 3, "every crash write checks several states"


@pytest.mark.parametrize(
    ("builder", "violation"),
    [
        (
            json_files.rewrites_in_place,
            r"file operation 1 of 1, its file holding 0 bytes \(a new file, 0 of its \d+ bytes\): a fresh connection fails",
        ),
        (json_files.acknowledges_before_durable, "lost the write"),
        (batch_loop, "neither all-old nor all-new"),
        (
            log_files.batch_per_item,
            r"its \d+ old bytes and \d+ of \d+ new\) left a state that is neither all-old nor all-new",
        ),
    ],
    ids=["rewrites-in-place", "acknowledges-before-durable", "lance-batch-loop", "log-batch-per-item"],
)
def test_crash_states_catch_planted_crash_bugs(tmp_path, builder, violation):
    with pytest.raises(ContractViolation, match=violation):
        run_steps(builder(tmp_path, DIM), WRITES)


@pytest.mark.parametrize(
    ("before", "crash", "violation"),
    [
        (1, "store_batch", r"its \d+ unchanged bytes, \d+ of \d+ rewritten\): a fresh connection fails"),
        (3, "delete", r"its \d+ new bytes, then its old bytes \d+ to \d+, not yet cut off\): a fresh connection fails"),
    ],
    ids=["rewritten-longer", "rewritten-shorter"],
)
def test_a_store_rewriting_an_existing_file_is_caught_by_the_in_place_torn_state(tmp_path, before, crash, violation):
    """Truncating and rewriting a file is read as writing it in place; the spliced state is
    neither old nor new, so the planted bug is caught on a file that exists too."""
    steps = [Step(step.op) for step in WRITES[:before]] + [WRITES[before]]
    assert steps[-1].op.kind == crash
    with pytest.raises(ContractViolation, match=violation):
        run_steps(json_files.rewrites_in_place(tmp_path, DIM), steps)


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
    from umi_dst.backends.sim import SimFactory

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
