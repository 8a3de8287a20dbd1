"""The raw engines, used directly in the same process, so a backend's figures read as ratios.

Each baseline loads the same data set with the engine's own fastest plain path (a LanceDB
table created from one Arrow table, a psycopg binary ``COPY``, a numpy matrix) and runs the
same queries; nothing here checks the contract. The memory-bandwidth figure bounds how fast
any exact scan over the Sim's float64 matrix can be on this machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from umi_dst.bench.data import Dataset
from umi_dst.bench.timing import latencies, seconds, summary, timed_calls
from umi_dst.bench.truth import GroundTruth
from umi_dst.contract import SearchResult
from umi_dst.validation import last_wins, validate_batch, validate_embedding, validate_id

SEARCH_LIMIT = 10
SINGLE_CHECKS = 200


def memory_bandwidth_gib_s(mib: int = 1024, repeats: int = 5) -> float:
    """Best streaming read rate through a BLAS matrix-vector product over ``mib`` MiB of float64.

    The product reads the matrix once with every core, which is the access pattern of an
    exact scan, so it is the fastest such scan this machine can do from main memory. The
    matrix is larger than the last-level cache of the machines this was written on (480 MiB).
    """
    rows = mib * 2**20 // (8 * 1024)
    matrix = np.ones((rows, 1024))
    vector = np.ones(1024)
    best = min(seconds(lambda: matrix @ vector)[0] for _ in range(repeats))
    return matrix.nbytes / best / 2**30


def scan_bound_ms(n: int, dim: int, bandwidth_gib_s: float) -> float:
    """Time to read the Sim's ``n x dim`` float64 unit matrix once at ``bandwidth_gib_s``."""
    return n * dim * 8 / (bandwidth_gib_s * 2**30) * 1e3


def validation(dataset: Dataset) -> dict:
    """What every backend pays before touching storage: the contract's input checks.

    ``batch`` is ``last_wins(validate_batch(...))`` over the whole data set (the start of every
    ``store_batch``); ``single`` is ``validate_id`` plus ``validate_embedding`` (every ``store``).
    """
    items = dataset.items()
    batch_s, _ = seconds(lambda: last_wins(validate_batch(items, dataset.dim)))
    single = latencies(
        lambda item: (validate_id(item[0]), validate_embedding(item[1], dataset.dim)), items[:SINGLE_CHECKS]
    )
    return {"batch_s": batch_s, "batch_per_s": dataset.n / batch_s, "single": summary(single)}


def numpy_scan(dataset: Dataset, truth: GroundTruth) -> dict:
    """Top-10 by one float32 matrix-vector product and ``argpartition``: exact search, no contract."""
    matrix = dataset.vectors
    k = min(SEARCH_LIMIT, dataset.n)

    def search(query: np.ndarray) -> list[SearchResult]:
        scores = matrix @ query
        top = np.argpartition(scores, dataset.n - k)[dataset.n - k :]
        top = top[np.argsort(-scores[top])]
        return [SearchResult(dataset.ids[i], float(scores[i])) for i in top]

    return _searches("search", search, dataset, truth)


def lance_arrow_table(dataset: Dataset):
    """The data set as the Arrow table a plain ``lancedb`` user would create a table from."""
    import pyarrow as pa

    vectors = pa.FixedSizeListArray.from_arrays(pa.array(dataset.vectors.reshape(-1), pa.float32()), dataset.dim)
    return pa.table({"id": pa.array(dataset.ids, pa.string()), "vector": vectors})


def lance_raw(dataset: Dataset, truth: GroundTruth, workdir: Path, index: dict | None = None) -> dict:
    """A LanceDB table created from one Arrow table, exact cosine search, then the ANN index.

    ``index`` holds ``create_index``'s ``config`` and the query's ``ef`` and ``refine_factor``
    (see ``engines.lance_raw_index``), so the approximate figures match the backend's setup.
    """
    import lancedb

    table_data = lance_arrow_table(dataset)
    db = lancedb.connect(workdir / "lance-raw")
    load_s, table = seconds(lambda: db.create_table("raw", table_data))

    def searcher(tune):
        def search(query: np.ndarray) -> list[SearchResult]:
            request = tune(table.search(query, vector_column_name="vector").distance_type("cosine"))
            rows = request.limit(SEARCH_LIMIT).select(["id", "_distance"]).to_arrow()
            return [SearchResult(i, 1.0 - d) for i, d in zip(rows["id"].to_pylist(), rows["_distance"].to_pylist())]

        return search

    out = {"load_s": load_s, "load_per_s": dataset.n / load_s}
    out.update(_searches("search_exact", searcher(lambda q: q.bypass_vector_index()), dataset, truth))
    if index is not None:
        out["index_s"], _ = seconds(lambda: table.create_index("vector", config=index["config"]))
        out["index"] = index["description"]
        tuned = searcher(lambda q: q.ef(index["ef"]).refine_factor(index["refine_factor"]))
        out.update(_searches("search_approx", tuned, dataset, truth))
    return out


def postgres_raw(dataset: Dataset, truth: GroundTruth, conninfo: str, table: str, hnsw: dict | None = None) -> dict:
    """Binary ``COPY`` with ``write_row`` into a fresh table, ``ORDER BY <=>``, then HNSW.

    ``hnsw`` holds the index's ``WITH`` options and the ``ef_search`` of the backend
    (see ``engines.postgres_raw_hnsw``); the index is built after the load, as a bulk
    loader would.
    """
    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(conninfo) as conn:
        register_vector(conn)
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, embedding vector({dataset.dim}) NOT NULL)")
        conn.commit()

        def load() -> None:
            with conn.cursor().copy(f"COPY {table} (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["text", "vector"])
                for id, vector in zip(dataset.ids, dataset.vectors):
                    copy.write_row((id, vector))
            conn.commit()

        load_s, _ = seconds(load)
        conn.execute(f"ANALYZE {table}")
        conn.commit()
        sql = f"SELECT id, 1 - (embedding <=> %(q)s) FROM {table} ORDER BY embedding <=> %(q)s LIMIT {SEARCH_LIMIT}"

        def search(query: np.ndarray) -> list[SearchResult]:
            rows = conn.execute(sql, {"q": query}, binary=True).fetchall()
            return [SearchResult(id, float(score)) for id, score in rows]

        out = {
            "load_s": load_s,
            "load_per_s": dataset.n / load_s,
            **_searches("search_exact", search, dataset, truth),
        }
        if hnsw is not None:
            options = ", ".join(f"{key} = {int(value)}" for key, value in hnsw["with"].items())
            with_clause = f" WITH ({options})" if options else ""
            statement = f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops){with_clause}"
            index_s, _ = seconds(lambda: conn.execute(statement))
            conn.commit()
            conn.execute(f"SET hnsw.ef_search = {int(hnsw['ef_search'])}")
            out["index_s"] = index_s
            out["index"] = f"{statement.replace(table, 'raw')}; ef_search {hnsw['ef_search']}"
            out.update(_searches("search_approx", search, dataset, truth))
        conn.execute(f"DROP TABLE {table}")
        conn.commit()
    return out


def _searches(key: str, search, dataset: Dataset, truth: GroundTruth) -> dict:
    """``{key: latency summary, key + "_recall_at_10": recall}`` over the data set's queries."""
    times, results = timed_calls(search, dataset.queries)
    return {key: summary(times), f"{key}_recall_at_10": truth.mean_recall(dataset.queries, results)}
