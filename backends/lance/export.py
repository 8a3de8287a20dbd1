"""The Lance backends' calls written as plain lancedb and pyarrow code, for ``umi-dst export``.

Each method mirrors one of ``backends/lance/store.py`` (and ``upstream.py`` for the original
design, ``nemeses.py`` for the real faults) and writes the engine calls that method makes,
with the constants taken from those modules: a change there should change what is written here.
"""

from __future__ import annotations

from umi_dst.backends.lance.filter_sql import WhereWriter
from umi_dst.backends.lance.filter_upstream import SplicingWhereWriter
from umi_dst.backends.lance.metadata_columns import KIND_TYPES, column_name, kind_letter, needed_fields
from umi_dst.backends.lance.nemeses import AFTER_COMMITS, REWRITE_CHUNK, CompetingWriter, KillWriter
from umi_dst.backends.lance.script_helpers import after_commits, retry
from umi_dst.backends.lance.store import (
    CONFLICT_MARKERS,
    ID_COLUMN,
    PRIMARY_KEY_MARKER,
    TABLE_NAME,
    VECTOR_COLUMN,
    CompactionPolicy,
    IndexPlan,
    RetryPolicy,
)
from umi_dst.backends.lance.upstream import UPSTREAM_RETRY

from umi_dst.checking.crash_states import CRASH
from umi_dst.export.calls import Code, ExportCall, ExportError, Rendered, embedded, indent
from umi_dst.filters import MATCH_ALL, parse_filter
from umi_dst.metadata import Metadata, split_batch
from umi_dst.operations import CrashPoint
from umi_dst.validation import last_wins

# The harness's ``crash`` fault is written as a real kill of a writer process, swept over the
# first files the write adds (the seed's exact crash point is replayed by umi-dst, which
# rebuilds the store's files as the crash left them).

_TABLE = repr(TABLE_NAME)
_ID, _VECTOR = repr(ID_COLUMN), repr(VECTOR_COLUMN)


def _retry_helper(policy: RetryPolicy, conflict_markers: tuple[str, ...]) -> list[str]:
    """The backend's retry loop for commits that lose a race (without its seeded jitter)."""
    return embedded(
        retry,
        ATTEMPTS=policy.attempts,
        BASE_DELAY=policy.base_delay,
        MAX_DELAY=policy.max_delay,
        CONFLICT_MARKERS=conflict_markers,
    )


class LanceCalls:
    """``LanceVectorBackend``: one table, upserts by ``merge_insert``, filters as expressions,
    cosine search (flat, or through the HNSW index of an ``IndexPlan``)."""

    requirements = ("lancedb", "pyarrow", "numpy")
    filters = True
    """Renders metadata (typed columns) and filters (the backend's ``where`` strings)."""
    where_writer: type[WhereWriter] = WhereWriter
    prefilter = True

    def __init__(
        self,
        dim: int,
        index: IndexPlan | None = None,
        table_up_front: bool = True,
        compaction: CompactionPolicy | None = CompactionPolicy(),
    ) -> None:
        """``table_up_front``: the factory creates the table (``LanceFactory.create_table``);
        otherwise the first write does, and reads answer as an empty store until then."""
        self.dim = dim
        self.index = index
        self.table_up_front = table_up_front
        self.compaction = compaction
        self._commits = 0
        self._created = table_up_front
        self._dynamic = False
        self._indexed = False
        self._retry = False
        self._faults = False
        self._turns = False
        self._columns: dict[str, str] = {}
        """Metadata columns the script's table has, name -> kind letter (``metadata_columns``)."""

    # -- the script around the calls -----------------------------------------------------------
    def imports(self) -> list[str]:
        lines = [
            "import lancedb",
            "import pyarrow as pa",
            "from datetime import timedelta",
            "from lancedb.expr import col, lit",
        ]
        if self.index is not None:
            lines.append("from lancedb.index import HnswSq")
        return lines + self._fault_imports()

    def _fault_imports(self) -> list[str]:
        lines = ["import time"] if self._retry or self._faults else []
        if self._faults:
            lines += ["import contextlib", "import multiprocessing", "import os", "import signal"]
        return lines + (["import pyarrow.compute as pc"] if self._turns else [])

    def helpers(self) -> list[str]:
        lines = [
            "SCHEMA = pa.schema([",
            f"    pa.field({_ID}, pa.string(), nullable=False, metadata={PRIMARY_KEY_MARKER!r}),",
            f"    pa.field({_VECTOR}, pa.list_(pa.float32(), DIM), nullable=False),",
            "])",
            "",
            "",
            "def rows(ids, vectors):",
            '    """Arrow rows; the float32 bytes go in unchanged."""',
            "    flat = pa.array(np.asarray(vectors, dtype=np.float32).ravel())",
            "    return pa.Table.from_arrays([pa.array(ids, pa.string()), pa.FixedSizeListArray.from_arrays(flat, DIM)], schema=SCHEMA)",
        ]
        if self._columns:
            lines += _METADATA_HELPERS
        if self._retry:
            lines += self._retry_lines()
        if self._turns:
            lines += embedded(after_commits, TABLE_DIR=TABLE_NAME + ".lance")
        if self._dynamic:
            lines += [
                "",
                "",
                "def open_table(db):",
                '    """The table, or None while no write has created it."""',
                "    try:",
                f"        return db.open_table({_TABLE})",
                "    except ValueError:",
                "        return None",
            ]
        return lines

    def _retry_lines(self) -> list[str]:
        return _retry_helper(RetryPolicy(), CONFLICT_MARKERS)

    def before_runs(self) -> list[str]:
        return []

    def versions(self) -> str:
        return '"python", sys.version.split()[0], "lancedb", lancedb.__version__, "pyarrow", pa.__version__, "numpy", np.__version__'

    def open_store(self) -> list[str]:
        self._commits = 0
        if not self.table_up_front:
            return ["store = workdir", *self._connection(), "table = None  # the first write creates the table"]
        return [
            "store = workdir",
            *self._connection(),
            f"table = db.create_table({_TABLE}, schema=SCHEMA, exist_ok=True)",
        ]

    def _connection(self) -> list[str]:
        return ["db = lancedb.connect(store, read_consistency_interval=timedelta(0))"]

    def connect(self, shared: bool = False) -> list[str]:
        """A shared connection looks for a table made after it opened, as the backend's lazy one does."""
        self._commits = 0
        if shared and not self.table_up_front:
            self._dynamic = True
            return [*self._connection(), "table = open_table(db)"]
        table = f"db.open_table({_TABLE})" if self._created else "None"
        return [*self._connection(), f"table = {table}"]

    def _ensure_table(self) -> list[str]:
        """``LanceVectorBackend.ensure_table``: create the empty table unless it exists."""
        if self._created:
            return []
        self._created = True
        return [f"table = db.create_table({_TABLE}, schema=SCHEMA, exist_ok=True)"]

    # -- the calls -------------------------------------------------------------------------------
    def call(self, call: ExportCall, result: str | None) -> list[str]:
        if call.method in _WITHOUT_TABLE and not self._created and not call.shared:
            answer = _WITHOUT_TABLE[call.method]
            return [f"{result} = {answer}  # no table yet: the backend answers without the engine"] if result else []
        return getattr(self, f"_{call.method}")(call, result)

    def _store(self, call: ExportCall, result: str | None) -> list[str]:
        metadatas = [call.args[2] or {}] if len(call.args) > 2 else None
        return self._upsert(call, [call.args[0]], [call.args[1]], metadatas)

    def _store_batch(self, call: ExportCall, result: str | None) -> list[str]:
        pairs, metadatas = split_batch(call.args[0])
        latest = dict(zip((id for id, _ in pairs), metadatas))
        items = last_wins(pairs)
        if not items:
            return ["pass  # an empty batch never reaches the engine"]
        tagged = [latest[id] for id, _ in items] if any(latest.values()) else None
        return self._upsert(call, [id for id, _ in items], [v for _, v in items], tagged)

    def _upsert(self, call: ExportCall, ids: list, vectors: list, metadatas: list[Metadata] | None = None) -> list[str]:
        data = f"rows([{', '.join(_literal(i) for i in ids)}], {_vectors(vectors, call)})"
        added = []
        if metadatas or self._columns:
            if call.shared:
                raise ExportError("metadata written by racing clients or under a fault is not exported yet")
            metadatas = metadatas or [{}] * len(ids)
            new = [f for name, f in needed_fields(metadatas).items() if name not in self._columns]
            if new:
                fields = ", ".join(f"pa.field({f.name!r}, {_ARROW[kind_letter_of(f.name)]})" for f in new)
                added = [f"table.add_columns([{fields}])  # the metadata columns this write needs, all null"]
                self._columns.update((f.name, kind_letter_of(f.name)) for f in new)
            data = f"tagged_rows({data}, {{{self._column_values(metadatas)}}})"
        merge = f"table.merge_insert({_ID}).when_matched_update_all().when_not_matched_insert_all().execute({data})"
        if call.shared and not self.table_up_front:
            self._created = True
            ensure = ["if table is None:", f"    table = db.create_table({_TABLE}, schema=SCHEMA, exist_ok=True)"]
        else:
            ensure = self._ensure_table()
        lines = [*ensure, *added, self._retried(merge, call)]
        after = call.before.count() + len({i for i in ids if not isinstance(i, Code) and not call.before.exists(i)})
        if self.index is not None and not self._indexed and after >= self.index.min_rows and not call.shared:
            self._indexed = True
            plan = self.index
            config = f"HnswSq(distance_type='cosine', num_partitions={plan.num_partitions}, m={plan.m}, ef_construction={plan.ef_construction})"
            lines.append(
                f"table.create_index({_VECTOR}, config={config})  # the backend indexes once {plan.min_rows} rows exist"
            )
        if not any(isinstance(i, Code) for i in ids):
            lines += self._committed(call)
        return lines

    def _retried(self, write: str, call: ExportCall) -> str:
        if not call.shared:
            return write
        self._retry = True
        return f"retry(lambda: {write})"

    def _id_filter(self, call: ExportCall) -> str:
        return f"col({_ID}) == lit({call.arg(0)})"

    def _delete(self, call: ExportCall, result: str | None) -> list[str]:
        """Only a delete that finds the id commits (the backend reads first)."""
        delete = self._retried(f"table.delete({self._id_filter(call)})", call)
        found = isinstance(call.args[0], Code) or call.shared or call.before.exists(call.args[0])
        lines = [
            f"{result or 'found'} = {self._matches(call)}  # nothing found: nothing to delete, no commit",
            f"if {result or 'found'}:",
            f"    {result + ' = ' if result else ''}{delete}{'.num_deleted_rows > 0' if result else ''}",
            *(indent(self._committed(call)) if found else []),
        ]
        if call.shared and not self.table_up_front:
            self._dynamic = True
            return ["table = table if table is not None else open_table(db)", "if table is not None:", *indent(lines)]
        return lines

    def _matches(self, call: ExportCall) -> str:
        return f"table.search().where({self._id_filter(call)}).select([{_ID}]).limit(1).to_arrow().num_rows > 0"

    def _committed(self, call: ExportCall, commits: int = 1) -> list[str]:
        """The backend compacts after every ``compaction.every`` commits of a connection."""
        if self.compaction is None or call.shared:
            return []
        before, self._commits = self._commits, self._commits + commits
        if self._commits // self.compaction.every == before // self.compaction.every:
            return []
        return [f"table.optimize()  # the backend compacts after every {self.compaction.every} commits of a connection"]

    def _rows_with_id(self, call: ExportCall, column: str) -> str:
        return f"found = table.search().where({self._id_filter(call)}).select([{column}]).limit(2).to_arrow()"

    def _get(self, call: ExportCall, result: str | None) -> list[str]:
        return [
            self._rows_with_id(call, _VECTOR),
            f"{result} = np.array(found[{_VECTOR}].to_pylist()[0], dtype=np.float32) if found.num_rows else None",
        ]

    def _exists(self, call: ExportCall, result: str | None) -> list[str]:
        return [f"{result} = {self._matches(call)}"]

    def _count(self, call: ExportCall, result: str | None) -> list[str]:
        return [f"{result} = table.count_rows()"]

    def _search(self, call: ExportCall, result: str | None) -> list[str]:
        query, limit = call.arg(0), call.args[1]
        vector_query = f"table.search({query}, vector_column_name={_VECTOR}){self._search_options(limit)}"
        return [
            f"found = {vector_query}.select([{_ID}, '_distance']).limit({limit}).to_arrow()",
            f"{result} = [(id, {self._score('d')}) for id, d in zip(found[{_ID}].to_pylist(), found['_distance'].to_pylist())]",
        ]

    def _column_values(self, metadatas: list[Metadata]) -> str:
        """``name: (type, values)`` for every metadata column: each row's value, None where it has none."""
        parts = []
        for name, kind in self._columns.items():
            values = [_metadata_value(m, name, kind) for m in metadatas]
            parts.append(f"{name!r}: ({_ARROW[kind]}, [{', '.join(values)}])")
        return ", ".join(parts)

    def _where(self, filter: dict) -> str:
        """The ``where`` string the backend sends for ``filter`` over the script's columns."""
        return self.where_writer({ID_COLUMN, VECTOR_COLUMN, *self._columns}).write(parse_filter(filter))

    def _filtered_search(self, call: ExportCall, result: str | None) -> list[str]:
        query, limit, filter = call.arg(0), call.args[1], call.args[2]
        if call.shared:
            raise ExportError("a filtered search among racing clients is not exported yet")
        if parse_filter(filter) == MATCH_ALL:
            return self._search(ExportCall("search", call.args[:2], call.data, call.before), result)
        where = self._where(filter)
        search = f"table.search({query}, vector_column_name={_VECTOR})"
        prefilter = f".where({where!r}, prefilter={self.prefilter})"
        selected = f".select([{_ID}, '_distance']).limit({limit}).to_arrow()"
        lines = [f"found = {search}{self._search_options(limit)}{prefilter}{selected}"]
        if self.index is not None:
            exact = f"{search}.distance_type('cosine').bypass_vector_index().where({where!r}, prefilter=True)"
            lines += [
                f"if found.num_rows < {limit} and table.count_rows({where!r}) > found.num_rows:  # short: scan the matches",
                f"    found = {exact}{selected}",
            ]
        pairs = f"zip(found[{_ID}].to_pylist(), found['_distance'].to_pylist())"
        return lines + [f"{result} = [(id, {self._score('d')}) for id, d in {pairs}]"]

    def _delete_where(self, call: ExportCall, result: str | None) -> list[str]:
        if call.shared:
            raise ExportError("a delete_where among racing clients or under a fault is not exported yet")
        where = self._where(call.args[0])
        target = result or "deleted"
        return [
            f"{target} = 0  # nothing matches: nothing to delete, no commit",
            f"if table.search().where({where!r}).select([{_ID}]).limit(1).to_arrow().num_rows > 0:",
            f"    {target} = table.delete({where!r}).num_deleted_rows",
            *indent(self._committed(call)),
        ]

    def _get_metadata(self, call: ExportCall, result: str | None) -> list[str]:
        columns = "".join(f", {name!r}" for name in self._columns)
        return [
            f"found = table.search().where({self._id_filter(call)}).select([{_ID}{columns}]).limit(2).to_arrow()",
            f"{result} = metadata_of(found.to_pylist()[0]) if found.num_rows else None",
        ]

    def _search_options(self, limit: int) -> str:
        if self.index is None:
            return '.distance_type("cosine").bypass_vector_index()'
        plan = self.index
        return f'.distance_type("cosine").maximum_nprobes(0).ef({max(plan.ef, limit * plan.refine_factor)}).refine_factor({plan.refine_factor})'

    def _score(self, distance: str) -> str:
        return f"1.0 - {distance}"

    # -- the real faults (backends/lance/nemeses.py) ---------------------------------------------
    def fault(self, name: str, call: ExportCall, step: int, at: CrashPoint | None) -> Rendered:
        self._faults = True
        if name in (KillWriter.name, CRASH):
            return self._kill_writer(call, step, at)
        if name == CompetingWriter.name and at is not None:
            return self._competitor_turn(call, step, at)
        if name == CompetingWriter.name:
            return self._competing_writer(call, step)
        raise ExportError(f"the Lance renderer cannot write the fault {name!r}")

    def _kill_writer(self, call: ExportCall, step: int, at: CrashPoint | None) -> Rendered:
        """The write runs in a process of its own, SIGKILLed once it has written ``1 + run % 3``
        data or deletion files: a sweep over the points where a commit can be cut."""
        ensure = self._ensure_table()
        if at is not None:
            ensure = [
                "# umi-dst replays this crash point exactly (it rebuilds the files as the crash left them);",
                "# here a real kill sweeps the first files the write adds",
                *ensure,
            ]
        helpers = [
            "",
            "",
            f"def write_step_{step}(store):",
            f'    """Step {step}\'s write, on a connection of its own, in a process that gets killed."""',
            *indent(self.connect()),
            *indent(self.call(call, None)),
            "",
            "",
            "def files(store):",
            '    """The data and deletion files of the table: a commit writes them before its manifest."""',
            "    found = set()",
            '    for sub in ("data", "_deletions"):',
            f"        path = os.path.join(store, {TABLE_NAME + '.lance'!r}, sub)",
            "        found.update(os.listdir(path) if os.path.isdir(path) else ())",
            "    return found",
        ]
        body = [
            *ensure,
            "kill_after = 1 + run % 3  # files written by the write before the kill",
            "before = files(store)",
            f'writer = multiprocessing.get_context("spawn").Process(target=write_step_{step}, args=(store,))',
            "writer.start()",
            "while writer.is_alive() and len(files(store) - before) < kill_after:",
            "    time.sleep(0.0002)",
            "with contextlib.suppress(ProcessLookupError):",
            "    os.kill(writer.pid, signal.SIGKILL)",
            "writer.join()",
            "acknowledged = writer.exitcode == 0",
        ]
        return Rendered(helpers, body)

    def _competing_writer(self, call: ExportCall, step: int) -> Rendered:
        """A second process repeats the same write (same ids, same values) while this one writes."""
        shared = ExportCall(call.method, call.args, call.data, call.before, shared=True)
        helpers = [
            "",
            "",
            f"def compete_step_{step}(store, started, stop):",
            f'    """Step {step}\'s write, repeated by a second writer until told to stop."""',
            *indent(self.connect(shared=True)),
            "    started.set()",
            "    while not stop.is_set():",
            "        with contextlib.suppress(Exception):  # a lost commit race is not the point here",
            *indent(self.call(shared, None), 3),
        ]
        body = [
            'spawn = multiprocessing.get_context("spawn")',
            "started, stop = spawn.Event(), spawn.Event()",
            f"competitor = spawn.Process(target=compete_step_{step}, args=(store, started, stop))",
            "competitor.start()",
            "started.wait()",
            "try:",
            *indent(self.call(shared, None)),
            "    acknowledged = True",
            "except Exception as error:",
            "    print('the write raised under the competing writer:', repr(error))",
            "    acknowledged = False",
            "stop.set()",
            "competitor.join()",
        ]
        return Rendered(helpers, body)

    def _competitor_turn(self, call: ExportCall, step: int, at: CrashPoint) -> Rendered:
        """The placed competing writer (``after_commits``): one turn of its cycle, in a process
        of its own, after ``at.k`` of the write's commits, before its next call to Lance (or when
        it ends, if it commits fewer). The same interleaving every run, so the script runs once."""
        if at.point != AFTER_COMMITS:
            raise ExportError(f"competing_writer has no crash point {at.point!r}; it has {CompetingWriter.points}")
        self._turns = True
        shared = ExportCall(call.method, call.args, call.data, call.before, shared=True)
        touched = call.changed_ids()
        helpers = [
            "",
            "",
            f"def turn_step_{step}(store):",
            f'    """Step {step}\'s competing writer, one turn of its cycle while the write waits: the same',
            "    write (same ids, same values), a rewrite of rows the write does not touch with the values",
            '    they hold, and a compaction. A commit may lose a race to the write; the turn goes on."""',
            *indent(self.connect(shared=True)),
            "    snapshot = None if table is None else table.to_arrow()",
            "    try:",
            *indent(self.call(shared, None), 2),
            "    except Exception as error:",
            "        print('the competing writer lost its write:', repr(error))",
            "    untouched = None",
            "    if snapshot is not None:",
            f"        busy = pc.is_in(snapshot[{_ID}], value_set=pa.array([{', '.join(_literal(id) for id in touched)}], pa.string()))",
            "        untouched = snapshot.filter(pc.invert(busy))",
            "    for commit in (1, 2):",
            "        if table is None:",
            "            break",
            "        try:",
            "            if commit == 1 and untouched is not None and untouched.num_rows:",
            f"                chunk = untouched.slice({REWRITE_CHUNK} % untouched.num_rows, {REWRITE_CHUNK})",
            f"                table.merge_insert({_ID}).when_matched_update_all().execute(chunk)",
            "            else:",
            "                table.optimize()",
            "        except Exception as error:",
            "            print('the competing writer lost a commit:', repr(error))",
        ]
        self._dynamic = True
        body = [
            "# the write's own connection, its table opened by its first call, as the backend's is",
            f"turns = AfterCommits(store, {at.k}, lambda: competitor_turn(turn_step_{step}, store))",
            *self._connection(),
            "db = turns.wrap(db)",
            "table = open_table(db)",
            "try:",
            *indent(self.call(shared, None)),
            "    acknowledged = True",
            "except Exception as error:",
            '    print("the write raised around the competing writer\'s turn:", repr(error))',
            "    acknowledged = False",
            "turns.finish()",
        ]
        return Rendered(helpers, body, timed=False)


class UpstreamLanceCalls(LanceCalls):
    """``UpstreamLanceBackend``: default connection settings, the table created by the first
    store with its data, upsert as delete-then-add, ids pasted into SQL, L2 search."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, table_up_front=False, compaction=None)
        self._replaced = False

    def imports(self) -> list[str]:
        lines = ["import lancedb", "import pyarrow as pa"]
        lines += ["import contextlib"] if self._replaced and not self._faults else []
        return lines + self._fault_imports()

    def _retry_lines(self) -> list[str]:
        return _retry_helper(UPSTREAM_RETRY, ("commit conflict",))  # the original looks for "Commit conflict"

    def _connection(self) -> list[str]:
        return ["db = lancedb.connect(store)"]

    def _store_batch(self, call: ExportCall, result: str | None) -> list[str]:
        items = list(call.args[0])
        if not items:
            return ["pass  # an empty batch never reaches the engine"]
        lines = []
        if not self._created and not call.shared:
            lines += self._upsert(call, [items[0][0]], [items[0][1]])
            items = items[1:]
        if items:
            ids = ", ".join(ascii(id) for id, _ in items)
            loop = ExportCall("store", (Code("id"), Code("vector")), call.data, call.before, call.shared)
            lines += [
                f"for id, vector in zip([{ids}], {call.data.matrix([v for _, v in items])}):  # one upsert per item"
            ]
            lines += indent(self._upsert(loop, [Code("id")], [Code("vector")]))
        return lines

    def _upsert(self, call: ExportCall, ids: list, vectors: list, metadatas: None = None) -> list[str]:
        (id,), (vector,) = ids, vectors
        data = f"rows([{_literal(id)}], {_vector(vector, call)})"
        create = f"table = db.create_table({_TABLE}, data={data})"
        replace = [
            "with contextlib.suppress(Exception):  # the backend ignores a failed delete",
            f"    table.delete({self._where(call, id)})",
            f"table.add({data})",
        ]
        self._replaced = call.shared or self._created or self._replaced
        if call.shared:
            self._retry = self._dynamic = self._created = True
            return [
                "if table is None:",
                "    table = open_table(db)",
                "if table is None:",
                f"    {create}",
                "else:",
                "    def replace():",
                *indent(replace, 2),
                "    retry(replace)",
            ]
        if not self._created:
            self._created = True
            return [create]
        return replace

    def _where(self, call: ExportCall, id) -> str:
        """``id = '{id}'``, pasted as the original did."""
        if isinstance(id, Code):
            return f'"id = \'" + {id} + "\'"'
        return ascii(f"id = '{id}'")

    def _id_filter(self, call: ExportCall) -> str:
        return self._where(call, call.args[0])

    def _search_options(self, limit: int) -> str:
        return ""

    def _score(self, distance: str) -> str:
        return f"1.0 / (1.0 + {distance})"


_WITHOUT_TABLE = {"delete": "False", "get": "None", "exists": "False", "count": "0", "search": "[]"}
"""What the original answers while no store has created the table."""


class BatchLoopLanceCalls(LanceCalls):
    """``BatchLoopLanceBackend``: the fixed backend but for the original's batch, a loop of
    single upserts (one commit each), and its table, made by the first write."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, table_up_front=False)

    def _store_batch(self, call: ExportCall, result: str | None) -> list[str]:
        items = last_wins(call.args[0])
        if not items:
            return ["pass  # an empty batch never reaches the engine"]
        loop = ExportCall("store", (Code("id"), Code("vector")), call.data, call.before, call.shared)
        ensure = [] if call.shared else self._ensure_table()
        ids = ", ".join(ascii(id) for id, _ in items)
        return [
            *ensure,
            f"for id, vector in zip([{ids}], {call.data.matrix([v for _, v in items])}):  # one commit per item",
            *indent(self._upsert(loop, [Code("id")], [Code("vector")])),
            *self._committed(call, len(items)),
        ]


def _literal(value) -> str:
    return str(value) if isinstance(value, Code) else ascii(value)


def _vector(value, call: ExportCall) -> str:
    return _vectors([value], call)


def _vectors(values: list, call: ExportCall) -> str:
    """``V`` rows, or a list of the names that stand for vectors in a loop."""
    if any(isinstance(v, Code) for v in values):
        return f"[{', '.join(str(v) for v in values)}]"
    return call.data.matrix(values)


def exact_calls(dim: int) -> LanceCalls:
    return LanceCalls(dim)


def approximate_calls(dim: int) -> LanceCalls:
    return LanceCalls(dim, IndexPlan())


def upstream_calls(dim: int) -> UpstreamLanceCalls:
    return UpstreamLanceCalls(dim)


def batch_loop_calls(dim: int) -> BatchLoopLanceCalls:
    return BatchLoopLanceCalls(dim)


_ARROW = {"s": "pa.string()", "i": "pa.int64()", "f": "pa.float64()", "b": "pa.bool_()"}
"""The Arrow type of each metadata column kind, as source (``metadata_columns.KIND_TYPES``)."""
assert set(_ARROW) == set(KIND_TYPES)


def kind_letter_of(name: str) -> str:
    """The kind letter of a metadata column's name (``m_<kind>_<hex>``)."""
    return name[2]


def _metadata_value(metadata: Metadata, name: str, kind: str) -> str:
    for key, value in metadata.items():
        if column_name(key, kind_letter(value)) == name:
            return ascii(value) if isinstance(value, str) else repr(value)
    return "None"


_METADATA_HELPERS = [
    "",
    "",
    "def tagged_rows(table, columns):",
    '    """``rows`` with the metadata columns: name -> (Arrow type, each row\'s value or None)."""',
    "    for name, (kind, values) in columns.items():",
    "        table = table.append_column(pa.field(name, kind), pa.array(values, kind))",
    "    return table",
    "",
    "",
    "def metadata_of(row):",
    '    """A row\'s metadata: column m_<kind>_<hex of the key> holds the key\'s value of that kind."""',
    '    return {bytes.fromhex(name[4:]).decode(): value for name, value in row.items() if name.startswith("m_") and value is not None}',
]


class PostfilterLanceCalls(LanceCalls):
    """``lance-postfilter`` (``filter_upstream``): the filter after the search's ``LIMIT``."""

    prefilter = False


class SplicedFilterLanceCalls(LanceCalls):
    """``lance-spliced-filter`` (``filter_upstream``): string values spliced into ``where`` unescaped."""

    where_writer = SplicingWhereWriter


def postfilter_calls(dim: int) -> PostfilterLanceCalls:
    return PostfilterLanceCalls(dim)


def spliced_filter_calls(dim: int) -> SplicedFilterLanceCalls:
    return SplicedFilterLanceCalls(dim)
