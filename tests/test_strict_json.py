"""Every file the project writes, it reads back: strict JSON in valid UTF-8, whatever a broken
backend returned (NaN, infinities, huge or negative-zero scores, non-UTF-8 bytes in messages)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from umi_dst import strict_json
from umi_dst.campaign import report
from umi_dst.campaign.shard import Finding, ShardResult
from umi_dst.campaign.shards import Shard
from umi_dst.checking.checks import ContractViolation
from umi_dst.contract import SearchResult
from umi_dst.operations import Count, Search, Step
from umi_dst.recipes import Random
from umi_dst.seedfiles import history_codec, parallel_seeds, seeds

ENGINE_OUTPUT = b"engine said: \xff\xfe caf\xc3\xa9 \x80".decode("utf-8", "surrogateescape")
"""An engine's error output that is not UTF-8, decoded the way Python decodes such bytes."""

BROKEN_SCORES = [math.nan, math.inf, -math.inf, 1e308, -1e308, -0.0, 5e-324]


def strict(text: str) -> object:
    """The text as any strict JSON reader sees it: valid UTF-8, no NaN or Infinity."""
    text.encode("utf-8")  # raises on a lone surrogate

    def refuse(name: str) -> object:
        raise AssertionError(f"{name} written as a bare JSON constant")

    return json.loads(text, parse_constant=refuse)


def same(a: object, b: object) -> bool:
    """Equal as data: NaN equals NaN, -0.0 keeps its sign, types are kept (repr shows all three)."""
    return repr(a) == repr(b)


def test_broken_values_are_strict_json_and_read_back_equal():
    value = {
        "scores": BROKEN_SCORES,
        "message": ENGINE_OUTPUT,
        ENGINE_OUTPUT: "a key that is not UTF-8 either",
        "lone": ["\ud800", "\udfff", "a\udc80b"],
        "look-alikes": [{"$float": "NaN"}, {"$object": ["$float", "NaN"]}, {"$float": math.nan}, {"$float": 1, "x": 2}],
        "big": 10**300,
    }
    text = strict_json.dumps(value)
    strict(text)
    assert same(strict_json.loads(text), value)
    assert '{"$float": "NaN"}' in strict_json.dumps(math.nan, indent=None)
    assert strict_json.dumps(-0.0) == "-0.0" and strict_json.dumps(1e308) == "1e+308"


text_with_surrogates = (
    st.lists(st.characters() | st.characters(categories=["Cs"]), max_size=12)
    .map("".join)
    .filter(lambda s: not any("\ud800" <= a <= "\udbff" and "\udc00" <= b <= "\udfff" for a, b in zip(s, s[1:])))
)
"""Any text, often with lone surrogates (``st.text`` all but never draws them), but no high
surrogate directly before a low one: JSON reads such a pair as the character it encodes, the
one string the encoding cannot keep (see strict_json)."""

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.sampled_from(BROKEN_SCORES) | text_with_surrogates,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(text_with_surrogates | st.sampled_from(strict_json.TAGS), children, max_size=3)
    ),
    max_leaves=20,
)


@given(values)
def test_any_value_round_trips_through_strict_utf8_json(value):
    text = strict_json.dumps(value)
    strict(text)
    assert same(strict_json.loads(text), value)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=20,
))  # fmt: skip
def test_canonical_text_of_finite_values_is_unchanged(value):
    """Digests of committed seeds were taken of ``json.dumps(sort_keys=True)``: their names stay."""
    assert strict_json.canonical(value) == json.dumps(value, sort_keys=True)


def test_canonical_text_keeps_different_values_apart():
    texts = [
        strict_json.canonical(v) for v in (math.nan, "NaN", {"$float": "NaN"}, math.inf, -math.inf, 0.0, -0.0, 1e308)
    ]
    assert len(set(texts)) == len(texts)
    assert all(t.isascii() for t in texts) and strict_json.canonical("\udc80").isascii()


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "[Infinity]",
        '{"a": -Infinity}',
        '{"$float": "nan"}',
        '{"$float": 1}',
        '{"$object": ["x", 1]}',
        '{"$object": {}}',
    ],
)
def test_bare_constants_and_malformed_tags_are_refused(text):
    with pytest.raises(ValueError):
        strict_json.loads(text)


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    "value", [10**5000, BrokenRepr(), "x" * 10_000], ids=["int-of-5001-digits", "broken-repr", "long-text"]
)
def test_shown_never_raises_and_keeps_to_its_limit(value):
    shown = strict_json.shown(value, 100)
    assert isinstance(shown, str) and len(shown) <= 100


def written(path: Path) -> object:
    return strict(path.read_bytes().decode("utf-8"))


@pytest.mark.parametrize("score", BROKEN_SCORES)
def test_a_seed_recording_a_broken_score_is_strict_and_loads_equal(score, tmp_path):
    error = ContractViolation(f"search score of 'a' at rank 0 is {score!r}: {ENGINE_OUTPUT}", 0.5, score)
    seed = seeds.SeedFile(
        backend="sim", dim=4, steps=[Step(Search(Random(1), 1))],
        failure=seeds.failure_record(error, 0), versions={"engine": ENGINE_OUTPUT},
    )  # fmt: skip
    path = seeds.write(seed, tmp_path)
    written(path)
    loaded = seeds.load(path)
    assert same(loaded.failure, seed.failure) and same(loaded.failure["actual"], score)
    assert loaded.versions == seed.versions and loaded.digest() == seed.digest() == path.stem


def test_a_failure_value_no_seed_could_hold_is_kept_as_a_bounded_repr(tmp_path):
    deep: list = []
    for _ in range(40):
        deep = [deep]
    circular: list = []
    circular.append(circular)
    for value in (deep, circular, 10**5000, BrokenRepr(), list(range(100_000)), np.float32("nan")):
        record = seeds.failure_record(ContractViolation("m", value, value), 0)
        assert isinstance(record["actual"], str) and len(record["actual"]) <= seeds.MAX_SHOWN
        path = seeds.write(seeds.SeedFile("sim", 4, [Step(Count())], record, {}), tmp_path)
        written(path)
        assert seeds.load(path).failure == record


def test_a_parallel_seed_recording_broken_answers_is_strict_and_loads_equal(tmp_path):
    calls = (
        (0, 0, 10, [SearchResult("a", math.nan), SearchResult("b", -0.0)], None, False, False),
        (0, 20, 30, [SearchResult("a", 1e308), SearchResult("x" * 300, 0.5)], None, False, False),
        (0, 40, 50, np.zeros(3, dtype=np.float32), None, False, False),  # the wrong length for dim 4
        (0, 60, 70, 10**5000, None, False, False),
        (0, 80, 90, None, f"backend error: {ENGINE_OUTPUT}", True, False),
        (0, 100, 110, [SearchResult("b", -0.0)], None, False, False),
    )
    seed = parallel_seeds.ParallelSeed(
        backend="sim", dim=4, clients_as="threads", prefix=[], clients=[[Step(Count())] * len(calls)],
        failure=seeds.failure_record(ContractViolation(ENGINE_OUTPUT, None, math.inf), None), versions={},
        history=history_codec.Recorded(1e-4, True, calls),
    )  # fmt: skip
    path = seeds.write(seed, tmp_path)
    written(path)
    loaded = parallel_seeds.load(path)
    assert same(loaded.failure, seed.failure) and loaded.digest() == seed.digest()
    values = [call[3] for call in loaded.history.calls]
    assert all(isinstance(v, history_codec.Unreadable) for v in values[:4]), "what the loader would refuse is its repr"
    assert "nan" in repr(values[0]) and values[4] is None and same(values[5], [SearchResult("b", -0.0)])
    assert loaded.history.calls[4][4] == f"backend error: {ENGINE_OUTPUT}"
    assert loaded.to_json() == strict_json.loads(strict_json.dumps(seed.to_json()))


def test_a_campaign_report_with_broken_values_is_strict_and_loads_equal(tmp_path):
    shard = ShardResult(Shard("sim", 0, 1, 7, 3), cases=3, seconds=math.inf, error=ENGINE_OUTPUT)
    shard.findings.append(
        Finding(f"search score is nan: {ENGINE_OUTPUT}", f"nan {ENGINE_OUTPUT}", True, seed_path="s.json")
    )
    shard.hits[shard.findings[0].signature] += 1
    campaign = report.CampaignReport({"backends": ["sim"], "seed": 7, "atol": math.nan}, [shard], wall_seconds=-0.0)
    md_path, json_path = campaign.write(tmp_path)
    written(json_path)
    md_path.read_bytes().decode("utf-8")
    loaded = report.load(json_path)
    assert same(loaded.to_json()["shards"], campaign.to_json()["shards"]) and same(loaded.settings, campaign.settings)
    assert report.merge([loaded, loaded]).bugs()[0].message == f"nan {ENGINE_OUTPUT}"
