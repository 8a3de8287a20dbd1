"""Aimed searches: the queries and limits where search paths break, as rules of the machine.

A vector store exists to answer searches, so the campaign's most frequent read is a search,
and each is aimed rather than drawn blind:

- its query is a stored vector, a near duplicate of one, its negation, a near tie between two
  stored records, or random (``QUERY_KINDS``);
- its limits are drawn as ``LimitChoice``s resolved against the state when the step runs: at,
  just below and just above the count, around 10, 40 (pgvector's default ``ef_search``) and
  100, or ``tie``: the rank where the query's true scores tie exactly (else within the
  tolerance, else come closest) at the cut-off;
- some searches follow the events that leave a store in a state of its own: a delete, a delete
  then a store of the same id, a batch of updates, a reopen, an abandoned connection, a fault.

The step a rule records is a plain ``Search`` of a concrete recipe and limit, so seed files
keep their format and replay the same searches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from umi_dst.contract import MAX_LIMIT
from umi_dst.filter_ops import FilteredSearch, as_text
from umi_dst.generation import strategies
from umi_dst.generation.strategies import Pick, concrete_id, resolve
from umi_dst.operations import Abandon, Delete, Reopen, Search, Step, Store, StoreBatch
from umi_dst.recipes import Explicit, Negated, Perturbed, Random, Recipe, Scaled

LIMIT_CLASSES = ("tie", "count", "near_10", "near_40", "near_100", "one")
"""How a limit is aimed; ``count``, ``near_*`` take an offset of -1, 0 or +1."""
AROUND = {"near_10": 10, "near_40": 40, "near_100": 100}
SEARCHES_PER_RULE = (4, 6)
"""An aimed-search rule runs the same query at this many limits (bounds included): a search
costs a backend far less than a write, and one query at several cut-offs tries the top-k rule
at each."""


@dataclass(frozen=True, slots=True)
class LimitChoice:
    """A limit chosen when the step runs, from the store's state (see ``concrete_limit``)."""

    how: str
    offset: int = 0
    index: int = 0
    """With ``tie``: which of the qualifying cut-offs, modulo their number."""


def concrete_limit(choice: LimitChoice, scores: np.ndarray, atol: float) -> int:
    """The limit ``choice`` stands for, given the query's true scores over the stored records."""
    count = len(scores)
    if choice.how == "tie":
        return _tie_limit(scores, atol, choice.index) if count >= 2 else max(1, count)
    if choice.how == "one":
        return 1
    centre = count if choice.how == "count" else AROUND[choice.how]
    return min(MAX_LIMIT, max(1, centre + choice.offset))


def _tie_limit(scores: np.ndarray, atol: float, index: int) -> int:
    """A limit whose cut-off falls between two records tied exactly (preferred) or within
    ``atol``; with neither, the cut-off with the smallest gap."""
    ranked = -np.sort(-scores)
    gaps = ranked[:-1] - ranked[1:]  # gaps[i]: between rank i+1 (last in) and rank i+2 (first out)
    for qualifying in (np.flatnonzero(gaps == 0), np.flatnonzero(gaps <= atol)):
        if len(qualifying):
            return int(qualifying[index % len(qualifying)]) + 1
    return int(np.argmin(gaps)) + 1


def limit_class(limit: int, count: int) -> str:
    """The class a concrete limit falls in, for coverage: relative to the count, then to the
    limits where engines change their ways."""
    if count and limit == count:
        return "at_count"
    if count and abs(limit - count) == 1:
        return "beside_count"
    if limit == 1:
        return "one"
    for name, centre in AROUND.items():
        if abs(limit - centre) <= 1:
            return name
    return "above_count" if limit > count else "below_count"


limit_choices = st.one_of(
    st.builds(LimitChoice, st.just("tie"), st.just(0), st.integers(0, 15)),
    st.builds(LimitChoice, st.just("count"), st.integers(-1, 1)),
    st.builds(LimitChoice, st.sampled_from(sorted(AROUND)), st.integers(-1, 1)),
    st.just(LimitChoice("one")),
)
limit_lists = st.lists(limit_choices, min_size=SEARCHES_PER_RULE[0], max_size=SEARCHES_PER_RULE[1])

QUERY_KINDS = ("stored", "near_duplicate", "negated", "near_tie", "random")
"""The kinds of aimed query; a recipe's kind names it (``query_kind``)."""


def aimed_queries() -> st.SearchStrategy:
    """A stored vector (an exact tie with its scaled copies), a near duplicate, a negation, a
    near tie between two stored records, or a random one. No near tie of gap 0: between a
    record and its scaled copy its direction is 0/0 (NaN); the stored query makes that tie."""
    return st.one_of(
        st.builds(Scaled, strategies.picks, st.just(0)),
        st.builds(Perturbed, strategies.picks, strategies.seeds, st.sampled_from([1e-7, 1e-6, 1e-4, 1e-2])),
        st.builds(Negated, strategies.picks),
        strategies.near_ties,
        st.builds(Random, strategies.seeds),
    )


def query_kind(recipe: Recipe) -> str:
    """The coverage name of a query's kind."""
    names = {"scaled": "stored", "perturbed": "near_duplicate", "negated": "negated", "near_tie": "near_tie"}
    return names.get(recipe.kind, recipe.kind)


def add_rules(machine: type, recipe_dim: int) -> None:
    """Give ``machine`` (a ``contract_machine`` class) the aimed-search rules."""
    for name, method in _rules(recipe_dim).items():
        method.__name__ = method.__qualname__ = name
        setattr(machine, name, method)


def _explicit(vector: np.ndarray) -> Explicit:
    """A recipe for exactly this vector, for a query by a record that is about to go."""
    return Explicit(tuple(float(x) for x in vector))


def searches(machine, query: Recipe, limits: list[LimitChoice], filter: dict | None = None) -> None:
    """Run ``query`` on ``machine`` once per limit choice, under ``filter`` if given, each limit
    resolved against the scores of the records searched (those the filter selects). A search
    writes nothing, so the scores are computed once for all the limits."""
    harness = machine.harness
    oracle = harness.oracle
    query = resolve(query, oracle.ids())
    _, scores = oracle.scores(harness.embedding(query))
    text = None if filter is None else as_text(filter)
    if filter is not None:
        scores = scores[oracle.matching(filter)]
    for choice in limits:
        limit = concrete_limit(choice, scores, machine.factory.score_atol)
        machine.run(Step(Search(query, limit) if text is None else FilteredSearch(query, limit, text)))


def _rules(recipe_dim: int) -> dict[str, Callable]:
    @rule(query=aimed_queries(), limits=limit_lists)
    def search_aimed(self, query: Recipe, limits: list[LimitChoice]) -> None:
        searches(self, query, limits)

    @rule(base=strategies.picks, exponent=st.integers(-3, 3), id=strategies.ids, limits=limit_lists)
    def search_tied_copy(self, base: Pick, exponent: int, id: str, limits: list[LimitChoice]) -> None:
        """Store a scaled copy of a stored record (an exact cosine tie), then search by it."""
        of = concrete_id(base, self.harness.oracle.ids())
        self.run(Step(Store(id, Scaled(of, exponent))))
        searches(self, Scaled(of, 0), [LimitChoice("tie"), *limits])

    @rule(id=strategies.picks, limits=limit_lists)
    def search_after_delete(self, id: Pick, limits: list[LimitChoice]) -> None:
        """Delete a record, then search by its vector: it must not come back."""
        oracle = self.harness.oracle
        target = concrete_id(id, oracle.ids())
        vector = oracle.get(target)
        self.run(Step(Delete(target)))
        if vector is not None and oracle.count():
            searches(self, _explicit(vector), limits)

    @rule(id=strategies.picks, recipe=strategies.recipes(recipe_dim), limits=limit_lists)
    def search_after_restore(self, id: Pick, recipe: Recipe, limits: list[LimitChoice]) -> None:
        """Delete a record and store its id again with another vector, then search by the old
        vector and the new: the id holds the new one only, once (chroma PR #2621)."""
        oracle = self.harness.oracle
        target = concrete_id(id, oracle.ids())
        vector = oracle.get(target)
        self.run(Step(Delete(target)))
        self.run(Step(Store(target, resolve(recipe, oracle.ids()))))
        if vector is not None:
            searches(self, _explicit(vector), limits[:1])
        searches(self, Scaled(target, 0), [LimitChoice("tie"), *limits[1:]])

    @rule(updates=st.lists(st.tuples(strategies.picks, strategies.recipes(recipe_dim)), min_size=1, max_size=8),
          limits=limit_lists)  # fmt: skip
    def search_after_batch(self, updates: list[tuple[Pick, Recipe]], limits: list[LimitChoice]) -> None:
        """Update stored records by a batch, then search by an updated record's new vector."""
        stored = self.harness.oracle.ids()
        items = tuple((concrete_id(id, stored), resolve(recipe, stored)) for id, recipe in updates)
        self.run(Step(StoreBatch(items, None)))
        searches(self, Scaled(items[-1][0], 0), limits)

    @precondition(lambda self: "reopen" in self.enabled)
    @rule(query=aimed_queries(), limits=limit_lists)
    def search_after_reopen(self, query: Recipe, limits: list[LimitChoice]) -> None:
        self.run(Step(Reopen()))
        searches(self, query, limits)

    @precondition(lambda self: "abandon" in self.enabled)
    @rule(query=aimed_queries(), limits=limit_lists)
    def search_after_abandon(self, query: Recipe, limits: list[LimitChoice]) -> None:
        self.run(Step(Abandon()))
        searches(self, query, limits)

    @precondition(lambda self: bool(self.steps) and self.steps[-1].fault is not None)
    @rule(query=aimed_queries(), limits=limit_lists)
    def search_after_fault(self, query: Recipe, limits: list[LimitChoice]) -> None:
        """Search right after a write under a fault, whatever state it left."""
        searches(self, query, limits)

    return {
        "search_aimed": search_aimed,
        "search_tied_copy": search_tied_copy,
        "search_after_delete": search_after_delete,
        "search_after_restore": search_after_restore,
        "search_after_batch": search_after_batch,
        "search_after_reopen": search_after_reopen,
        "search_after_abandon": search_after_abandon,
        "search_after_fault": search_after_fault,
    }
