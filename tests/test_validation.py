"""Validation accepts every valid input of CONTRACT §1 and names the defect of every invalid one."""

from __future__ import annotations

import array

import numpy as np
import pytest

from umi_dst import invalid
from umi_dst.contract import InvalidInput
from umi_dst.generation.strategies import TRICKY_IDS
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


NAMED_BY = {
    "id": {
        "empty": "1 to 256 characters, got 0",
        "too_long": "1 to 256 characters, got 257",
        "nul": "must not contain NUL",
        "lone_surrogate": "UTF-8",
        "not_str": "id must be a str, got int",
        "bytes": "id must be a str, got bytes",
        "none": "id must be a str, got NoneType",
    },
    "embedding": {
        "short": f"shape ({DIM},), got ({DIM - 1},)",
        "long": f"shape ({DIM},), got ({DIM + 1},)",
        "nan": "finite after conversion to float32; value 0 is nan",
        "inf": "finite after conversion to float32; value 0 is inf",
        "neg_inf": "finite after conversion to float32; value 0 is -inf",
        "too_large": "magnitude at most 1e+06",
        "float32_overflow": "finite after conversion to float32; value 0 is inf",
        "zero": "norm at least",
        "tiny_norm": "norm at least",
        "strings": "real numbers; value 0 is str",
        "digit_strings": "real numbers; value 0 is str '1'",
        "bools": "real numbers; value 0 is bool",
        "matrix": f"shape ({DIM},), got ({DIM}, 2)",
        "none": "sequence of 4 numbers, got NoneType",
    },
    "limit": {
        "zero": "got 0",
        "negative": "got -1",
        "too_large": "got 10001",
        "float": "got 1.5",
        "bool": "got True",
        "str": "got '3'",
        "none": "got None",
    },
}
"""For each defect, the words its message must contain (the value or rule it breaks)."""


def expected_words(call: str, defect: str) -> tuple[str, str]:
    """How the message must start (what is wrong: which item, query or id), and what it must say."""
    if defect == "items:not_sequence":
        return "items", "must be a sequence of (id, embedding) pairs, got int"
    if defect == "item:not_pair":
        return "batch item 1", "must be an (id, embedding) pair"
    part, _, name = defect.removeprefix("item:").partition(":")
    words = NAMED_BY["embedding" if part == "query" else part][name]
    return ("batch item 1: " if call == "store_batch" else "") + part, words


@pytest.mark.parametrize(
    ("call", "defect"), [(call, defect) for call, defects in invalid.DEFECTS.items() for defect in defects]
)
def test_every_generated_defect_is_rejected_with_a_message_naming_it(call, defect):
    args = invalid.arguments(call, defect, DIM)
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
    start, words = expected_words(call, defect)
    assert message.startswith(start) and words in message, message


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


@pytest.mark.parametrize(
    "values",
    [
        range(1, DIM + 1),
        array.array("f", [1, 2, 3, 4]),
        memoryview(array.array("d", [1, 2, 3, 4])),
        (1, 2.0, np.float32(3), 4),
    ],
)
def test_batch_takes_every_sequence_store_takes(values):
    expected = validate_embedding(values, DIM)
    ((id, vector),) = validate_batch([("a", values)], DIM)
    assert id == "a" and vector.tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    "values", [["1", "2", "3", "4"], [1.0, True, 1.0, 1.0], np.ones(DIM, dtype=bool), [1j, 1, 1, 1]]
)
def test_digit_strings_bools_and_complex_numbers_are_not_embedding_values(values):
    with pytest.raises(InvalidInput, match="real numbers"):
        validate_embedding(values, DIM)
    with pytest.raises(InvalidInput, match="batch item 0: embedding values must be real numbers"):
        validate_batch([("a", values)], DIM)
