"""Record metadata: the flat ``dict[str, str | int | float | bool]`` a record may carry (docs/filters.md).

``validate_metadata`` returns a fresh copy in canonical form or raises ``InvalidInput`` naming
the bad key or value, so every backend refuses the same metadata before anything is written.
Types are exact: ``bool`` is its own type (not an int), numpy scalars are refused rather than
converted, because a backend must hand back each value with the type it was given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from umi_dst.contract import InvalidInput

MAX_KEYS = 32
MAX_KEY_LENGTH = 64
MAX_STRING_LENGTH = 1024
MIN_INT, MAX_INT = -(2**63), 2**63 - 1

Scalar = str | int | float | bool
Metadata = dict[str, Scalar]


def validate_key(key: object, what: str = "metadata key") -> str:
    """A key is 1 to 64 characters of UTF-8 without NUL, and does not start with ``$`` (operators do)."""
    if not isinstance(key, str):
        raise InvalidInput(f"{what} must be a str, got {type(key).__name__} {key!r:.40}")
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"{what} must have 1 to {MAX_KEY_LENGTH} characters, got {len(key)}")
    if key.startswith("$"):
        raise InvalidInput(f"{what} {key!r:.40} must not start with '$', which marks filter operators")
    _text(key, what)
    return key


def validate_scalar(value: object, what: str) -> Scalar:
    """A value is a str (at most 1,024 characters), a 64-bit int, a finite float or a bool."""
    kind = type(value)
    if kind is bool:
        return value  # type: ignore[return-value]
    if kind is int:
        if not MIN_INT <= value <= MAX_INT:  # type: ignore[operator]
            raise InvalidInput(f"{what} must fit in a signed 64-bit int, got {value}")
        return value  # type: ignore[return-value]
    if kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise InvalidInput(f"{what} must be a finite float, got {value!r}")
        return value  # type: ignore[return-value]
    if kind is str:
        if len(value) > MAX_STRING_LENGTH:  # type: ignore[arg-type]
            raise InvalidInput(f"{what} must have at most {MAX_STRING_LENGTH} characters, got {len(value)}")  # type: ignore[arg-type]
        _text(value, what)
        return value  # type: ignore[return-value]
    raise InvalidInput(f"{what} must be a str, int, float or bool, got {kind.__name__} {value!r:.40}")


def _text(value: object, what: str) -> None:
    if not isinstance(value, str):
        return
    if "\x00" in value:
        raise InvalidInput(f"{what} must not contain NUL, got {value[:40]!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} must encode as UTF-8 (no lone surrogates): {exc.reason} at {exc.start}") from None


def validate_metadata(metadata: object) -> Metadata:
    """``None`` is empty metadata; otherwise a dict of at most 32 valid keys and values, copied."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput(f"metadata must be a dict or None, got {type(metadata).__name__}")
    if len(metadata) > MAX_KEYS:
        raise InvalidInput(f"metadata may have at most {MAX_KEYS} keys, got {len(metadata)}")
    return {
        validate_key(key): validate_scalar(value, f"metadata value of {key!r:.40}") for key, value in metadata.items()
    }


def split_batch(items: object) -> tuple[list, list[Metadata]]:
    """Batch items ``(id, embedding)`` or ``(id, embedding, metadata)`` as pairs and their metadata.

    Only the shape and the metadata are checked here; the pairs go on to
    ``umi_dst.validation.validate_batch``, which names a bad id or embedding by position.
    """
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise InvalidInput(
            f"items must be a sequence of (id, embedding[, metadata]) tuples, got {type(items).__name__}"
        )
    pairs: list = []
    metadatas: list[Metadata] = []
    for position, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise InvalidInput(f"batch item {position} must be an (id, embedding) or (id, embedding, metadata) tuple")
        try:
            metadatas.append(validate_metadata(item[2] if len(item) == 3 else None))
        except InvalidInput as exc:
            raise InvalidInput(f"batch item {position}: {exc}") from None
        pairs.append((item[0], item[1]))
    return pairs, metadatas
