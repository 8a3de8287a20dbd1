"""The wire between umi-dst and a driver running an older release: one JSON object per line.

A request is ``{"op": <method>, ...arguments}``; the answer is ``{"ok": <result>}`` or
``{"error": <exception class name>, "message": ...}``. Vectors travel as base64 of their
little-endian float32 bytes, so every bit arrives (JSON numbers would round-trip through
float64 text). Both sides import this module, the driver under an older interpreter's
packages, so it uses only the standard library and numpy.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

VERSION = 1
"""Bumped when a message changes meaning; the driver's ``hello`` answers with it."""
LITTLE_FLOAT32 = np.dtype("<f4")


def encode_vector(vector: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(vector, dtype=LITTLE_FLOAT32).tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=LITTLE_FLOAT32).astype(np.float32)


def decode_matrix(text: str, dim: int) -> np.ndarray:
    return decode_vector(text).reshape(-1, dim)


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=True, allow_nan=False) + "\n"


def loads(line: str) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"protocol message is not an object: {line[:200]!r}")
    return message
