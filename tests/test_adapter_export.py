"""umi-dst export of adapter seeds: scripts against the integration's own API, without umi-dst.

Filter steps are written in each store's own terms: Qdrant's ``models.Filter`` (langchain-qdrant),
mem0's ``filters`` dict (mem0-qdrant), Chroma's ``where`` dict (``chroma:where_filtered``).

The scripts of a test run in one fresh interpreter that cannot import umi_dst (the
``standalone`` fixture), one after the other: most of their time is importing the integration.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import psycopg
import pytest

from umi_dst.adapters.export import LangChainCalls
from umi_dst.adapters.langchain import LangChainStore
from umi_dst.adapters.script_build import ScriptBuild
from umi_dst.adapters.script_helpers.langchain import Exact
from umi_dst.cli import main
from umi_dst.export.calls import ExportError
from umi_dst.export.function_source import NotStandalone, Standalone
from umi_dst.filter_ops import DeleteWhere, FilteredSearch, GetMetadata, StoreBatchTagged, StoreTagged, as_text
from umi_dst.operations import Delete, Reopen, Search, Step, Store, StoreBatch
from umi_dst.recipes import Random
from umi_dst.seedfiles import seeds

ROOT = Path(__file__).resolve().parent.parent
LANCEDB_SEED = ROOT / "seeds" / "umi_dst.backends.langchain.lancedb-as_documented" / "5d498ec824c6.json"

WRONG_SCORE = """\
import dataclasses

from umi_dst.adapters.scores import ScoreConvention
from umi_dst.backends.mem0.qdrant import qdrant

distance = dataclasses.replace(qdrant, score=ScoreConvention.COSINE_DISTANCE)
"""
"""mem0's Qdrant declared to score by cosine distance: it returns similarities, a finding."""


def _export(seed: Path, backend: str, out: Path) -> Path:
    assert main(["export", str(seed), "--backend", backend, "--out", str(out)]) == 0
    code = out.read_text().split('"""', 2)[2]  # after the header, which names the seed's backend
    assert "umi_dst" not in code and "backends" not in code, f"{backend}: the integration's API only:\n{code}"
    return out


RUNNER = """\
import json
import runpy
import sys
import traceback

for path, *arguments in json.loads(sys.argv[1]):
    sys.argv = [path, *arguments]
    try:
        runpy.run_path(path, run_name="__main__")
    except BaseException:
        traceback.print_exc(file=sys.stdout)
        print(f"== {path}: exit 1")
    else:
        print(f"== {path}: exit 0")
"""
"""Runs scripts one after the other in one interpreter, as ``python SCRIPT ARGUMENTS...`` runs
each (an uncaught exception is exit 1): they share the integration's imports, most of their time."""


def _results(
    start, tmp_path: Path, scripts: list[Path], arguments: dict[Path, list[str]] | None = None
) -> dict[Path, tuple[int, str]]:
    """Each script's exit code and output; ``arguments``: a script's command line, if any."""
    runner = tmp_path / "run_scripts.py"
    runner.write_text(RUNNER)
    lines = [[str(path), *(arguments or {}).get(path, [])] for path in scripts]
    process = start(runner, json.dumps(lines))
    output = process.stdout.read()
    assert process.wait(timeout=600) == 0, output
    results, rest = {}, output
    for path in scripts:
        own, _, rest = rest.partition(f"== {path}: exit ")
        results[path] = (int(rest[0]), own)
        rest = rest[1:]
    return results


def every_call_seed(backend: str, directory: Path, failing_search: bool = False) -> Path:
    """Writes, an upsert of a held id in a batch, deletes (held and not), a reopen, then a
    search: as the failing step (the one read a script checks), or passing, so that the
    script's final checks (count, every record) end it."""
    steps = [
        Step(Store("a", Random(0))),
        Step(StoreBatch((("b", Random(1)), ("c", Random(2)), ("a", Random(3)), ("b", Random(4))))),
        Step(Delete("c")),
        Step(Delete("absent")),
        Step(Reopen()),
        Step(StoreBatch((("d", Random(5)), ("a", Random(6))))),
        Step(Search(Random(7), 3)),
    ]
    failure = {"step": len(steps) - 1, "message": "a search"} if failing_search else {}
    seed = seeds.SeedFile(backend=backend, dim=4, steps=steps, failure=failure, versions=seeds.software_versions())
    return seeds.write(seed, directory / backend.replace(":", "-"))


def test_the_langchain_lancedb_seed_fails_as_documented_and_passes_on_the_registered_store(tmp_path, standalone):
    documented = _export(LANCEDB_SEED, seeds.load(LANCEDB_SEED).backend, tmp_path / "as_documented.py")
    registered = _export(LANCEDB_SEED, "langchain-lancedb", tmp_path / "registered.py")
    text = documented.read_text()
    assert "LanceDB(connection=connection" in text and "distance='cosine'" in text, "built as the builder builds it"
    assert "store.similarity_search_by_vector(" in text and "metrics=" not in text
    assert "metrics='cosine'" in registered.read_text(), "the registered store's search keyword comes along"
    results = _results(standalone, tmp_path, [documented, registered])
    code, output = results[documented]
    assert code == 1 and "AssertionError" in output and "'bulk-0-1' scored -0.47352688" in output, output
    code, output = results[registered]
    assert code == 0 and "PASS" in output, output


def test_every_call_of_a_langchain_and_a_mem0_store_stands_alone(tmp_path, standalone, monkeypatch):
    """Writes (upserts through ``add_texts``; ``update`` then ``insert`` for mem0), deletes, a
    search and the final reads pass on the stores as registered; a wrong score declaration,
    whose conversion the script writes out, fails the search there as it does in a campaign."""
    (tmp_path / "wrong_score.py").write_text(WRONG_SCORE)
    monkeypatch.syspath_prepend(str(tmp_path))
    scripts = {
        backend: _export(
            every_call_seed(backend, tmp_path, search), backend, tmp_path / f"{backend.replace(':', '-')}.py"
        )
        for backend, search in (("langchain-inmemory", True), ("mem0-qdrant", False), ("wrong_score:distance", True))
    }
    mem0 = scripts["mem0-qdrant"].read_text()
    assert "store.update(uuid_of('a')" in mem0 and "store.insert(" in mem0 and "store.delete(uuid_of('c'))" in mem0
    assert "[(hit.payload[ID_KEY], 1.0 - score)" in scripts["wrong_score:distance"].read_text()
    assert "def build(workdir, embeddings):" in scripts["langchain-inmemory"].read_text(), (
        "a lambda builder, written out"
    )
    results = _results(standalone, tmp_path, list(scripts.values()))
    for backend in ("langchain-inmemory", "mem0-qdrant"):
        code, output = results[scripts[backend]]
        assert code == 0 and "PASS" in output, f"{backend}:\n{output}"
    code, output = results[scripts["wrong_score:distance"]]
    assert code == 1 and "search(limit=3) scores are not best first" in output, output


PGVECTOR_VARIANTS = """\
import dataclasses

from umi_dst.backends.mem0.pgvector import pgvector

clamped = dataclasses.replace(pgvector, has_scores=True)
no_script = dataclasses.replace(pgvector, script_build=None)
"""
"""mem0's PGVector trusted with its scores (it clamps negative cosines to 0, a finding), and
declared without a ``script_build``."""
FILTERED_PGVECTOR_SEED = ROOT / "seeds" / "umi_dst.backends.mem0.pgvector-filtered" / "bool-equality-compares-text.json"


def _named(url: str, catalog: str, prefix: str) -> list[str]:
    """The names in a catalog query of the server at ``url`` that start with ``prefix``."""
    with psycopg.connect(url) as connection:
        return sorted(name for (name,) in connection.execute(catalog).fetchall() if name.startswith(prefix))


TABLES, SCHEMAS = "SELECT tablename FROM pg_tables", "SELECT nspname FROM pg_namespace"


def test_a_store_on_the_embedded_server_exports_against_a_url(tmp_path, standalone, monkeypatch):
    """mem0-pgvector's builder needs umi-dst's server; its ``script_build`` makes the store on
    the URL the script is given, in a fresh table it drops at the end, pass or fail. Each seed
    keeps its verdict: every call passes, the filtered store's text comparison and the clamped
    scores fail; no URL, and the script says what it takes."""
    from umi_dst.backends.mem0.pgvector import embedded_store
    from umi_dst.backends.postgres.server import server

    (tmp_path / "pgvector_variants.py").write_text(PGVECTOR_VARIANTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    scripts = {
        "passes": _export(every_call_seed("mem0-pgvector", tmp_path), "mem0-pgvector", tmp_path / "passes.py"),
        "text": _export(FILTERED_PGVECTOR_SEED, seeds.load(FILTERED_PGVECTOR_SEED).backend, tmp_path / "text.py"),
        "clamped": _export(
            every_call_seed("pgvector_variants:clamped", tmp_path, True), "pgvector_variants:clamped",
            tmp_path / "clamped.py",
        ),
    }  # fmt: skip
    text = scripts["passes"].read_text()
    assert "store = table_at(TARGET, DIM)" in text and "    drop_table(store)" in text.split("finally:")[1]
    assert "Run: python SCRIPT postgresql://USER@HOST:PORT/DBNAME." in text
    assert "store.search(\"\", V[1].tolist(), 5, {'n': {'eq': True}})" in scripts["text"].read_text()
    usage = tmp_path / "usage.py"
    usage.write_text(text)
    url = server().url
    before = _named(url, TABLES, "umi_mem0_")
    results = _results(standalone, tmp_path, [*scripts.values(), usage], {path: [url] for path in scripts.values()})
    assert _named(url, TABLES, "umi_mem0_") == before, "every run drops the table it made"
    code, output = results[scripts["passes"]]
    assert code == 0 and "PASS" in output, output
    code, output = results[scripts["text"]]
    assert code == 1 and "returned 0 results, expected 1" in output, output
    code, output = results[scripts["clamped"]]
    assert code == 1 and "rank 1: 'd' scored 0.0, but the cosine similarity at that rank is -0.44" in output, output
    code, output = results[usage]
    assert code == 1 and "usage: python " in output and "postgresql://USER@HOST:PORT/DBNAME" in output, output
    out = tmp_path / "classes.py"
    assert main(["export", str(every_call_seed("pgvector_variants:no_script", tmp_path)), "--out", str(out)]) == 0
    assert "from pgvector_variants import no_script" in out.read_text(), "no script_build: the adapter's classes"
    with pytest.raises(NotStandalone, match="uses 'admin_connection', which is umi-dst's own code"):
        Standalone().add(embedded_store, "build")


LANGCHAIN_POSTGRES_VARIANTS = """\
import dataclasses

from umi_dst.adapters.scores import ScoreConvention
from umi_dst.backends.langchain.postgres import pgvector

similarity = dataclasses.replace(pgvector, score=ScoreConvention.COSINE_SIMILARITY)
"""
"""langchain-postgres declared to score by similarity: it returns cosine distances, a finding."""


@pytest.mark.own_environment
def test_langchain_postgres_exports_against_a_url(tmp_path, standalone, monkeypatch):
    """Its ``script_build`` makes ``PGVector`` in a fresh schema of the URL's server, dropped at
    the end: every call passes; a wrong score declaration fails the search."""
    from umi_dst.backends.postgres.server import server

    (tmp_path / "langchain_postgres_variants.py").write_text(LANGCHAIN_POSTGRES_VARIANTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    scripts = {
        backend: _export(every_call_seed(backend, tmp_path, search), backend, tmp_path / f"{i}.py")
        for i, (backend, search) in enumerate(
            (("langchain-postgres", False), ("langchain_postgres_variants:similarity", True))
        )
    }
    assert "store = schema_at(TARGET, embeddings)" in scripts["langchain-postgres"].read_text()
    url = server().url
    before = _named(url, SCHEMAS, "umi_repro_")
    results = _results(standalone, tmp_path, list(scripts.values()), {path: [url] for path in scripts.values()})
    assert _named(url, SCHEMAS, "umi_repro_") == before, "every run drops the schema it made"
    code, output = results[scripts["langchain-postgres"]]
    assert code == 0 and "PASS" in output, output
    code, output = results[scripts["langchain_postgres_variants:similarity"]]
    assert code == 1 and "search(limit=3) scores are not best first" in output, output


def test_a_builder_reading_an_unknown_global_is_named():
    store = LangChainStore(name="broken", build=lambda workdir, embeddings: nowhere(embeddings))  # noqa: F821
    with pytest.raises(NotStandalone, match="defines no 'nowhere'"):
        LangChainCalls(4, store)
    with pytest.raises(NotStandalone):  # a builder with no source to read
        Standalone().add(eval("lambda workdir, embeddings: embeddings"), "build")  # noqa: S307


def test_a_script_build_that_needs_umi_dst_is_named_as_the_declaration_s_mistake():
    """A declared ``script_build`` is the script's only way to build the store: one that cannot
    be written out is an error, not a quiet export as the adapter's classes."""
    store = LangChainStore(
        name="broken",
        build=lambda workdir, embeddings: None,
        script_build=ScriptBuild(lambda url, embeddings: nowhere(url)),  # noqa: F821
    )
    with pytest.raises(
        ExportError, match="the script_build of 'broken' cannot be written out: .* no 'nowhere'"
    ) as raised:
        LangChainCalls(4, store)
    assert not isinstance(raised.value, NotStandalone)


def test_the_script_s_embeddings_refuse_a_text_no_step_wrote():
    """What ``ExactEmbeddings`` reports as a finding, the script's ``Exact`` asserts."""
    embeddings = Exact(2)
    assert embeddings.embed_documents(["x"]) == [[1.0, 0.0]], "outside a write: the first basis vector"
    embeddings.expect(["a"], [np.array([0.5, 0.25], np.float32)])
    assert embeddings.embed_query("a") == [0.5, 0.25]
    with pytest.raises(AssertionError, match="texts no step wrote"):
        embeddings.embed_documents(["b"])


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
