"""Qdrant's ``models.Filter`` translation against a real local-mode Qdrant, through langchain-qdrant.

Each decision where Qdrant's own meaning differs from the contract's (``MatchValue`` keeps
ints, floats and bools apart, an empty ``should`` matches everything, ``MatchExcept`` fails on
a missing key, ``Range`` holds floats) is checked on records that tell them apart.
"""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models
from umi_dst.backends.langchain.qdrant import qdrant

from umi_dst.adapters.qdrant_filter import QDRANT_FILTER, filter_of, path
from umi_dst.contract import InvalidInput
from umi_dst.filters import matches, parse_filter

RECORDS = {
    "i1": {"n": 1, "user": "u1"},
    "f1": {"n": 1.0, "user": "u2"},
    "t": {"n": True, "user": "u1"},
    "s": {"n": "1", "kind": "fact"},
    "big": {"n": 2**53 + 1},
    "bigf": {"n": float(2**53), "user": "u'2"},
    "zero": {"n": -0.0, "kind": "'; DROP"},
    "izero": {"n": 0},
    "min": {"n": -(2**63)},
    "none": {"kind": "event"},
    "dotted": {"a.b": "x"},
}
"""Values of every comparison class, and the pairs a careless translation confuses."""

FILTERS = [
    {},
    {"n": 1},
    {"n": 1.0},
    {"n": True},
    {"n": "1"},
    {"n": -0.0},
    {"n": 2**53 + 1},
    {"n": float(2**53)},
    {"n": -(2**63)},
    {"n": {"$ne": 1}},
    {"n": {"$in": [1, True, "1"]}},
    {"n": {"$nin": [1.0, "1"]}},
    {"kind": {"$nin": ["fact"]}},
    {"n": {"$in": []}},
    {"n": {"$nin": []}},
    {"n": {"$gt": 2**53}},
    {"n": {"$gte": -0.0, "$lt": 2}},
    {"kind": {"$exists": True}},
    {"user": {"$exists": False}},
    {"$not": {"user": "u1"}},
    {"$or": [{"user": "u'2"}, {"kind": {"$in": ["fact", "'; DROP"]}}]},
    {"$and": [{}, {"user": {"$ne": "u1"}}]},
    {"$not": {"$or": [{"n": {"$lte": 0}}, {"user": {"$in": ["u1"]}}]}},
    {"a.b": "x"},
]


@pytest.fixture
def backend(tmp_path):
    factory = qdrant(tmp_path, 2)
    try:
        connection = factory.open()
        connection.store_batch([(id, np.array([1.0, i], np.float32), m) for i, (id, m) in enumerate(RECORDS.items())])
        yield connection
    finally:
        factory.destroy()


def test_qdrant_selects_what_the_contract_selects(backend):
    for id, metadata in RECORDS.items():
        got = backend.get_metadata(id)
        assert [(k, type(v), v) for k, v in sorted(got.items())] == [
            (k, type(v), v) for k, v in sorted(metadata.items())
        ]
    assert np.signbit(backend.get_metadata("zero")["n"]), "-0.0 comes back as -0.0"
    for raw in FILTERS:
        expected = {id for id, m in RECORDS.items() if matches(parse_filter(raw), m)}
        assert {r.id for r in backend.search(np.array([1.0, 0.0], np.float32), 100, filter=raw)} == expected, raw
    assert backend.delete_where({"n": {"$in": [0]}}) == 2, "0 and -0.0"
    assert backend.count() == len(RECORDS) - 2


def test_qdrant_refuses_what_it_cannot_say_before_reading(backend):
    with pytest.raises(InvalidInput, match="takes only the filters of"):
        backend.search(np.array([1.0, 0.0], np.float32), 3, filter={"user": {"$gt": "u"}})
    with pytest.raises(InvalidInput, match="takes only the filters of"):
        backend.delete_where({"n": {"$lt": 2**53 + 1}})
    with pytest.raises(InvalidInput, match="reserved for the adapter"):
        backend.store("x", np.ones(2, np.float32), {"_collection_name": "other"})
    with pytest.raises(InvalidInput, match="cannot name the key"):
        backend.search(np.array([1.0, 0.0], np.float32), 3, filter={'a"b': 1})
    assert backend.count() == len(RECORDS)


def test_qdrant_filter_says_each_decision_in_qdrants_terms():
    number = filter_of(parse_filter({"n": 1}))
    assert number == models.Filter(must=[models.FieldCondition(key="metadata.n", range=models.Range(gte=1, lte=1))]), (
        "MatchValue(1) would miss 1.0"
    )
    assert filter_of(parse_filter({})) is None
    assert filter_of(parse_filter({"n": {"$in": []}})).should is None, "an empty should matches every point"
    assert path("a.b") == 'metadata."a.b"'
    assert not QDRANT_FILTER.allows(parse_filter({"n": {"$gte": 2**53 + 1}})), "Range would round it to 2**53"
    assert QDRANT_FILTER.allows(parse_filter({"n": {"$gte": 2**53}, "m": 2**53 + 1}))
