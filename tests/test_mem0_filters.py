"""mem0's ``filters`` dicts against real mem0 stores.

mem0-qdrant is registered with filters (``mem0_qdrant_filters``: nested ``AND``/``OR``/``NOT``); mem0-chroma's and mem0-pgvector's filtered stores are
not, because of their findings, whose standalone scripts must keep failing here until the
stores are fixed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from umi_dst.backends.mem0.qdrant import qdrant

from umi_dst.adapters.mem0_filters import MEM0_EQUALITY, NO_RECORD, equality_filters, operator_equal
from umi_dst.contract import InvalidInput
from umi_dst.filters import matches, parse_filter
from umi_dst.seedfiles import seeds
from umi_dst.seedfiles.replay import replay_file

FINDINGS = Path(__file__).parents[1] / "reports" / "adapter-findings"

RECORDS = {
    "i1": {"n": 1, "user_id": "alice"},
    "f1": {"n": 1.0, "user_id": "bob"},
    "t": {"n": True, "user_id": "alice", "agent_id": "a1"},
    "s": {"n": "1", "agent_id": "a1"},
    "big": {"n": 2**53 + 1, "user_id": "*"},
    "bigf": {"n": float(2**53)},
    "none": {},
}

FILTERS = [
    {},
    {"user_id": "alice"},
    {"user_id": "alice", "agent_id": "a1"},
    {"user_id": "*"},
    {"n": 1},
    {"n": True},
    {"n": "1"},
    {"n": 2**53 + 1},
    {"n": float(2**53)},
    {"$and": [{"user_id": "alice"}, {"user_id": "alice"}]},
    {"$and": [{"user_id": "alice"}, {"user_id": "bob"}]},
    {"$and": [{"n": 1}, {"n": 1.0}]},
    {"user_id": {"$ne": "alice"}},
    {"n": {"$nin": [1, "1"]}},
    {"agent_id": {"$nin": ["a1"]}},
    {"n": {"$in": []}},
    {"n": {"$gte": 1, "$lt": 2**53}},
    {"$or": [{}, {"user_id": "bob"}]},
    {"$not": {"$or": [{"agent_id": "a1"}, {"n": True}]}},
]


def test_mem0_qdrant_selects_what_the_contract_selects(tmp_path):
    factory = qdrant(tmp_path, 2)
    try:
        backend = factory.open()
        backend.store_batch([(id, np.array([1.0, i], np.float32), m) for i, (id, m) in enumerate(RECORDS.items())])
        for id, metadata in RECORDS.items():
            got = backend.get_metadata(id)
            assert [(k, type(v), v) for k, v in sorted(got.items())] == [
                (k, type(v), v) for k, v in sorted(metadata.items())
            ]
        for raw in FILTERS:
            expected = {id for id, m in RECORDS.items() if matches(parse_filter(raw), m)}
            assert {r.id for r in backend.search(np.array([1.0, 0.0], np.float32), 100, filter=raw)} == expected, raw
        with pytest.raises(InvalidInput, match="takes only the filters of"):
            backend.search(np.array([1.0, 0.0], np.float32), 3, filter={"user_id": {"$exists": True}})
        assert backend.delete_where({"user_id": "alice"}) == 2 and backend.count() == len(RECORDS) - 2
    finally:
        factory.destroy()


def test_mem0_equality_is_a_flat_dict_in_mem0s_operator_form():
    filters = equality_filters(operator_equal)
    assert filters(parse_filter({"user_id": "*", "run_id": "r1"})) == {"user_id": {"eq": "*"}, "run_id": {"eq": "r1"}}
    assert filters(parse_filter({"$and": [{"n": 1}, {"n": 2}]})) == NO_RECORD, "one key, two values: no record"
    assert filters(parse_filter({})) is None
    assert not MEM0_EQUALITY.allows(parse_filter({"user_id": {"$ne": "alice"}}))
    assert not MEM0_EQUALITY.allows(parse_filter({"$and": [{"a": 1}, {"$and": [{"b": 1}]}]}))


def test_chroma_mixed_number_equality_is_still_inexact(tmp_path):
    """The finding that keeps mem0-chroma's (and langchain-chroma's) filtered store unregistered."""
    script = FINDINGS / "chroma_mixed_number_equality.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1 and "compared inexactly" in done.stderr, done.stdout + done.stderr


def test_mem0_pgvector_filters_still_compare_text():
    """The finding that keeps mem0-pgvector's filtered store unregistered."""
    from umi_dst.backends.postgres.server import server

    script = FINDINGS / "mem0_pgvector_filters_compare_text.py"
    done = subprocess.run([sys.executable, str(script), server().url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "filters compare text" in done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize(
    "seed",
    [
        "umi_dst.backends.mem0.chroma-filtered/mixed-number-equality.json",
        "umi_dst.backends.mem0.pgvector-filtered/bool-equality-compares-text.json",
    ],
)
def test_the_findings_seeds_still_fail_on_their_filtered_stores(seed, tmp_path):
    path = Path(__file__).parents[1] / "seeds" / seed
    written = seeds.load(path)
    outcome = replay_file(path, workdir=tmp_path)
    assert outcome.reproduced and outcome.at_step == written.failure["step"] == 1
    assert str(outcome.error) == written.failure["message"]
