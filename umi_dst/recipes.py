"""Embedding recipes: compact, exact descriptions of vectors.

A trace names vectors by how they are made (a seed, a copy of a stored id, an axis) rather
than by their values, so a seed file stays small and a batch of thousands of vectors costs one
integer. Recipes that refer to a stored id are made from the oracle's state at the step that
uses them, which is deterministic. Every recipe yields a valid float32 embedding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from umi_dst.contract import Embedding

Lookup = Callable[[str], Embedding | None]
"""Reads the oracle's current embedding for an id (``None`` if absent)."""


def random_vector(seed: int, dim: int) -> Embedding:
    """A standard-normal float32 vector; the same seed gives the same bits everywhere."""
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def random_matrix(seed: int, rows: int, dim: int) -> np.ndarray:
    """``rows`` standard-normal float32 vectors from one seed (bulk batches)."""
    return np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)


def _keep_in_range(vector: Embedding) -> Embedding:
    """Rescale by a power of two (exact in binary floating point) to a peak near 1.

    Chains of scaled copies then never leave the valid range, and cosine ties stay exact.
    """
    _, exponent = np.frexp(np.abs(vector).max())
    return np.ldexp(vector, -int(exponent)).astype(np.float32)


@dataclass(frozen=True, slots=True)
class Random:
    """A random direction from an integer seed."""

    seed: int
    kind: ClassVar[str] = "random"

    def make(self, dim: int, lookup: Lookup) -> Embedding:
        return random_vector(self.seed, dim)


@dataclass(frozen=True, slots=True)
class Scaled:
    """``of``'s stored vector times ``2**exponent``: an exact cosine tie with ``of``."""

    of: str
    exponent: int
    kind: ClassVar[str] = "scaled"

    def make(self, dim: int, lookup: Lookup) -> Embedding:
        base = _base(self.of, dim, lookup)
        return _keep_in_range(np.ldexp(base, self.exponent).astype(np.float32))


@dataclass(frozen=True, slots=True)
class Negated:
    """``of``'s stored vector negated: cosine -1 with it."""

    of: str
    kind: ClassVar[str] = "negated"

    def make(self, dim: int, lookup: Lookup) -> Embedding:
        return -_base(self.of, dim, lookup)


@dataclass(frozen=True, slots=True)
class Perturbed:
    """``of``'s stored vector plus noise of relative size ``epsilon``: a near tie."""

    of: str
    seed: int
    epsilon: float
    kind: ClassVar[str] = "perturbed"

    def make(self, dim: int, lookup: Lookup) -> Embedding:
        base = _base(self.of, dim, lookup)
        noise = random_vector(self.seed, dim) * np.float32(self.epsilon * float(np.abs(base).max()))
        result = (base + noise).astype(np.float32)
        return result if np.linalg.norm(result.astype(np.float64)) >= 1e-3 else base


@dataclass(frozen=True, slots=True)
class OneHot:
    """``value`` on one axis (modulo ``dim``), zero elsewhere."""

    axis: int
    value: float = 1.0
    kind: ClassVar[str] = "one_hot"

    def make(self, dim: int, lookup: Lookup) -> Embedding:
        vector = np.zeros(dim, dtype=np.float32)
        vector[self.axis % dim] = self.value
        return vector


@dataclass(frozen=True, slots=True)
class Explicit:
    """Literal float32 values, cycled or cut to ``dim``."""

    values: tuple[float, ...]
    kind: ClassVar[str] = "explicit"

    def make(self, dim: int, lookup: Lookup) -> Embedding:
        return np.resize(np.asarray(self.values, dtype=np.float32), dim)


@dataclass(frozen=True, slots=True)
class NearTie:
    """A direction between the stored vectors of ``of`` and ``other`` whose cosine with ``of``
    beats its cosine with ``other`` by ``gap`` (exact up to float32 rounding, about 1e-7).

    As a query it ranks the two records a chosen distance apart, so the order and top-k
    rules are tried at gaps just under and just over the score tolerance. Where no such
    direction exists (the two point the same way, or exactly opposite ways) it is ``of``'s
    stored vector.
    """

    of: str
    other: str
    gap: float
    kind: ClassVar[str] = "near_tie"

    def make(self, dim: int, lookup: Lookup) -> Embedding:
        base = _base(self.of, dim, lookup)
        u, v = _unit(base), _unit(_base(self.other, dim, lookup))
        cosine = float(u @ v)
        half_chord = np.sqrt(max(0.0, (1.0 - cosine) / 2.0))  # |u - v| / 2
        if 1.0 + cosine < 1e-6 or not 0.0 <= self.gap < 2.0 * half_chord:
            return base
        # q = cos(t) w + sin(t) p with w, p the unit bisector and half-difference: q.u - q.v = 2 sin(t) |u - v| / 2
        bisector, difference = _unit(u + v), _unit(u - v)
        sine = self.gap / (2.0 * half_chord)
        return (np.sqrt(1.0 - sine**2) * bisector + sine * difference).astype(np.float32)


Recipe = Random | Scaled | Negated | Perturbed | OneHot | Explicit | NearTie
RECIPE_KINDS: dict[str, type] = {
    cls.kind: cls for cls in (Random, Scaled, Negated, Perturbed, OneHot, Explicit, NearTie)
}


def _unit(vector: np.ndarray) -> np.ndarray:
    wide = vector.astype(np.float64)
    return wide / np.linalg.norm(wide)


def _base(of: str, dim: int, lookup: Lookup) -> Embedding:
    """The stored vector of ``of``; a one-hot on axis 0 when ``of`` is not stored."""
    stored = lookup(of)
    if stored is not None:
        return stored
    return OneHot(0).make(dim, lookup)
