"""MySQL 8 and MariaDB 10.11 databases: ``mysql://user@host:port/db`` (password from an env var).

Optional query parameter ``sslmode=disabled|required|verify_ca|verify_identity`` (MySQL's own
``--ssl-mode`` names; the default is an unencrypted connection, as with pymysql).

Only the database named in the URL is crawled, from ``information_schema`` in two statements:
``TABLES`` (``TABLE_ROWS`` estimate, ``DATA_LENGTH + INDEX_LENGTH``, ``UPDATE_TIME``, comment)
and ``COLUMNS``. ``UPDATE_TIME`` is reported in the session's time zone, so the session runs at
``+00:00`` and the value is UTC; InnoDB keeps it in memory only, so it is ``None`` until the
first write after a server restart. MySQL 8 caches these figures for a day
(``information_schema_stats_expiry``); the crawl asks for fresh ones.

Column statistics come from MariaDB's engine-independent statistics (``mysql.column_stats``,
filled by ``ANALYZE TABLE ... PERSISTENT FOR ALL``) when the user may read that table; otherwise
(and on MySQL) columns carry no statistics. The crawl hands out no sample values: the crawler
calls :meth:`MySQLConnector.sample` for new or changed datasets.

Pushed-down SQL must keep MariaDB's and MySQL's defaults in mind: the usual collations
(``utf8mb4_general_ci``, ``utf8mb4_0900_ai_ci``) compare case- and accent-insensitively, and
PAD SPACE collations (MariaDB's defaults) ignore trailing spaces, so ``'abc' = 'ABC '`` is true
at the source but not in DuckDB or PostgreSQL. Filters and joins on text that must match
exactly should not be pushed down, or should compare ``BINARY`` values.
:class:`~.base.Capabilities` has no field for this yet.

:meth:`MySQLConnector.fetch` runs plain queries only (``SELECT``/``WITH``/``VALUES``/``TABLE``),
inside ``START TRANSACTION READ ONLY``. It prepares the statement first (checking it and
learning its columns' exact types without running it); ``connectorx``, when installed, then
reads the whole result into Arrow in native code over an unencrypted connection, so a result
must fit in memory. Otherwise (and when ``?sslmode=`` asks for TLS, and for what connectorx
cannot carry exactly) pymysql streams the rows unbuffered. See :mod:`.arrow_drivers`.
A connection that only prepared a statement is kept (up to 30 s idle) for the next fetch;
one that ran a statement is closed.

Types map to Arrow as pyarrow prints them: ``tinyint(1)`` (MariaDB's ``BOOLEAN``) and
``bit(1)`` are ``bool``; unsigned integers are ``uint*``; ``year`` is ``int16``; ``datetime``
and ``timestamp`` are ``timestamp[us]`` (``timestamp`` values arrive in UTC); text, ``enum``,
``set``, ``json`` and MariaDB's ``uuid``/``inet*`` are ``string``; blobs, binary strings and
spatial types are ``binary``. :meth:`MySQLConnector.fetch` turns zero dates into nulls and
refuses ``time`` values outside 00:00–24:00.
"""

from __future__ import annotations

import contextlib
import functools
import re
import ssl
import struct
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ..errors import InvalidInputError, url_without_password
from ..models import ColumnStats
from .arrow_drivers import (
    IdleConnections,
    connectorx,
    is_rust_panic,
    map_values,
    rebatch,
    redact_secret,
)
from .base import Capabilities, Connector, CrawledColumn, CrawledDataset, arrow_data_type

if TYPE_CHECKING:
    import pyarrow as pa

CONNECT_TIMEOUT = 5
DEFAULT_PORT = 3306
SAMPLE_READ_TIMEOUT = 60
FETCH_BATCH_ROWS = 10_000
_SSLMODES = ("disabled", "required", "verify_ca", "verify_identity")
_QUERY_PARAMS = ("sslmode",)
_URL_EXAMPLE = "mysql://reader@db.example.gov.cn:3306/city"

# --------------------------------------------------------------------------------------------
# URLs


@dataclass(frozen=True)
class MySQLTarget:
    """The parts of a ``mysql://`` source URL."""

    host: str
    port: int
    database: str
    user: str | None = None
    sslmode: str | None = None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self) -> str:
        user = f"{quote(self.user, safe='')}@" if self.user else ""
        query = f"?sslmode={self.sslmode}" if self.sslmode else ""
        return f"mysql://{user}{self.address}/{quote(self.database, safe='')}{query}"


def parse_mysql_url(url: str) -> MySQLTarget:
    """Split and validate a source URL; raise InvalidInputError saying what is wrong."""

    def bad(problem: str) -> InvalidInputError:
        return InvalidInputError(
            f"MySQL URL {url_without_password(url)!r} {problem}.",
            f"Write it as mysql://user@host:port/database, e.g. {_URL_EXAMPLE} "
            "(the password goes in an environment variable, never in the URL).",
        )

    scheme, _, _ = url.partition("://")
    if scheme.lower() not in ("mysql", "mariadb"):
        raise bad("must start with mysql:// (or mariadb://)")
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
    sslmode = (params.get("sslmode") or "").lower().replace("-", "_") or None
    if sslmode is not None and sslmode not in _SSLMODES:
        raise bad(f"has sslmode={params['sslmode']!r}; use one of {', '.join(_SSLMODES)}")
    return MySQLTarget(
        host=parts.hostname,
        port=port,
        database=database,
        user=unquote(parts.username) if parts.username else None,
        sslmode=sslmode,
    )


# --------------------------------------------------------------------------------------------
# Types

_COLUMN_TYPE_RE = re.compile(r"^\s*([a-z0-9_]+(?: precision)?)\s*(?:\(([^)]*)\))?\s*(.*)$", re.I)
_INTEGERS = {
    "tinyint": ("int8", "uint8"),
    "smallint": ("int16", "uint16"),
    "mediumint": ("int32", "uint32"),
    "int": ("int32", "uint32"),
    "integer": ("int32", "uint32"),
    "bigint": ("int64", "uint64"),
}
_BINARY = ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob")
_SPATIAL = (
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
    "geomcollection",
)


def decimal_type(precision: int, scale: int) -> str:
    if not 0 <= scale <= precision or precision > 76:
        return "string"
    return f"decimal{128 if precision <= 38 else 256}({precision}, {scale})"


def arrow_type_for(column_type: str) -> str:
    """The Arrow type (as pyarrow prints it) for ``information_schema.COLUMNS.COLUMN_TYPE``."""
    m = _COLUMN_TYPE_RE.match(column_type.lower())
    if m is None:
        return "string"
    base, args, rest = m.group(1).strip(), m.group(2), m.group(3)
    unsigned = "unsigned" in rest or "zerofill" in rest
    if base == "tinyint" and args == "1" and not unsigned:
        return "bool"
    if base in _INTEGERS:
        return _INTEGERS[base][unsigned]
    if base in ("decimal", "numeric", "dec", "fixed"):
        numbers = [int(x) for x in re.findall(r"\d+", args or "")]
        precision = numbers[0] if numbers else 10
        scale = numbers[1] if len(numbers) > 1 else 0
        return decimal_type(precision, scale)
    if base == "float":
        return "float"
    if base in ("double", "real", "double precision"):
        return "double"
    if base == "bit":
        return "bool" if args in (None, "1") else "uint64"
    if base == "bool" or base == "boolean":
        return "bool"
    if base == "year":
        return "int16"
    if base == "date":
        return "date32[day]"
    if base in ("datetime", "timestamp"):
        return "timestamp[us]"
    if base == "time":
        return "time64[us]"
    if base in _BINARY or base in _SPATIAL:
        return "binary"
    return "string"  # char, varchar, *text, enum, set, json, uuid, inet4, inet6, ...


# Result-set field types (pymysql.constants.FIELD_TYPE), for fetch().
_DECIMAL, _TINY, _SHORT, _LONG, _FLOAT, _DOUBLE, _NULL, _TIMESTAMP = 0, 1, 2, 3, 4, 5, 6, 7
_LONGLONG, _INT24, _DATE, _TIME, _DATETIME, _YEAR, _NEWDATE, _VARCHAR, _BIT = range(8, 17)
_JSON, _NEWDECIMAL, _ENUM, _SET = 245, 246, 247, 248
_BLOBS = (249, 250, 251, 252)
_GEOMETRY = 255
_UNSIGNED_FLAG = 32
_BINARY_CHARSET = 63


def field_arrow_type(type_code: int, flags: int, length: int, scale: int, charsetnr: int) -> str:
    """The Arrow type for one column of a result set, from its wire description."""
    unsigned = bool(flags & _UNSIGNED_FLAG)
    simple = {
        _SHORT: ("int16", "uint16"),
        _INT24: ("int32", "uint32"),
        _LONG: ("int32", "uint32"),
        _LONGLONG: ("int64", "uint64"),
    }
    if type_code == _TINY:
        return "bool" if length == 1 else ("uint8" if unsigned else "int8")
    if type_code in simple:
        return simple[type_code][unsigned]
    if type_code in (_DECIMAL, _NEWDECIMAL):
        precision = length - (1 if scale > 0 else 0) - (0 if unsigned else 1)
        return decimal_type(max(precision, scale, 1), scale)
    if type_code == _FLOAT:
        return "float"
    if type_code == _DOUBLE:
        return "double"
    if type_code in (_DATE, _NEWDATE):
        return "date32[day]"
    if type_code in (_DATETIME, _TIMESTAMP):
        return "timestamp[us]"
    if type_code == _TIME:
        return "time64[us]"
    if type_code == _YEAR:
        return "int16"
    if type_code == _BIT:
        return "bool" if length == 1 else "uint64"
    if type_code == _GEOMETRY:
        return "binary"
    if type_code in (*_BLOBS, _VARCHAR, 253, 254) and charsetnr == _BINARY_CHARSET:
        return "binary"
    return "string"


def _to_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return any(value)
    return bool(value)


def _bits(value: Any) -> int | None:
    return int.from_bytes(value, "big") if isinstance(value, bytes) else value


def _date(value: Any) -> date | None:
    return value if isinstance(value, date) else None  # zero dates arrive as text


def _time(value: Any) -> time | None:
    if value is None or isinstance(value, time):
        return value
    if isinstance(value, timedelta) and timedelta(0) <= value < timedelta(days=1):
        return (datetime.min + value).time()
    raise ValueError(f"TIME value {value} lies outside 00:00:00–23:59:59")


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "bool": _to_bool,
    "uint64": _bits,
    "date32[day]": _date,
    "timestamp[us]": _date,
    "time64[us]": _time,
    "string": _text,
}

# --------------------------------------------------------------------------------------------
# Catalog queries

TABLES_SQL = """
SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, UPDATE_TIME, TABLE_COMMENT
FROM information_schema.TABLES
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED')
ORDER BY TABLE_NAME
"""

COLUMNS_SQL = """
SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_COMMENT
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, ORDINAL_POSITION
"""

# MariaDB's engine-independent statistics; readable only when granted, absent on MySQL.
COLUMN_STATS_SQL = """
SELECT table_name, column_name, min_value, max_value, nulls_ratio, avg_frequency
FROM mysql.column_stats WHERE db_name = DATABASE()
"""
TABLE_STATS_SQL = "SELECT table_name, cardinality FROM mysql.table_stats WHERE db_name = DATABASE()"
# One-column unique keys: as many distinct values as rows. (The engine's CARDINALITY of
# other indexes is a sampled guess; InnoDB counts a composite key's leading column as
# about the whole key's.)
UNIQUE_KEYS_SQL = """
SELECT TABLE_NAME, MIN(COLUMN_NAME) FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0
GROUP BY TABLE_NAME, INDEX_NAME HAVING count(*) = 1
"""

_KINDS = {"BASE TABLE": "table", "SYSTEM VERSIONED": "table", "VIEW": "view"}


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def _stat_text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------------------------------------
# The connector


class MySQLConnector(Connector):
    kind = "mysql"

    @classmethod
    def normalize_url(cls, url: str) -> str:
        return parse_mysql_url(url).url()

    @property
    def target(self) -> MySQLTarget:
        return parse_mysql_url(self.source.url)

    # -- connections -------------------------------------------------------------------------

    def _connect(self, **extra: Any) -> Any:
        import pymysql

        target = self.target
        params: dict[str, Any] = {
            "host": target.host,
            "port": target.port,
            "database": target.database,
            "charset": "utf8mb4",
            "connect_timeout": CONNECT_TIMEOUT,
            "autocommit": True,
            "program_name": "guajie",
            **extra,
        }
        if target.user:
            params["user"] = target.user
        if self.password is not None:
            params["password"] = self.password
        if target.sslmode and target.sslmode != "disabled":
            params["ssl"] = _ssl_context(target.sslmode)
        try:
            conn = _connection_class()(**params)
        except pymysql.Error as exc:
            raise self._connect_error(exc, target) from None
        except OSError as exc:  # includes ssl.SSLError
            raise self.error(
                f"cannot connect to the server at {target.address}: {exc}.",
                "Check the host, the port and ?sslmode= in the source URL.",
            ) from None
        # UPDATE_TIME and TIMESTAMP values come in the session's zone: make that UTC.
        settings = ["time_zone = '+00:00'"]
        version = conn.get_server_info() or ""
        if "mariadb" not in version.lower() and _major(version) >= 8:
            settings.append("information_schema_stats_expiry = 0")
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION " + ", ".join(settings))
        except pymysql.Error as exc:
            conn.close()
            raise self._query_error(exc, "setting up the session") from None
        return conn

    def _password_place(self) -> str:
        if self.source.password_env:
            return f"the environment variable {self.source.password_env}"
        if self.source.password_file:
            return f"the password file {self.source.password_file}"
        return "the source's password setting (none is configured)"

    def _connect_error(self, exc: Exception, target: MySQLTarget) -> Exception:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        low = text.lower()
        user = target.user or "(default user)"
        where = target.address
        if code == 1045:
            if "using password: no" in low:
                return self.error(
                    f"the server at {where} asks for a password for user {user}, "
                    "but none was given.",
                    "Register the source with --password-env NAME (an environment variable "
                    "holding the password) or --password-file.",
                )
            return self.error(
                f"authentication failed for user {user} at {where}.",
                f"Check the password in {self._password_place()}, and that the user exists "
                "and may connect from this host.",
            )
        if code in (1044, 1049):
            return self.error(
                f"database {target.database!r} does not exist on the server at {where}, "
                f"or user {user} may not use it.",
                "Check the database name (the path of the source URL) and the user's grants.",
            )
        if code == 1130:
            return self.error(
                f"the server at {where} does not accept connections from this machine "
                f"for user {user}.",
                "Ask the database administrator to grant access from this host.",
            )
        if code == 1040:
            return self.error(
                f"the server at {where} refuses more connections (too many connections).",
                "Try again later, or ask the administrator to raise max_connections.",
            )
        if code == 2003:
            if "name or service not known" in low or "name resolution" in low or "errno -" in low:
                return self.error(
                    f"the host name {target.host!r} cannot be resolved.",
                    "Check the host in the source URL.",
                )
            if "timed out" in low:
                return self.error(
                    f"nothing answered at {where} within {CONNECT_TIMEOUT} s.",
                    "Is the server running and reachable from here (firewall, VPN)? "
                    "Check the host and port.",
                )
            return self.error(
                f"nothing answers at {where} — is the server running?",
                "Check the host and port in the source URL.",
            )
        if "ssl" in low or "tls" in low:
            return self.error(
                f"cannot agree on encryption with the server at {where} ({text}).",
                "Adjust ?sslmode= in the source URL (disabled, required, verify_identity).",
            )
        return self.error(
            f"cannot connect to the server at {where}: {text}",
            "Check the source URL, the password and that the server accepts connections.",
        )

    def _query_error(self, exc: Exception, doing: str) -> Exception:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        hint = None
        if code in (1142, 1143, 1227):
            hint = "Grant the source's user SELECT on it."
        elif code in (1969, 3024):  # MariaDB / MySQL statement time limits
            hint = "The statement ran too long; try a smaller request."
        return self.error(f"{doing} failed: {text}", hint)

    # -- the interface -----------------------------------------------------------------------

    def check(self) -> str:
        import pymysql

        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION(), DATABASE()")
                version, database = cur.fetchone()
        except pymysql.Error as exc:
            raise self._query_error(exc, "checking the database") from None
        finally:
            conn.close()
        return f"{_product(version)}, database {database}"

    def crawl(self) -> Iterator[CrawledDataset]:
        import pymysql

        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(TABLES_SQL)
                tables = cur.fetchall()
                cur.execute(COLUMNS_SQL)
                column_rows = cur.fetchall()
                column_stats, cardinality = self._engine_independent_stats(cur)
                cur.execute(UNIQUE_KEYS_SQL)
                unique_keys = {(r[0], r[1]) for r in cur.fetchall()}
        except pymysql.Error as exc:
            raise self._query_error(exc, "reading information_schema") from None
        finally:
            conn.close()

        columns_by_table: dict[str, list[tuple[Any, ...]]] = {}
        for row in column_rows:
            columns_by_table.setdefault(row[0], []).append(row)

        for name, table_type, rows, data_length, index_length, updated, comment in tables:
            kind = _KINDS.get(table_type, "table")
            rows_estimate = int(rows) if rows is not None and kind == "table" else None
            table_rows = cardinality.get(name, rows_estimate)
            columns = []
            for _, column, column_type, is_nullable, column_comment in columns_by_table.get(
                name, []
            ):
                arrow = arrow_type_for(column_type)
                found = column_stats.get((name, column))
                stats = _column_stats(found, table_rows, arrow) if found else None
                if (
                    (name, column) in unique_keys
                    and table_rows is not None
                    and (stats is None or stats.distinct_count is None)
                ):
                    stats = (stats or ColumnStats()).model_copy(
                        update={"distinct_count": table_rows}
                    )
                columns.append(
                    CrawledColumn(
                        name=column,
                        type=arrow,
                        nullable=is_nullable == "YES",
                        description=column_comment or None,
                        stats=stats,
                    )
                )
            size = None
            if kind == "table" and data_length is not None:
                size = int(data_length) + int(index_length or 0)
            modified = updated.replace(tzinfo=UTC) if isinstance(updated, datetime) else None
            yield CrawledDataset(
                schema=self.target.database,
                name=name,
                columns=columns,
                kind=kind,
                description=None if kind == "view" and comment == "VIEW" else comment or None,
                row_count=rows_estimate,
                size_bytes=size,
                last_modified=modified,
                format="MySQL",
            )

    @staticmethod
    def _engine_independent_stats(
        cur: Any,
    ) -> tuple[dict[tuple[str, str], tuple[Any, ...]], dict[str, int]]:
        import pymysql

        try:
            cur.execute(COLUMN_STATS_SQL)
            stats = {(r[0], r[1]): r[2:] for r in cur.fetchall()}
        except pymysql.Error:  # not granted, or MySQL (no such table): no statistics
            return {}, {}
        cardinality: dict[str, int] = {}
        try:
            cur.execute(TABLE_STATS_SQL)
            cardinality = {r[0]: int(r[1]) for r in cur.fetchall() if r[1] is not None}
        except pymysql.Error:
            pass
        return stats, cardinality

    def sample(
        self, dataset: CrawledDataset, columns: list[str], limit: int = 100
    ) -> dict[str, list[str]]:
        import pymysql

        if not columns:
            return {}
        types = {c.name: c.type for c in dataset.columns}
        # Binary and spatial values are shown as hex (CAST would refuse or garble them).
        cols = ", ".join(
            f"HEX({_ident(c)})" if types.get(c) == "binary" else f"CAST({_ident(c)} AS CHAR)"
            for c in columns
        )
        query = (
            f"SELECT {cols} FROM {_ident(dataset.schema)}.{_ident(dataset.name)} LIMIT {int(limit)}"
        )
        conn = self._connect(read_timeout=SAMPLE_READ_TIMEOUT)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                rows = cur.fetchall()
        except pymysql.Error as exc:
            raise self._query_error(exc, f"sampling {dataset.schema}.{dataset.name}") from None
        finally:
            conn.close()
        return {
            c: [_text(r[i]) or "" for r in rows if r[i] is not None] for i, c in enumerate(columns)
        }

    def capabilities(self) -> Capabilities:
        return Capabilities(dialect="mysql", joins=True, aggregates=True, window_functions=True)

    def fetch(self, sql: str) -> pa.RecordBatchReader:
        """The result of one plain query, read in a read-only transaction, as Arrow.

        The statement is prepared first (which checks it and describes its columns without
        running it). With ``connectorx`` installed, the driver then reads the whole result
        into Arrow in native code and the batches are handed out from memory, so a result
        must fit in memory. Without it, over TLS (``?sslmode=``), for column types it does
        not carry exactly (JSON, spatial, NULL-typed, decimals with more than 10 places) and
        for values it cannot read (zero dates, ``TIME`` outside a day), the rows stream
        unbuffered through pymysql instead. Both give the same Arrow types.
        """
        import pymysql

        statement = sql.strip().rstrip(";").rstrip()
        if not _is_query(statement):
            # A read-only transaction does not stop DDL (it commits implicitly first) nor
            # SELECT ... INTO OUTFILE, so anything but a plain query is refused here.
            raise self.error(
                "only queries (SELECT, WITH, VALUES, TABLE) can be fetched from a source.",
                "Pushed-down fragments are read-only queries.",
            )
        # ?sslmode=disabled means no TLS at all (pymysql 1.2 otherwise tries it first).
        sslmode = self.target.sslmode
        tls: dict[str, Any] = {"ssl_disabled": True} if sslmode == "disabled" else {}
        # connectorx is given no TLS settings: with ?sslmode= asking for TLS, pymysql reads.
        if connectorx() is None or sslmode not in (None, "disabled"):
            return self._fetch_rows(self._connect(**tls), statement)
        pool_key = self._pool_key()
        for attempt in range(2):
            pooled = _PREPARING.take(pool_key)
            conn = pooled or self._connect(**tls)
            try:
                fields = _prepared_fields(conn, statement)
            except pymysql.err.OperationalError as exc:
                with contextlib.suppress(Exception):
                    conn.close()
                if pooled is not None and not attempt:
                    continue  # the server dropped the idle connection: a fresh one
                raise self._query_error(exc, "running the query") from None
            except pymysql.Error as exc:
                conn.close()
                raise self._query_error(exc, "running the query") from None
            except Exception:  # an unexpected answer: the connection may be out of step
                with contextlib.suppress(Exception):
                    conn.close()
                conn, fields = self._connect(**tls), None
            break
        if fields is not None and all(_connectorx_reads(f) for f in fields):
            # Only prepared, never run: nothing of the statement stays on the connection.
            _PREPARING.keep(pool_key, conn)
            reader = self._fetch_connectorx(statement, fields)
            if reader is not None:
                return reader
            conn = self._connect(**tls)
        return self._fetch_rows(conn, statement)

    def _pool_key(self) -> tuple[object, ...]:
        target = self.target
        return (target.host, target.port, target.database, target.user, self.password)

    # -- fetch() through connectorx -----------------------------------------------------------

    def _connectorx_url(self) -> str:
        """A URL for the driver, password included: built in memory, never shown."""
        target = self.target
        auth = quote(target.user, safe="") if target.user else ""
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        netloc = f"{auth}@{target.address}" if auth else target.address
        # prefer_socket=false: the driver would otherwise swap a loopback address for the
        # server's unix socket, which may belong to another server than the one named.
        return (
            f"mysql://{netloc}/{quote(target.database, safe='')}"
            f"?tcp_connect_timeout_ms={CONNECT_TIMEOUT * 1000}&prefer_socket=false"
        )

    def _fetch_connectorx(self, statement: str, fields: list[Any]) -> pa.RecordBatchReader | None:
        """The result read whole by connectorx, or None when the row path must read it."""
        import pyarrow as pa

        cx = connectorx()
        assert cx is not None
        names = [
            field_arrow_type(f.type_code, f.flags, f.length, f.scale, f.charsetnr) for f in fields
        ]
        schema = pa.schema(
            [pa.field(f.name, arrow_data_type(t)) for f, t in zip(fields, names, strict=True)]
        )
        try:
            table = cx.read_sql(
                self._connectorx_url(),
                statement,
                return_type="arrow",
                pre_execution_query=["SET SESSION time_zone = '+00:00'", _READ_ONLY],
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pyo3 panics derive from BaseException
            text = redact_secret(str(exc), self.password)
            if is_rust_panic(exc) or "decimal" in text.lower():
                return None  # a value it cannot convert: the row path reads (or refuses) it
            raise self._connectorx_error(text) from None
        if table.num_columns != len(fields):
            return None
        pending = deque(table.to_batches())
        del table

        def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
            arrays = [
                _from_connectorx(batch.column(i), name, field.type)
                for i, (name, field) in enumerate(zip(names, schema, strict=True))
            ]
            return pa.RecordBatch.from_arrays(arrays, schema=schema)

        def batches() -> Iterator[pa.RecordBatch]:
            while pending:
                try:
                    converted = convert(pending.popleft())
                except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError) as exc:
                    pending.clear()
                    raise self.error(
                        f"a value does not fit its Arrow column type ({exc}).",
                        "Cast the column in the query (e.g. to CHAR or a narrower DECIMAL).",
                    ) from None
                yield from rebatch([converted], FETCH_BATCH_ROWS)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _connectorx_error(self, text: str) -> Exception:
        if m := _CONNECTORX_SERVER_ERROR_RE.search(text):
            return self._query_error(Exception(int(m.group(1)), m.group(2)), "running the query")
        first = text.strip().splitlines()[0] if text.strip() else "unknown error"
        return self.error(f"reading the query's rows failed: {first}")

    # -- fetch() through pymysql --------------------------------------------------------------

    def _fetch_rows(self, conn: Any, statement: str) -> pa.RecordBatchReader:
        """Stream the result unbuffered through pymysql, converting rows in Python."""
        import pyarrow as pa
        import pymysql
        from pymysql.cursors import SSCursor

        try:
            cur = conn.cursor(SSCursor)
            cur.execute(_READ_ONLY)
            cur.execute(statement)
            fields = cur._result.fields if cur._result is not None else []
        except pymysql.Error as exc:
            conn.close()
            raise self._query_error(exc, "running the query") from None

        arrow_types = [
            field_arrow_type(f.type_code, f.flags, f.length, f.scale, f.charsetnr) for f in fields
        ]
        schema = pa.schema(
            [pa.field(f.name, arrow_data_type(t)) for f, t in zip(fields, arrow_types, strict=True)]
        )
        converters = [_CONVERTERS.get(t) for t in arrow_types]

        def batches() -> Iterator[pa.RecordBatch]:
            done = False
            try:
                while rows := cur.fetchmany(FETCH_BATCH_ROWS):
                    arrays = []
                    for i, (field, convert) in enumerate(zip(schema, converters, strict=True)):
                        values = [r[i] for r in rows]
                        if convert is not None:
                            values = [convert(v) for v in values]
                        arrays.append(pa.array(values, type=field.type))
                    yield pa.RecordBatch.from_arrays(arrays, schema=schema)
                done = True
            except pymysql.Error as exc:
                raise self._query_error(exc, "reading the query's rows") from None
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, ValueError) as exc:
                raise self.error(
                    f"a value does not fit its Arrow column type ({exc}).",
                    "Cast the column in the query (e.g. to CHAR or a narrower DECIMAL).",
                ) from None
            finally:
                if done:
                    cur.close()
                else:
                    _abandon(cur)
                with contextlib.suppress(Exception):
                    conn.close()

        return pa.RecordBatchReader.from_batches(schema, batches())


_READ_ONLY = "START TRANSACTION READ ONLY"
_CONNECTORX_SERVER_ERROR_RE = re.compile(r"ERROR (\d+) \([0-9A-Z]+\): (.*?)\s*\}?\s*$", re.S)
# Result-set field types connectorx reads (JSON values it re-serialises; NULL, SET, spatial
# and the internal NEWDATE types it cannot read at all).
_CONNECTORX_TYPES = frozenset(
    {_DECIMAL, _TINY, _SHORT, _LONG, _FLOAT, _DOUBLE, _TIMESTAMP, _LONGLONG, _INT24, _DATE}
    | {_TIME, _DATETIME, _YEAR, _VARCHAR, _BIT, _NEWDECIMAL, _ENUM, *_BLOBS, 253, 254}
)
# connectorx carries every decimal as decimal128(38, 10): more places would be rounded.
_CONNECTORX_MAX_SCALE = 10


def _connectorx_reads(field: Any) -> bool:
    """Whether connectorx reads a result column exactly (its values aside)."""
    if field.type_code not in _CONNECTORX_TYPES:
        return False
    return field.type_code not in (_DECIMAL, _NEWDECIMAL) or field.scale <= _CONNECTORX_MAX_SCALE


def _from_connectorx(values: pa.Array, name: str, target: pa.DataType) -> pa.Array:
    """A column as connectorx returns it, in the type the crawl reports."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if values.type == target:
        return values
    binary = pa.types.is_binary(values.type) or pa.types.is_large_binary(values.type)
    if name == "bool" and binary:  # bit(1)
        return pc.not_equal(values, pa.scalar(b"\x00", values.type))
    if name == "uint64" and binary:  # bit(n)
        return map_values(values, target, _bits)
    if name == "string" and binary:
        try:
            return values.cast(target)
        except pa.ArrowInvalid:  # not UTF-8: decoded leniently, as the row path does
            return map_values(values, target, _text)
    return values.cast(target)


def _prepared_fields(conn: Any, statement: str) -> list[Any]:
    """The result columns of ``statement``, from the server preparing it (not running it).

    pymysql has no prepared statements, so this speaks the protocol's ``COM_STMT_PREPARE``
    and ``COM_STMT_CLOSE`` on its connection. Raises the server's error as pymysql does.
    """
    from pymysql.constants import COMMAND
    from pymysql.protocol import FieldDescriptorPacket

    conn._execute_command(COMMAND.COM_STMT_PREPARE, statement)
    head = conn._read_packet().get_all_data()
    statement_id, columns, params = struct.unpack_from("<IHH", head, 1)
    for _ in range(params + (1 if params else 0)):  # parameter definitions, then EOF
        conn._read_packet()
    fields = [conn._read_packet(FieldDescriptorPacket) for _ in range(columns)]
    if columns:
        conn._read_packet()  # EOF
    conn._execute_command(COMMAND.COM_STMT_CLOSE, struct.pack("<I", statement_id))
    return fields


def _column_stats(found: tuple[Any, ...], table_rows: int | None, arrow: str) -> ColumnStats:
    min_value, max_value, nulls_ratio, avg_frequency = found
    null_fraction = _number(nulls_ratio)
    distinct = None
    frequency = _number(avg_frequency)
    if table_rows is not None and frequency:
        distinct = max(0, round(table_rows * (1 - (null_fraction or 0)) / frequency))
    keep_bounds = arrow != "binary"
    return ColumnStats(
        null_fraction=null_fraction,
        distinct_count=distinct,
        min=_stat_text(min_value) if keep_bounds else None,
        max=_stat_text(max_value) if keep_bounds else None,
    )


_LEADING_NOISE_RE = re.compile(
    r"(?:\s+|\(|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|/\*(?![!M])[\s\S]*?\*/)*"
)
_QUERY_START_RE = re.compile(r"(?i)(select|with|values|table)\b")
_WRITES_FILE_RE = re.compile(r"(?i)\binto\s+(?:outfile|dumpfile)\b")


def _is_query(statement: str) -> bool:
    """Whether ``statement`` is a plain query (comments and parentheses aside).

    MySQL runs the text of ``/*! ... */`` comments, so those are not skipped over.
    """
    start = _LEADING_NOISE_RE.match(statement)
    rest = statement[start.end() if start else 0 :]
    return bool(_QUERY_START_RE.match(rest)) and not _WRITES_FILE_RE.search(statement)


def _abandon(cursor: Any) -> None:
    """Forget an unbuffered result that was not read to the end.

    pymysql would otherwise read (and throw away) every remaining row when the cursor is
    closed or collected; closing the connection instead makes the server stop sending.
    """
    result = getattr(cursor, "_result", None)
    if result is not None:
        result.unbuffered_active = False
    cursor.connection = None


# Connections that only ever prepared statements (to learn a result's columns before
# connectorx reads it) wait for the next fetch; one that ran a statement is never kept.
_PREPARING = IdleConnections()


@functools.cache
def _ssl_context(mode: str) -> ssl.SSLContext:
    # Loading the system's CA store takes ~20 ms; one context serves every connection.
    context = ssl.create_default_context()
    if mode in ("required", "preferred"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif mode == "verify_ca":
        context.check_hostname = False
    return context


@functools.cache
def _connection_class() -> type:
    """pymysql's connection, reusing one TLS context for the TLS it tries by default
    instead of building a new one (and loading the CA store) for every connection."""
    import pymysql

    class Connection(pymysql.connections.Connection):  # type: ignore[misc]
        def _create_ssl_ctx(self, sslp: Any) -> Any:
            if sslp == {}:  # no TLS settings given: pymysql's opportunistic attempt
                return _ssl_context("preferred")
            return super()._create_ssl_ctx(sslp)

    return Connection


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _major(version: str) -> int:
    m = re.match(r"(\d+)", version)
    return int(m.group(1)) if m else 0


def _product(version: str) -> str:
    """``10.11.6-MariaDB-0+deb12u1`` -> ``MariaDB 10.11.6``; ``8.0.36`` -> ``MySQL 8.0.36``."""
    number = re.match(r"[\d.]+", version)
    plain = number.group(0).rstrip(".") if number else version
    # MariaDB 10.x in replication-compatible mode reports "5.5.5-10.11.6-MariaDB".
    if m := re.match(r"5\.5\.5-([\d.]+)", version):
        plain = m.group(1)
    return f"{'MariaDB' if 'mariadb' in version.lower() else 'MySQL'} {plain}"


__all__ = [
    "MySQLConnector",
    "MySQLTarget",
    "arrow_type_for",
    "field_arrow_type",
    "parse_mysql_url",
]
