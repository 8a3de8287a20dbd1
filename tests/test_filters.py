"""The filter dialect: what each filter selects (docs/contract.md §8) and which ones are refused."""

from __future__ import annotations

import pytest

from umi_dst.contract import InvalidInput
from umi_dst.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_IN_VALUES,
    matches,
    operator_names,
    parse_filter,
)
from umi_dst.metadata import MAX_KEYS, MAX_STRING_LENGTH, validate_metadata

RECORDS = {
    "int": {"user": "u1", "n": 1},
    "float": {"user": "u2", "n": 1.0},
    "bool": {"user": "u1", "n": True},
    "str": {"user": "u3", "n": "1"},
    "big": {"n": 2**53 + 1},
    "negzero": {"n": -0.0},
    "none": {},
    "accent": {"user": "é"},
    "upper": {"user": "Z"},
}


def selected(raw: object) -> set[str]:
    node = parse_filter(raw)
    return {name for name, metadata in RECORDS.items() if matches(node, metadata)}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, set(RECORDS)),
        ({"n": 1}, {"int", "float"}),  # numbers by value; True and "1" are other kinds
        ({"n": True}, {"bool"}),
        ({"n": "1"}, {"str"}),
        ({"n": {"$ne": 1}}, set(RECORDS) - {"int", "float"}),  # $ne holds on a missing key
        ({"n": {"$gt": 0}}, {"int", "float", "big"}),  # never across kinds, so not True
        ({"n": {"$gt": 2.0**53}}, {"big"}),  # ints compared exactly, not through float64
        ({"n": {"$lte": 0}}, {"negzero"}),
        ({"n": 0}, {"negzero"}),  # -0.0 equals 0
        ({"user": {"$gt": "u"}}, {"int", "float", "bool", "str", "accent"}),  # code point order: "é" > "u" > "Z"
        ({"user": {"$lt": "a"}}, {"upper"}),
        ({"n": {"$in": []}}, set()),
        ({"n": {"$nin": []}}, set(RECORDS)),
        ({"n": {"$in": [True, "1"]}}, {"bool", "str"}),
        ({"n": {"$nin": [1]}}, set(RECORDS) - {"int", "float"}),
        ({"n": {"$exists": False}}, {"none", "accent", "upper"}),
        ({"$not": {"user": "u1"}}, set(RECORDS) - {"int", "bool"}),
        ({"$or": [{"user": "u2"}, {"n": "1"}]}, {"float", "str"}),
        ({"user": "u1", "n": {"$gte": 1, "$lt": 2}}, {"int"}),
        ({"$and": [{"user": {"$exists": True}}, {"$not": {"n": {"$exists": True}}}]}, {"accent", "upper"}),
    ],
)
def test_each_decision_selects_exactly_these_records(raw, expected):
    assert selected(raw) == expected


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ([("user", "u1")], "must be a dict"),
        ({"$where": "1"}, "unknown logical operator"),
        ({"$eq": 1}, "field operators go inside a field"),
        ({"n": {"$regex": "."}}, "unknown field operator"),
        ({"n": {}}, "at least one operator"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"n": {"$gt": True}}, "not the bool"),
        ({"n": {"$in": "abc"}}, "list of values"),
        ({"n": {"$in": [None]}}, "str, int, float or bool"),
        ({"n": {"$in": list(range(MAX_IN_VALUES + 1))}}, f"at most {MAX_IN_VALUES} values"),
        ({"n": {"$exists": 1}}, "true or false"),
        ({"n": float("nan")}, "finite"),
        ({"n": 2**63}, "64-bit"),
        ({"n": [1]}, "str, int, float or bool"),
        ({"": 1}, "1 to 64 characters"),
        ({"a\x00b": 1}, "NUL"),
        ({3: 1}, "field name must be a str"),
        ({f"k{i}": i for i in range(MAX_CONDITIONS + 1)}, f"at most {MAX_CONDITIONS} field conditions"),
    ],
)
def test_malformed_filters_are_refused_naming_the_defect(raw, named):
    with pytest.raises(InvalidInput, match=named):
        parse_filter(raw)


def test_nesting_is_bounded():
    nested: dict = {"n": 1}
    for _ in range(MAX_DEPTH):
        nested = {"$not": nested}
    parse_filter(nested)
    with pytest.raises(InvalidInput, match=f"at most {MAX_DEPTH} levels"):
        parse_filter({"$and": [nested]})


def test_operator_names_lists_each_operator_once():
    node = parse_filter({"a": 1, "$or": [{"b": {"$in": [1]}}, {"c": 2}]})
    assert operator_names(node) == ["$and", "$eq", "$or", "$in"]


def test_metadata_keeps_every_value_and_its_type():
    given = {"s": "x'\\%_\"", "i": 2**63 - 1, "f": 1.0, "b": True, "u": "\U0001f600"}
    kept = validate_metadata(given)
    assert kept == given and [type(v) for v in kept.values()] == [str, int, float, bool, str]
    assert kept is not given and validate_metadata(None) == {}


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ([("a", 1)], "dict or None"),
        ({f"k{i}": i for i in range(MAX_KEYS + 1)}, f"at most {MAX_KEYS} keys"),
        ({"$a": 1}, "must not start with"),
        ({"k" * 65: 1}, "1 to 64 characters"),
        ({"a": "x" * (MAX_STRING_LENGTH + 1)}, f"at most {MAX_STRING_LENGTH}"),
        ({"a": "\ud800"}, "UTF-8"),
        ({"a": -(2**63) - 1}, "64-bit"),
        ({"a": float("inf")}, "finite"),
        ({"a": None}, "str, int, float or bool"),
        ({"a": {"b": 1}}, "str, int, float or bool"),
    ],
)
def test_bad_metadata_is_refused_naming_the_defect(metadata, named):
    with pytest.raises(InvalidInput, match=named):
        validate_metadata(metadata)
