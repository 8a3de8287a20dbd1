"""A parsed filter (``umi_dst.filters``) as a PostgreSQL condition on the ``metadata jsonb``
column, every key and value a bound parameter (never spliced into the SQL text).

- ``$eq`` is containment, ``metadata @> {"k": v}``: ``jsonb`` equality is by kind and, for
  numbers, by exact ``numeric`` value, which is the contract's (``1 == 1.0``, ``1 != true``,
  ``1 != "1"``); a GIN ``jsonb_path_ops`` index could serve it.
- A range compares only values of the operand's kind (``jsonb_typeof`` in a ``CASE``, so a
  string is never cast to ``numeric``): numbers as ``numeric`` against the operand's exact
  decimal, strings with ``COLLATE "C"`` (byte order, which for UTF-8 is code-point order),
  never the database's locale.
- ``$exists`` is ``metadata ? k``. Every condition is two-valued (``metadata`` is never
  null), so ``NOT`` over a missing key holds, as the contract says.
"""

from __future__ import annotations

from psycopg import sql
from umi_dst.backends.postgres.jsonb import exact_decimal, jsonb_text

from umi_dst.filters import AllOf, AnyOf, Compare, Exists, Filter, Member, Negation, kind
from umi_dst.metadata import Scalar

_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def condition(node: Filter) -> tuple[sql.Composable, list]:
    """The SQL condition selecting what ``node`` selects, and its parameters in order: keys
    and strings as ``str``, numbers as exact ``Decimal``, containment operands as JSON text."""
    params: list = []
    return _compile(node, params), params


def _compile(node: Filter, params: list) -> sql.Composable:
    if isinstance(node, (AllOf, AnyOf)):
        if not node.parts:
            return sql.SQL("true") if isinstance(node, AllOf) else sql.SQL("false")
        joiner = sql.SQL(" AND ") if isinstance(node, AllOf) else sql.SQL(" OR ")
        return sql.SQL("({})").format(joiner.join(_compile(part, params) for part in node.parts))
    if isinstance(node, Negation):
        return sql.SQL("(NOT {})").format(_compile(node.part, params))
    if isinstance(node, Exists):
        params.append(node.key)
        return sql.SQL("(metadata ? %s)") if node.present else sql.SQL("(NOT metadata ? %s)")
    if isinstance(node, Member):
        if not node.values:
            return sql.SQL("true") if node.negate else sql.SQL("false")
        found = sql.SQL("({})").format(sql.SQL(" OR ").join(_equals(node.key, v, params) for v in node.values))
        return sql.SQL("(NOT {})").format(found) if node.negate else found
    assert isinstance(node, Compare)
    if node.op == "$eq":
        return _equals(node.key, node.value, params)
    if node.op == "$ne":
        return sql.SQL("(NOT {})").format(_equals(node.key, node.value, params))
    return _range(node.op, node.key, node.value, params)


def _equals(key: str, value: Scalar, params: list) -> sql.Composable:
    params.append(jsonb_text({key: value}))
    return sql.SQL("(metadata @> %s::jsonb)")


def _range(op: str, key: str, value: Scalar, params: list) -> sql.Composable:
    if kind(value) == "str":
        params += [key, key, value]
        template = "(CASE WHEN jsonb_typeof(metadata -> %s) = 'string' THEN (metadata ->> %s) COLLATE \"C\" {} %s::text ELSE false END)"
    else:
        params += [key, key, exact_decimal(value)]
        template = "(CASE WHEN jsonb_typeof(metadata -> %s) = 'number' THEN (metadata ->> %s)::numeric {} %s::numeric ELSE false END)"
    return sql.SQL(template).format(sql.SQL(_OPS[op]))
