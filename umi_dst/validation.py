"""Input validation shared by every backend (CONTRACT §1, §4).

Each function returns the value in canonical form (an id unchanged, an embedding as a
contiguous float32 array) or raises ``InvalidInput`` naming what was wrong. Backends call
these before touching storage, so bad input never changes anything.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from umi_dst.contract import (
    MAX_ABS_VALUE,
    MAX_DIM,
    MAX_ID_LENGTH,
    MAX_LIMIT,
    MIN_DIM,
    MIN_NORM,
    Embedding,
    InvalidInput,
    last_wins,
)

__all__ = ["last_wins"]  # the batch rule, re-exported where backends validate batches


def validate_dim(dim: object) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or not MIN_DIM <= dim <= MAX_DIM:
        raise InvalidInput(f"dim must be an int from {MIN_DIM} to {MAX_DIM}, got {dim!r}")
    return dim


def validate_id(id: object) -> str:
    if not isinstance(id, str):
        raise InvalidInput(f"id must be a str, got {type(id).__name__}")
    if not 1 <= len(id) <= MAX_ID_LENGTH:
        raise InvalidInput(f"id must have 1 to {MAX_ID_LENGTH} characters, got {len(id)}")
    if "\x00" in id:
        raise InvalidInput(f"id must not contain NUL, got {id[:40]!r}")
    try:
        id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"id must encode as UTF-8 (no lone surrogates): {exc.reason} at {exc.start}") from None
    return id


def validate_embedding(values: object, dim: int, what: str = "embedding") -> Embedding:
    """Convert to float32 and check value types, shape, finiteness, magnitude and norm."""
    if isinstance(values, (str, bytes)) or values is None:
        raise InvalidInput(f"{what} must be a sequence of {dim} numbers, got {type(values).__name__}")
    _numbers_only(values, what)
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            vector = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be a sequence of {dim} numbers: {exc}") from None
    if vector.shape != (dim,):
        raise InvalidInput(f"{what} must have shape ({dim},), got {vector.shape}")
    if not np.isfinite(vector).all():
        bad = int(np.flatnonzero(~np.isfinite(vector))[0])
        raise InvalidInput(f"{what} must be finite after conversion to float32; value {bad} is {vector[bad]}")
    peak = float(np.abs(vector).max())
    if peak > MAX_ABS_VALUE:
        raise InvalidInput(f"{what} values must have magnitude at most {MAX_ABS_VALUE:g}, got {peak:g}")
    norm = float(np.linalg.norm(vector.astype(np.float64)))
    if norm < MIN_NORM:
        raise InvalidInput(f"{what} must have norm at least {MIN_NORM:g}, got {norm:g}")
    return np.ascontiguousarray(vector)


_NUMERIC_KINDS = frozenset("iuf")
"""numpy dtype kinds of real numbers: signed and unsigned integers, floats (not bool, str, complex)."""


def _numbers_only(values: object, what: str) -> None:
    """Refuse values that numpy would quietly convert: digit strings, bools, complex numbers.

    A list or tuple is checked item by item (numpy turns ``[True, 0.5]`` into floats); any
    other sequence or buffer (an array, ``array.array``, ``memoryview``, ``range``) by dtype.
    """
    if isinstance(values, (list, tuple)):
        if all(map(_is_real_number_type, set(map(type, values)))):
            return
        position, bad = next((i, v) for i, v in enumerate(values) if not _is_real_number_type(type(v)))
        raise InvalidInput(f"{what} values must be real numbers; value {position} is {type(bad).__name__} {bad!r:.40}")
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        return  # the float32 conversion that follows names the problem
    if array.dtype.kind == "O":
        _numbers_only(array.ravel().tolist(), what)
    elif array.dtype.kind not in _NUMERIC_KINDS:
        raise InvalidInput(f"{what} values must be real numbers, got dtype {array.dtype}")


def _is_real_number_type(kind: type) -> bool:
    return issubclass(kind, numbers.Real) and not issubclass(kind, (bool, np.bool_))


def validate_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an int from 1 to {MAX_LIMIT}, got {limit!r}")
    return int(limit)


def validate_batch(items: object, dim: int) -> list[tuple[str, Embedding]]:
    """Validate every item before any is applied, so a bad item rejects the whole batch."""
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise InvalidInput(f"items must be a sequence of (id, embedding) pairs, got {type(items).__name__}")
    for position, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidInput(f"batch item {position} must be an (id, embedding) pair")
        try:
            validate_id(item[0])
        except InvalidInput as exc:
            raise InvalidInput(f"batch item {position}: {exc}") from None
    matrix = _valid_matrix([embedding for _, embedding in items], dim)
    if matrix is None:  # one by one: to name the bad item, or for sequences the fast path skips
        checked = []
        for position, (id, embedding) in enumerate(items):
            try:
                checked.append((id, validate_embedding(embedding, dim)))
            except InvalidInput as exc:
                raise InvalidInput(f"batch item {position}: {exc}") from None
        return checked
    return [(id, matrix[row]) for row, (id, _) in enumerate(items)]


def _valid_matrix(embeddings: list, dim: int) -> np.ndarray | None:
    """All embeddings as one float32 matrix if every one is valid, else ``None`` (fast path)."""
    if not embeddings:
        return np.empty((0, dim), dtype=np.float32)
    if not all(isinstance(e, np.ndarray) and e.dtype.kind in _NUMERIC_KINDS for e in embeddings):
        return None  # lists and other sequences go one by one, with their items' types checked
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            matrix = np.array(embeddings, dtype=np.float32)
    except (TypeError, ValueError):
        return None
    if matrix.shape != (len(embeddings), dim):
        return None
    peak = max(float(matrix.max()), -float(matrix.min()))  # NaN anywhere makes the peak NaN
    if not peak <= MAX_ABS_VALUE:
        return None
    if np.sqrt(np.einsum("ij,ij->i", matrix, matrix, dtype=np.float64).min()) < MIN_NORM:
        return None
    return matrix
