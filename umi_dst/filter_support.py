"""The part of the filter dialect a store takes, declared (docs/filters.md, docs/backends.md).

A store whose own filter is a dialect of its own (an integration's ``where`` dict, a filter
object) often takes only some of the contract's operators, or no logical operator inside
another. A factory that declares ``filters`` may also declare ``filter_support``; the machine
then draws only the filters it allows (``generation.filter_subsets``), and a filter outside it
is the store's to refuse (``InvalidInput``), not a finding. Without one, the whole dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from umi_dst.filters import (
    FIELD_OPERATORS,
    LOGICAL_OPERATORS,
    RANGES,
    AllOf,
    AnyOf,
    Compare,
    Filter,
    Negation,
    operator_names,
)

ALL_OPERATORS = frozenset((*FIELD_OPERATORS, *LOGICAL_OPERATORS))


@dataclass(frozen=True)
class FilterSupport:
    """Operators a store's filter takes (field ones and ``$and``/``$or``/``$not``), whether
    a logical operator may hold another, and whether a range (``$gt $gte $lt $lte``) may
    compare strings (Chroma's take numbers only), and whether a range may take an int that no
    float64 equals (past 2**53: Qdrant's ``Range`` holds its bounds as floats). Several keys or
    operators in one dict are an ``$and``; ``{}`` (every record) is always allowed."""

    operators: frozenset[str] = ALL_OPERATORS
    nesting: bool = True
    string_ranges: bool = True
    wide_int_ranges: bool = True

    def __post_init__(self) -> None:
        unknown = sorted(set(self.operators) - ALL_OPERATORS)
        if unknown:
            raise ValueError(f"filter_support names {unknown[0]!r}, not an operator of the dialect")
        if "$eq" not in self.operators:
            raise ValueError("filter_support must include '$eq': a store with filters selects one tenant's records")

    @property
    def whole(self) -> bool:
        return self.operators == ALL_OPERATORS and self.nesting and self.string_ranges and self.wide_int_ranges

    def allows(self, node: Filter) -> bool:
        if node == AllOf(()):
            return True
        return (
            set(operator_names(node)) <= self.operators
            and (self.nesting or _logical_depth(node) <= 1)
            and (self.string_ranges or not _any_range(node, _is_string))
            and (self.wide_int_ranges or not _any_range(node, _is_wide_int))
        )


WHOLE_DIALECT = FilterSupport()


def declared_support(factory: object) -> FilterSupport:
    """The factory's ``filter_support``, or the whole dialect if it declares none."""
    support = getattr(factory, "filter_support", None)
    return WHOLE_DIALECT if support is None else support


def _is_string(value: object) -> bool:
    return isinstance(value, str)


def _is_wide_int(value: object) -> bool:
    """An int no float64 equals (past 2**53, odd enough)."""
    return type(value) is int and float(value) != value


def _any_range(node: Filter, operand: Callable[[object], bool]) -> bool:
    """Whether a range in ``node`` compares with an operand ``operand`` picks out."""
    if isinstance(node, Compare):
        return node.op in RANGES and operand(node.value)
    if isinstance(node, (AllOf, AnyOf)):
        return any(_any_range(part, operand) for part in node.parts)
    return isinstance(node, Negation) and _any_range(node.part, operand)


def _logical_depth(node: Filter) -> int:
    if isinstance(node, (AllOf, AnyOf)):
        return 1 + max((_logical_depth(part) for part in node.parts), default=0)
    if isinstance(node, Negation):
        return 1 + _logical_depth(node.part)
    return 0
