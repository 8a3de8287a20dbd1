"""Score conventions: what an integration's score means, converted to the contract's cosine.

LangChain's ``similarity_search_with_score`` and mem0's ``search`` return a store-specific
number. An adapter declares which one, and the conversion is exact algebra on unit vectors, so
a store that returns another kind than declared fails the score checks as a finding.
"""

from __future__ import annotations

import enum


class ScoreConvention(enum.Enum):
    COSINE_SIMILARITY = "cosine_similarity"
    """The cosine itself, in [-1, 1]."""
    COSINE_DISTANCE = "cosine_distance"
    """``1 - cosine``, in [0, 2]."""
    L2_UNIT = "l2_unit"
    """Euclidean distance between the unit vectors: ``sqrt(2 - 2 cosine)``."""
    L2_SQUARED_UNIT = "l2_squared_unit"
    """Squared Euclidean distance between the unit vectors: ``2 - 2 cosine``."""
    RELEVANCE = "relevance"
    """``(1 + cosine) / 2``, in [0, 1]."""
    INVERSE_L2_SQUARED_UNIT = "inverse_l2_squared_unit"
    """``1 / (1 + d)`` of the squared Euclidean distance ``d`` between the unit vectors:
    ``1 / (3 - 2 cosine)``, in [0.2, 1] (mem0's Chroma store)."""

    def to_cosine(self, score: float) -> float:
        return _CONVERTERS[self](float(score))

    @property
    def formula(self) -> str:
        """The cosine as a Python expression of ``score``: the adapters evaluate it and exported
        scripts write it out, so both convert alike."""
        return _FORMULAS[self]

    @property
    def needs_unit_vectors(self) -> bool:
        """A Euclidean score says nothing of the cosine unless the store holds unit vectors."""
        return self in (
            ScoreConvention.L2_UNIT,
            ScoreConvention.L2_SQUARED_UNIT,
            ScoreConvention.INVERSE_L2_SQUARED_UNIT,
        )


_FORMULAS = {
    ScoreConvention.COSINE_SIMILARITY: "score",
    ScoreConvention.COSINE_DISTANCE: "1.0 - score",
    ScoreConvention.L2_UNIT: "1.0 - score * score / 2.0",
    ScoreConvention.L2_SQUARED_UNIT: "1.0 - score / 2.0",
    ScoreConvention.RELEVANCE: "2.0 * score - 1.0",
    ScoreConvention.INVERSE_L2_SQUARED_UNIT: "(3.0 - 1.0 / score) / 2.0",
}
_CONVERTERS = {convention: eval(f"lambda score: {formula}") for convention, formula in _FORMULAS.items()}  # noqa: S307
"""Each formula compiled once (the text is this module's own)."""
