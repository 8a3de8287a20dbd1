"""Seed files: one JSON file per failure that replays with no Hypothesis involved (CONTRACT §7).

A seed holds the backend spec and ``dim``, the shrunk steps, the failing step with its expected
and actual outcome, and the versions of everything involved. It optionally says what it
``expect``s on which backends (``{"lance-upstream": "fail", "lance": "pass"}``); by default a
seed must pass on its own backend, which makes it a regression test once the bug is fixed.
Loading one only parses data, within the bounds of ``seed_bounds`` (size, nesting, every field);
a malformed file gets one error, ``MalformedSeed``, naming the file and the field.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import stat
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import hypothesis
import numpy as np

import umi_dst
from umi_dst import strict_json
from umi_dst.operations import Step
from umi_dst.seedfiles import seed_bounds
from umi_dst.seedfiles.codec import DecodeError, decode_step, encode_step

T = TypeVar("T")

FORMAT = "umi-dst-seed"
FORMAT_VERSION = 1
OUTCOMES = ("pass", "fail")


class MalformedSeed(ValueError):
    """A seed file that cannot be read; the message names the file and the field."""


@dataclass
class SeedFile:
    backend: str
    dim: int
    steps: list[Step]
    failure: dict[str, Any]
    versions: dict[str, str]
    description: str = ""
    expect: dict[str, str] = field(default_factory=dict)

    def expectations(self) -> dict[str, str]:
        """Backend spec -> "pass" or "fail"; a plain seed must pass on its own backend."""
        return self.expect or {self.backend: "pass"}

    def digest(self) -> str:
        canonical = strict_json.canonical([self.backend, self.dim, [encode_step(s) for s in self.steps]])
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "description": self.description,
            "backend": self.backend,
            "dim": self.dim,
        }
        if self.expect:
            data["expect"] = self.expect
        data["failure"] = self.failure
        data["steps"] = [encode_step(step) for step in self.steps]
        data["versions"] = self.versions
        return data


def software_versions(factory_versions: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "umi-dst": umi_dst.__version__,
        "hypothesis": hypothesis.__version__,
        "numpy": np.__version__,
        **(factory_versions or {}),
    }


def failure_record(error: BaseException, at_step: int | None) -> dict[str, Any]:
    """The failing step and both outcomes, as JSON-safe data."""
    return {
        "step": at_step,
        "error": type(error).__name__,
        "message": str(getattr(error, "message", error)),
        "expected": _jsonable(getattr(error, "expected", None)),
        "actual": _jsonable(getattr(error, "actual", None)),
    }


class SeedWrittenElsewhere(UserWarning):
    """The seeds directory could not be written; the seed went to ``FALLBACK_DIR`` instead."""


class SeedNotSaved(OSError):
    """No directory could take the seed; the message carries the whole seed file."""


FALLBACK_DIR = "umi-dst-unsaved-seeds"
"""Under the temp dir: where a seed goes when its directory cannot be written."""


def write(seed: SeedFile, directory: Path) -> Path:
    """Write atomically (temp file + rename) as ``<directory>/<backend>/<digest>.json``.

    A finding is never lost to a failed write: if ``directory`` cannot take the file, it goes to
    ``<tmp>/umi-dst-unsaved-seeds/`` with a ``SeedWrittenElsewhere`` warning; if that fails too,
    ``SeedNotSaved`` carries the file's text.
    """
    text = strict_json.dumps(seed.to_json()) + "\n"
    name = f"{seed.digest()}.json"
    try:
        return _write_atomically(Path(directory) / _safe_name(seed.backend), name, text)
    except OSError as exc:
        problem = f"could not write the seed into {directory} ({exc})"
    try:
        path = _write_atomically(Path(tempfile.gettempdir()) / FALLBACK_DIR / _safe_name(seed.backend), name, text)
    except OSError as exc:
        raise SeedNotSaved(f"{problem}, nor into the temp dir ({exc}); the seed file follows:\n{text}") from None
    warnings.warn(f"{problem}; it was saved as {path} instead", SeedWrittenElsewhere, stacklevel=2)
    return path


def _write_atomically(target_dir: Path, name: str, text: str) -> Path:
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / name
    handle, temporary = tempfile.mkstemp(dir=target_dir, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load(path: Path) -> SeedFile:
    return read(path, _parse)


def is_seed_file(path: Path) -> bool:
    """A cheap test used by collectors: a ``.json`` file that declares the seed format."""
    return path.suffix == ".json" and declares_format(path, FORMAT)


def read(path: Path, parse: Callable[[object], T]) -> T:
    """Parse a seed-like JSON file; any problem becomes a ``MalformedSeed`` naming the file."""
    path = Path(path)
    try:
        data = parse_json(read_text(path))
    except (OSError, ValueError) as exc:
        raise MalformedSeed(f"{path}: not a readable JSON seed file ({exc})") from None
    try:
        return parse(data)
    except DecodeError as exc:
        raise MalformedSeed(f"{path}: field {exc}") from None


def read_text(path: Path) -> str:
    """A regular file's text, refused unread beyond ``MAX_FILE_BYTES`` (no FIFO, device, ...)."""
    with open(path, "rb", opener=_nonblocking) as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("not a regular file")
        data = handle.read(seed_bounds.MAX_FILE_BYTES + 1)
    if len(data) > seed_bounds.MAX_FILE_BYTES:
        raise ValueError(f"larger than {seed_bounds.MAX_FILE_BYTES:,} bytes")
    return data.decode("utf-8")


def _nonblocking(path: str, flags: int) -> int:
    """Opening a FIFO for reading would wait for a writer; this never waits."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def parse_json(text: str) -> object:
    """Strict JSON as ``strict_json`` reads it, nested at most ``MAX_DEPTH`` deep, checked before parsing."""
    depth = _nesting_depth(text)
    if depth > seed_bounds.MAX_DEPTH:
        raise ValueError(f"nested {depth} deep, more than {seed_bounds.MAX_DEPTH}")
    return strict_json.loads(text)


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)


def _nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside strings, in linear time."""
    brackets = np.frombuffer(_STRINGS.sub("", text).encode("utf-8"), dtype=np.uint8)
    opens = (brackets == ord("[")) | (brackets == ord("{"))
    closes = (brackets == ord("]")) | (brackets == ord("}"))
    steps = opens.astype(np.int64) - closes.astype(np.int64)
    return int(np.cumsum(steps).max(initial=0))


def declares_format(path: Path, format: str) -> bool:
    try:
        return parse_json(read_text(path)).get("format") == format
    except (OSError, ValueError, AttributeError):
        return False


def check_header(data: object, format: str, version: int) -> dict:
    """The top-level object, once its format name and version are the expected ones."""
    if not isinstance(data, dict):
        raise DecodeError("(top level)", "expected an object")
    if data.get("format") != format:
        raise DecodeError("format", f"expected {format!r}, got {data.get('format')!r}")
    if data.get("version") != version:
        raise DecodeError("version", f"expected {version}, got {data.get('version')!r}")
    return data


def field(data: dict, name: str, kind: type) -> Any:
    """A required top-level field of the given type."""
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DecodeError(name, f"expected {kind.__name__}, got {value!r}")
    return value


def description(data: dict) -> str:
    text = data.get("description", "")
    return text if isinstance(text, str) else ""


def expect_field(data: dict) -> dict[str, str]:
    """The optional ``expect`` field: backend spec -> "pass" or "fail"."""
    expect = data.get("expect", {})
    if not isinstance(expect, dict) or not all(isinstance(k, str) and v in OUTCOMES for k, v in expect.items()):
        raise DecodeError("expect", f"expected an object of backend -> one of {OUTCOMES}")
    return expect


def _parse(data: object) -> SeedFile:
    data = check_header(data, FORMAT, FORMAT_VERSION)
    backend = field(data, "backend", str)
    dim = seed_bounds.check_dim(field(data, "dim", int))
    raw_steps = seed_bounds.check_length(field(data, "steps", list), "steps", seed_bounds.MAX_STEPS)
    steps = [decode_step(step, f"steps[{i}]") for i, step in enumerate(raw_steps)]
    seed_bounds.check_steps(steps, dim, "steps")
    return SeedFile(
        backend=backend,
        dim=dim,
        steps=steps,
        failure=field(data, "failure", dict),
        versions=field(data, "versions", dict),
        description=description(data),
        expect=expect_field(data),
    )


def _safe_name(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", spec).strip("-") or "backend"


MAX_SHOWN = 100_000
"""Characters of JSON (or of ``repr``) a failure's expected or actual value may take in a seed."""

MAX_SHOWN_DEPTH = 8
"""Nesting a failure's expected or actual value may have: well within the reader's ``MAX_DEPTH``."""


def _jsonable(value: object) -> Any:
    """``value`` itself where the seed's reader takes it back whole, else its ``repr``, cut to ``MAX_SHOWN``.

    The value is what a backend answered, so it may be anything; it is informational (a replay
    decides anew), and no answer, however big, deep or strange, may make the seed unreadable.
    """
    try:
        text = strict_json.dumps(value, indent=None)
    except (TypeError, ValueError, RecursionError):  # no JSON form, or one nested past Python's stack
        text = None
    if text is not None and len(text) <= MAX_SHOWN and _nesting_depth(text) <= MAX_SHOWN_DEPTH:
        return value
    return strict_json.shown(value, MAX_SHOWN)
