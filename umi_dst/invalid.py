"""Bad inputs, by name: every way a call can be given input the contract rejects (CONTRACT §1, §4).

A trace names a defect (``"embedding:nan"``); ``arguments`` builds the actual call arguments
for a dimension, with a valid value in every other position so the defect is the only one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from umi_dst.contract import MAX_ID_LENGTH, MAX_LIMIT
from umi_dst.recipes import random_vector

PROBE_ID = "invalid-probe"
"""The valid id paired with a bad embedding; it must not appear after the call."""
BATCH_PROBE_IDS = ("batch-probe-0", "batch-probe-1")
"""Valid ids around the bad item of a batch; an atomic batch never stores them."""

BAD_IDS: dict[str, object] = {
    "empty": "",
    "too_long": "x" * (MAX_ID_LENGTH + 1),
    "nul": "a\x00b",
    "lone_surrogate": "a\ud800b",
    "not_str": 42,
    "bytes": b"abc",
    "none": None,
}


def _bad_vectors(dim: int) -> dict[str, object]:
    ones = np.ones(dim, dtype=np.float32)
    with_value = lambda value: np.concatenate([[value], ones[1:]]).astype(np.float64)  # noqa: E731
    return {
        "short": ones[:-1],
        "long": np.ones(dim + 1, dtype=np.float32),
        "nan": with_value(np.nan),
        "inf": with_value(np.inf),
        "neg_inf": with_value(-np.inf),
        "too_large": with_value(2e6),
        "float32_overflow": with_value(1e39),
        "zero": np.zeros(dim, dtype=np.float32),
        "tiny_norm": np.full(dim, 1e-9, dtype=np.float32),
        "strings": ["a"] * dim,
        "digit_strings": ["1"] * dim,
        "bools": [True] * dim,
        "matrix": np.ones((dim, 2), dtype=np.float32),
        "none": None,
    }


BAD_LIMITS: dict[str, object] = {
    "zero": 0,
    "negative": -1,
    "too_large": MAX_LIMIT + 1,
    "float": 1.5,
    "bool": True,
    "str": "3",
    "none": None,
}

_VECTOR_DEFECTS = tuple(_bad_vectors(2))
_ID_CALLS = ("get", "exists", "delete")

DEFECTS: dict[str, tuple[str, ...]] = {
    "store": tuple(f"id:{d}" for d in BAD_IDS) + tuple(f"embedding:{d}" for d in _VECTOR_DEFECTS),
    "store_batch": tuple(f"item:id:{d}" for d in BAD_IDS)
    + tuple(f"item:embedding:{d}" for d in _VECTOR_DEFECTS)
    + ("item:not_pair", "items:not_sequence"),
    "search": tuple(f"query:{d}" for d in _VECTOR_DEFECTS) + tuple(f"limit:{d}" for d in BAD_LIMITS),
    **{call: tuple(f"id:{d}" for d in BAD_IDS) for call in _ID_CALLS},
}
"""Every (call, defect) pair the machine may generate."""


def arguments(call: str, defect: str, dim: int) -> tuple:
    """The positional arguments of ``call`` carrying exactly the named defect."""
    if defect not in DEFECTS.get(call, ()):
        raise ValueError(f"unknown defect {defect!r} for call {call!r}")
    good = random_vector(0, dim)
    part, _, name = defect.partition(":")
    builders: dict[str, Callable[[], tuple]] = {
        "store": lambda: (BAD_IDS[name], good) if part == "id" else (PROBE_ID, _bad_vectors(dim)[name]),
        "store_batch": lambda: (_bad_batch(name, dim, good),),
        "search": lambda: (_bad_vectors(dim)[name], 3) if part == "query" else (good, BAD_LIMITS[name]),
    }
    if call in _ID_CALLS:
        return (BAD_IDS[name],)
    return builders[call]()


def _bad_batch(defect: str, dim: int, good: np.ndarray) -> object:
    if defect == "not_sequence":
        return 42
    if defect == "not_pair":
        bad_item: object = (BATCH_PROBE_IDS[0],)
    else:
        part, _, name = defect.partition(":")
        bad_item = (BAD_IDS[name], good) if part == "id" else (PROBE_ID, _bad_vectors(dim)[name])
    first, last = BATCH_PROBE_IDS
    return [(first, good), bad_item, (last, random_vector(1, dim))]


def touched_ids(call: str) -> tuple[str, ...]:
    """Valid ids a defective call mentions; each must be unchanged afterwards."""
    if call == "store":
        return (PROBE_ID,)
    if call == "store_batch":
        return (PROBE_ID, *BATCH_PROBE_IDS)
    return ()
