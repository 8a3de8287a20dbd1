"""Hypothesis strategies for ids, recipes and operations.

Ids come from a pool of the strings that break real stores (quotes, backslashes, LIKE
wildcards, padding, case, Unicode forms, 256-character ids sharing long prefixes), from short
random text, and from near-duplicates of stored ids. Recipes that copy a stored vector draw a
``pick`` index that the machine resolves to a concrete id, so traces stay concrete.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass

from hypothesis import strategies as st

from umi_dst.contract import DEFAULT_SCORE_ATOL, MAX_ID_LENGTH, MAX_LIMIT
from umi_dst.operations import Bulk, Delete, Search, Store, StoreBatch
from umi_dst.recipes import Explicit, NearTie, Negated, OneHot, Perturbed, Random, Recipe, Scaled

TRICKY_IDS: tuple[str, ...] = (
    "a", "b", "A", " a", "a ", "abc", "a_c", "a%", "%", "_", "50%_off", "a%c",
    "'", "''", "O'Brien", '"', "\\", "\\'", "a\\", "id'); DROP TABLE embeddings; --",
    "NULL", "null", "\u00e9", "e\u0301", "\u212b", "\u00c5", "\U0001f642", "\u540d\u524d",
    "\n", "a\tb", "\u2028", "k" * (MAX_ID_LENGTH - 1) + "a", "k" * (MAX_ID_LENGTH - 1) + "b",
    "k" * MAX_ID_LENGTH, "p" * 64 + "-1", "p" * 64 + "-2", "p" * 64,
)  # fmt: skip
"""Ids that real stores have got wrong; every one is a valid id (CONTRACT §1)."""

VARIANTS = ("upper", "lower", "strip", "pad_left", "pad_right", "underscore", "percent", "nfd", "nfc", "first64")
"""Near-duplicate transforms of a stored id: each yields a different valid id (or the same)."""


def variant(id: str, how: str) -> str:
    """A near-duplicate of ``id``: the ids a careless store would confuse with it."""
    transforms = {
        "upper": id.upper,
        "lower": id.lower,
        "strip": id.strip,
        "pad_left": lambda: " " + id,
        "pad_right": lambda: id + " ",
        "underscore": lambda: id[: len(id) // 2] + "_" + id[len(id) // 2 + 1 :],
        "percent": lambda: id[:-1] + "%",
        "nfd": lambda: unicodedata.normalize("NFD", id),
        "nfc": lambda: unicodedata.normalize("NFC", id),
        "first64": lambda: id[:64] if len(id) > 64 else id + "x" * (65 - len(id)),
    }
    result = transforms[how]()[:MAX_ID_LENGTH]
    return result if result and "\x00" not in result else "_"


@dataclass(frozen=True, slots=True)
class Pick:
    """A stored id to be chosen when the step runs: ``index`` modulo the sorted stored ids."""

    index: int


@dataclass(frozen=True, slots=True)
class NearDuplicate:
    """A near-duplicate (see ``VARIANTS``) of the stored id that ``base`` picks."""

    base: Pick
    how: str


IdChoice = str | Pick | NearDuplicate
"""An id as drawn: concrete, or chosen among the stored ids when the step runs."""


def concrete_id(id: IdChoice, stored: list[str]) -> str:
    """The id a ``Pick`` or ``NearDuplicate`` stands for among the sorted stored ids.

    With nothing stored, picks fall back to the tricky pool.
    """
    if isinstance(id, NearDuplicate):
        return variant(concrete_id(id.base, stored), id.how)
    if not isinstance(id, Pick):
        return id
    pool = stored or list(TRICKY_IDS)
    return pool[id.index % len(pool)]


def resolve(recipe: Recipe, stored: list[str]) -> Recipe:
    """Replace each ``Pick`` in a recipe (``of``, ``other``) with the concrete id it stands for."""
    picked = {
        name: concrete_id(chosen, stored)
        for name in ("of", "other")
        if isinstance(chosen := getattr(recipe, name, None), Pick)
    }
    return dataclasses.replace(recipe, **picked) if picked else recipe


random_text_ids = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=12)
"""Any code point but NUL and the surrogates (the ones UTF-8 cannot encode). Named by category,
not ``codec="utf-8"``: the same characters and draws, without Hypothesis scanning every code
point through the codec (seconds of CPU) wherever its storage directory has not cached them."""
ids = st.one_of(st.sampled_from(TRICKY_IDS), random_text_ids)
"""Any valid id, biased towards the tricky pool so collisions and confusions are common."""

seeds = st.integers(0, 2**32 - 1) | st.integers(0, 3)
picks = st.builds(Pick, st.integers(0, 1000))
near_duplicates = st.builds(NearDuplicate, picks, st.sampled_from(VARIANTS))
existing_or_any_ids = picks | near_duplicates | ids
"""For reads and deletes: a stored id, a near-duplicate of one, or any id."""

_explicit_values = st.lists(st.floats(-1e3, 1e3, width=32, allow_subnormal=False), min_size=1, max_size=4).map(
    lambda values: tuple(values) if abs(values[0]) >= 1e-2 else (1.0, *values[:3])
)
"""Literal float32 values whose first is clearly non-zero, so the norm is valid at any dimension
(the values are cycled or cut to it)."""


def recipes(dim: int) -> st.SearchStrategy:
    """Embedding recipes; those naming ``Pick`` copy a stored vector (exact or near ties)."""
    return st.one_of(
        st.builds(Random, seeds),
        st.builds(OneHot, st.integers(0, dim - 1), st.sampled_from([1.0, -1.0, 0.5, 3.0])),
        st.builds(Explicit, _explicit_values),
        st.builds(Scaled, picks, st.integers(-3, 3)),
        st.builds(Negated, picks),
        st.builds(Perturbed, picks, seeds, st.sampled_from([1e-6, 1e-5, 1e-3, 0.1])),
    )


def bulks(max_count: int) -> st.SearchStrategy:
    """Bulk parts of up to ``max_count`` items with repeated ids, or full ones: ``max_count``
    items over ``max_count`` possible ids (drawn with replacement, so about 1 - 1/e of them
    distinct), so a few steps grow a store past the sizes where stores change their
    ways (pages, index builds, sampled checks) and large writes meet faults.

    A full part draws the same choices as a repeating one and ignores two of them: Hypothesis
    shrinks towards fewer choices, not fewer rows, so a full part drawn with fewer choices
    stayed full through a whole shrink (every replay of a failure on the Lance case study
    wrote its 300 rows). Drawn alike, lowering the branch turns it into a repeating part of
    the same seed, whose count then shrinks."""
    drawn = st.tuples(seeds, st.integers(1, max_count), st.integers(1, 4))
    repeating = drawn.map(lambda d: Bulk(d[0], d[1], max(1, d[1] * d[2] // 4)))
    full = drawn.map(lambda d: Bulk(d[0], max_count, max_count))
    return repeating | full


def stores(dim: int) -> st.SearchStrategy:
    return st.builds(Store, ids, recipes(dim))


def batches(dim: int, max_bulk: int) -> st.SearchStrategy:
    """Batches with repeated ids and updates: a few explicit items (from a small id pool, or a
    stored id as a ``Pick``) and maybe a bulk part (none, repeating or full: one in three each)."""
    items = st.lists(st.tuples(st.sampled_from(TRICKY_IDS[:8]) | ids | picks, recipes(dim)), max_size=8)
    bulk = st.none() | bulks(max_bulk) if max_bulk else st.none()
    return st.builds(StoreBatch, items.map(tuple), bulk)


def writes(dim: int, max_bulk: int) -> st.SearchStrategy:
    """A write to run under a fault: a store, a batch or a delete, one in three each, so faults
    meet batches, large ones included, as often as single writes. A delete is of a stored id
    or a near-duplicate of one (an ``IdChoice``): a fault on a delete of nothing shows little."""
    return st.one_of(stores(dim), batches(dim, max_bulk), st.builds(Delete, picks | near_duplicates))


def limits() -> st.SearchStrategy:
    return st.integers(1, 5) | st.integers(1, 60) | st.just(MAX_LIMIT)


NEAR_TIE_GAPS = tuple(round(DEFAULT_SCORE_ATOL * times, 12) for times in (0.5, 0.9, 1.1, 1.5, 1.9))
"""Score gaps of near-tie queries: just under and just over the contract's tolerance, up to
twice it, where a backend's reported scores can look sorted while true ones are inverted."""
near_ties = st.builds(NearTie, picks, picks, st.sampled_from(NEAR_TIE_GAPS))


def searches(dim: int) -> st.SearchStrategy:
    """Half of the queries any recipe, half a near tie between two stored records."""
    return st.builds(Search, recipes(dim), limits()) | st.builds(Search, near_ties, limits())


SMALL_DIMS = (2, 3, 5, 8, 13)
"""Not 1: a bulk batch of random values at dim 1 would now and then hold a vector below the
contract's minimum norm, an invalid input the machine meant as valid."""
UNALIGNED_DIMS = (12, 20, 24, 33, 40, 100, 257)
"""Dimensions that are not multiples of 16, 8 or 4 (vector kernels' tails, padding)."""
EMBEDDING_DIMS = (384, 768, 1024, 1536)
"""The sizes real embedding models produce."""
LONG_CASE_DIMS = (2, 3, 5, 8, 12)
"""Long test cases run with small vectors, so hundreds of writes stay cheap."""


def dimensions(pinned: int | None = None) -> st.SearchStrategy:
    """A test case's dimension: ``pinned`` if given, else small, unaligned or an embedding size."""
    if pinned is not None:
        return st.just(pinned)
    return st.sampled_from(SMALL_DIMS) | st.sampled_from(UNALIGNED_DIMS) | st.sampled_from(EMBEDDING_DIMS)


def long_case_dimensions(pinned: int | None = None) -> st.SearchStrategy:
    return st.just(pinned) if pinned is not None else st.sampled_from(LONG_CASE_DIMS)
