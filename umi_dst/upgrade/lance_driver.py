"""Drive one connection to a LanceDB table with an older lancedb release, over stdin/stdout.

Run as a script by the interpreter of an older release's environment (``envs``):
``python lance_driver.py PATH DIM TABLE [INDEX]``, one process per store, serving any number of
connections (starting the interpreter and importing lancedb costs seconds; a connection does not). It imports only lancedb, pyarrow, numpy and
``protocol`` (next to it), and uses only the synchronous API every release since 0.14 has:
``connect``, ``create_table(exist_ok=True)``, ``merge_insert``, ``delete`` with a SQL
predicate, ``count_rows``, ``to_arrow`` and ``search``. The table has the layout
``umi_dst.backends.lance.store`` writes (string ``id`` marked as primary key, FixedSizeList float32
``embedding``), so the current release opens what this one wrote. Input has been validated by
the caller. Nothing is compacted, so the old release leaves every fragment and deletion file
for the new one to read.

``INDEX`` (JSON: the ``lance-approx`` backend's ``IndexPlan`` fields) makes the store
approximate as ``lance-approx`` is: the first write that leaves ``min_rows`` rows builds the
IVF_HNSW_SQ index over cosine distance (sync ``create_index``), and searches use it with
``maximum_nprobes(0)`` and the plan's ``ef`` and ``refine_factor`` (all three present in
0.25.3, 0.30.2 and 0.36.0); so the current release opens an index this release trained,
and searches and recall-checks through it.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import lancedb
import numpy as np
import protocol
import pyarrow as pa

ID_COLUMN, VECTOR_COLUMN = "id", "embedding"
PRIMARY_KEY_MARKER = {"lance-schema:unenforced-primary-key": "true"}


class Connection:
    def __init__(self, path: str, dim: int, table_name: str, index: dict | None = None) -> None:
        self.dim = dim
        self.table_name = table_name
        self.index = index
        self._indexed = False
        self.db = lancedb.connect(path, read_consistency_interval=timedelta(0))
        self.schema = pa.schema(
            [
                pa.field(ID_COLUMN, pa.string(), nullable=False, metadata=PRIMARY_KEY_MARKER),
                pa.field(VECTOR_COLUMN, pa.list_(pa.float32(), dim), nullable=False),
            ]
        )
        self._table = None

    def table(self, create: bool = False):
        if self._table is None:
            try:
                self._table = self.db.open_table(self.table_name)
            except (ValueError, FileNotFoundError):
                if not create:
                    return None
                self._table = self.db.create_table(self.table_name, schema=self.schema, exist_ok=True)
        return self._table

    def hello(self) -> dict:
        return {"protocol": protocol.VERSION, "lancedb": lancedb.__version__, "pyarrow": pa.__version__}

    def ensure_table(self) -> None:
        self.table(create=True)

    def store_batch(self, ids: list[str], vectors: str) -> None:
        matrix = protocol.decode_matrix(vectors, self.dim)
        rows = pa.Table.from_arrays(
            [pa.array(ids, pa.string()), pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), self.dim)],
            schema=self.schema,
        )
        table = self.table(create=True)
        table.merge_insert(ID_COLUMN).when_matched_update_all().when_not_matched_insert_all().execute(rows)
        self._index_when_ready(table)

    def _index_when_ready(self, table) -> None:
        """Build the index once ``min_rows`` rows exist, unless another connection has."""
        if self.index is None or self._indexed:
            return
        if any(list(getattr(index, "columns", [])) == [VECTOR_COLUMN] for index in table.list_indices()):
            self._indexed = True
        elif table.count_rows() >= self.index["min_rows"]:
            table.create_index(
                metric="cosine",
                num_partitions=self.index["num_partitions"],
                vector_column_name=VECTOR_COLUMN,
                index_type="IVF_HNSW_SQ",
                m=self.index["m"],
                ef_construction=self.index["ef_construction"],
            )
            self._indexed = True

    def delete(self, id: str) -> bool:
        if not self.exists(id):
            return False
        self.table().delete(f"{ID_COLUMN} = '{id.replace(chr(39), chr(39) * 2)}'")
        return True

    def _rows(self) -> pa.Table | None:
        table = self.table()
        return None if table is None else table.to_arrow()

    def scan(self) -> dict:
        rows = self._rows()
        if rows is None:
            return {"ids": [], "vectors": protocol.encode_vector(np.empty(0, np.float32))}
        flat = rows[VECTOR_COLUMN].combine_chunks().flatten().to_numpy(zero_copy_only=False)
        return {"ids": rows[ID_COLUMN].to_pylist(), "vectors": protocol.encode_vector(flat)}

    def get(self, id: str) -> str | None:
        scanned = self.scan()
        matrix = protocol.decode_matrix(scanned["vectors"], self.dim)
        for row, stored in enumerate(scanned["ids"]):
            if stored == id:
                return protocol.encode_vector(matrix[row])
        return None

    def exists(self, id: str) -> bool:
        return self.get(id) is not None

    def count(self) -> int:
        table = self.table()
        return 0 if table is None else table.count_rows()

    def search(self, query: str, limit: int) -> list:
        table = self.table()
        if table is None:
            return []
        search = table.search(protocol.decode_vector(query), vector_column_name=VECTOR_COLUMN)
        search = search.distance_type("cosine") if hasattr(search, "distance_type") else search.metric("cosine")
        if self.index is not None:  # as lance-approx searches: probe until `limit` rows, re-rank
            refine = self.index["refine_factor"]
            search = search.maximum_nprobes(0).ef(max(self.index["ef"], limit * refine)).refine_factor(refine)
        rows = search.select([ID_COLUMN]).limit(limit).to_arrow()
        distances = rows["_distance"].to_numpy().astype(np.float64)
        return [[id, 1.0 - float(d)] for id, d in zip(rows[ID_COLUMN].to_pylist(), distances)]


OPERATIONS = ("hello", "ensure_table", "store_batch", "delete", "scan", "get", "exists", "count", "search")


def serve(path: str, dim: int, table_name: str, index: dict | None, lines, out) -> None:
    """Answer each request on the connection it names: ``open`` makes one, ``close`` drops it."""
    connections: dict[int, Connection] = {}
    for line in lines:
        request = protocol.loads(line)
        op, number = request.pop("op"), request.pop("connection")
        try:
            if op == "open":
                connections[number] = Connection(path, dim, table_name, index)
                result = None
            elif op == "close":
                result = connections.pop(number) and None
            elif op in OPERATIONS:
                result = getattr(connections[number], op)(**request)
            else:
                raise ValueError(f"unknown operation {op!r}")
            answer = {"ok": result}
        except Exception as error:  # reported to the caller, which decides what it means
            answer = {"error": type(error).__name__, "message": str(error)}
        out.write(protocol.dumps(answer))
        out.flush()


if __name__ == "__main__":
    path, dim, table_name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    index = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    answers, sys.stdout = sys.stdout, sys.stderr  # whatever the engine prints stays off the wire
    serve(path, dim, table_name, index, sys.stdin, answers)
