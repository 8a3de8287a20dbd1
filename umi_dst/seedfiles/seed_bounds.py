"""The bounds every field of a seed file must meet, checked at load, before anything runs.

A seed file travels (attached to a bug report, downloaded), so it is read as hostile input: its
size and nesting depth are bounded before it is parsed, and every decoded step is held to the
contract's limits (dimension, ids, limits, embedding values) and to the generator's own (seeds,
exponents, batch and bulk sizes), so that a step the file describes is one the harness can run
with valid input in bounded memory. Each error names the field; README "Seed file bounds"
lists the numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from umi_dst import invalid
from umi_dst.checking.faults import INJECTED_FAULTS
from umi_dst.contract import MAX_ABS_VALUE, MAX_DIM, MAX_LIMIT, MIN_DIM, MIN_NORM, InvalidInput
from umi_dst.filter_ops import DeleteWhere, FilteredSearch, StoreBatchTagged, StoreTagged, from_text
from umi_dst.filters import parse_filter
from umi_dst.metadata import validate_metadata
from umi_dst.operations import (
    Count,
    Delete,
    Exists,
    Get,
    Invalid,
    Maintain,
    Schedule,
    Search,
    Step,
    Store,
    StoreBatch,
    Write,
)
from umi_dst.recipes import Explicit, NearTie, Negated, OneHot, Perturbed, Random, Recipe, Scaled
from umi_dst.seedfiles.codec import DecodeError
from umi_dst.validation import validate_id

MAX_FILE_BYTES = 4 * 2**20
MAX_DEPTH = 32
"""Nesting of JSON arrays and objects; a seed needs about eight."""
MAX_STEPS = 10_000
MAX_BATCH_ITEMS = 10_000
"""Explicit items of one batch."""
MAX_BULK = 100_000
"""Generated items of one batch's bulk part."""
MAX_BULK_VALUES = 10_000_000
"""Bulk items times ``dim``: the float32 values one bulk part makes."""
MAX_SEED = 2**64 - 1
"""Generator seeds (recipes and bulks) are integers from 0 to this."""
MAX_EXPONENT = 16
"""A scaled copy multiplies by ``2**exponent`` with ``|exponent|`` at most this."""
MAX_AXIS = 2**63 - 1
MAX_FAULT_NAME = 64
_FAULT_NAME = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_FAULT_NAME}}}")
MAX_CLIENTS = 16
MAX_CLIENT_STEPS = 1_000
PARALLEL_CLIENT_OPS = (Store, StoreBatch, Delete, Get, Exists, Count, Search, Maintain)
"""The operations a parallel client can run."""


def check_dim(dim: int) -> int:
    if not MIN_DIM <= dim <= MAX_DIM:
        raise DecodeError("dim", f"must be from {MIN_DIM} to {MAX_DIM}, got {dim}")
    return dim


def check_length(items: Sequence[object], path: str, at_most: int) -> Sequence[object]:
    """Checked on the raw JSON list, before its elements are decoded."""
    if len(items) > at_most:
        raise DecodeError(path, f"at most {at_most} elements, got {len(items)}")
    return items


MAX_SCHEDULE_VALUE = 1_000_000
"""Bound on a schedule's value (commits, rows), so a seed cannot ask for an absurd one."""


def check_steps(steps: Sequence[Step], dim: int, path: str) -> None:
    for i, step in enumerate(steps):
        check_step(step, dim, f"{path}[{i}]")


def check_step(step: Step, dim: int, path: str) -> None:
    """Raise ``DecodeError`` naming the first field of ``step`` out of bounds."""
    op = step.op
    if step.fault is not None:
        if not _FAULT_NAME.fullmatch(step.fault):
            raise DecodeError(
                f"{path}.fault", f"must be a fault or nemesis name ({_FAULT_NAME.pattern}), got {step.fault[:80]!r}"
            )
        if not isinstance(op, (Write, Maintain)):
            raise DecodeError(
                f"{path}.fault", f"faults are injected into writes and maintenance only, not into {op.kind}"
            )
    if step.at is not None and not _FAULT_NAME.fullmatch(step.at.point):
        raise DecodeError(
            f"{path}.at.point", f"must be a crash point name ({_FAULT_NAME.pattern}), got {step.at.point[:80]!r}"
        )
    if isinstance(op, Maintain) and not _FAULT_NAME.fullmatch(op.operation):
        raise DecodeError(
            f"{path}.operation", f"must be an operation name ({_FAULT_NAME.pattern}), got {op.operation[:80]!r}"
        )
    if isinstance(op, Schedule) and not (_FAULT_NAME.fullmatch(op.setting) and 0 <= op.value <= MAX_SCHEDULE_VALUE):
        raise DecodeError(f"{path}", f"a schedule is a setting name and a value from 0 to {MAX_SCHEDULE_VALUE}")
    if isinstance(op, (Store, Delete, Get, Exists)):
        _id(op.id, f"{path}.id")
    if isinstance(op, Store):
        _recipe(op.embedding, dim, f"{path}.embedding")
    elif isinstance(op, Search):
        _recipe(op.query, dim, f"{path}.query")
        if not 1 <= op.limit <= MAX_LIMIT:
            raise DecodeError(f"{path}.limit", f"must be from 1 to {MAX_LIMIT}, got {op.limit}")
    elif isinstance(op, StoreBatch):
        _batch(op, dim, path)
    _filter_texts(op, path)
    if isinstance(op, (StoreTagged, FilteredSearch)):
        _recipe(op.embedding if isinstance(op, StoreTagged) else op.query, dim, path)
    elif isinstance(op, StoreBatchTagged):
        for i, (id, recipe, _) in enumerate(op.items):
            _id(id, f"{path}.items[{i}][0]")
            _recipe(recipe, dim, f"{path}.items[{i}][1]")
    elif isinstance(op, Invalid):
        if op.call not in invalid.DEFECTS:
            raise DecodeError(f"{path}.call", f"must be one of {sorted(invalid.DEFECTS)}, got {op.call[:80]!r}")
        if op.defect not in invalid.DEFECTS[op.call]:
            raise DecodeError(
                f"{path}.defect",
                f"must be a defect of {op.call} ({', '.join(invalid.DEFECTS[op.call])}), got {op.defect[:80]!r}",
            )


def check_parallel_client(steps: Sequence[Step], dim: int, path: str) -> None:
    """A client's steps: reads, writes and maintenance, faults the injected ones or a nemesis
    placed at a crash point (whether the backend offers the fault, and runs the maintenance
    beside other clients, is checked when the seed runs)."""
    check_steps(steps, dim, path)
    for i, step in enumerate(steps):
        if not isinstance(step.op, PARALLEL_CLIENT_OPS):
            raise DecodeError(f"{path}[{i}].kind", f"a parallel client does not run {step.op.kind} steps")
        if step.fault is not None and step.fault not in INJECTED_FAULTS and step.at is None:
            raise DecodeError(
                f"{path}[{i}].at",
                f"a parallel client takes {INJECTED_FAULTS} or a nemesis at a crash point; {step.fault!r} has none",
            )


def _batch(op: StoreBatch, dim: int, path: str) -> None:
    if len(op.items) > MAX_BATCH_ITEMS:
        raise DecodeError(f"{path}.items", f"at most {MAX_BATCH_ITEMS} items, got {len(op.items)}")
    for i, (id, recipe) in enumerate(op.items):
        _id(id, f"{path}.items[{i}][0]")
        _recipe(recipe, dim, f"{path}.items[{i}][1]")
    if op.bulk is not None:
        bulk = op.bulk
        _seed(bulk.seed, f"{path}.bulk.seed")
        if not 0 <= bulk.count <= MAX_BULK or bulk.count * dim > MAX_BULK_VALUES:
            raise DecodeError(
                f"{path}.bulk.count",
                f"must be from 0 to {MAX_BULK} with count x dim at most {MAX_BULK_VALUES:,}, got {bulk.count} (dim {dim})",
            )
        if not 1 <= bulk.distinct <= MAX_BULK:
            raise DecodeError(f"{path}.bulk.distinct", f"must be from 1 to {MAX_BULK}, got {bulk.distinct}")


def _filter_texts(op: object, path: str) -> None:
    """A filter operation's metadata and filter texts must be what the capability accepts."""
    texts = [(f"{path}.metadata", op.metadata, validate_metadata)] if isinstance(op, StoreTagged) else []
    if isinstance(op, StoreBatchTagged):
        texts = [(f"{path}.items[{i}][2]", m, validate_metadata) for i, (_, _, m) in enumerate(op.items)]
    if isinstance(op, (DeleteWhere, FilteredSearch)):
        texts = [(f"{path}.filter", op.filter, parse_filter)]
    for where, text, validate in texts:
        try:
            validate(from_text(text))
        except (ValueError, InvalidInput) as exc:
            raise DecodeError(where, str(exc)) from None


def _recipe(recipe: Recipe, dim: int, path: str) -> None:
    if isinstance(recipe, (Random, Perturbed)):
        _seed(recipe.seed, f"{path}.seed")
    if isinstance(recipe, (Scaled, Negated, Perturbed, NearTie)):
        _id(recipe.of, f"{path}.of")
    if isinstance(recipe, NearTie):
        _id(recipe.other, f"{path}.other")
        if not 0 <= recipe.gap <= 2:
            raise DecodeError(f"{path}.gap", f"must be from 0 to 2 (a difference of cosines), got {recipe.gap!r}")
    if isinstance(recipe, Scaled) and not -MAX_EXPONENT <= recipe.exponent <= MAX_EXPONENT:
        raise DecodeError(f"{path}.exponent", f"must be from {-MAX_EXPONENT} to {MAX_EXPONENT}, got {recipe.exponent}")
    if isinstance(recipe, Perturbed) and not 0 <= recipe.epsilon <= 1:
        raise DecodeError(f"{path}.epsilon", f"must be from 0 to 1, got {recipe.epsilon!r}")
    if isinstance(recipe, OneHot):
        if not -MAX_AXIS <= recipe.axis <= MAX_AXIS:
            raise DecodeError(f"{path}.axis", f"must be a 64-bit integer, got {recipe.axis}")
        _valid_vector(OneHot(0, recipe.value), 1, f"{path}.value")
    if isinstance(recipe, Explicit):
        if not 1 <= len(recipe.values) <= MAX_DIM:
            raise DecodeError(f"{path}.values", f"must hold 1 to {MAX_DIM} numbers, got {len(recipe.values)}")
        _valid_vector(recipe, dim, f"{path}.values")


def _valid_vector(recipe: OneHot | Explicit, dim: int, path: str) -> None:
    """The recipe's vector must be a valid embedding: the harness passes it as valid input."""
    with np.errstate(over="ignore", invalid="ignore"):
        vector = recipe.make(dim, _no_lookup)
    if not np.isfinite(vector).all() or float(np.abs(vector).max()) > MAX_ABS_VALUE:
        raise DecodeError(path, f"values must be finite with magnitude at most {MAX_ABS_VALUE:g} as float32")
    if math.sqrt(float(np.dot(vector.astype(np.float64), vector.astype(np.float64)))) < MIN_NORM:
        raise DecodeError(path, f"must make a vector of norm at least {MIN_NORM:g}")


def _seed(seed: int, path: str) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise DecodeError(path, f"must be from 0 to 2**64 - 1, got {seed}")


def _id(id: str, path: str) -> None:
    try:
        validate_id(id)
    except InvalidInput as exc:
        raise DecodeError(path, f"not a valid id: {exc}") from None


def _no_lookup(id: str) -> None:
    return None
