"""Types between the catalog (Arrow), Trino, and the Arrow results handed back.

* :func:`trino_type_for` — the Trino type a catalog column has in guajie's semantics (what the
  embedded engine computes with). Hive tables are declared with these types, and a source
  column whose Trino type differs is cast to it before the query sees it.
* :func:`needs_cast` — whether a column as Trino reads it differs from that in meaning.
* :func:`arrow_type_for` / :func:`column_to_arrow` — Trino's JSON result values as Arrow
  arrays, converted column by column (vectorized casts where Arrow has them).
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import datetime, time
from typing import Any

import pyarrow as pa

_DECIMAL = re.compile(r"decimal(?:128|256)\((\d+), (-?\d+)\)")
_TIMESTAMP = re.compile(r"timestamp\[(s|ms|us|ns)(?:, tz=([^\]]+))?\]")
_LIST = re.compile(r"(?:large_)?list<(?:item|element): (.+)>")
_PRECISION = {"s": 0, "ms": 3, "us": 6, "ns": 9}

_SIMPLE = {
    "bool": "boolean",
    "int8": "tinyint",
    "int16": "smallint",
    "int32": "integer",
    "int64": "bigint",
    "uint8": "smallint",
    "uint16": "integer",
    "uint32": "bigint",
    "uint64": "decimal(20,0)",
    "halffloat": "real",
    "float": "real",
    "double": "double",
    "string": "varchar",
    "large_string": "varchar",
    "string_view": "varchar",
    "binary": "varbinary",
    "large_binary": "varbinary",
    "binary_view": "varbinary",
    "date32[day]": "date",
    "date64[ms]": "date",
    "time32[s]": "time(0)",
    "time32[ms]": "time(3)",
    "time64[us]": "time(6)",
    "time64[ns]": "time(9)",
}


def trino_type_for(arrow_type: str) -> str | None:
    """The Trino type of a catalog column (its Arrow type as pyarrow prints it), or None."""
    text = arrow_type.strip()
    if text in _SIMPLE:
        return _SIMPLE[text]
    if m := _DECIMAL.fullmatch(text):
        precision, scale = int(m.group(1)), int(m.group(2))
        if precision > 38 or not 0 <= scale <= precision:
            return None
        return f"decimal({precision},{scale})"
    if m := _TIMESTAMP.fullmatch(text):
        precision = _PRECISION[m.group(1)]
        return f"timestamp({precision}) with time zone" if m.group(2) else f"timestamp({precision})"
    if text.startswith("dictionary<values=string") or text.startswith(
        "dictionary<values=large_string"
    ):
        return "varchar"
    if m := _LIST.fullmatch(text):
        item = trino_type_for(m.group(1))
        return f"array({item})" if item else None
    return None


def hive_type_for(arrow_type: str) -> str | None:
    """The type a Hive table column is declared with (Hive has no timestamp precision)."""
    trino = trino_type_for(arrow_type)
    if trino is None or trino.startswith("time(") or "with time zone" in trino:
        return None
    if trino.startswith("timestamp("):
        return "timestamp"
    if trino.startswith("array("):
        inner = hive_type_for(_LIST.fullmatch(arrow_type.strip()).group(1))  # type: ignore[union-attr]
        return f"array({inner})" if inner else None
    return trino


def _base(trino_type: str) -> str:
    return trino_type.split("(", 1)[0].strip().lower()


def _precision(trino_type: str) -> int:
    m = re.search(r"\((\d+)\)", trino_type)
    return int(m.group(1)) if m else 3


def needs_cast(actual: str, expected: str) -> bool:
    """True when a column Trino reads as ``actual`` must be cast to mean ``expected``."""
    a, e = actual.strip().lower().replace(" ", ""), expected.strip().lower().replace(" ", "")
    if a == e:
        return False
    if _base(a) == "varchar" and _base(e) == "varchar":
        return False  # lengths do not change values
    if _base(a) == "timestamp" and _base(e) == "timestamp":
        # A precision cast keeps pushdown: Trino unwraps it in comparisons.
        return _precision(a) != _precision(e) or a.endswith("withtimezone") != e.endswith(
            "withtimezone"
        )
    return not (_base(a) == "time" and _base(e) == "time")


def cast_sql(column_sql: str, actual: str, expected: str) -> str:
    """Trino SQL turning ``column_sql`` (of type ``actual``) into ``expected``."""
    a = actual.strip().lower()
    if _base(a) == "char" and _base(expected) == "varchar":
        # Padding is not part of the value, as PostgreSQL's own cast to text has it.
        return f"TRIM(TRAILING ' ' FROM CAST({column_sql} AS varchar))"
    if a == "json" and _base(expected) == "varchar":
        return f"json_format({column_sql})"
    return f"CAST({column_sql} AS {expected})"


# --------------------------------------------------------------------------------------------
# Results: Trino's JSON values -> Arrow

_TRINO_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")
_TRINO_PRECISION = re.compile(r"\((\d+)\)")


def arrow_type_for(trino_type: str) -> pa.DataType | None:
    """The Arrow type for a Trino result column; None where Arrow should infer it."""
    t = trino_type.strip().lower()
    base = _base(t)
    simple: dict[str, pa.DataType] = {
        "boolean": pa.bool_(),
        "tinyint": pa.int8(),
        "smallint": pa.int16(),
        "integer": pa.int32(),
        "bigint": pa.int64(),
        "real": pa.float32(),
        "double": pa.float64(),
        "varchar": pa.string(),
        "char": pa.string(),
        "varbinary": pa.binary(),
        "date": pa.date32(),
        "json": pa.string(),
        "uuid": pa.string(),
        "ipaddress": pa.string(),
    }
    if base in simple:
        return simple[base]
    if m := _TRINO_DECIMAL.fullmatch(t):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    if base == "timestamp":
        m = _TRINO_PRECISION.search(t)
        precision = int(m.group(1)) if m else 3
        unit = (
            "s" if precision == 0 else "ms" if precision <= 3 else "us" if precision <= 6 else "ns"
        )
        return pa.timestamp(unit, tz="UTC") if "with time zone" in t else pa.timestamp(unit)
    if base == "time" and "with time zone" not in t:
        return pa.time64("us")
    return None


def column_to_arrow(values: list[Any], trino_type: str) -> pa.Array:
    """One result column (JSON values, as the client returns them raw) as an Arrow array."""
    target = arrow_type_for(trino_type)
    if target is None:
        return _infer(values)
    try:
        if pa.types.is_decimal(target) or pa.types.is_date(target):
            return pa.array(values, pa.string()).cast(target)
        if pa.types.is_timestamp(target):
            return _timestamps(values, target)
        if pa.types.is_floating(target):
            return _floats(values, target)
        if pa.types.is_binary(target):
            return pa.array([None if v is None else base64.b64decode(v) for v in values], target)
        if pa.types.is_time(target):
            return pa.array([None if v is None else _time(v) for v in values], target)
        if pa.types.is_string(target) and trino_type.strip().lower() == "json":
            return pa.array(
                [None if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                target,
            )
        return pa.array(values, target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):
        return _infer(values)


def _floats(values: list[Any], target: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, target)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        special = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
        return pa.array([special.get(v, v) if isinstance(v, str) else v for v in values], target)


def _timestamps(values: list[Any], target: pa.TimestampType) -> pa.Array:
    if target.tz is None:
        return pa.array(values, pa.string()).cast(target)
    # "2024-06-01 08:00:00.000 UTC" or "... Asia/Shanghai": the zone is a name or an offset.
    parsed: list[datetime | None] = []
    for v in values:
        if v is None:
            parsed.append(None)
            continue
        stamp, _, zone = v.rpartition(" ")
        parsed.append(_aware(stamp, zone))
    return pa.array(parsed, target)


def _aware(stamp: str, zone: str) -> datetime:
    from zoneinfo import ZoneInfo

    naive = datetime.fromisoformat(stamp)
    if zone in ("UTC", "Z", "+00:00"):
        return naive.replace(tzinfo=ZoneInfo("UTC"))
    if zone[:1] in "+-":
        return datetime.fromisoformat(f"{stamp}{zone}")
    return naive.replace(tzinfo=ZoneInfo(zone))


def _time(text: str) -> time:
    return time.fromisoformat(text[:15])


def _infer(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else json.dumps(v, default=str) for v in values])
