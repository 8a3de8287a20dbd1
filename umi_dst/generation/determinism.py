"""Generation that depends only on the seed, not on what the process imported before.

Hypothesis mixes into its draws constants collected from every *local* module loaded so far
(``hypothesis.internal.conjecture.providers``: a string or number literal from umi-dst, the
backends or the user's code, drawn about one time in twenty). Which modules are loaded
depends on what ran earlier in the process (another test, another backend, a lazy import),
so one seed would draw different cases under ``pytest -n 0`` and ``-n 2``, or in a campaign
worker and a pytest item. Inside ``seed_only_generation()`` that pool is empty; Hypothesis's
built-in constants, which do not depend on the process, still apply.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis.internal.conjecture import providers


@contextmanager
def seed_only_generation() -> Iterator[None]:
    collect = getattr(providers, "_get_local_constants", None)
    if collect is None:  # a Hypothesis without local constants: nothing depends on imports
        yield
        return
    empty = providers.Constants()
    providers.CONSTANTS_CACHE.cache.clear()
    providers._get_local_constants = lambda: empty
    try:
        yield
    finally:
        providers._get_local_constants = collect
        providers.CONSTANTS_CACHE.cache.clear()
