"""A recorded concurrent history as JSON data, so a parallel seed carries the run it failed on.

Each call is stored as what happened to it (client, invocation and completion in nanoseconds
from the first invocation, the value or error, whether a crash cut it off, whether it raised
where it cannot have taken effect); what it was asked
to do is not stored, since the seed's program rebuilds every planned call in the same order.
Values are kept exactly: a vector as float32 values, search results as ``[id, score]`` pairs;
a value of any other type or shape (one past the bounds loading checks) is kept as its ``repr``
and never matches a model's answer, as it did not in the run. Loading checks every field's
bounds (the file is untrusted input); writing keeps to them, so a seed always loads again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from umi_dst import strict_json
from umi_dst.concurrency.history import Call, History, Planned
from umi_dst.contract import MAX_ID_LENGTH, MAX_LIMIT, SearchResult
from umi_dst.seedfiles.codec import DecodeError

MAX_CALLS = 20_000
MAX_ERROR = 2_000
MAX_NANOSECONDS = 10**15
"""About eleven days: a bound on a recorded moment, not a limit any run meets."""


@dataclass(frozen=True)
class Unreadable:
    """A recorded value of a type no model answer has (shown as it was)."""

    shown: str

    def __repr__(self) -> str:
        return self.shown


@dataclass(frozen=True)
class Recorded:
    """The part of a history a run decided: per call, in the history's order."""

    atol: float
    exact: bool
    calls: tuple[tuple[int, int, int, object, str | None, bool, bool], ...]
    """(client, invoked, completed, value, error, cut_off, never_applied)"""

    def history(self, dim: int, initial: dict, plans: Sequence[Sequence[Planned]]) -> History:
        """The history again, each call joined to its client's next planned call."""
        taken = [0] * len(plans)
        calls = []
        for i, (client, invoked, completed, value, error, cut_off, never_applied) in enumerate(self.calls):
            if client >= len(plans) or taken[client] >= len(plans[client]):
                raise DecodeError(
                    f"history.calls[{i}].client",
                    f"client {client} made no call #{taken[client] if client < len(plans) else 0}",
                )
            calls.append(
                Call(client, plans[client][taken[client]], invoked, completed, value, error, cut_off, never_applied)
            )
            taken[client] += 1
        return History(dim, initial, calls)


def recorded(history: History, atol: float, exact: bool) -> Recorded:
    """What the run decided about each call of ``history`` (moments from its first invocation)."""
    origin = min((call.invoked for call in history.calls), default=0)
    return Recorded(
        atol,
        exact,
        tuple(
            (c.client, c.invoked - origin, c.completed - origin, c.value, c.error, c.cut_off, c.never_applied)
            for c in history.calls
        ),
    )


def encode(recorded: Recorded, dim: int) -> dict[str, Any]:
    """JSON data that ``decode(..., dim, clients)`` reads back: a value it would refuse is kept as its repr."""
    calls = []
    for client, invoked, completed, value, error, cut_off, never_applied in recorded.calls:
        outcome = {"error": error[:MAX_ERROR]} if error is not None else {"value": _value(value, dim)}
        flags = {name: True for name, on in (("cut_off", cut_off), ("never_applied", never_applied)) if on}
        calls.append({"client": client, "invoked": invoked, "completed": completed, **outcome, **flags})
    return {"atol": recorded.atol, "exact": recorded.exact, "calls": calls}


def decode(data: object, dim: int, clients: int) -> Recorded:
    if not isinstance(data, dict):
        raise DecodeError("history", "expected an object")
    atol, exact, raw = data.get("atol"), data.get("exact"), data.get("calls")
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not 0 <= atol <= 1:
        raise DecodeError("history.atol", f"expected a number from 0 to 1, got {atol!r}")
    if not isinstance(exact, bool):
        raise DecodeError("history.exact", f"expected true or false, got {exact!r}")
    if not isinstance(raw, list) or len(raw) > MAX_CALLS:
        raise DecodeError("history.calls", f"expected a list of at most {MAX_CALLS} calls")
    return Recorded(
        float(atol), exact, tuple(_call(call, dim, clients, f"history.calls[{i}]") for i, call in enumerate(raw))
    )


def _value(value: object, dim: int) -> object:
    """JSON for a returned value: exact where it has the shape of a model answer (an integer below
    2**64, a vector of ``dim`` finite float32 values, at most ``MAX_LIMIT`` results with valid-length
    ids and finite scores), else its repr: a broken backend's answer never makes the seed unreadable."""
    if value is None or type(value) is bool or (type(value) is int and abs(value) < 2**64):
        return value
    if (
        isinstance(value, np.ndarray)
        and value.dtype == np.float32
        and value.shape == (dim,)
        and np.isfinite(value).all()
    ):
        return {"vector": value.tolist()}
    if (
        isinstance(value, list)
        and len(value) <= MAX_LIMIT
        and all(
            type(r) is SearchResult
            and type(r.id) is str
            and len(r.id) <= MAX_ID_LENGTH
            and type(r.score) is float
            and math.isfinite(r.score)
            for r in value
        )
    ):
        return {"results": [[r.id, r.score] for r in value]}
    if isinstance(value, Unreadable):
        return {"repr": value.shown}
    return {"repr": strict_json.shown(value, MAX_ERROR)}


def _call(data: object, dim: int, clients: int, path: str) -> tuple:
    if not isinstance(data, dict):
        raise DecodeError(path, "expected an object")
    client = _integer(data.get("client"), f"{path}.client", 0, clients)  # the last is the read-back
    invoked = _integer(data.get("invoked"), f"{path}.invoked", 0, MAX_NANOSECONDS)
    completed = _integer(data.get("completed"), f"{path}.completed", invoked, MAX_NANOSECONDS)
    cut_off, never_applied = (_flag(data, name, path) for name in ("cut_off", "never_applied"))
    if "error" in data:
        error = data["error"]
        if not isinstance(error, str) or len(error) > MAX_ERROR:
            raise DecodeError(f"{path}.error", f"expected a string of at most {MAX_ERROR} characters")
        return client, invoked, completed, None, error, cut_off, never_applied
    return (
        client,
        invoked,
        completed,
        _decoded_value(data.get("value"), dim, f"{path}.value"),
        None,
        cut_off,
        never_applied,
    )


def _flag(data: dict, name: str, path: str) -> bool:
    value = data.get(name, False)
    if not isinstance(value, bool):
        raise DecodeError(f"{path}.{name}", f"expected true or false, got {value!r}")
    return value


def _decoded_value(value: object, dim: int, path: str) -> object:
    if value is None or type(value) in (bool, int):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((kind, content),) = value.items()
        if kind == "vector" and isinstance(content, list) and len(content) == dim and all(_number(v) for v in content):
            return np.asarray(content, dtype=np.float32)
        if (
            kind == "results"
            and isinstance(content, list)
            and len(content) <= MAX_LIMIT
            and all(_result(r) for r in content)
        ):
            return [SearchResult(id, float(score)) for id, score in content]
        if kind == "repr" and isinstance(content, str) and len(content) <= MAX_ERROR:
            return Unreadable(content)
    raise DecodeError(path, f"expected null, a boolean, an integer, or one of vector ({dim} numbers), results, repr")


def _integer(value: object, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DecodeError(path, f"expected an integer from {low} to {high}, got {value!r}")
    return value


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _result(pair: object) -> bool:
    return (
        isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and len(pair[0]) <= MAX_ID_LENGTH
        and _number(pair[1])
    )
