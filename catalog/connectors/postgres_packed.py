"""Whole results from PostgreSQL packed into one value per column.

``COPY ... TO STDOUT`` sends every row as a message of its own, and the server spends more
on writing a narrow row (the driver too, on reading it) than on reading it from its heap:
1.5 million rows of two ``bigint`` columns take 0.33 s over loopback where counting them
takes 0.18 s. A caller that takes a result whole, in any order, can have it as a single
row instead: per column, ``string_agg`` of each value's binary send format (fixed width,
big-endian), decoded here with bulk byte swaps. That takes 0.24 s for the same rows, and
sends half the bytes.

Only fixed-width types pack: integers, floats, booleans, dates, timestamps and
``numeric(p, s)`` with ``p <= 18`` (sent as its unscaled ``bigint``), and only columns the
caller says hold no NULL (a flag byte per value for the others cost more than packing
saved). Each column is counted too: a NULL found after all (a catalog that no longer
matches its table) makes :func:`unpack` return None, and the caller fetches the rows the
usual way. So do infinite dates and timestamps and numeric ``NaN`` and infinities, which
the usual fetch reports or converts.

Each value costs the server a call of its send function and of ``string_agg``, where COPY
spends about as much per row: the fewer the columns, the more it gains. Over loopback at
TPC-H scale 1, the queries whose PostgreSQL fragments pack (two or three columns, 45,000 to
1.5 million rows) ran 5 to 23% faster. Results estimated under :data:`PACKED_MIN_ROWS`
rows gain nothing and come as usual.
"""

from __future__ import annotations

import array
import sys
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .base import PACKED_KEY

if TYPE_CHECKING:
    import pyarrow as pa

# Bytes a packed result may be estimated to take: the server holds each column's value in
# memory while it builds it (and refuses values over 1 GB), so larger results stream.
PACKED_MAX_BYTES = 64 * 1024 * 1024
PACKED_MIN_ROWS = 5_000
PACKED_MAX_COLUMNS = 3

_DATE_2000 = 10_957  # 2000-01-01 in days since 1970: PostgreSQL's date epoch
_TIMESTAMP_2000_US = _DATE_2000 * 86_400_000_000
_INT32_ENDS = (-(2**31), 2**31 - 1)  # -infinity and infinity as date_send writes them
_INT64_ENDS = (-(2**63), 2**63 - 1)

# PostgreSQL type -> (send function, width in bytes, array typecode, kind)
_FIXED: dict[str, tuple[str, int, str, str]] = {
    "int2": ("int2send", 2, "h", "int"),
    "int4": ("int4send", 4, "i", "int"),
    "int8": ("int8send", 8, "q", "int"),
    "float4": ("float4send", 4, "f", "float"),
    "float8": ("float8send", 8, "d", "float"),
    "bool": ("boolsend", 1, "B", "bool"),
    "date": ("date_send", 4, "i", "date"),
    "timestamp": ("timestamp_send", 8, "q", "timestamp"),
    "timestamptz": ("timestamptz_send", 8, "q", "timestamp"),
}


@dataclass(frozen=True)
class PackedColumn:
    name: str
    target: str  # the Arrow type, as the row-by-row fetch gives it
    send: str  # SQL turning the column ``{}`` into its fixed-width bytes
    width: int
    typecode: str  # of the stdlib ``array`` holding the values
    kind: str


def packed_column(
    name: str, typname: str, target: str, not_null: Collection[str]
) -> PackedColumn | None:
    """How a result column of PostgreSQL type ``typname`` packs, or None if it cannot."""
    if name not in not_null:
        return None
    if typname == "numeric":
        scale = _decimal_scale(target)
        if scale is None:
            return None
        # NaN and infinities (which no bigint holds) become NULL: a value short, which
        # unpack() notices. A failed cast would stop the whole fetch.
        value = "{0}" if scale == 0 else f"{{0}} * 1e{scale}"
        send = f"int8send(CASE WHEN abs({{0}}) < 1e18 THEN ({value})::int8 END)"
        return PackedColumn(name, target, send, 8, "q", "decimal")
    found = _FIXED.get(typname)
    if found is None:
        return None
    function, width, typecode, kind = found
    if array.array(typecode).itemsize != width:
        return None  # a platform whose C types differ: the usual fetch
    return PackedColumn(name, target, f"{function}({{}})", width, typecode, kind)


def _decimal_scale(target: str) -> int | None:
    """The scale of a ``decimal128(p, s)`` whose unscaled values fit a ``bigint``."""
    if not target.startswith("decimal128("):
        return None
    decimal = _arrow_type(target)
    return decimal.scale if decimal.precision <= 18 and decimal.scale >= 0 else None


# Arrow types (as the catalog prints them) whose PostgreSQL columns may pack, and widths.
_WIDTHS = {
    "int16": 2,
    "int32": 4,
    "int64": 8,
    "float": 4,
    "double": 8,
    "bool": 1,
    "date32[day]": 4,
    "timestamp[us]": 8,
    "timestamp[us, tz=UTC]": 8,
}


def may_pack(types: Mapping[str, str], not_null: Collection[str], expected_rows: int) -> bool:
    """Whether a result of these columns (name -> Arrow type, as the catalog has them)
    is worth a packed fetch: decided before asking the server anything, so that the
    results that would not pack cost no round trip more."""
    widths = [_WIDTHS.get(t, 8 if _decimal_scale(t) is not None else 0) for t in types.values()]
    return (
        0 < len(types) <= PACKED_MAX_COLUMNS
        and all(widths)
        and set(types) <= set(not_null)
        and expected_rows >= PACKED_MIN_ROWS
        and expected_rows * sum(widths) <= PACKED_MAX_BYTES
    )


def packed_query(statement: str, columns: Sequence[PackedColumn]) -> str:
    """One row: the row count, then per column its packed values, then per column its
    count of non-null values."""
    aliases = [f"c{i}" for i in range(len(columns))]
    values = [
        f"string_agg({c.send.format(f'q.{a}')}, ''::bytea)"
        for a, c in zip(aliases, columns, strict=True)
    ]
    counts = [f"count(q.{a})" for a in aliases]
    items = ["count(*)", *values, *counts]
    return f"SELECT {', '.join(items)} FROM (\n{statement}\n) AS q({', '.join(aliases)})"


def unpack(row: Sequence[Any], columns: Sequence[PackedColumn]) -> pa.Table | None:
    """The table a :func:`packed_query` row holds, or None where the usual fetch must
    answer instead (a NULL after all, an infinite date or timestamp)."""
    import pyarrow as pa

    rows = int(row[0] or 0)
    width = len(columns)
    arrays = []
    for i, column in enumerate(columns):
        if int(row[1 + width + i] or 0) != rows:
            return None
        values = _values(row[1 + i], rows, column)
        if values is None:
            return None
        arrays.append(values)
    schema = pa.schema(
        [pa.field(c.name, _arrow_type(c.target)) for c in columns], metadata={PACKED_KEY: b"1"}
    )
    return pa.Table.from_arrays(arrays, schema=schema)


def _arrow_type(target: str) -> pa.DataType:
    from .base import arrow_data_type

    return arrow_data_type(target)


def _values(data: Any, rows: int, column: PackedColumn) -> pa.Array | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    target = _arrow_type(column.target)
    if not rows:
        return pa.array([], target)
    raw = array.array(column.typecode)
    raw.frombytes(memoryview(data))  # the driver's buffer, copied once
    if len(raw) != rows:
        return None  # never expected: the usual fetch says what the rows are
    if column.width > 1 and sys.byteorder == "little":
        raw.byteswap()
    storage = {1: pa.uint8(), 2: pa.int16(), 4: pa.int32(), 8: pa.int64()}[column.width]
    if column.kind == "float":
        storage = pa.float32() if column.width == 4 else pa.float64()
    values = pa.Array.from_buffers(storage, rows, [None, pa.py_buffer(raw)])
    if column.kind in ("int", "float"):
        return values
    if column.kind == "bool":
        return pc.not_equal(values, 0)
    if column.kind == "decimal":
        return values.cast(pa.decimal128(19, 0)).view(target)
    ends = _INT32_ENDS if column.kind == "date" else _INT64_ENDS
    low, high = pc.min_max(values).values()
    if low.as_py() in ends or high.as_py() in ends:
        return None  # infinity: the usual fetch refuses it with its own message
    if column.kind == "date":
        if high.as_py() + _DATE_2000 >= 2**31:
            return None  # past what a date32 holds
        return pc.add(values, pa.scalar(_DATE_2000, pa.int32())).view(target)
    return pc.add_checked(values, _TIMESTAMP_2000_US).view(target)
