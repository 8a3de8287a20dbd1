"""Exact JSON round trip for steps, operations and recipes.

Encoding is driven by the dataclasses' own type hints, so a new operation or recipe needs no
codec code. Decoding checks every field against its hint and names the path of the first bad
one; it builds only the known dataclasses, so loading a trace executes nothing.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Union

from umi_dst.operations import MAX_CRASH_K, OPERATION_KINDS, Bulk, CrashPoint, Operation, Step
from umi_dst.recipes import RECIPE_KINDS, Recipe


class DecodeError(ValueError):
    """A field of a trace does not have the expected shape; ``path`` names it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


def encode_step(step: Step) -> dict[str, Any]:
    encoded = _encode(step.op)
    if step.fault is not None:
        encoded["fault"] = step.fault
    if step.at is not None:
        encoded["at"] = _encode(step.at)
    return encoded


def decode_step(data: object, path: str) -> Step:
    if not isinstance(data, dict):
        raise DecodeError(path, f"expected an object, got {type(data).__name__}")
    fault = data.get("fault")
    if fault is not None and not isinstance(fault, str):
        raise DecodeError(f"{path}.fault", "expected a string")
    at = data.get("at")
    if at is not None:
        at = _decode_fields(CrashPoint, at, f"{path}.at")
        if not at.point:
            raise DecodeError(f"{path}.at.point", "expected a point name")
        if not 0 <= at.k <= MAX_CRASH_K:
            raise DecodeError(f"{path}.at.k", f"expected 0 to {MAX_CRASH_K}, got {at.k}")
        if fault is None:
            raise DecodeError(f"{path}.at", "a crash point needs the fault it belongs to")
    op = _decode_tagged({k: v for k, v in data.items() if k not in ("fault", "at")}, OPERATION_KINDS, path)
    return Step(op, fault, at)


def _encode(value: object) -> Any:
    if dataclasses.is_dataclass(value):
        encoded = {"kind": value.kind} if hasattr(value, "kind") else {}
        for f in dataclasses.fields(value):
            encoded[f.name] = _encode(getattr(value, f.name))
        return encoded
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


_TAGGED = {Recipe: RECIPE_KINDS, Operation: OPERATION_KINDS}


def _decode(data: object, hint: object, path: str) -> Any:
    for union, kinds in _TAGGED.items():
        if hint == union:
            return _decode_tagged(data, kinds, path)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):  # X | None, Optional[X]
        if data is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(data, inner, path)
    if origin is tuple:
        if not isinstance(data, list):
            raise DecodeError(path, f"expected a list, got {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(v, args[0], f"{path}[{i}]") for i, v in enumerate(data))
        if len(data) != len(args):
            raise DecodeError(path, f"expected {len(args)} elements, got {len(data)}")
        return tuple(_decode(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(data, args)))
    if hint is Bulk:
        return _decode_fields(Bulk, data, path)
    if hint is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise DecodeError(path, f"expected a number, got {data!r}")
        return float(data)
    if hint in (int, str):
        if isinstance(data, bool) or not isinstance(data, hint):
            raise DecodeError(path, f"expected {hint.__name__}, got {data!r}")
        return data
    raise TypeError(f"no decoder for {hint!r} at {path}")


def _decode_tagged(data: object, kinds: dict[str, type], path: str) -> Any:
    if not isinstance(data, dict):
        raise DecodeError(path, f"expected an object, got {type(data).__name__}")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        raise DecodeError(f"{path}.kind", f"expected one of {sorted(kinds)}, got {kind!r}")
    return _decode_fields(kinds[kind], {k: v for k, v in data.items() if k != "kind"}, path)


def _decode_fields(cls: type, data: object, path: str) -> Any:
    if not isinstance(data, dict):
        raise DecodeError(path, f"expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise DecodeError(path, f"unknown field(s) {sorted(unknown)} for {cls.__name__}")
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING:
                raise DecodeError(f"{path}.{name}", "missing")
            continue
        values[name] = _decode(data[name], hints[name], f"{path}.{name}")
    return cls(**values)
