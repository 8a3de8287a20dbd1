"""Metadata as ``jsonb`` text that keeps every value exactly (docs/filters.md).

``jsonb`` holds numbers as ``numeric``, which is exact, so a float is written as the exact
decimal of its binary value (``0.1`` as ``0.1000000000000000055511151231257827021181583404541015625``),
never its shortest ``repr``: ``numeric`` then orders a float against an int exactly as Python
does (``2.0**60 == 2**60``), and reading it back rounds to the same float. A float's text
always has a decimal point, so it comes back a float and an int an int. ``numeric`` has no
negative zero: ``-0.0`` reads back as ``0.0``, which the contract allows.
"""

from __future__ import annotations

import json
from decimal import Decimal

from umi_dst.metadata import Metadata, Scalar


def exact_decimal(value: int | float) -> Decimal:
    """The exact value of a number, for a ``numeric`` parameter."""
    return Decimal(value)


def value_text(value: Scalar) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        text = format(Decimal(value), "f")
        return text if "." in text else f"{text}.0"
    return json.dumps(value, ensure_ascii=False)


def jsonb_text(metadata: Metadata) -> str:
    """``metadata`` as JSON text for a ``jsonb`` parameter (keys as JSON strings)."""
    return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{value_text(v)}" for k, v in metadata.items()) + "}"
