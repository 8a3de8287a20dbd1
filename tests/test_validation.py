"""Validation accepts every valid input of CONTRACT §1 and names the defect of every invalid one."""

from __future__ import annotations

import numpy as np
import pytest

from umi_dst import invalid
from umi_dst.contract import InvalidInput
from umi_dst.strategies import TRICKY_IDS
from umi_dst.validation import validate_batch, validate_embedding, validate_id, validate_limit

DIM = 4


@pytest.mark.parametrize("id", TRICKY_IDS)
def test_tricky_ids_are_valid_and_unchanged(id):
    assert validate_id(id) == id


@pytest.mark.parametrize(
    "values",
    [[1e6, 0, 0, 0], [-1e6, 1, 1, 1], [2e-6, 0, 0, 0], [0.5, 0.5, 0.5, 0.5], np.ones(DIM, dtype=np.float64)],
)
def test_boundary_embeddings_are_accepted_as_float32(values):
    vector = validate_embedding(values, DIM)
    assert vector.dtype == np.float32 and vector.shape == (DIM,)


@pytest.mark.parametrize(
    ("call", "defect"), [(call, defect) for call, defects in invalid.DEFECTS.items() for defect in defects]
)
def test_every_generated_defect_is_rejected_with_a_message_naming_it(call, defect):
    args = invalid.arguments(call, defect, DIM)
    named = "item" if call == "store_batch" else defect.split(":")[0]
    with pytest.raises(InvalidInput) as raised:
        if call == "search":
            validate_embedding(args[0], DIM, "query")
            validate_limit(args[1])
        elif call == "store":
            validate_id(args[0])
            validate_embedding(args[1], DIM)
        elif call == "store_batch":
            validate_batch(args[0], DIM)
        else:
            validate_id(args[0])
    message = str(raised.value)
    assert named in message, message


def test_batch_error_names_the_position_of_the_bad_item():
    good = np.ones(DIM, dtype=np.float32)
    with pytest.raises(InvalidInput, match="batch item 2: embedding must be finite"):
        validate_batch([("a", good), ("b", good), ("c", [np.nan, 1, 1, 1])], DIM)


def test_batch_of_valid_items_keeps_order_and_values():
    rng = np.random.default_rng(1)
    items = [(f"id{i}", rng.standard_normal(DIM)) for i in range(50)]
    checked = validate_batch(items, DIM)
    assert [id for id, _ in checked] == [id for id, _ in items]
    assert all(np.array_equal(v, np.float32(e)) for (_, v), (_, e) in zip(checked, items))


@pytest.mark.parametrize("limit", [1, 10_000, np.int64(7)])
def test_limits_in_range_are_accepted(limit):
    assert validate_limit(limit) == int(limit)
