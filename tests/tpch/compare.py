"""Compare query results from different engines: ``assert_same_result``.

Engines disagree on representation, not on answers, so values are normalised per column
before comparison, from the Arrow types of both sides:

* both sides integers (any width): compared exactly as ``int``;
* any other numeric mix (decimal, float, integer, or numeric text): compared as ``float``
  with a relative tolerance (``float_tol``) and a small absolute one (``abs_tol``). A
  decimal compared with a double may also differ by half a unit of its last place: Trino
  rounds a decimal quotient or average to its scale (``avg`` of a ``decimal(15,2)`` is
  ``25.51``), where the reference engine keeps a double (``25.5073...``);
* a date or timestamp on either side: both become ``datetime.date`` (a timestamp at
  midnight and ISO text ``'YYYY-MM-DD'`` included) or ``datetime.datetime``;
* text: trailing spaces removed (``CHAR(n)`` padding; this also hides a lost trailing
  space of a ``VARCHAR`` value, which needs a check of its own);
* column names: compared case-insensitively.

Rows are compared as multisets. For an ordered result the sequence of ORDER BY keys must
also match position by position (rows that tie on the key may come in any order); with no
key given, the whole rows must come in the same order.

Not handled: a ``LIMIT`` that cuts through rows tying on the ORDER BY key may legitimately
keep different rows in different engines (the TPC-H keys make that unlikely).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

Kind = Literal["int", "float", "temporal", "string", "bool", "other"]
_MAX_SHOWN = 10


# --------------------------------------------------------------------------------------------
# Building tables from DB-API rows


def rows_to_table(names: Sequence[str], rows: Iterable[Sequence[Any]]) -> pa.Table:
    """An Arrow table from DB-API rows, Arrow inferring each column's type.

    A column whose values Arrow cannot hold in one inferred type (say decimals beyond 38
    digits) falls back to ``float64`` for numbers, else to text.
    """
    materialised = [tuple(r) for r in rows]
    arrays = []
    for index in range(len(names)):
        values = [r[index] for r in materialised]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            if all(v is None or isinstance(v, int | float | Decimal) for v in values):
                arrays.append(pa.array([None if v is None else float(v) for v in values]))
            else:
                arrays.append(pa.array([None if v is None else str(v) for v in values]))
    return pa.Table.from_arrays(arrays, names=list(names))


# --------------------------------------------------------------------------------------------
# Normalisation


def _arrow_kind(data_type: pa.DataType) -> Kind | None:
    if pa.types.is_null(data_type):
        return None
    if pa.types.is_boolean(data_type):
        return "bool"
    if pa.types.is_integer(data_type):
        return "int"
    if pa.types.is_floating(data_type) or pa.types.is_decimal(data_type):
        return "float"
    if pa.types.is_date(data_type) or pa.types.is_timestamp(data_type):
        return "temporal"
    if (
        pa.types.is_string(data_type)
        or pa.types.is_large_string(data_type)
        or pa.types.is_string_view(data_type)
    ):
        return "string"
    if pa.types.is_dictionary(data_type):
        return _arrow_kind(data_type.value_type)
    return "other"


def _common_kind(left: Kind | None, right: Kind | None) -> Kind:
    kinds = {k for k in (left, right) if k is not None}
    if not kinds:
        return "other"
    if len(kinds) == 1:
        return kinds.pop()
    if "temporal" in kinds:
        return "temporal"
    if kinds <= {"int", "bool"}:
        return "int"
    if kinds <= {"int", "float", "bool", "string"}:
        return "float"  # numbers against numbers or numeric text
    return "other"


def _to_int(value: Any) -> Any:
    if value is None:
        return None
    return int(value)


def _to_float(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
    try:
        return float(value)
    except (TypeError, ValueError):
        return value  # left as is: it will differ from the other side's number


def _to_temporal(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None and value.time() == time(0, 0):
            return value.date()
        return value
    return value


def _to_string(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).rstrip(" ")


_NORMALISERS: dict[Kind, Callable[[Any], Any]] = {
    "int": _to_int,
    "float": _to_float,
    "temporal": _to_temporal,
    "string": _to_string,
    "bool": lambda v: v,
    "other": lambda v: v,
}


def _column_values(column: pa.ChunkedArray, kind: Kind) -> list[Any]:
    """Normalised Python values of ``column``; Arrow does the common conversions."""
    data_type = column.type
    try:
        if kind == "float" and _arrow_kind(data_type) in ("int", "float"):
            return column.cast(pa.float64()).to_pylist()
        if kind == "int" and pa.types.is_integer(data_type):
            return column.to_pylist()
        if kind == "string" and _arrow_kind(data_type) == "string":
            return pc.utf8_rtrim(column.cast(pa.string()), characters=" ").to_pylist()
        if kind == "temporal" and pa.types.is_date(data_type):
            return column.to_pylist()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    normalise = _NORMALISERS[kind]
    return [normalise(v) for v in column.to_pylist()]


def _rows(table: pa.Table, kinds: Sequence[Kind]) -> list[tuple[Any, ...]]:
    columns = [
        _column_values(column, kind) for column, kind in zip(table.columns, kinds, strict=True)
    ]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(table.num_rows)]


# --------------------------------------------------------------------------------------------
# Value comparison


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _close(a: Any, b: Any, kind: Kind, rel_tol: float, abs_tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if kind == "float" and isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    return bool(a == b) and type(a) is type(b)


def _abs_tol(actual: pa.DataType, expected: pa.DataType, abs_tol: float) -> float:
    """``abs_tol``, or half a unit of the last place of a decimal compared with a double."""
    for mine, theirs in ((actual, expected), (expected, actual)):
        if pa.types.is_decimal(mine) and pa.types.is_floating(theirs):
            return max(abs_tol, 0.5 * 10.0**-mine.scale * (1 + 1e-9))
    return abs_tol


def _sort_key(value: Any) -> tuple[Any, ...]:
    """Orders values of mixed types without comparing unlike types."""
    if value is None:
        return (2, "", 0)
    if _is_nan(value):
        return (1, "", 0)
    if isinstance(value, int | float):
        return (0, "number", value)
    return (0, type(value).__name__, value)


def _row_key(row: tuple[Any, ...], indices: Sequence[int]) -> tuple[Any, ...]:
    return tuple(_sort_key(row[i]) for i in indices)


def _show(row: tuple[Any, ...]) -> str:
    return "(" + ", ".join(repr(v) for v in row) + ")"


# --------------------------------------------------------------------------------------------
# The assertion


def assert_same_result(
    actual: pa.Table,
    expected: pa.Table,
    *,
    ordered: bool,
    float_tol: float = 1e-6,
    abs_tol: float = 1e-9,
    order_by: Sequence[str] | None = None,
) -> None:
    """Fail unless ``actual`` holds the same rows as ``expected`` (see the module notes).

    ``order_by`` names the expected columns of the query's ORDER BY; with ``ordered`` and
    no ``order_by`` every row must be in the same place.
    """
    problems: list[str] = []
    actual_names = [n.casefold() for n in actual.column_names]
    expected_names = [n.casefold() for n in expected.column_names]
    if actual.num_columns != expected.num_columns:
        raise AssertionError(
            f"{actual.num_columns} columns {actual.column_names}, expected "
            f"{expected.num_columns} {expected.column_names}"
        )
    if actual_names != expected_names:
        problems.append(
            f"column names differ: actual {actual.column_names}, expected {expected.column_names}"
        )

    kinds = [
        _common_kind(_arrow_kind(a.type), _arrow_kind(e.type))
        for a, e in zip(actual.schema, expected.schema, strict=True)
    ]
    actual_rows = _rows(actual, kinds)
    expected_rows = _rows(expected, kinds)
    header = "columns: " + ", ".join(
        f"{name}:{kind}" for name, kind in zip(expected.column_names, kinds, strict=True)
    )

    abs_tols = [
        _abs_tol(a.type, e.type, abs_tol)
        for a, e in zip(actual.schema, expected.schema, strict=True)
    ]
    problems += _multiset_problems(
        actual_rows, expected_rows, kinds, expected.column_names, float_tol, abs_tols
    )
    if not problems and ordered:
        if order_by:
            indices = []
            for name in order_by:
                if name.casefold() not in expected_names:
                    raise ValueError(f"order_by column {name!r} not in {expected.column_names}")
                indices.append(expected_names.index(name.casefold()))
        else:
            indices = list(range(len(kinds)))
        problems += _order_problems(
            actual_rows, expected_rows, kinds, expected.column_names, indices, float_tol, abs_tols
        )

    if problems:
        summary = f"results differ ({len(actual_rows)} rows, expected {len(expected_rows)})"
        raise AssertionError("\n".join([summary, header, *problems]))


def _multiset_problems(
    actual_rows: list[tuple[Any, ...]],
    expected_rows: list[tuple[Any, ...]],
    kinds: Sequence[Kind],
    names: Sequence[str],
    rel_tol: float,
    abs_tol: Sequence[float],
) -> list[str]:
    exact = [i for i, k in enumerate(kinds) if k != "float"]
    inexact = [i for i, k in enumerate(kinds) if k == "float"]

    def group(rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
        # Exact columns hold hashable values of one type each (after normalisation).
        groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            groups.setdefault(tuple([row[i] for i in exact]), []).append(row)
        return groups

    actual_groups = group(actual_rows)
    expected_groups = group(expected_rows)

    def close(a: tuple[Any, ...], e: tuple[Any, ...]) -> bool:
        return all(_close(a[i], e[i], kinds[i], rel_tol, abs_tol[i]) for i in inexact)

    missing: list[tuple[Any, ...]] = []
    extra: list[tuple[Any, ...]] = []
    differing: list[tuple[tuple[Any, ...], tuple[Any, ...]]] = []
    for key in expected_groups.keys() | actual_groups.keys():
        left = actual_groups.get(key, [])
        right = expected_groups.get(key, [])
        if len(left) == len(right) == 1 and close(left[0], right[0]):
            continue
        left = sorted(left, key=lambda r: _row_key(r, inexact))
        right = sorted(right, key=lambda r: _row_key(r, inexact))
        if len(left) == len(right) and all(close(a, e) for a, e in zip(left, right, strict=True)):
            continue
        # Match what is left greedily: float noise can reorder rows within a group.
        unmatched = list(left)
        lonely: list[tuple[Any, ...]] = []
        for e in right:
            for j, a in enumerate(unmatched):
                if close(a, e):
                    del unmatched[j]
                    break
            else:
                lonely.append(e)
        while lonely and unmatched:
            differing.append((unmatched.pop(0), lonely.pop(0)))
        missing += lonely
        extra += unmatched

    everything = list(range(len(kinds)))
    missing.sort(key=lambda r: _row_key(r, everything))
    extra.sort(key=lambda r: _row_key(r, everything))
    differing.sort(key=lambda pair: _row_key(pair[1], everything))
    problems: list[str] = []
    if differing:
        lines = [f"rows with the same exact columns but other numbers ({len(differing)}):"]
        for a, e in differing[:_MAX_SHOWN]:
            columns = [
                names[i] for i in inexact if not _close(a[i], e[i], kinds[i], rel_tol, abs_tol[i])
            ]
            lines += [
                f"  expected {_show(e)}",
                f"  actual   {_show(a)}   (differs in {', '.join(columns)})",
            ]
        problems.append("\n".join(lines))
    if missing:
        shown = "\n".join("  " + _show(r) for r in missing[:_MAX_SHOWN])
        problems.append(f"expected rows missing from actual ({len(missing)}):\n{shown}")
    if extra:
        shown = "\n".join("  " + _show(r) for r in extra[:_MAX_SHOWN])
        problems.append(f"unexpected rows in actual ({len(extra)}):\n{shown}")
    return problems


def _order_problems(
    actual_rows: list[tuple[Any, ...]],
    expected_rows: list[tuple[Any, ...]],
    kinds: Sequence[Kind],
    names: Sequence[str],
    indices: Sequence[int],
    rel_tol: float,
    abs_tol: Sequence[float],
) -> list[str]:
    for position, (a, e) in enumerate(zip(actual_rows, expected_rows, strict=True)):
        if all(_close(a[i], e[i], kinds[i], rel_tol, abs_tol[i]) for i in indices):
            continue
        start = max(0, position - 2)
        stop = min(len(expected_rows), position + 3)
        lines = [
            f"same rows, different order: first difference at row {position} "
            f"on ORDER BY column(s) {', '.join(names[i] for i in indices)}",
            "  expected:",
            *(f"    [{i}] {_show(expected_rows[i])}" for i in range(start, stop)),
            "  actual:",
            *(f"    [{i}] {_show(actual_rows[i])}" for i in range(start, stop)),
        ]
        return ["\n".join(lines)]
    return []
