"""Record metadata as typed Lance columns: one nullable column per key and value kind.

A key ``k`` holding a str lives in ``m_s_<hex>``, an int in ``m_i_<hex>`` (int64), a float in
``m_f_<hex>`` (float64) and a bool in ``m_b_<hex>``, where ``<hex>`` is the key's UTF-8 in hex:
any key the contract allows becomes a plain identifier, so no key is ever quoted into SQL, and
each value comes back with the type and the exact value it was given (an int beyond 2**53
stays an int; a JSON column would hand it to a float64 parser). A record has at most one
non-null column per key; a column is added (all null) by the first write that needs it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from umi_dst.metadata import Metadata, Scalar

PREFIX = "m_"
KIND_TYPES = {"s": pa.string(), "i": pa.int64(), "f": pa.float64(), "b": pa.bool_()}
"""Column kind letter → Arrow type."""


def kind_letter(value: Scalar) -> str:
    if type(value) is bool:
        return "b"
    if type(value) is int:
        return "i"
    return "f" if type(value) is float else "s"


def column_name(key: str, kind: str) -> str:
    return f"{PREFIX}{kind}_{key.encode('utf-8').hex()}"


def key_of(column: str) -> tuple[str, str] | None:
    """The ``(key, kind)`` a metadata column holds, or None for any other column."""
    if not column.startswith(PREFIX) or column[len(PREFIX) + 1 : len(PREFIX) + 2] != "_":
        return None
    kind = column[len(PREFIX)]
    if kind not in KIND_TYPES:
        return None
    return bytes.fromhex(column[len(PREFIX) + 2 :]).decode("utf-8"), kind


def needed_fields(metadatas: Iterable[Metadata]) -> dict[str, pa.Field]:
    """The columns these metadata dicts write to, by name."""
    fields: dict[str, pa.Field] = {}
    for metadata in metadatas:
        for key, value in metadata.items():
            name = column_name(key, kind_letter(value))
            fields.setdefault(name, pa.field(name, KIND_TYPES[kind_letter(value)], nullable=True))
    return fields


def metadata_arrays(schema: pa.Schema, metadatas: list[Metadata]) -> dict[str, pa.Array]:
    """One array per metadata column of ``schema``: each row's value, null where it has none,
    so an upsert that writes every column replaces the metadata whole."""
    arrays = {}
    for field in schema:
        held = key_of(field.name)
        if held is None:
            continue
        key, kind = held
        values = [m[key] if key in m and kind_letter(m[key]) == kind else None for m in metadatas]
        arrays[field.name] = pa.array(values, field.type)
    return arrays


def metadata_columns(schema: pa.Schema) -> list[str]:
    return [field.name for field in schema if key_of(field.name) is not None]


def metadata_of(row: dict) -> Metadata:
    """A row's metadata from its metadata columns (``row`` as ``pa.Table.to_pylist`` gives it)."""
    metadata: Metadata = {}
    for name, value in row.items():
        held = key_of(name)
        if held is not None and value is not None:
            metadata[held[0]] = value
    return metadata
