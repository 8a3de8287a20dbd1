"""Seed files: exact JSON round trip, atomic writes, clear errors for malformed files, and a
failure with a NaN score written so that it replays."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from umi_dst import invalid
from umi_dst.generation.strategies import batches, concrete_id, ids, resolve, searches, stores
from umi_dst.operations import Abandon, Count, Delete, Exists, Get, Invalid, Reopen, Step
from umi_dst.seedfiles import seeds
from umi_dst.seedfiles.codec import decode_step, encode_step

DIM = 6

concrete_steps = st.one_of(
    stores(DIM).map(lambda op: Step(type(op)(op.id, resolve(op.embedding, ["x"])))),
    batches(DIM, 50).map(
        lambda op: Step(type(op)(tuple((concrete_id(i, ["x"]), resolve(r, ["x"])) for i, r in op.items), op.bulk))
    ),
    searches(DIM).map(lambda op: Step(type(op)(resolve(op.query, ["y"]), op.limit))),
    st.builds(lambda id: Step(Delete(id), "error_after"), ids),
    st.builds(lambda id: Step(Get(id)), ids),
    st.builds(lambda id: Step(Exists(id)), ids),
    st.sampled_from([Step(Invalid(c, d)) for c, defects in invalid.DEFECTS.items() for d in defects]),
    st.sampled_from([Step(Count()), Step(Reopen()), Step(Abandon())]),
)


@given(st.lists(concrete_steps, max_size=8))
def test_steps_round_trip_exactly_through_json(steps):
    text = json.dumps([encode_step(s) for s in steps], ensure_ascii=False)
    assert [decode_step(d, f"steps[{i}]") for i, d in enumerate(json.loads(text))] == steps


def make_seed(steps):
    return seeds.SeedFile(
        backend="sim", dim=DIM, steps=steps, failure={"step": 0, "message": "m"}, versions=seeds.software_versions()
    )


def test_write_is_atomic_and_named_by_content(tmp_path):
    seed = make_seed([Step(Count())])
    path = seeds.write(seed, tmp_path)
    assert path == tmp_path / "sim" / f"{seed.digest()}.json"
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temporary file is left behind"
    loaded = seeds.load(path)
    assert loaded.steps == seed.steps and loaded.expectations() == {"sim": "pass"}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("backend"), "backend"),
        (lambda d: d.update(dim="8"), "dim"),
        (lambda d: d.update(version=99), "version"),
        (lambda d: d["steps"].append({"kind": "explode"}), "steps[1].kind"),
        (
            lambda d: d["steps"].append({"kind": "store", "id": 3, "embedding": {"kind": "random", "seed": 1}}),
            "steps[1].id",
        ),
        (
            lambda d: d["steps"].append({"kind": "search", "query": {"kind": "random"}, "limit": 2}),
            "steps[1].query.seed",
        ),
        (lambda d: d["steps"].append({"kind": "count", "extra": 1}), "steps[1]"),
        (lambda d: d.update(expect={"sim": "maybe"}), "expect"),
    ],
)
def test_malformed_seed_error_names_file_and_field(tmp_path, mutate, field):
    path = seeds.write(make_seed([Step(Count())]), tmp_path)
    data = json.loads(path.read_text())
    mutate(data)
    path.write_text(json.dumps(data))
    with pytest.raises(seeds.MalformedSeed) as raised:
        seeds.load(path)
    assert str(path) in str(raised.value) and field in str(raised.value)


def test_unreadable_json_is_a_malformed_seed(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(seeds.MalformedSeed, match="broken.json"):
        seeds.load(path)


NAN_SCORE = "umi_dst.selftest.mutants:upsert_leaves_norm_uncomputed"
"""A planted bug whose search reports NaN scores (a record stored over an existing one)."""


def test_a_seed_written_from_a_nan_score_failure_replays_to_the_failure(tmp_path, capsys):
    """The campaign's own seed and report read back: the NaN is written as strict JSON, and the
    replay reproduces the failure (exit 1), where the reader once refused the file (exit 2)."""
    from umi_dst.campaign import report
    from umi_dst.cli import main

    code = main([
        "run", "--backend", NAN_SCORE, "--examples", "20", "--steps", "10", "--dim", "8", "--seed", "3", "--workers", "1",
        "--seeds-dir", str(tmp_path / "seeds"), "--report-dir", str(tmp_path / "reports"),
    ])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "seed written:" in out
    seed_path = Path(out.split("seed written: ")[1].split()[0])
    text = seed_path.read_text(encoding="utf-8")
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} written as a bare JSON constant"))
    assert '"$float": "NaN"' in text
    loaded = seeds.load(seed_path)
    assert "is nan" in loaded.failure["message"] and math.isnan(loaded.failure["actual"])
    statuses = [bug.status for bug in report.load(next((tmp_path / "reports").glob("campaign-*.json"))).bugs()]
    assert statuses and set(statuses) == {"new"}  # a step's search, and maybe the final search battery too

    assert main(["replay", str(seed_path), "--allow-seed-backend"]) == 1
    assert "FAIL on" in capsys.readouterr().out
    assert main(["replay", str(seed_path), "--backend", "sim", "--quiet"]) == 0
