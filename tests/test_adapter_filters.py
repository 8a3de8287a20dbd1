"""Filters through adapters: a store's own ``filter`` argument, declared, and metadata read back.

The registered stores with a declared filter (InMemoryVectorStore, FAISS) also run the filter
rules in ``test_adapters.py``'s short campaigns; here, the findings and refusals, directly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, settings
from umi_dst.backends.langchain.faiss import flat
from umi_dst.backends.langchain.inmemory import inmemory

from umi_dst import registry
from umi_dst.adapters.langchain import LangChainStore, document_predicate
from umi_dst.contract import InvalidInput
from umi_dst.filter_support import FilterSupport
from umi_dst.filters import parse_filter
from umi_dst.generation.machine import MachineConfig, run_contract_machine

TYPED = {"n": 1, "f": 1.0, "flag": True, "s": "1", "big": 2**53 + 1, "zero": -0.0}
"""Values whose types a careless store confuses (1, 1.0, True and "1" are four values)."""


def _records(count: int) -> list[tuple[str, np.ndarray, dict]]:
    """Records ranked from nearest to farthest from the first axis; the farthest are tagged."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(count):
        vector = np.concatenate([[count - i], rng.normal(scale=0.1, size=3)]).astype(np.float32)
        items.append((f"r{i:02d}", vector, {"user": "u1" if i >= count - 5 else "u2"}))
    return items


@pytest.mark.parametrize("name", ["langchain-inmemory", "langchain-faiss"])
def test_typed_metadata_round_trips_and_filters_select_before_the_limit(name, tmp_path):
    factory = registry.build(name, tmp_path, 4)
    try:
        backend = factory.open()
        backend.store_batch(_records(30))
        backend.store("typed", np.ones(4, dtype=np.float32), TYPED)
        got = backend.get_metadata("typed")
        assert [(k, type(v), v) for k, v in sorted(got.items())] == [(k, type(v), v) for k, v in sorted(TYPED.items())]
        assert np.signbit(got["zero"]), "-0.0 comes back as -0.0"
        found = backend.search(np.array([1, 0, 0, 0], dtype=np.float32), 3, filter={"user": "u1"})
        selected = {f"r{i}" for i in range(25, 30)}
        assert len(found) == 3 and {r.id for r in found} <= selected, "3 of the selected, past the 25 nearer ones"
        assert backend.delete_where({"user": "u1"}) == 5 and backend.count() == 26
    finally:
        factory.destroy()


def test_faiss_as_documented_filters_only_its_fetch_k_nearest(tmp_path):
    """FAISS's ``filter`` applies to the ``fetch_k`` (20) nearest records: the registered store
    is given the contract's largest; without it, records past the 20th are never selected."""
    documented = dataclasses.replace(flat, search_kwargs={})
    factory = documented(tmp_path, 4)
    try:
        backend = factory.open()
        backend.store_batch(_records(30))
        assert backend.search(np.array([1, 0, 0, 0], dtype=np.float32), 3, filter={"user": "u1"}) == []
        assert backend.delete_where({"user": "u1"}) == 0
    finally:
        factory.destroy()


def test_a_store_declared_without_filters_refuses_metadata_and_filters_before_writing(tmp_path):
    from langchain_core.vectorstores import InMemoryVectorStore

    bare = LangChainStore(name="bare", build=lambda workdir, embeddings: InMemoryVectorStore(embeddings))
    factory = bare(tmp_path, 4)
    try:
        backend = factory.open()
        assert not factory.filters
        with pytest.raises(InvalidInput, match="declared without filters: it takes no metadata"):
            backend.store_batch([("a", np.ones(4, np.float32)), ("b", np.ones(4, np.float32), {"user": "u1"})])
        with pytest.raises(InvalidInput, match="declared without filters: search it without one"):
            backend.search(np.ones(4, np.float32), 3, filter={"user": "u1"})
        assert backend.count() == 0, "nothing of the refused batch was written"
    finally:
        factory.destroy()


def test_a_reserved_metadata_key_is_refused_before_writing(tmp_path):
    factory = registry.build("langchain-inmemory", tmp_path, 4)
    try:
        backend = factory.open()
        with pytest.raises(InvalidInput, match="'umi_id' is reserved for the adapter"):
            backend.store("a", np.ones(4, np.float32), {"umi_id": "b"})
        assert backend.count() == 0
    finally:
        factory.destroy()


def test_a_wrong_filter_mapping_is_a_finding(tmp_path):
    """A filter argument that drops the filter (selects everything) fails the campaign."""
    unfiltered = dataclasses.replace(inmemory, filter_argument=lambda node: lambda document: True)
    budget = settings(max_examples=30, stateful_step_count=30, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate], report_multiple_bugs=False)  # fmt: skip
    with pytest.raises(Exception, match="delete_where|search|filter"):
        run_contract_machine(unfiltered, dim=8, workdir=tmp_path, settings=budget, config=MachineConfig(max_bulk=64))


FLAT_EQUALITY = FilterSupport(operators=frozenset({"$eq", "$ne", "$in", "$and", "$or"}), nesting=False)
"""A subset like a simple ``where`` dialect's: equality and membership, one level of $and/$or."""


def refusing(node):
    """A store filter that takes only ``FLAT_EQUALITY``, as a dialect's translation would."""
    assert FLAT_EQUALITY.allows(node), f"the store was handed a filter it does not take: {node}"
    return document_predicate(node)


def test_the_machine_draws_only_the_filters_a_store_declares(tmp_path):
    budget = settings(max_examples=12, stateful_step_count=30, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), phases=[Phase.generate], report_multiple_bugs=False)  # fmt: skip
    declared = dataclasses.replace(inmemory, filter_argument=refusing, filter_support=FLAT_EQUALITY)
    run_contract_machine(
        declared, dim=8, workdir=tmp_path / "declared", settings=budget, config=MachineConfig(max_bulk=64)
    )
    undeclared = dataclasses.replace(inmemory, filter_argument=refusing)
    with pytest.raises(Exception, match="a filter it does not take"):
        run_contract_machine(
            undeclared, dim=8, workdir=tmp_path / "undeclared", settings=budget, config=MachineConfig()
        )


def test_a_declared_subset_names_what_it_allows(tmp_path):
    assert FLAT_EQUALITY.allows(parse_filter({"user": "u1", "n": {"$in": [1, 2]}})), "two keys: one implicit $and"
    assert FLAT_EQUALITY.allows(parse_filter({}))
    assert not FLAT_EQUALITY.allows(parse_filter({"$or": [{"a": 1}, {"$and": [{"b": 1}, {"c": 2}]}]})), "nested"
    assert not FLAT_EQUALITY.allows(parse_filter({"n": {"$gt": 1}}))
    with pytest.raises(ValueError, match="'\\$regex', not an operator"):
        FilterSupport(operators=frozenset({"$eq", "$regex"}))
    declared = dataclasses.replace(inmemory, filter_support=FLAT_EQUALITY)
    factory = declared(tmp_path, 4)
    try:
        with pytest.raises(InvalidInput, match="takes only the filters of"):
            factory.open().delete_where({"$not": {"user": "u1"}})
    finally:
        factory.destroy()
