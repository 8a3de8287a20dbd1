"""umi-dst export of adapter seeds with metadata and filters: each filter in the store's own terms.

Qdrant's ``models.Filter`` (langchain-qdrant), mem0's ``filters`` dict (mem0-qdrant) and
Chroma's ``where`` dict (``chroma:where_filtered``) are written into scripts that run where
``import umi_dst`` fails; the Chroma one reproduces its mixed-number finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_adapter_export import _export, _results

from umi_dst.cli import main
from umi_dst.filter_ops import DeleteWhere, FilteredSearch, GetMetadata, StoreBatchTagged, StoreTagged, as_text
from umi_dst.operations import Step
from umi_dst.recipes import Random
from umi_dst.seedfiles import seeds


def filter_seed(backend: str, directory: Path, last: object) -> Path:
    """Tagged writes (a held id retagged), a ``delete_where``, then ``last``, the failing
    step: the one read a script checks (a passing store passes it)."""
    steps = [
        Step(
            StoreBatchTagged(
                (
                    ("a", Random(0), as_text({"user": "u1", "n": 1})),
                    ("b", Random(1), as_text({"user": "u2", "n": 1.0})),
                    ("c", Random(2), as_text({"n": 0, "kind": "'; DROP"})),
                    ("d", Random(3), as_text({"user": "u1", "n": True})),
                )
            )
        ),
        Step(StoreTagged("a", Random(4), as_text({"user": "u1", "n": 1, "kind": "fact"}))),
        Step(DeleteWhere(as_text({"user": "u2"}))),
        Step(last),
    ]
    failure = {"step": len(steps) - 1, "message": "a read"}
    seed = seeds.SeedFile(backend=backend, dim=4, steps=steps, failure=failure, versions=seeds.software_versions())
    return seeds.write(seed, directory / backend.replace(":", "-"))


def search(filter: dict) -> FilteredSearch:
    return FilteredSearch(Random(6), 5, as_text(filter))


CASES = {
    "langchain-qdrant": search({"$or": [{"n": 1}, {"kind": {"$in": ["'; DROP"]}}]}),
    "langchain-qdrant:metadata": GetMetadata("a"),
    "mem0-qdrant": search({"$or": [{"n": 1}, {"kind": {"$ne": "fact"}}]}),
    "mem0-qdrant:metadata": GetMetadata("a"),
    "umi_dst.backends.langchain.chroma:where_filtered": search({"n": 0.5}),
}
"""What each script checks last; a name's ``:metadata`` part is the test's, not the backend's."""


@pytest.mark.slow
def test_filter_steps_export_in_each_store_s_own_terms(tmp_path, standalone):
    """Five scripts in one interpreter, about 15 s on the shared machine: most of it imports."""
    scripts = {}
    for i, (case, last) in enumerate(CASES.items()):
        backend = case.removesuffix(":metadata")
        scripts[case] = _export(filter_seed(backend, tmp_path / str(i), last), backend, tmp_path / f"{i}.py")
    qdrant = scripts["langchain-qdrant"].read_text()
    assert "from qdrant_client.http.models.models import Filter" in qdrant and "Filter.model_validate(" in qdrant
    assert "'range': {'gte': 1.0, 'lte': 1.0}" in qdrant, "a number's equality as Qdrant's Range"
    mem0 = scripts["mem0-qdrant"].read_text()
    assert (
        "{'OR': [{'n': {'gte': 1, 'lte': 1}}, {'NOT': [{'kind': {'eq': 'fact'}}]}]}" in mem0
        and "store.list({'user': {'eq': 'u2'}}, 10000)" in mem0
    )
    chroma = scripts["umi_dst.backends.langchain.chroma:where_filtered"].read_text()
    assert "filter={'n': {'$eq': 0.5}}" in chroma
    results = _results(standalone, tmp_path, list(scripts.values()))
    for case in CASES:
        if "chroma" not in case:
            code, output = results[scripts[case]]
            assert code == 0 and "PASS" in output, f"{case}:\n{output}"
    assert (
        "user_metadata(metadatas[0], ('_id', '_collection_name'))" in scripts["langchain-qdrant:metadata"].read_text()
    )
    code, output = results[scripts["umi_dst.backends.langchain.chroma:where_filtered"]]
    assert code == 1 and "returned 1 results, expected 0" in output, output


def test_a_callable_filter_is_refused_with_its_reason(tmp_path, capsys):
    """InMemoryVectorStore's filter is a callable over umi-dst's own ``matches``: no literal of it."""
    seed = filter_seed("langchain-inmemory", tmp_path, search({"user": "u1"}))
    assert main(["export", str(seed), "--out", str(tmp_path / "x.py")]) == 2
    assert "not a dict or a pydantic model" in capsys.readouterr().err
    assert not (tmp_path / "x.py").exists()
