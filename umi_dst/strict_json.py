"""The one JSON dialect of every file the project writes and reads: strict JSON in valid UTF-8.

Python's ``json`` writes NaN and the infinities as bare words that a strict reader (ours
included) refuses, and a string holding lone surrogates (bytes decoded with ``surrogateescape``)
cannot be encoded as UTF-8 at all. What a broken backend returns ends up in seeds, histories and
reports, so the writer here makes every value readable, and the reader gives it back equal:

- a non-finite float is a tagged object: ``{"$float": "NaN"}``, ``{"$float": "Infinity"}`` or
  ``{"$float": "-Infinity"}``; every finite float, -0.0 and 1e308 included, is a plain number
  that reads back bit for bit;
- an object of one member named ``"$float"`` or ``"$object"`` that is data, not a tag, is
  written ``{"$object": [name, value]}``, so no value can be read back as something else;
- a code point UTF-8 cannot carry (a lone surrogate, U+D800 to U+DFFF) is written as its
  ``\\uXXXX`` escape, every other character as itself. JSON reads an escaped high surrogate
  directly followed by an escaped low one as the one character the pair encodes (RFC 8259 §7),
  so a string holding such a pair reads back as that character; ``surrogateescape`` never makes
  one (it yields only U+DC80 to U+DCFF).

Reading is strict: a bare ``NaN`` or ``Infinity`` and a malformed tag are errors (``ValueError``),
and it builds only JSON's own types and floats, never any other object.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLOAT = "$float"
OBJECT = "$object"
TAGS = (FLOAT, OBJECT)
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: object, *, indent: int | None = 1, default: Callable[[object], object] | None = None) -> str:
    """``value`` as strict JSON text, valid UTF-8 once encoded, that ``loads`` reads back equal.

    Raises ``TypeError`` for a value JSON has no form for (unless ``default`` gives one) and
    ``ValueError`` for one it cannot hold (a non-finite dict key, an integer of more digits than
    Python reads back).
    """
    text = json.dumps(_encode(value), indent=indent, ensure_ascii=False, allow_nan=False, default=default)
    # json leaves no lone backslash, so an escape put in place of a raw code point is one escape
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def loads(text: str) -> Any:
    """Strict JSON as ``dumps`` writes it: tags decoded, bare NaN or Infinity refused."""
    return json.loads(text, parse_constant=_reject_constant, object_hook=_decode_object)


def canonical(value: object) -> str:
    """The text a digest is taken of: sorted keys, ASCII only, non-finite floats tagged.

    The same bytes as ``json.dumps(value, sort_keys=True)`` for a value with no non-finite float
    and no tag-like object, so the names of seeds written before this encoding stay the same.
    """
    return json.dumps(_encode(value), sort_keys=True, allow_nan=False)


def write(path: Path, value: object, *, default: Callable[[object], object] | None = None) -> None:
    """Write ``value`` to ``path`` as ``dumps`` text plus a newline, in UTF-8."""
    Path(path).write_text(dumps(value, default=default) + "\n", encoding="utf-8")


def read(path: Path) -> Any:
    """The value of a file ``write`` wrote; ``OSError`` or ``ValueError`` if it cannot be read."""
    return loads(Path(path).read_text(encoding="utf-8"))


def shown(value: object, limit: int) -> str:
    """``repr(value)`` in at most ``limit`` characters: how a file holds a value JSON cannot.

    The value may be anything a broken backend returned, so this never raises: a ``repr`` that
    fails (an integer of more digits than Python prints, a broken ``__repr__``) is named instead.
    """
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    if len(text) <= limit:
        return text
    cut = f"... ({len(text):,} characters)"
    return text[: max(0, limit - len(cut))] + cut


def _encode(value: object) -> object:
    if isinstance(value, float):
        return (
            value
            if math.isfinite(value)
            else {FLOAT: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
        )
    if isinstance(value, dict):
        encoded = {key: _encode(item) for key, item in value.items()}
        if len(encoded) == 1 and next(iter(encoded)) in TAGS:
            ((key, item),) = encoded.items()
            return {OBJECT: [key, item]}
        return encoded
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def _decode_object(data: dict) -> object:
    """Called on every object, innermost first: a tag becomes its value, other objects stay."""
    if len(data) != 1:
        return data
    ((key, value),) = data.items()
    if key == FLOAT:
        if isinstance(value, str) and value in NON_FINITE:
            return NON_FINITE[value]
        raise ValueError(f'a "{FLOAT}" tag holds "NaN", "Infinity" or "-Infinity", not {_kind(value)}')
    if key == OBJECT:
        if isinstance(value, list) and len(value) == 2 and value[0] in TAGS:
            return {value[0]: value[1]}
        raise ValueError(f'an "{OBJECT}" tag holds ["{FLOAT}" or "{OBJECT}", value], not {_kind(value)}')
    return data


def _kind(value: object) -> str:
    """A bad tag's content named briefly: it comes from an untrusted file and may be huge."""
    return repr(value) if isinstance(value, str) and len(value) <= 20 else f"a {type(value).__name__}"


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
