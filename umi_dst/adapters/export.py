"""An adapter seed written against the integration's own API, for ``umi-dst export``.

One renderer per family, not per store: ``LangChainCalls`` writes the ``VectorStore`` calls
``LangChainConnection`` makes, ``Mem0Calls`` the ``VectorStoreBase`` calls of
``Mem0Connection``, each following the store's declaration (ids, score convention, missing
API, search keywords). The store itself is built by the declaration's own ``build`` (and
counted by its ``count``), written out by ``export.function_source``; a store whose builder
needs umi-dst's code (a server the project runs) is built by its ``script_build`` instead (a
``ScriptBuild``: on the server named by the script's command line, closed at the end), and one
with neither (``NotStandalone``) exports as calls of the adapter's classes.
A store declared with filters gets its metadata written beside the adapter's, and each filter
in its own terms: the declaration's ``filter_argument`` applied when the script is written,
as a literal (a ``where`` or ``filters`` dict) or a pydantic model (Qdrant's ``models.Filter``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from umi_dst.adapters import records
from umi_dst.adapters.scores import ScoreConvention
from umi_dst.adapters.script_build import ScriptBuild
from umi_dst.adapters.script_helpers import langchain as langchain_helpers
from umi_dst.adapters.script_helpers import mem0 as mem0_helpers
from umi_dst.adapters.script_helpers import reads
from umi_dst.adapters.script_helpers import records as record_helpers
from umi_dst.contract import MAX_LIMIT
from umi_dst.export.calls import ExportCall, ExportError, Rendered, embedded, literal
from umi_dst.export.function_source import NotStandalone, Standalone
from umi_dst.filters import parse_filter
from umi_dst.metadata import split_batch
from umi_dst.operations import CrashPoint
from umi_dst.validation import last_wins


class Declaration(Protocol):
    """What the renderers read of a ``LangChainStore`` or ``Mem0Store`` (which import this
    module lazily, so it names neither)."""

    name: str
    build: Callable
    packages: tuple[str, ...]
    score: ScoreConvention
    ids: records.IdMapping
    count: Callable | None
    filter_argument: Callable | None
    script_build: ScriptBuild | None


Item = tuple[str, np.ndarray, dict]
"""A record a write hands the store: its id, its vector and its user metadata."""


class _AdapterCalls:
    """What both families write alike: the script around the calls, ids, vectors, reads."""

    helper_modules: tuple = (record_helpers, reads)
    family_imports: tuple[str, ...] = ()

    def __init__(self, dim: int, declared: Declaration) -> None:
        self.dim = dim
        self.declared = declared
        self.unit = declared.score.needs_unit_vectors
        self.scripted = declared.script_build or ScriptBuild(declared.build)
        needs = () if self.scripted.needs is None else (self.scripted.needs,)
        self.requirements = (*declared.packages, "numpy", *needs)
        self.code = Standalone()
        self.build = self._written(self.scripted.build, "build")
        self.close_with = None if self.scripted.close is None else self._written(self.scripted.close, "close")
        self.count_with = None if declared.count is None else self.code.add(declared.count, "count")
        self.filter_imports: set[str] = set()

    def _written(self, function: Callable, name: str) -> str:
        """``function`` in the script; a declared ``script_build`` that needs umi-dst is the
        declaration's mistake, said as such rather than exported another way."""
        try:
            return self.code.add(function, name)
        except NotStandalone as error:
            if self.declared.script_build is None:
                raise
            raise ExportError(f"the script_build of {self.declared.name!r} cannot be written out: {error}") from None

    @property
    def filters(self) -> bool:
        """Steps with metadata and filters are written for a store declared with them."""
        return self.declared.filter_argument is not None

    # -- the script around the calls ---------------------------------------------------------
    def imports(self) -> list[str]:
        basics = ["import math", "import uuid", "from importlib.metadata import version", "from pathlib import Path"]
        return [*basics, *self.family_imports, *sorted(self.code.imports | self.filter_imports)]

    def helpers(self) -> list[str]:
        lines = [line for module in self.helper_modules for line in embedded(module)]
        defined = {name for module in self.helper_modules for name in vars(module)}
        return lines + self.code.lines(leaving_out=defined) + self.family_helpers()

    def family_helpers(self) -> list[str]:
        return []

    def before_runs(self) -> list[str]:
        """The script's command-line argument, where the store is built on it."""
        argument = self.scripted.argument
        if argument is None:
            return []
        usage = f"sys.exit('usage: python ' + sys.argv[0] + {' ' + argument!r})"
        return ["if len(sys.argv) != 2:", f"    {usage}", "TARGET = sys.argv[1]"]

    @property
    def arguments(self) -> str:
        """What follows ``python SCRIPT`` on the script's command line."""
        return "" if self.scripted.argument is None else f" {self.scripted.argument}"

    def target(self) -> str:
        """Source for what the store is built on: the argument, or the run's working directory."""
        return "Path(workdir)" if self.scripted.argument is None else "TARGET"

    def close_store(self) -> list[str]:
        """What ends each run, pass or fail (the script's ``finally``)."""
        return [] if self.close_with is None else [f"{self.close_with}(store)"]

    def versions(self) -> str:
        packages = ", ".join(ascii(name) for name in self.declared.packages)
        return f'"python", sys.version.split()[0], *(f"{{p}} {{version(p)}}" for p in ({packages},)), "numpy", np.__version__'

    def connect(self, shared: bool = False) -> list[str]:
        """Every connection of an adapter is the one store object: nothing to open."""
        if shared:
            raise ExportError("a concurrent history on an adapter is not written as a script; replay the seed")
        return []

    def fault(self, name: str, call: ExportCall, step: int, at: CrashPoint | None) -> Rendered:
        raise ExportError(f"an adapter has no nemesis {name!r} to write into a script")

    # -- arguments ---------------------------------------------------------------------------
    def store_id(self, id: str) -> str:
        """Source for the id the store keeps for a contract id (its UUID 5 where declared)."""
        text = literal(id, None)
        return text if self.declared.ids is records.IdMapping.SAME else f"uuid_of({text})"

    def stored(self, call: ExportCall, vector: np.ndarray) -> str:
        """Source for the values handed to the store (the unit vector for a Euclidean score)."""
        return f"{call.data.vector(np.asarray(records.as_stored(vector, self.unit), np.float32))}.tolist()"

    def payload(self, call: ExportCall, id: str, vector: np.ndarray, user: dict) -> str:
        """Source for the metadata written with a record: the adapter's, then the user's."""
        tagged = f"metadata({literal(id, None)}, {call.data.vector(vector)})"
        return f"{{**{tagged}, **{user!r}}}" if user else tagged

    def store_filter(self, raw: dict) -> str:
        """Source for the store's own filter of ``raw``, as the adapter passes it."""
        value = self.declared.filter_argument(parse_filter(raw))
        if value is None or isinstance(value, dict):
            return repr(value)
        dump = getattr(value, "model_dump", None)
        if dump is None:
            raise ExportError(f"a filter of {type(value).__name__} (not a dict or a pydantic model) is not written yet")
        model = type(value)
        fields = dump(exclude_none=True)
        if model.model_validate(fields) != value:
            raise ExportError(f"{model.__name__} does not read its own dump back: the filter cannot be written")
        self.filter_imports.add(f"from {model.__module__} import {model.__name__}")
        return f"{model.__name__}.model_validate({fields!r})"

    @staticmethod
    def items(call: ExportCall) -> list[Item]:
        if call.method == "store":
            return [(call.args[0], call.args[1], call.args[2] if len(call.args) > 2 else {})]
        pairs, metadatas = split_batch(call.args[0])
        latest = dict(zip((id for id, _ in pairs), metadatas))
        return [(id, vector, latest[id]) for id, vector in last_wins(pairs)]

    # -- the calls ---------------------------------------------------------------------------
    def call(self, call: ExportCall, result: str | None) -> list[str]:
        if call.method in ("store", "store_batch"):
            items = self.items(call)
            return self.write(call, items) if items else ["pass  # an empty batch never reaches the store"]
        if call.method in ("get", "exists"):
            lines, vector = self.read(call, call.args[0])
            value = f"{vector} is not None" if call.method == "exists" else vector
            return lines + ([f"{result} = {value}"] if result else [])
        if call.method == "delete":
            return self.delete(call, result or "existed")
        if call.method == "count":
            counted = f"{self.count_with}(store)" if self.count_with else self.full_count()
            return [f"{result} = {counted}"]
        if call.method in ("search", "filtered_search"):
            return self.search(call, result or "got")
        if call.method == "get_metadata":
            lines, metadatas = self.read_metadatas(call.args[0])
            read = f"record_vector({metadatas}, {literal(call.args[0], None)})  # the record of this id, whole"
            own = f"None if not {metadatas} else user_metadata({metadatas}[0], {self.store_keys!r})"
            return [*lines, read, f"{result or 'got'} = {own}"]
        if call.method == "delete_where":
            return self.delete_where(call, result or "deleted")
        raise ExportError(f"{call.method} is not written for an adapter yet")

    def delete(self, call: ExportCall, result: str) -> list[str]:
        """As the adapter does: read the record, and delete it only if the store holds it."""
        lines, vector = self.read(call, call.args[0])
        return [*lines, f"{result} = {vector} is not None", f"if {result}:", f"    {self.delete_call([call.args[0]])}"]

    def delete_where(self, call: ExportCall, result: str) -> list[str]:
        """As the adapter does: the ids one filtered listing of the store's selects, then their delete."""
        ids = "[uuid_of(id) for id in doomed]" if self.declared.ids is records.IdMapping.UUID else "doomed"
        return [
            f"doomed = sorted({self.selected(self.store_filter(call.args[0]))})",
            "if doomed:",
            *[f"    {line}" for line in self.delete_selected(ids)],
            f"{result} = len(doomed)",
        ]

    def ranked(self, query: str, hits: str, metadata: str) -> str:
        """Source for ``(id, score)`` pairs whose scores are recomputed from the returned vectors."""
        vectors = f"[stored_vector({metadata}) for hit in {hits}]"
        return f"list(zip([{metadata}[ID_KEY] for hit in {hits}], ranked_cosines({query}, {vectors})))"


class LangChainCalls(_AdapterCalls):
    """A LangChain ``VectorStore``, called as ``LangChainConnection`` calls it."""

    family_imports = ("from langchain_core.embeddings import Embeddings",)
    helper_modules = (*_AdapterCalls.helper_modules, langchain_helpers)

    def family_helpers(self) -> list[str]:
        if self.declared.has_get_by_ids and self.count_with is not None:
            return []
        return [
            "",
            "",
            "def listing(store):",
            f'    """Every record, as the store\'s own search returns them (one query of limit {MAX_LIMIT} reaches all)."""',
            f"    return store.similarity_search_by_vector([1.0] + [0.0] * (DIM - 1), k={MAX_LIMIT}{self._search_kwargs()})",
        ]

    def open_store(self) -> list[str]:
        return ["embeddings = Exact(DIM)", f"store = {self.build}({self.target()}, embeddings)"]

    def _search_kwargs(self) -> str:
        return "".join(f", {key}={value!r}" for key, value in self.declared.search_kwargs.items())

    def _documents(self, ids: list) -> str:
        if self.declared.has_get_by_ids:
            return f"store.get_by_ids([{', '.join(self.store_id(id) for id in ids)}])"
        wanted = ", ".join(literal(id, None) for id in ids)
        return f"[doc for doc in listing(store) if doc.metadata.get(ID_KEY) in ({wanted},)]"

    def read(self, call: ExportCall, id: str) -> tuple[list[str], str]:
        return [], f"record_vector([doc.metadata for doc in {self._documents([id])}], {literal(id, None)})"

    @property
    def store_keys(self) -> tuple[str, ...]:
        return self.declared.store_keys

    def read_metadatas(self, id: str) -> tuple[list[str], str]:
        return [f"metadatas = [doc.metadata for doc in {self._documents([id])}]"], "metadatas"

    def selected(self, filter: str) -> str:
        probe = "[1.0] + [0.0] * (DIM - 1)"
        listing = f"store.similarity_search_by_vector({probe}, k={MAX_LIMIT}, filter={filter}{self._search_kwargs()})"
        return f"{{doc.metadata[ID_KEY] for doc in {listing}}}"

    def delete_selected(self, ids: str) -> list[str]:
        return [f"store.delete({ids})"]

    def delete_call(self, ids: list) -> str:
        return f"store.delete([{', '.join(self.store_id(id) for id in ids)}])"

    def full_count(self) -> str:
        return "len(listing(store))"

    def write(self, call: ExportCall, items: list[Item]) -> list[str]:
        ids = [id for id, _, _ in items]
        lines = []
        if not self.declared.replaces_on_add:
            held = [id for id in ids if call.before.get(id) is not None]
            if held:
                lines.append(f"{self.delete_call(held)}  # the store does not replace on add: delete first")
        texts = ", ".join(literal(id, None) for id in ids)
        stored = ", ".join(self.stored(call, vector) for _, vector, _ in items)
        metadatas = ", ".join(self.payload(call, id, vector, user) for id, vector, user in items)
        return lines + [
            f"embeddings.expect([{texts}], [{stored}])",
            f"store.add_texts([{texts}], metadatas=[{metadatas}], ids=[{', '.join(self.store_id(id) for id in ids)}])",
        ]

    def search(self, call: ExportCall, result: str) -> list[str]:
        query, limit = call.args[:2]
        values = self.stored(call, query)
        kwargs = self._search_kwargs()
        if call.method == "filtered_search":
            kwargs = f", filter={self.store_filter(call.args[2])}{kwargs}"
        if self.declared.has_scores:
            method = self.declared.scored_search
            hits = f"store.{method}({values}, k={limit}{kwargs})"
            convert = self.declared.score.formula
            return [f"{result} = [(doc.metadata[ID_KEY], {convert}) for doc, score in {hits}]"]
        hits = f"store.similarity_search_by_vector({values}, k={limit}{kwargs})"
        return ["hits = " + hits, f"{result} = {self.ranked(call.data.vector(query), 'hits', 'hit.metadata')}"]


class Mem0Calls(_AdapterCalls):
    """A mem0 ``VectorStoreBase``, called as ``Mem0Connection`` calls it (as mem0's ``Memory`` does)."""

    helper_modules = (*_AdapterCalls.helper_modules, mem0_helpers)

    def open_store(self) -> list[str]:
        return [f"store = {self.build}({self.target()}, DIM)"]

    def read(self, call: ExportCall, id: str) -> tuple[list[str], str]:
        return (
            [f"record = store.get({self.store_id(id)})"],
            f"record_vector([] if record is None else [record.payload], {literal(id, None)})",
        )

    store_keys: tuple[str, ...] = ()

    def read_metadatas(self, id: str) -> tuple[list[str], str]:
        lines = [f"record = store.get({self.store_id(id)})", "metadatas = [] if record is None else [record.payload]"]
        return lines, "metadatas"

    def selected(self, filter: str) -> str:
        return f"{{record.payload[ID_KEY] for record in listed(store.list({filter}, {MAX_LIMIT}))}}"

    def delete_selected(self, ids: str) -> list[str]:
        return [f"for id in {ids}:", "    store.delete(id)"]

    def delete_call(self, ids: list) -> str:
        [id] = ids
        return f"store.delete({self.store_id(id)})"

    def full_count(self) -> str:
        return f"len(listed(store.list(None, {MAX_LIMIT})))"

    def write(self, call: ExportCall, items: list[Item]) -> list[str]:
        """``update`` for the ids the store holds, one ``insert`` for the rest."""
        lines, new = [], []
        for id, vector, user in items:
            if call.before.get(id) is None:
                new.append((id, vector, user))
                continue
            payload = self.payload(call, id, vector, user)
            lines.append(f"store.update({self.store_id(id)}, vector={self.stored(call, vector)}, payload={payload})")
        if new:
            vectors = ", ".join(self.stored(call, vector) for _, vector, _ in new)
            payloads = ", ".join(self.payload(call, id, vector, user) for id, vector, user in new)
            ids = ", ".join(self.store_id(id) for id, _, _ in new)
            lines.append(f"store.insert([{vectors}], payloads=[{payloads}], ids=[{ids}])")
        return lines

    def search(self, call: ExportCall, result: str) -> list[str]:
        query, limit = call.args[:2]
        filters = f", {self.store_filter(call.args[2])}" if call.method == "filtered_search" else ""
        hits = f'store.search("", {self.stored(call, query)}, {limit}{filters})'
        if self.declared.has_scores:
            convert = self.declared.score.formula
            return [f"{result} = [(hit.payload[ID_KEY], {convert}) for hit in {hits} for score in [hit.score]]"]
        return ["hits = " + hits, f"{result} = {self.ranked(call.data.vector(query), 'hits', 'hit.payload')}"]
