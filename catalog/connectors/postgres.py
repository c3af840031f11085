"""PostgreSQL databases: ``postgresql://user@host:port/db`` (password from the source's env var).

Optional query parameters: ``sslmode=disable|allow|prefer|require|verify-ca|verify-full`` and
``schemas=a,b`` to crawl only those schemas (each must exist).

The crawl reads the system catalogs only, never table data: four statements (session
settings, relations, columns, ``pg_stats``) sent in one pipelined round trip, fetched whole
and joined in Python.
Figures are the planner's estimates as of the last ``ANALYZE``/``VACUUM``:

* ``row_count`` is ``pg_class.reltuples`` (``None`` while a table was never analysed);
* ``size_bytes`` is ``relpages`` x block size of the heap, its TOAST table and its indexes
  (what ``pg_total_relation_size`` reports, without a file-system call per relation);
* ``change_counter`` is ``n_tup_ins + n_tup_upd + n_tup_del`` from the statistics collector;
* column statistics come from ``pg_stats``. ``min``/``max`` combine the histogram bounds with
  the most common values (the histogram leaves those out); for text they follow code-point
  order, which may differ from the column's collation.

Partitions are folded into their partitioned table: they are not datasets of their own, and
their row counts, sizes and change counters add up to the parent's.

:meth:`PostgresConnector.fetch` runs a fragment in a read-only transaction with the session
time zone at UTC. Driver connections are kept between fetches and rolled back after each,
which also drops any setting or session advisory lock the statement took. With ``adbc-driver-postgresql`` installed, the driver decodes rows in native
code and batches stream as they arrive; results holding a type it cannot report exactly
(numeric and inet arrays, ranges, types created after this process first connected) come
through a server-side cursor instead, converted in Python, as they do without the driver.
Both give the crawl's Arrow types and the same values (except dates and timestamps outside
the years 1-9999, which only the driver reads). See :mod:`.arrow_drivers`.

Types map to Arrow as pyarrow prints them. Choices worth knowing: ``numeric`` without a
declared precision becomes ``decimal128(38, 10)`` (:meth:`PostgresConnector.fetch` rounds
values to 10 decimal places, half to even; it turns numeric ``NaN`` and infinities into nulls,
and refuses infinite dates and timestamps); ``char(n)`` values lose their padding; arrays become
``list<item: T>`` of their element type; ``interval`` becomes ``month_day_nano_interval``
(fetched values count a month as 30 days, a year as 365); enums, ``json``, ``uuid``, network,
geometric, range and composite types, ``timetz`` and anything unknown become ``string``.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import itertools
import re
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import psycopg
from psycopg import sql
from psycopg.types.string import TextLoader

from ..errors import InvalidInputError, did_you_mean, url_without_password
from ..models import ColumnStats
from .arrow_drivers import (
    ADBC_DATABASES,
    adbc_connect_text,
    adbc_postgresql,
    adbc_server_message,
    rebatch,
    redact_secret,
)
from .base import Capabilities, Connector, CrawledColumn, CrawledDataset, arrow_data_type
from .postgres_packed import PackedColumn, may_pack, packed_column, packed_query, unpack

if TYPE_CHECKING:
    import pyarrow as pa

CONNECT_TIMEOUT = 5
DEFAULT_PORT = 5432
SAMPLE_STATEMENT_TIMEOUT_MS = 30_000
FETCH_BATCH_ROWS = 10_000
MAX_SAMPLES = 50
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_QUERY_PARAMS = ("sslmode", "schemas")
_URL_EXAMPLE = "postgresql://reader@db.example.gov.cn:5432/city?schemas=public,transport"

# --------------------------------------------------------------------------------------------
# URLs


@dataclass(frozen=True)
class PostgresTarget:
    """The parts of a ``postgresql://`` source URL."""

    host: str
    port: int
    database: str
    user: str | None = None
    sslmode: str | None = None
    schemas: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self) -> str:
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        params = []
        if self.sslmode:
            params.append(f"sslmode={self.sslmode}")
        if self.schemas:
            params.append("schemas=" + ",".join(quote(s, safe="") for s in self.schemas))
        query = f"?{'&'.join(params)}" if params else ""
        return f"postgresql://{user}{self.address}/{quote(self.database, safe='')}{query}"


def parse_postgres_url(url: str) -> PostgresTarget:
    """Split and validate a source URL; raise InvalidInputError saying what is wrong."""

    def bad(problem: str) -> InvalidInputError:
        return InvalidInputError(
            f"PostgreSQL URL {url_without_password(url)!r} {problem}.",
            f"Write it as postgresql://user@host:port/database, e.g. {_URL_EXAMPLE} "
            "(the password goes in an environment variable, never in the URL).",
        )

    scheme, _, _ = url.partition("://")
    if scheme.lower() not in ("postgresql", "postgres"):
        raise bad("must start with postgresql://")
    parts = urlsplit(url)
    if parts.password is not None:
        raise bad("contains a password")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise bad("has a port that is not a number between 1 and 65535") from None
    if not parts.hostname:
        raise bad("names no host")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise bad("names no database (the path after the host must be the database name)")
    params: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _QUERY_PARAMS:
            raise bad(f"has an unknown parameter {key!r} (supported: {', '.join(_QUERY_PARAMS)})")
        params[key] = value
    sslmode = params.get("sslmode") or None
    if sslmode is not None and sslmode not in _SSLMODES:
        raise bad(f"has sslmode={sslmode!r}; use one of {', '.join(_SSLMODES)}")
    schemas = tuple(s.strip() for s in params.get("schemas", "").split(",") if s.strip())
    return PostgresTarget(
        host=parts.hostname,
        port=port,
        database=database,
        user=unquote(parts.username) if parts.username else None,
        sslmode=sslmode,
        schemas=schemas,
    )


# --------------------------------------------------------------------------------------------
# Types

_SIMPLE_TYPES: dict[str, str] = {
    "bool": "bool",
    "int2": "int16",
    "int4": "int32",
    "int8": "int64",
    "oid": "uint32",
    "float4": "float",
    "float8": "double",
    "date": "date32[day]",
    "timestamp": "timestamp[us]",
    "timestamptz": "timestamp[us, tz=UTC]",
    "time": "time64[us]",
    "interval": "month_day_nano_interval",
    "bytea": "binary",
}
UNCONSTRAINED_NUMERIC = "decimal128(38, 10)"


def numeric_type_for(typmod: int) -> str:
    """``numeric(p, s)`` as an Arrow decimal, from the attribute's type modifier."""
    if typmod < 4:
        return UNCONSTRAINED_NUMERIC
    precision = ((typmod - 4) >> 16) & 0xFFFF
    scale = (((typmod - 4) & 0x7FF) ^ 1024) - 1024  # PostgreSQL 15 allows negative scales
    if not 0 <= scale <= precision:
        return "string"
    if precision <= 38:
        return f"decimal128({precision}, {scale})"
    if precision <= 76:
        return f"decimal256({precision}, {scale})"
    return "string"


def arrow_type_for(
    typname: str,
    typmod: int = -1,
    typtype: str = "b",
    typcategory: str = "",
    elem_typname: str | None = None,
    elem_typtype: str | None = None,
) -> str:
    """The Arrow type (as pyarrow prints it) for a column's PostgreSQL type.

    ``typname`` etc. describe the column's type after resolving a domain to its base type;
    for arrays, ``elem_*`` describe the element type.
    """
    if typcategory == "A" and elem_typname:
        item = arrow_type_for(elem_typname, typmod, elem_typtype or "b")
        return f"list<item: {item}>"
    if typtype != "b":  # enum, range, multirange, composite, pseudo
        return "string"
    if typname == "numeric":
        return numeric_type_for(typmod)
    return _SIMPLE_TYPES.get(typname, "string")


# How min/max may be read from pg_stats: "number" and "temporal" and "text" values order by
# their parsed value or text; "histogram" types (enums, inet) only by the histogram's ends.
_ORDERING: dict[str, str] = {
    **dict.fromkeys(("int2", "int4", "int8", "oid", "float4", "float8", "numeric"), "number"),
    **dict.fromkeys(("date", "timestamp", "timestamptz", "time"), "temporal"),
    **dict.fromkeys(("text", "varchar", "bpchar", "char", "name", "uuid", "citext"), "text"),
    "bool": "text",
    "inet": "histogram",
    "cidr": "histogram",
    "macaddr": "histogram",
}


def _number_key(value: str) -> tuple[int, Decimal]:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return (2, Decimal(0))
    # PostgreSQL sorts NaN above every number, infinity included.
    return (1, Decimal(0)) if number.is_nan() else (0, number)


def _temporal_key(value: str) -> tuple[int, str]:
    if value == "-infinity":
        return (0, "")
    if value == "infinity":
        return (2, "")
    return (1, value)


_ORDER_KEYS: dict[str, Callable[[str], Any] | None] = {
    "number": _number_key,
    "temporal": _temporal_key,
    "text": None,
}


# --------------------------------------------------------------------------------------------
# pg_stats' anyarray columns, read as text

_QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_ESCAPE_RE = re.compile(r"\\(.)", re.S)


def parse_array_literal(text: str | None) -> list[str | None]:
    """Elements of a one-dimensional PostgreSQL array literal (``{a,"b c",NULL}``).

    Unquoted ``NULL`` is a null; quoted elements lose their quotes and backslash escapes.
    Elements of a multi-dimensional array are returned as their own literals. Malformed
    input yields what could be read before the damage.
    """
    if not text:
        return []
    if text[0] == "[":  # explicit bounds: "[0:2]={...}"
        text = text.partition("=")[2]
    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        return []
    body = text[1:-1]
    if not body:
        return []
    if body[0] == "{":
        return _split_nested(body)
    if '"' not in body:
        return [None if v == "NULL" else v for v in body.split(",")]
    if '"NULL"' not in body:
        # array_out quotes exactly like CSV with backslash escapes; the csv module is C.
        try:
            fields = next(csv.reader([body], escapechar="\\", doublequote=False))
        except csv.Error:
            pass
        else:
            return [None if v == "NULL" else v for v in fields]
    return _scan_quoted(body)


def _scan_quoted(body: str) -> list[str | None]:
    out: list[str | None] = []
    i, n = 0, len(body)
    while i < n:
        if body[i] == '"':
            m = _QUOTED_RE.match(body, i)
            if m is None:
                break
            value = m.group(1)
            out.append(_ESCAPE_RE.sub(r"\1", value) if "\\" in value else value)
            i = m.end() + 1
        else:
            j = body.find(",", i)
            if j < 0:
                j = n
            token = body[i:j]
            out.append(None if token == "NULL" else token)
            i = j + 1
    return out


def _split_nested(body: str) -> list[str | None]:
    out: list[str | None] = []
    depth, start, i, n = 0, 0, 0, len(body)
    while i < n:
        ch = body[i]
        if ch == '"':
            m = _QUOTED_RE.match(body, i)
            i = m.end() if m else n
            continue
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                out.append(body[start : i + 1])
        i += 1
    return out


def _spread(values: Sequence[str], k: int) -> list[str]:
    """``k`` values evenly spaced over ``values`` (ends included)."""
    if k <= 0:
        return []
    if len(values) <= k:
        return list(values)
    if k == 1:
        return [values[0]]
    step = (len(values) - 1) / (k - 1)
    return [values[round(i * step)] for i in range(k)]


def _values(literal: str | None) -> list[str]:
    values = parse_array_literal(literal)
    if None in values:
        return [v for v in values if v is not None]
    return cast(list[str], values)


def column_stats(
    typname: str,
    null_frac: float | None,
    n_distinct: float | None,
    most_common: str | None,
    histogram: str | None,
    reltuples: float | None,
    *,
    want_samples: bool = True,
) -> tuple[ColumnStats, list[str] | None]:
    """ColumnStats and sample values for one ``pg_stats`` row.

    ``typname`` is the column's base type name ("" for arrays: no min/max); ``reltuples``
    turns a negative ``n_distinct`` (a fraction of the rows) into a count.
    """
    mcv = _values(most_common)
    bounds = _values(histogram)

    distinct: int | None = None
    if n_distinct is not None:
        if n_distinct >= 0:
            distinct = round(n_distinct)
        elif reltuples is not None and reltuples >= 0:
            distinct = max(1, round(-n_distinct * reltuples)) if reltuples > 0 else 0

    # The histogram leaves out the most common values, so both take part in min/max.
    low = high = None
    ordering = _ORDERING.get(typname)
    if ordering is not None and (mcv or bounds):
        if ordering == "histogram" or (
            ordering == "temporal" and any(v.endswith(" BC") for v in (*bounds[:1], *mcv))
        ):
            if bounds:
                low, high = bounds[0], bounds[-1]
        else:
            candidates = [bounds[0], bounds[-1], *mcv] if bounds else mcv
            key = _ORDER_KEYS[ordering]
            low, high = min(candidates, key=key), max(candidates, key=key)

    samples: list[str] | None = None
    if want_samples and (mcv or bounds):
        head = mcv[:MAX_SAMPLES]
        samples = list(dict.fromkeys([*head, *_spread(bounds, MAX_SAMPLES - len(head))]))

    stats = ColumnStats(
        null_fraction=null_frac,
        distinct_count=distinct,
        min=low,
        max=high,
    )
    return stats, samples


# --------------------------------------------------------------------------------------------
# Catalog queries

_KINDS = {
    "r": "table",
    "v": "view",
    "m": "materialized_view",
    "f": "foreign_table",
    "p": "partitioned_table",
}

# User schemas cannot start with "pg_" (CREATE SCHEMA refuses the prefix).
_USER_RELATIONS = """
    c.relkind IN ('r', 'v', 'm', 'f', 'p')
    AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY(%(schemas)s::text[]))
    AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.pg_depend e
        WHERE e.classid = 'pg_catalog.pg_class'::regclass AND e.objid = c.oid
          AND e.deptype = 'e'
    )
"""

SESSION_SQL = """
SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, YMD', false),
       current_setting('block_size')::int,
       (SELECT array_agg(nspname::text) FROM pg_catalog.pg_namespace
        WHERE nspname !~ '^pg_' AND nspname <> 'information_schema')
"""

RELATIONS_SQL = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition,
       CASE WHEN c.relispartition THEN
            (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid LIMIT 1)
       END,
       c.reltuples,
       CASE WHEN c.relkind IN ('r', 'm') THEN
            c.relpages::int8 + COALESCE(tc.relpages, 0)
            + COALESCE((SELECT sum(ic.relpages) FROM pg_catalog.pg_index x
                        JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
                        WHERE x.indrelid = c.oid), 0)::int8
       END,
       d.description,
       pg_catalog.pg_stat_get_tuples_inserted(c.oid) + pg_catalog.pg_stat_get_tuples_updated(c.oid)
       + pg_catalog.pg_stat_get_tuples_deleted(c.oid),
       CASE WHEN c.relkind = 'p' THEN
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
             FROM pg_catalog.pg_partitioned_table pt
             CROSS JOIN LATERAL unnest(pt.partattrs::int2[]) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = k.attnum
             WHERE pt.partrelid = c.oid)
       END
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE {_USER_RELATIONS}
"""

COLUMNS_SQL = f"""
SELECT a.attrelid, a.attname, a.attnotnull,
       COALESCE(bt.typname, t.typname),
       CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END,
       COALESCE(bt.typtype, t.typtype),
       COALESCE(bt.typcategory, t.typcategory),
       et.typname, et.typtype,
       d.description
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_type et
       ON COALESCE(bt.typcategory, t.typcategory) = 'A' AND et.oid = COALESCE(bt.typelem, t.typelem)
LEFT JOIN pg_catalog.pg_description d
       ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass
      AND d.objsubid = a.attnum
WHERE {_USER_RELATIONS} AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# pg_stats keeps both a table's own statistics (inherited = false) and, for a table with
# children, those over the whole tree; a partitioned table has only the latter. Which to use
# (and dropping partitions) is decided in Python: cheaper than joining pg_class by name here.
STATS_SQL = """
SELECT s.schemaname, s.tablename, s.attname, s.inherited, s.null_frac, s.n_distinct,
       s.most_common_vals::text, s.histogram_bounds::text
FROM pg_catalog.pg_stats s
WHERE s.schemaname !~ '^pg_' AND s.schemaname <> 'information_schema'
  AND (%(schemas)s::text[] IS NULL OR s.schemaname = ANY(%(schemas)s::text[]))
"""

TYPES_SQL = """
SELECT t.oid, COALESCE(bt.typname, t.typname), COALESCE(bt.typtype, t.typtype),
       COALESCE(bt.typcategory, t.typcategory), et.typname, et.typtype
FROM pg_catalog.pg_type t
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_type et
       ON COALESCE(bt.typcategory, t.typcategory) = 'A' AND et.oid = COALESCE(bt.typelem, t.typelem)
WHERE t.oid = ANY(%s)
"""


@dataclass
class _Relation:
    oid: int
    schema: str
    name: str
    relkind: str
    parent: int | None
    reltuples: float
    pages: int | None
    description: str | None
    changes: int | None
    partition_key: list[str] | None


# --------------------------------------------------------------------------------------------
# Arrow conversion for fetch()

_NUMERIC_CONTEXT = Context(prec=80)
_TEN_PLACES = Decimal("1e-10")


def _unconstrained_numeric(value: Decimal | None) -> Decimal | None:
    if value is None or not value.is_finite():
        return None
    return value.quantize(_TEN_PLACES, context=_NUMERIC_CONTEXT)


def _finite(value: Decimal | None) -> Decimal | None:
    return value if value is None or value.is_finite() else None


def _interval(value: Any) -> tuple[int, int, int] | None:
    if value is None:
        return None
    return (0, value.days, (value.seconds * 1_000_000 + value.microseconds) * 1000)


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


def _converter(arrow_type: str) -> Callable[[Any], Any] | None:
    if arrow_type == UNCONSTRAINED_NUMERIC:
        return _unconstrained_numeric
    if arrow_type.startswith("decimal"):
        return _finite
    if arrow_type == "month_day_nano_interval":
        return _interval
    if arrow_type == "string":
        return _text
    if arrow_type == "list<item: string>":
        return _text_list
    if arrow_type.startswith("list<item: "):
        inner = _converter(arrow_type[len("list<item: ") : -1])
        if inner is None:
            return None
        return lambda v: None if v is None else [inner(x) for x in v]
    return None


def _text_list(value: Any) -> list[str | None] | None:
    if isinstance(value, str):  # an array type psycopg does not know (e.g. of an enum)
        return parse_array_literal(value)
    return None if value is None else [_text(x) for x in value]


# --------------------------------------------------------------------------------------------
# fetch() through ADBC: what the driver returns, turned into the types the crawl reports

FETCH_BATCH_BYTES = 16 * 1024 * 1024  # the driver's batch size hint (bytes of COPY data)
# The start of PostgreSQL's date range (4714-11-24 BC) in days and microseconds since 1970:
# the driver wraps infinities (and a few far-future timestamps) around to values below it.
_MIN_DATE32 = -2_440_588
_MIN_TIMESTAMP_US = _MIN_DATE32 * 86_400_000_000
_DAY_US = 86_400_000_000
# Comments and opening parentheses may come before a query's first keyword.
_LEADING_NOISE_RE = re.compile(r"(?:\s+|\(|--[^\n]*(?:\n|$)|/\*[\s\S]*?\*/)*+")
_QUERY_START_RE = re.compile(r"(?i)(select|with|values|table)\b")


@dataclass
class _AdbcColumn:
    """How one result column travels through the driver and becomes its Arrow type."""

    name: str
    target: str  # the Arrow type, as arrow_type_for() prints it
    convert: Callable[[pa.Array], pa.Array]
    cast: str | None = None  # an expression the server applies first, e.g. "({})::text"
    array: bool = False


def _unpad_array(values: pa.Array) -> pa.Array:
    import pyarrow.compute as pc

    return pc.utf8_rtrim(values, characters=" ")


def _in_range(minimum: int, width: int) -> Callable[[pa.Array], pa.Array]:
    """Pass date/timestamp values through, refusing the driver's wrapped-around ones."""

    def check(values: pa.Array) -> pa.Array:
        import pyarrow as pa
        import pyarrow.compute as pc

        if values.null_count < len(values):
            lowest = pc.min(values.view(pa.int32() if width == 32 else pa.int64())).as_py()
            if lowest < minimum:
                raise pa.ArrowInvalid("an infinite or out-of-range date or timestamp")
        return values

    return check


def _interval_from_driver(value: Any) -> tuple[int, int, int] | None:
    """An interval as psycopg reads it (a month is 30 days, a year 365), then normalised
    the way :class:`datetime.timedelta` normalises it."""
    if value is None:
        return None
    months, days, nanoseconds = value.months, value.days, value.nanoseconds
    years, rest = divmod(abs(months), 12)
    month_days = 365 * years + 30 * rest
    days += month_days if months >= 0 else -month_days
    whole_days, micros = divmod(days * _DAY_US + nanoseconds // 1000, _DAY_US)
    return (0, whole_days, micros * 1000)


def _scalar_plan(
    typname: str, typmod: int | None, storage: pa.DataType
) -> tuple[str, Callable[[pa.Array], pa.Array], str | None] | None:
    """``(target type, conversion, server-side cast)`` for a non-array column, or None when
    the driver's output cannot be turned into the crawl's type exactly."""
    import pyarrow as pa

    from .arrow_drivers import map_values, numeric_text_to_decimal

    if typname == "numeric":
        if typmod is None:
            return None  # the driver did not say (older versions, array elements)
        target = numeric_type_for(typmod)
        if target == "string":
            return target, _same, _TO_TEXT  # PostgreSQL's own spelling, as the row path gives
        if not pa.types.is_string(storage):
            return None
        decimal = arrow_data_type(target)
        places = 10 if target == UNCONSTRAINED_NUMERIC else None
        return target, lambda a: numeric_text_to_decimal(a, decimal, round_places=places), None
    target = arrow_type_for(typname, -1 if typmod is None else typmod)
    if target == "string":
        if not pa.types.is_string(storage):
            # The output function's text, as the row path reads it: a cast to text is that
            # for every type but inet (the cast always shows the netmask; abbrev() does not).
            return target, _same, "abbrev({})" if typname == "inet" else _TO_TEXT
        return target, (_unpad_array if typname == "bpchar" else _same), None
    wanted = arrow_data_type(target)
    if target == "uint32" and storage == pa.int32():  # oid
        return target, lambda a: a.view(pa.uint32()), None
    if storage != wanted:
        return None
    if target == "month_day_nano_interval":
        return target, lambda a: map_values(a, wanted, _interval_from_driver), None
    if target == "date32[day]":
        return target, _in_range(_MIN_DATE32, 32), None
    if target.startswith("timestamp["):
        return target, _in_range(_MIN_TIMESTAMP_US, 64), None
    return target, _same, None


def _same(values: pa.Array) -> pa.Array:
    return values


_TO_TEXT = "({})::text"


def _adbc_column(field: pa.Field) -> _AdbcColumn | None:
    """The plan for one column the driver described, or None to use the row path."""
    import pyarrow as pa

    from .arrow_drivers import map_list_values

    metadata = field.metadata or {}
    typname = metadata.get(b"POSTGRESQL:type", b"").decode("utf-8", "replace")
    raw_typmod = metadata.get(b"POSTGRESQL:typmod")
    typmod = int(raw_typmod) if raw_typmod is not None else None
    storage = _storage_type(field.type)
    if not typname or typname.startswith("unnamed<"):
        return None  # a type the driver's catalogue does not know (ranges, new types)
    if not pa.types.is_list(storage):
        plan = _scalar_plan(typname, typmod, storage)
        if plan is None:
            return None
        target, convert, cast = plan
        return _AdbcColumn(field.name, target, _storage_of(convert), cast)
    if not typname.startswith("_"):
        return None  # int2vector, oidvector
    item = _scalar_plan(typname[1:], None, _storage_type(storage.value_type))
    if item is None:
        return None
    item_target, item_convert, item_cast = item
    target = f"list<item: {item_target}>"
    if item_cast == _TO_TEXT:
        return _AdbcColumn(field.name, target, _same, "({})::text[]", array=True)
    if item_cast is not None:
        return None
    item_convert = _storage_of(item_convert)
    return _AdbcColumn(
        field.name, target, lambda a: map_list_values(a, item_convert), None, array=True
    )


def _storage_type(data_type: pa.DataType) -> pa.DataType:
    import pyarrow as pa

    return data_type.storage_type if isinstance(data_type, pa.BaseExtensionType) else data_type


def _storage_of(convert: Callable[[pa.Array], pa.Array]) -> Callable[[pa.Array], pa.Array]:
    """``convert`` applied to an extension array's storage (json, opaque numeric, ...)."""

    def run(values: pa.Array) -> pa.Array:
        import pyarrow as pa

        if isinstance(values, pa.ExtensionArray):
            values = values.storage
        return convert(values)

    return run


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _adbc_query(statement: str, columns: list[_AdbcColumn]) -> tuple[str, int]:
    """The statement to run, and how many extra columns (array dimension checks) follow.

    Columns that need a cast, and arrays (whose bounds the driver wants to start at 1 and
    whose dimensions it flattens), are wrapped in an outer query; position aliases keep
    duplicate or unnamed columns apart.
    """
    if not any(c.cast or c.array for c in columns):
        return statement + "\n", 0
    aliases = [f"c{i}" for i in range(len(columns))]
    select = []
    checks = []
    for alias, column in zip(aliases, columns, strict=True):
        value = f"q.{alias}"
        if column.array:
            value = f"({value})[:]"
            checks.append(f"array_ndims(q.{alias}) > 1")
        if column.cast:
            value = column.cast.format(value)
        select.append(f"{value} AS {_quote_ident(column.name)}")
    select += [f"{check} AS dims{i}" for i, check in enumerate(checks)]
    return (
        f"SELECT {', '.join(select)} FROM (\n{statement}\n) AS q({', '.join(aliases)})",
        len(checks),
    )


# --------------------------------------------------------------------------------------------
# The connector


class PostgresConnector(Connector):
    kind = "postgresql"

    @classmethod
    def normalize_url(cls, url: str) -> str:
        return parse_postgres_url(url).url()

    @property
    def target(self) -> PostgresTarget:
        return parse_postgres_url(self.source.url)

    # -- connections -------------------------------------------------------------------------

    def _connect(self, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        target = self.target
        params: dict[str, Any] = {
            "host": target.host,
            "port": target.port,
            "dbname": target.database,
            "connect_timeout": CONNECT_TIMEOUT,
            "application_name": "guajie",
        }
        if target.user:
            params["user"] = target.user
        if self.password is not None:
            params["password"] = self.password
        if target.sslmode:
            params["sslmode"] = target.sslmode
        try:
            conn = psycopg.connect(autocommit=autocommit, **params)
        except psycopg.Error as exc:
            raise self._connect_error(exc, target) from None
        conn.read_only = True
        return conn

    def _password_place(self) -> str:
        if self.source.password_env:
            return f"the environment variable {self.source.password_env}"
        if self.source.password_file:
            return f"the password file {self.source.password_file}"
        return "the source's password setting (none is configured)"

    def _connect_error(self, exc: Exception, target: PostgresTarget) -> Exception:
        text = str(exc)
        low = text.lower()
        user = target.user or "(default user)"
        where = target.address
        if "password authentication failed" in low or "authentication failed" in low:
            return self.error(
                f"authentication failed for user {user} at {where}.",
                f"Check the password in {self._password_place()}, and that the user exists.",
            )
        if "no password supplied" in low or "password is required" in low:
            return self.error(
                f"the server at {where} asks for a password for user {user}, but none was given.",
                "Register the source with --password-env NAME (an environment variable holding "
                "the password) or --password-file.",
            )
        if m := re.search(r'database "([^"]*)" does not exist', text):
            return self.error(
                f"database {m.group(1)!r} does not exist on the server at {where}.",
                "Check the database name (the path of the source URL).",
            )
        if m := re.search(r'role "([^"]*)" does not exist', text):
            return self.error(
                f"user {m.group(1)!r} does not exist on the server at {where}.",
                "Check the user name in the source URL.",
            )
        if "no pg_hba.conf entry" in low:
            return self.error(
                f"the server at {where} does not accept connections from this machine "
                f"for user {user} to database {target.database} (pg_hba.conf).",
                "Ask the database administrator to allow this host, or set ?sslmode=require if "
                "the server only accepts encrypted connections.",
            )
        if "ssl" in low and ("not support" in low or "required" in low or "certificate" in low):
            return self.error(
                f"cannot agree on encryption with the server at {where} ({_first_line(text)}).",
                "Adjust ?sslmode= in the source URL (disable, prefer, require, verify-full).",
            )
        if "resolve host" in low or "translate host name" in low:
            return self.error(
                f"the host name {target.host!r} cannot be resolved.",
                "Check the host in the source URL.",
            )
        if "timeout expired" in low or "timed out" in low:
            return self.error(
                f"nothing answered at {where} within {CONNECT_TIMEOUT} s.",
                "Is the server running and reachable from here (firewall, VPN)? "
                "Check the host and port.",
            )
        if "connection refused" in low or "could not connect" in low or "no route" in low:
            return self.error(
                f"nothing answers at {where} — is the server running?",
                "Check the host and port in the source URL.",
            )
        if "too many" in low and "connection" in low:
            return self.error(
                f"the server at {where} refuses more connections ({_first_line(text)}).",
                "Try again later, or ask the administrator to raise max_connections.",
            )
        return self.error(
            f"cannot connect to the server at {where}: {_first_line(text)}",
            "Check the source URL, the password and that the server accepts connections.",
        )

    def _query_error(self, exc: psycopg.Error, doing: str) -> Exception:
        text = _first_line(str(exc))
        hint = None
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            hint = "Grant the source's user SELECT on it (and USAGE on its schema)."
        elif isinstance(exc, psycopg.errors.QueryCanceled):
            hint = "The statement ran too long; try a smaller request."
        return self.error(f"{doing} failed: {text}", hint)

    def _missing_schemas(self, existing: Sequence[str] | None) -> Exception | None:
        wanted = self.target.schemas
        missing = [s for s in wanted if s not in (existing or [])]
        if not missing:
            return None
        hints = [did_you_mean(s, existing or []) for s in missing]
        listed = ", ".join(sorted(existing or [])) or "(none)"
        return self.error(
            f"schema {', '.join(repr(s) for s in missing)} in ?schemas= does not exist "
            f"in database {self.target.database}.",
            " ".join(h for h in hints if h) or f"Schemas there: {listed}.",
        )

    # -- the interface -----------------------------------------------------------------------

    def check(self) -> str:
        conn = self._connect(autocommit=True)
        try:
            row = conn.execute(SESSION_SQL).fetchone()
            if error := self._missing_schemas(row[3] if row else None):
                raise error
            version = conn.info.server_version
            major, minor = divmod(version, 10000) if version >= 100000 else divmod(version, 100)
            return f"PostgreSQL {major}.{minor}, database {conn.info.dbname}"
        except psycopg.Error as exc:
            raise self._query_error(exc, "checking the database") from None
        finally:
            conn.close()

    def crawl(self) -> Iterator[CrawledDataset]:
        # Everything is read and assembled before the first dataset is yielded, so the
        # connection is never held open while the caller works.
        yield from self._read_catalog()

    def _read_catalog(self) -> list[CrawledDataset]:
        args = {"schemas": list(self.target.schemas) or None}
        conn = self._connect()
        # Tens of thousands of rows become objects that all stay alive: the cyclic garbage
        # collector would walk them again and again for nothing (a third of the time).
        with _gc_paused():
            try:
                with (
                    conn.cursor() as session,
                    conn.cursor() as rel_cur,
                    conn.cursor() as col_cur,
                    conn.cursor() as stat_cur,
                ):
                    with conn.pipeline():  # one round trip for all four statements
                        session.execute(SESSION_SQL)
                        rel_cur.execute(RELATIONS_SQL, args)
                        col_cur.execute(COLUMNS_SQL, args)
                        stat_cur.execute(STATS_SQL, args)
                    head = session.fetchone()
                    relation_rows = rel_cur.fetchall()
                    column_rows = col_cur.fetchall()
                    stat_rows = stat_cur.fetchall()
                conn.rollback()
            except psycopg.Error as exc:
                raise self._query_error(exc, "reading the catalog") from None
            finally:
                conn.close()
            assert head is not None
            if error := self._missing_schemas(head[3]):
                raise error
            return list(self._assemble(head[2], relation_rows, column_rows, stat_rows))

    def _assemble(
        self,
        block_size: int,
        relation_rows: list[tuple[Any, ...]],
        column_rows: list[tuple[Any, ...]],
        stat_rows: list[tuple[Any, ...]],
    ) -> Iterator[CrawledDataset]:
        relations = {row[0]: _Relation(row[0], *row[1:4], *row[5:]) for row in relation_rows}
        totals = self._fold_partitions(relations)

        stats_by_column = {(r[0], r[1], r[2], r[3]): r[4:] for r in stat_rows}
        columns_by_rel = {
            oid: list(rows) for oid, rows in itertools.groupby(column_rows, key=lambda r: r[0])
        }

        roots = sorted(
            (r for r in relations.values() if r.parent is None), key=lambda r: (r.schema, r.name)
        )
        for rel in roots:
            reltuples, pages, changes = totals.get(rel.oid, (rel.reltuples, rel.pages, rel.changes))
            row_count = round(reltuples) if reltuples is not None and reltuples >= 0 else None
            if rel.relkind == "v":
                row_count = None
            analysed = row_count is not None
            inherited = rel.relkind == "p"
            columns = []
            for (
                _,
                name,
                notnull,
                typname,
                typmod,
                typtype,
                category,
                etypname,
                etyptype,
                doc,
            ) in columns_by_rel.get(rel.oid, []):
                arrow = arrow_type_for(typname, typmod, typtype, category, etypname, etyptype)
                stats = samples = None
                found = stats_by_column.get((rel.schema, rel.name, name, inherited))
                if found is not None:
                    null_frac, n_distinct, most_common, histogram = found
                    stats, samples = column_stats(
                        typname if category != "A" else "",
                        null_frac,
                        n_distinct,
                        most_common,
                        histogram,
                        reltuples,
                        want_samples=arrow != "binary",
                    )
                columns.append(
                    CrawledColumn(
                        name=name,
                        type=arrow,
                        nullable=not notnull,
                        description=doc,
                        stats=stats,
                        samples=samples,
                    )
                )
            yield CrawledDataset(
                schema=rel.schema,
                name=rel.name,
                columns=columns,
                kind=_KINDS[rel.relkind],
                description=rel.description,
                row_count=row_count,
                size_bytes=pages * block_size if pages is not None and analysed else None,
                change_counter=changes if rel.relkind in ("r", "m", "p") else None,
                format="PostgreSQL",
                partitioning=rel.partition_key or [],
            )

    @staticmethod
    def _fold_partitions(
        relations: dict[int, _Relation],
    ) -> dict[int, tuple[float | None, int | None, int | None]]:
        """Row count, pages and change counter of each partitioned table, over its leaves."""
        leaves: dict[int, list[_Relation]] = {}
        for rel in relations.values():
            if rel.parent is None or rel.relkind == "p":
                continue
            root = rel.parent
            while (up := relations.get(root)) is not None and up.parent is not None:
                root = up.parent
            leaves.setdefault(root, []).append(rel)
        totals: dict[int, tuple[float | None, int | None, int | None]] = {}
        for oid, rel in relations.items():
            if rel.relkind != "p" or rel.parent is not None:
                continue
            parts = leaves.get(oid, [])
            known = [p.reltuples for p in parts if p.reltuples >= 0]
            reltuples: float | None = rel.reltuples
            if rel.reltuples < 0:
                reltuples = sum(known) if known else (0.0 if not parts else None)
            pages = sum(p.pages or 0 for p in parts)
            changes = sum(p.changes or 0 for p in parts)
            totals[oid] = (reltuples, pages, changes)
        return totals

    def sample(
        self, dataset: CrawledDataset, columns: list[str], limit: int = 100
    ) -> dict[str, list[str]]:
        if not columns:
            return {}
        table = sql.Identifier(dataset.schema, dataset.name)
        cols = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns)
        plain = sql.SQL("SELECT {} FROM {} LIMIT {}").format(cols, table, sql.Literal(int(limit)))
        queries = [plain]
        rows_known = dataset.row_count or 0
        if dataset.kind in ("table", "materialized_view") and rows_known > 100 * limit:
            # Whole random blocks instead of the table's first pages; falls back when unlucky.
            percent = min(100.0, max(0.001, 100.0 * 20 * limit / rows_known))
            queries.insert(
                0,
                sql.SQL("SELECT {} FROM {} TABLESAMPLE SYSTEM ({}) LIMIT {}").format(
                    cols, table, sql.Literal(percent), sql.Literal(int(limit))
                ),
            )
        conn = self._connect()
        try:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, true)",
                (str(SAMPLE_STATEMENT_TIMEOUT_MS),),
            )
            rows: list[tuple[Any, ...]] = []
            for query in queries:
                rows = conn.execute(query).fetchall()
                if len(rows) >= limit:
                    break
        except psycopg.Error as exc:
            raise self._query_error(exc, f"sampling {dataset.schema}.{dataset.name}") from None
        finally:
            conn.close()
        return {c: [r[i] for r in rows if r[i] is not None] for i, c in enumerate(columns)}

    def capabilities(self) -> Capabilities:
        return Capabilities(dialect="postgres", joins=True, aggregates=True, window_functions=True)

    def fetch(self, sql: str) -> pa.RecordBatchReader:
        """Stream the result of one read-only statement as Arrow.

        With ``adbc-driver-postgresql`` installed, the driver decodes the rows in native
        code (``COPY ... TO STDOUT (FORMAT binary)``) and batches stream as they arrive.
        Without it, and for results holding a type it cannot report exactly (numeric
        arrays, ranges, types created since this process first connected), rows come
        through a server-side cursor and are converted in Python. Both give the same
        Arrow types: the crawl's for plain columns.
        """
        return self._fetch(sql, serial=False)

    def _fetch(self, sql: str, *, serial: bool) -> pa.RecordBatchReader:
        statement = sql.strip().rstrip(";").rstrip()
        if adbc_postgresql() is not None and _looks_like_a_query(statement):
            reader = self._fetch_adbc(statement, serial=serial)
            if reader is not None:
                return reader
        return self._fetch_rows(statement, sql, serial=serial)

    def fetch_table(
        self,
        sql: str,
        *,
        types: Mapping[str, str] | None = None,
        not_null: Collection[str] = (),
        expected_rows: int | None = None,
        sliced: bool = False,
    ) -> pa.Table:
        """The whole result, packed into one row by the server where its columns allow and
        its estimated size is modest (see :mod:`.postgres_packed`); fetched as
        :meth:`fetch` fetches it otherwise. A slice runs without parallel workers: the
        slices fetched beside it already keep the server's cores busy, and a parallel
        plan of one slice may have each worker scan the slice again (a hash join's inner
        side is built by every worker)."""
        statement = sql.strip().rstrip(";").rstrip()
        if (
            types
            and expected_rows is not None
            and may_pack(types, not_null, expected_rows)
            and adbc_postgresql() is not None
            and _looks_like_a_query(statement)
        ):
            table = self._fetch_packed(statement, not_null, serial=sliced)
            if table is not None:
                return table
        return self._fetch(sql, serial=sliced).read_all()

    def _fetch_packed(
        self, statement: str, not_null: Collection[str], *, serial: bool
    ) -> pa.Table | None:
        import pyarrow as pa

        manager = adbc_postgresql()[0]  # type: ignore[index]
        uri = self._adbc_uri()
        conn = self._adbc_session(uri, serial=serial)
        if conn is None:
            return None
        handles: list[Any] = []
        healthy = True
        try:
            stmt = manager.AdbcStatement(conn)
            handles.append(stmt)
            stmt.set_sql_query(statement + "\n")
            described = pa.schema(stmt.execute_schema())
            columns = [_packed_column(field, not_null) for field in described]
            packable = [c for c in columns if c is not None]
            if len(packable) < len(columns) or not packable:
                return None  # the server's types differ from the catalog's: as usual
            stmt.set_sql_query(packed_query(statement, packable))
            stream, _ = stmt.execute_query()
            reader = pa.RecordBatchReader.from_stream(stream)
            handles.append(reader)
            result = reader.read_all()
        except Exception as exc:
            if _packing_failed(exc):
                return None  # a value past bigint, a result too large: fetched as rows
            healthy = False
            raise self._adbc_query_error(exc, "running the query") from None
        except BaseException:
            healthy = False
            raise
        finally:
            _close_all(handles)
            if healthy:
                ADBC_DATABASES.checkin(uri, conn)  # rolled back, an aborted one too
            else:
                _close_all([conn])
        row = [
            column[0].as_buffer() if pa.types.is_binary(column.type) else column[0].as_py()
            for column in result.columns
        ]
        return unpack(row, packable)

    # -- fetch() through ADBC -----------------------------------------------------------------

    def _adbc_uri(self) -> str:
        """A libpq URI for the driver, password included: built in memory, never shown."""
        target = self.target
        auth = quote(target.user, safe="") if target.user else ""
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        params = {"connect_timeout": str(CONNECT_TIMEOUT), "application_name": "guajie"}
        if target.sslmode:
            params["sslmode"] = target.sslmode
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        netloc = f"{auth}@{target.address}" if auth else target.address
        return f"postgresql://{netloc}/{quote(target.database, safe='')}?{query}"

    def _fetch_adbc(self, statement: str, *, serial: bool) -> pa.RecordBatchReader | None:
        """The result through the ADBC driver, or None when a column needs the row path."""
        import pyarrow as pa

        found = adbc_postgresql()
        assert found is not None
        manager = found[0]
        uri = self._adbc_uri()
        conn = self._adbc_session(uri, serial=serial)
        if conn is None:
            return None  # the driver itself cannot be used here: the row path reports why
        handles: list[Any] = [conn]

        def give_back() -> None:
            # The connection waits for the next fetch; everything else is closed.
            handles.remove(conn)
            _close_all(handles)
            ADBC_DATABASES.checkin(uri, conn)

        try:
            stmt = manager.AdbcStatement(conn)
            handles.append(stmt)
            stmt.set_sql_query(statement + "\n")  # a trailing line comment stays closed
            described = pa.schema(stmt.execute_schema())
            plans = [_adbc_column(field) for field in described]
            columns = [p for p in plans if p is not None]
            if not columns or len(columns) < len(plans):
                if any(
                    f.metadata and b"unnamed<" in f.metadata.get(b"POSTGRESQL:type", b"")
                    for f in described
                ):
                    ADBC_DATABASES.forget(uri)  # its type catalogue may predate a new type
                    _close_all(handles)
                else:
                    give_back()
                return None
            query, checks = _adbc_query(statement, columns)
            stmt.set_sql_query(query)
            stmt.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(FETCH_BATCH_BYTES)})
            stream, _ = stmt.execute_query()
            reader = pa.RecordBatchReader.from_stream(stream)
            handles.append(reader)
        except Exception as exc:
            _close_all(handles)
            raise self._adbc_query_error(exc, "running the query") from None
        except BaseException:
            _close_all(handles)
            raise

        schema = pa.schema([pa.field(c.name, arrow_data_type(c.target)) for c in columns])
        width = len(columns)

        def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
            import pyarrow.compute as pc

            for i in range(width, width + checks):
                if pc.any(batch.column(i)).as_py():
                    raise pa.ArrowInvalid("a multi-dimensional array")
            arrays = [c.convert(batch.column(i)) for i, c in enumerate(columns)]
            return pa.RecordBatch.from_arrays(arrays, schema=schema)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        give_back()
                        return
                    except Exception as exc:
                        raise self._adbc_query_error(exc, "reading the query's rows") from None
                    try:
                        converted = convert(batch)
                    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError) as exc:
                        raise self.error(
                            f"a value does not fit its Arrow column type ({exc}).",
                            "Cast the column in the query (e.g. to text or a narrower numeric).",
                        ) from None
                    yield from rebatch([converted], FETCH_BATCH_ROWS)
            finally:
                _close_all(handles)  # a stream left unfinished closes its connection

        return pa.RecordBatchReader.from_batches(schema, batches())

    def reads_in_slices(self) -> bool:
        """PostgreSQL 14 and later scan a ``ctid`` range by itself (TID Range Scan); older
        servers and look-alikes that report an older version would scan everything."""
        key = self.target.address + "/" + self.target.database
        known = _SLICES.get(key)
        if known is None:
            try:
                table = self.fetch("SELECT current_setting('server_version_num') AS v").read_all()
                version = int(table.column(0)[0].as_py() or 0)
            except Exception:
                return False  # never slice on a guess; the fetch itself reports real errors
            known = _SLICES[key] = version >= 140000
        return known

    def _adbc_session(self, uri: str, *, serial: bool = False) -> Any | None:
        """A connection in a fresh read-only transaction at UTC, or None when the driver
        cannot be used. An idle connection that no longer answers is replaced once."""
        manager = adbc_postgresql()[0]  # type: ignore[index]
        for attempt in range(2):
            try:
                conn, reused = ADBC_DATABASES.checkout(uri)
            except manager.Error as exc:
                raise self._connect_error(
                    Exception(redact_secret(adbc_connect_text(exc), self.password)), self.target
                ) from None
            except Exception:
                return None
            stmt = None
            try:
                stmt = manager.AdbcStatement(conn)
                # One round trip: the transaction's settings, and no session advisory lock
                # left by an earlier statement on this connection.
                stmt.set_sql_query(_SESSION_SETUP + (f"; {_SERIAL}" if serial else ""))
                stmt.execute_update()
                stmt.close()
                return conn
            except Exception as exc:
                _close_all([conn, stmt] if stmt is not None else [conn])
                if not reused or attempt:
                    raise self._adbc_query_error(exc, "starting the transaction") from None
        return None

    def _adbc_query_error(self, exc: BaseException, doing: str) -> Exception:
        message = redact_secret(adbc_server_message(exc), self.password)
        hint = None
        sqlstate = getattr(exc, "sqlstate", None)
        if sqlstate == "42501":
            hint = "Grant the source's user SELECT on it (and USAGE on its schema)."
        elif sqlstate == "57014":
            hint = "The statement ran too long; try a smaller request."
        return self.error(f"{doing} failed: {message}", hint)

    # -- fetch() through psycopg --------------------------------------------------------------

    def _fetch_rows(self, statement: str, sql: str, *, serial: bool) -> pa.RecordBatchReader:
        """Stream the result through a server-side cursor, converting rows in Python."""
        import pyarrow as pa

        conn = self._connect()
        try:
            conn.execute("SELECT set_config('TimeZone', 'UTC', true)")
            if serial:
                conn.execute(_SERIAL)
            cur = conn.cursor(name=f"guajie_fetch_{uuid.uuid4().hex[:12]}")
            cur.itersize = FETCH_BATCH_ROWS
            cur.execute(statement)
            result = cur.pgresult
            description = cur.description or []
            oids = sorted({d.type_code for d in description})
            types = {row[0]: row[1:] for row in conn.execute(TYPES_SQL, (oids,)).fetchall()}
        except psycopg.errors.SyntaxError as exc:
            conn.close()
            if "DECLARE" in str(exc) and not re.match(r"(?is)\s*(select|with|values|table)\b", sql):
                raise self.error(
                    "only queries (SELECT, WITH, VALUES, TABLE) can be fetched from a source.",
                    "Pushed-down fragments are read-only queries.",
                ) from None
            raise self._query_error(exc, "running the query") from None
        except psycopg.Error as exc:
            conn.close()
            raise self._query_error(exc, "running the query") from None

        names: list[str] = []
        arrow_types: list[str] = []
        padded: list[bool] = []
        for i, col in enumerate(description):
            typname, typtype, category, etypname, etyptype = types.get(
                col.type_code, ("text", "b", "S", None, None)
            )
            typmod = result.fmod(i) if result is not None else -1
            arrow = arrow_type_for(typname, typmod, typtype, category, etypname, etyptype)
            # A loader serves every column of its type: numeric must stay Decimal for the
            # other numeric columns (str() of those Decimals is PostgreSQL's own text).
            if arrow == "list<item: string>" or (arrow == "string" and typname != "numeric"):
                oid = col.type_code if category != "A" else _element_oid(conn, col.type_code)
                if oid is not None:
                    cur.adapters.register_loader(oid, TextLoader)
            names.append(col.name)
            arrow_types.append(arrow)
            padded.append(typname == "bpchar" or (category == "A" and etypname == "bpchar"))
        schema = pa.schema(
            [pa.field(n, arrow_data_type(t)) for n, t in zip(names, arrow_types, strict=True)]
        )
        # char(n) pads with spaces that PostgreSQL itself treats as insignificant (its cast
        # to text drops them); the query's engine compares strings exactly, so drop them too.
        converters = [
            (_unpad_list if t.startswith("list<") else _unpad) if pad else _converter(t)
            for t, pad in zip(arrow_types, padded, strict=True)
        ]

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                while rows := cur.fetchmany(FETCH_BATCH_ROWS):
                    arrays = []
                    for i, (field, convert) in enumerate(zip(schema, converters, strict=True)):
                        values = [r[i] for r in rows]
                        if convert is not None:
                            values = [convert(v) for v in values]
                        arrays.append(pa.array(values, type=field.type))
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)
            except psycopg.Error as exc:
                raise self._query_error(exc, "reading the query's rows") from None
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
                raise self.error(
                    f"a value does not fit its Arrow column type ({exc}).",
                    "Cast the column in the query (e.g. to text or a narrower numeric).",
                ) from None
            finally:
                cur.close()
                conn.close()

        return pa.RecordBatchReader.from_batches(schema, batches())


# SQLSTATE classes after which a packed fetch gives way to the usual one: data exceptions
# (a value past bigint), insufficient resources, program limits; and the messages that say
# so where an error comes mid-stream, without its SQLSTATE.
_PACKED_FALLBACK_CLASSES = ("22", "53", "54")
_PACKED_FALLBACK_RE = re.compile(
    r"out of (memory|range)|too large|invalid memory alloc|cannot enlarge string buffer"
)


def _packing_failed(exc: BaseException) -> bool:
    import pyarrow as pa

    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    if sqlstate:
        return sqlstate[:2] in _PACKED_FALLBACK_CLASSES
    if not isinstance(exc, OSError | pa.ArrowException):
        return False  # not the server's answer
    return bool(_PACKED_FALLBACK_RE.search(adbc_server_message(exc)))


def _packed_column(field: pa.Field, not_null: Collection[str]) -> PackedColumn | None:
    plan = _adbc_column(field)
    if plan is None or plan.cast or plan.array:
        return None
    typname = (field.metadata or {}).get(b"POSTGRESQL:type", b"").decode("utf-8", "replace")
    return packed_column(field.name, typname, plan.target, not_null)


def _looks_like_a_query(statement: str) -> bool:
    """Whether ``statement`` starts (after comments and parentheses) like a plain query.

    Only a hint for choosing the driver: the row path decides about anything else.
    """
    noise = _LEADING_NOISE_RE.match(statement)
    return bool(_QUERY_START_RE.match(statement, noise.end() if noise else 0))


_SLICES: dict[str, bool] = {}  # server address/database -> reads_in_slices()

_SESSION_SETUP = (
    "SET TRANSACTION READ ONLY; SET LOCAL TimeZone = 'UTC'; SELECT pg_advisory_unlock_all()"
)
_SERIAL = "SET LOCAL max_parallel_workers_per_gather = 0"


def _close_all(handles: list[Any]) -> None:
    """Close driver handles, the last opened first (reader, statement, connection)."""
    while handles:
        with contextlib.suppress(Exception):
            handles.pop().close()


def _unpad(value: str | None) -> str | None:
    return value.rstrip(" ") if value is not None else None


def _unpad_list(value: Any) -> list[str | None] | None:
    values = _text_list(value)
    return None if values is None else [_unpad(v) for v in values]


def _element_oid(conn: psycopg.Connection[Any], array_oid: int) -> int | None:
    info = conn.adapters.types.get(array_oid)
    if info is not None and info.array_oid == array_oid:
        return info.oid
    row = conn.execute(
        "SELECT typelem FROM pg_catalog.pg_type WHERE oid = %s", (array_oid,)
    ).fetchone()
    return int(row[0]) if row else None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else text


__all__ = [
    "PostgresConnector",
    "PostgresTarget",
    "arrow_type_for",
    "column_stats",
    "parse_array_literal",
    "parse_postgres_url",
]
