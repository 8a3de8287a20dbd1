"""Metadata filters: the grammar, its validation and its exact meaning (docs/filters.md, CONTRACT §8).

A filter is the JSON-like dict that Chroma, Pinecone and mem0 share: ``{"user": "u1"}``,
``{"n": {"$gte": 3, "$lt": 9}}``, ``{"$or": [{...}, {...}]}``, ``{"$not": {...}}``.
``parse_filter`` turns one into a small tree (or raises ``InvalidInput`` naming the defect, so a
backend refuses it before reading or writing anything); ``matches`` is the one definition of
what the tree selects, used by the oracle and the checks; backends compile the same tree into
their engine's terms, so no two places parse the dialect.

The decisions (missing keys, types, string order, big ints, zero signs) are written in
docs/contract.md §8; each one is a line in ``matches`` or ``_compare``.
"""

from __future__ import annotations

from dataclasses import dataclass

from umi_dst.contract import InvalidInput
from umi_dst.metadata import Metadata, Scalar, validate_key, validate_scalar

MAX_DEPTH = 8
"""Nested ``$and`` / ``$or`` / ``$not`` levels a filter may have."""
MAX_CONDITIONS = 64
"""Field conditions (``$eq``, ``$in``, ...) a filter may hold in all."""
MAX_IN_VALUES = 64
"""Values an ``$in`` or ``$nin`` list may hold."""

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
RANGES = ("$gt", "$gte", "$lt", "$lte")
MEMBERSHIPS = ("$in", "$nin")
FIELD_OPERATORS = (*COMPARISONS, *MEMBERSHIPS, "$exists")
LOGICAL_OPERATORS = ("$and", "$or", "$not")


@dataclass(frozen=True, slots=True)
class Compare:
    """``key`` compared with ``value`` by ``op`` (one of ``COMPARISONS``)."""

    op: str
    key: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class Member:
    """``key`` among ``values`` (``$in``), or not (``$nin``, when ``negate``)."""

    key: str
    values: tuple[Scalar, ...]
    negate: bool


@dataclass(frozen=True, slots=True)
class Exists:
    key: str
    present: bool


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every part holds; with no parts (the filter ``{}``), every record matches."""

    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Negation:
    part: Filter


Filter = Compare | Member | Exists | AllOf | AnyOf | Negation
MATCH_ALL = AllOf(())


def parse_filter(raw: object) -> Filter:
    """The tree of a filter dict; ``InvalidInput`` names the first defect, with its path."""
    budget = [MAX_CONDITIONS]
    return _parse_conjunction(raw, "filter", 0, budget)


def _parse_conjunction(raw: object, where: str, depth: int, budget: list[int]) -> Filter:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be a dict, got {type(raw).__name__} {raw!r:.40}")
    parts = [_parse_entry(key, value, where, depth, budget) for key, value in raw.items()]
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _parse_entry(key: object, value: object, where: str, depth: int, budget: list[int]) -> Filter:
    if isinstance(key, str) and key.startswith("$"):
        if key not in LOGICAL_OPERATORS:
            hint = " (field operators go inside a field: {key: {op: value}})" if key in FIELD_OPERATORS else ""
            raise InvalidInput(f"{where}: unknown logical operator {key!r:.40}{hint}")
        if depth + 1 > MAX_DEPTH:
            raise InvalidInput(f"{where}: filters may nest $and/$or/$not at most {MAX_DEPTH} levels deep")
        inner = f"{where}.{key}"
        if key == "$not":
            return Negation(_parse_conjunction(value, inner, depth + 1, budget))
        if not isinstance(value, list) or not value:
            raise InvalidInput(f"{inner} must be a non-empty list of filters, got {value!r:.40}")
        parts = tuple(_parse_conjunction(part, f"{inner}[{i}]", depth + 1, budget) for i, part in enumerate(value))
        return AllOf(parts) if key == "$and" else AnyOf(parts)
    field = validate_key(key, f"{where}: field name")
    inner = f"{where}.{field}"
    if not isinstance(value, dict):
        return _condition("$eq", field, value, inner, budget)
    if not value:
        raise InvalidInput(f"{inner} must hold at least one operator, got {{}}")
    parts = [_condition(op, field, operand, inner, budget) for op, operand in value.items()]
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _condition(op: object, field: str, operand: object, where: str, budget: list[int]) -> Filter:
    budget[0] -= 1
    if budget[0] < 0:
        raise InvalidInput(f"{where}: a filter may hold at most {MAX_CONDITIONS} field conditions")
    if op not in FIELD_OPERATORS:
        raise InvalidInput(f"{where}: unknown field operator {op!r:.40}; use one of {', '.join(FIELD_OPERATORS)}")
    what = f"{where}.{op}"
    if op == "$exists":
        if type(operand) is not bool:
            raise InvalidInput(f"{what} takes true or false, got {operand!r:.40}")
        return Exists(field, operand)
    if op in MEMBERSHIPS:
        if not isinstance(operand, list):
            raise InvalidInput(f"{what} takes a list of values, got {type(operand).__name__}")
        if len(operand) > MAX_IN_VALUES:
            raise InvalidInput(f"{what} may list at most {MAX_IN_VALUES} values, got {len(operand)}")
        values = tuple(validate_scalar(v, f"{what}[{i}]") for i, v in enumerate(operand))
        return Member(field, values, op == "$nin")
    value = validate_scalar(operand, what)
    if op in RANGES and type(value) is bool:
        raise InvalidInput(f"{what} compares an order; it takes a str or a number, not the bool {value!r}")
    return Compare(op, field, value)  # type: ignore[arg-type]


def kind(value: Scalar) -> str:
    """The comparison class of a value: ``"bool"``, ``"number"`` (int and float) or ``"str"``."""
    if type(value) is bool:
        return "bool"
    return "str" if isinstance(value, str) else "number"


def _compare(op: str, stored: Scalar, operand: Scalar) -> bool:
    """Values of different kinds are never equal nor ordered; numbers compare by exact value.

    Python compares an int with a float exactly (no rounding to float64), so 2**53 + 1 > 2.0**53,
    and -0.0 == 0.0 == 0. Strings compare by code point, which is also UTF-8 byte order.
    """
    if kind(stored) != kind(operand):
        return op == "$ne"
    if op == "$eq":
        return stored == operand
    if op == "$ne":
        return stored != operand
    if op == "$gt":
        return stored > operand  # type: ignore[operator]
    if op == "$gte":
        return stored >= operand  # type: ignore[operator]
    if op == "$lt":
        return stored < operand  # type: ignore[operator]
    return stored <= operand  # type: ignore[operator]


def matches(node: Filter, metadata: Metadata) -> bool:
    """Whether a record with ``metadata`` is selected by ``node``.

    A condition on a missing key is false, except the negative ones: ``$ne``, ``$nin`` and
    ``$exists: false`` hold (``$ne v`` is exactly ``$not {$eq v}``), so a tenant filter
    ``{"user": {"$ne": "u1"}}`` also selects records with no user.
    """
    if isinstance(node, Compare):
        if node.key not in metadata:
            return node.op == "$ne"
        return _compare(node.op, metadata[node.key], node.value)
    if isinstance(node, Member):
        present = node.key in metadata and any(_compare("$eq", metadata[node.key], v) for v in node.values)
        return present != node.negate
    if isinstance(node, Exists):
        return (node.key in metadata) == node.present
    if isinstance(node, AllOf):
        return all(matches(part, metadata) for part in node.parts)
    if isinstance(node, AnyOf):
        return any(matches(part, metadata) for part in node.parts)
    return not matches(node.part, metadata)


def operator_names(node: Filter) -> list[str]:
    """The operators a filter uses, each once, in first-use order (``$and`` for ``{}`` too)."""
    names: list[str] = []

    def visit(part: Filter) -> None:
        name = _name(part)
        if name not in names:
            names.append(name)
        for child in (
            part.parts if isinstance(part, (AllOf, AnyOf)) else (part.part,) if isinstance(part, Negation) else ()
        ):
            visit(child)

    visit(node)
    return names


def _name(node: Filter) -> str:
    if isinstance(node, Compare):
        return node.op
    if isinstance(node, Member):
        return "$nin" if node.negate else "$in"
    if isinstance(node, Exists):
        return "$exists"
    return "$and" if isinstance(node, AllOf) else "$or" if isinstance(node, AnyOf) else "$not"
