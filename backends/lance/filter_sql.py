"""A parsed filter (``umi_dst.filters``) as a Lance ``where`` string over the typed metadata
columns of ``metadata_columns``.

Lance takes no bind parameters, so every value is rendered by a literal writer of its own
kind: a string in single quotes with each quote doubled (DataFusion reads backslashes as
themselves), an int as decimal digits, a float as its shortest round-tripping ``repr``. Keys
never appear in the SQL text: a column name is the key's hex. Every leaf is two-valued
(``COALESCE(..., false)``), so ``NOT`` over a missing key holds as the contract says.

Numbers compare exactly across kinds: an int column is compared with a float operand
through the integers next to it, a float column with an int operand through the float next
to it, so nothing is rounded through float64 (``2**53 + 1 > 2.0**53``).
"""

from __future__ import annotations

import math

from umi_dst.backends.lance.metadata_columns import column_name

from umi_dst.filters import AllOf, AnyOf, Exists, Filter, Member, Negation, kind
from umi_dst.metadata import MAX_INT, MIN_INT, Scalar

TRUE, FALSE = "true", "false"
_SQL_OPS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def string_literal(value: str) -> str:
    """``value`` as a DataFusion string literal: quoted, each ``'`` doubled."""
    return "'" + value.replace("'", "''") + "'"


def int_literal(value: int) -> str:
    # -2**63 written as digits is read as the negation of 2**63, which overflows int64.
    return f"({MIN_INT + 1} - 1)" if value == MIN_INT else str(value)


def float_literal(value: float) -> str:
    return repr(value)


def where_sql(node: Filter, columns: set[str]) -> str:
    """The ``where`` text selecting what ``node`` selects, given the table's column names."""
    return WhereWriter(columns).write(node)


class WhereWriter:
    """Writes filters over one table's columns; ``string`` renders a string operand (a case
    study overrides it to splice the value unescaped, as careless callers do)."""

    def __init__(self, columns: set[str]) -> None:
        self.columns = columns

    def string(self, value: str) -> str:
        return string_literal(value)

    def write(self, node: Filter) -> str:
        columns = self.columns
        if isinstance(node, AllOf):
            return _join(" AND ", [self.write(part) for part in node.parts], TRUE)
        if isinstance(node, AnyOf):
            return _join(" OR ", [self.write(part) for part in node.parts], FALSE)
        if isinstance(node, Negation):
            return f"(NOT {self.write(node.part)})"
        if isinstance(node, Exists):
            present = _join(" OR ", [f"{c} IS NOT NULL" for c in _key_columns(node.key, columns)], FALSE)
            return present if node.present else f"(NOT {present})"
        if isinstance(node, Member):
            found = _join(" OR ", [self.leaf("$eq", node.key, value) for value in node.values], FALSE)
            return f"(NOT {found})" if node.negate else found
        if node.op == "$ne":
            return f"(NOT {self.leaf('$eq', node.key, node.value)})"
        return self.leaf(node.op, node.key, node.value)

    def leaf(self, op: str, key: str, value: Scalar) -> str:
        """``key op value`` over the columns that can hold a value of the operand's kind."""
        columns = self.columns
        value_kind = kind(value)
        if value_kind == "bool":
            conditions = [_on(column_name(key, "b"), f"= {TRUE if value else FALSE}", columns)]
        elif value_kind == "str":
            conditions = [_on(column_name(key, "s"), f"{_SQL_OPS[op]} {self.string(value)}", columns)]
        else:
            conditions = [
                _on(column_name(key, "i"), _int_column_vs(op, value), columns),
                _on(column_name(key, "f"), _float_column_vs(op, value), columns),
            ]
        return _join(" OR ", [c for c in conditions if c != FALSE], FALSE)


def _on(column: str, condition: str | None, columns: set[str]) -> str:
    """``column condition``, false where the column is null or absent; ``None`` means false,
    ``""`` means any non-null value."""
    if column not in columns or condition is None:
        return FALSE
    if condition == "":
        return f"({column} IS NOT NULL)"
    return f"COALESCE({column} {condition}, false)"


def _int_column_vs(op: str, value: int | float) -> str | None:
    """The condition on an int64 column equivalent to ``column op value``."""
    if type(value) is int:
        return f"{_SQL_OPS[op]} {int_literal(value)}"
    if op == "$eq":
        return f"= {int_literal(int(value))}" if value.is_integer() and MIN_INT <= value <= MAX_INT else None
    # x > v ⇔ x > floor(v); x >= v ⇔ x >= ceil(v); x < v ⇔ x < ceil(v); x <= v ⇔ x <= floor(v)
    bound = math.floor(value) if op in ("$gt", "$lte") else math.ceil(value)
    upward = op in ("$gt", "$gte")
    if bound > MAX_INT:  # beyond every int64: none above it, all below it
        return None if upward else ""
    if bound < MIN_INT:
        return "" if upward else None
    return f"{_SQL_OPS[op]} {int_literal(bound)}"


def _float_column_vs(op: str, value: int | float) -> str | None:
    """The condition on a float64 column equivalent to ``column op value``, for an int
    ``value`` through its nearest float ``g`` (no float lies strictly between them)."""
    if type(value) is float:
        return f"{_SQL_OPS[op]} {float_literal(value)}"
    near = float(value)
    if near == value:  # Python compares int and float exactly
        return f"{_SQL_OPS[op]} {float_literal(near)}"
    if op == "$eq":
        return None
    if near > value:
        return f">= {float_literal(near)}" if op in ("$gt", "$gte") else f"< {float_literal(near)}"
    return f"> {float_literal(near)}" if op in ("$gt", "$gte") else f"<= {float_literal(near)}"


def _key_columns(key: str, columns: set[str]) -> list[str]:
    return [name for name in (column_name(key, k) for k in "sifb") if name in columns]


def _join(separator: str, parts: list[str], empty: str) -> str:
    if not parts:
        return empty
    return parts[0] if len(parts) == 1 else "(" + separator.join(parts) + ")"
