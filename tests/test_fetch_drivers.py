"""fetch() through the columnar drivers (ADBC for PostgreSQL, connectorx for MySQL) and
through the row-by-row fallback: the same Arrow types (the crawl's), the same values.

Every test that takes ``path`` runs twice: ``fast`` with the drivers installed (and checks
that they were used), ``rows`` as if they were not installed.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg.conninfo import make_conninfo

from guajie.catalog.connectors import Connector, open_connector
from guajie.catalog.connectors import mysql as mysql_module
from guajie.catalog.connectors import postgres as postgres_module
from guajie.catalog.connectors.arrow_drivers import (
    numeric_text_to_decimal,
    optional_module,
    rebatch,
    redact_secret,
)
from guajie.catalog.errors import SourceError
from guajie.catalog.models import Source
from tests.support.servers import MariaDBServer, PostgresServer

pytestmark = pytest.mark.servers

TEST_DB = "guajie_fetch_tests"
WRONG_PASSWORD = "not-the-password-9d2c"
BATCH_ROWS = 10_000

PG_SETUP = """
CREATE SCHEMA f;
CREATE TYPE f.mood AS ENUM ('happy', 'sad');
CREATE DOMAIN f.amount AS numeric(14, 2);
CREATE TABLE f.everything (
    id bigint PRIMARY KEY,
    i2 smallint,
    i4 integer,
    f4 real,
    f8 double precision,
    n122 numeric(12, 2),
    dom f.amount,
    raw numeric,
    wide numeric(50, 5),
    huge numeric(100, 2),
    b boolean,
    d date,
    ts timestamp,
    tstz timestamptz,
    tm time,
    tmtz timetz,
    iv interval,
    name text,
    code char(6),
    vc varchar(20),
    nm name,
    ch "char",
    mood f.mood,
    js jsonb,
    j json,
    ba bytea,
    u uuid,
    ip inet,
    net cidr,
    mac macaddr,
    mo money,
    bits bit(4),
    x xml,
    o oid,
    tags text[],
    ints int[],
    codes char(3)[],
    uuids uuid[],
    moods f.mood[]
);
INSERT INTO f.everything VALUES
(1, -2, 3, 1.5, 2.25, 10.25, 1.50, 1.0 / 7, 123456789012345678901234567890123.12345,
 12345.67, true, '2024-02-29', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05+08',
 '06:01:02.5', '06:01+08', '1 year 2 mons 3 days 25:00:01.5', '居民甲 张三', 'ab', '福州市',
 'nm', 'z', 'happy', '{"城市": "福州", "n": 1}', '{"n":  1}', '\\xdeadbeef',
 'c4ca4238-a0b9-2382-0dcc-509a6f75849b', '10.0.0.1', '10.1.0.0/16', '08:00:2b:01:02:03',
 1234.5, B'1010', '<a>福</a>', 42, ARRAY['甲', NULL, 'c d'], ARRAY[1, NULL, 3],
 ARRAY['a', 'bb '], ARRAY['c4ca4238-a0b9-2382-0dcc-509a6f75849b'::uuid], ARRAY['sad'::f.mood]),
(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
(3, 32767, -2147483648, '-Infinity', 'NaN', -9999999999.99, -0.01, 'NaN', -0.00001,
 -1, false, '0001-01-01', '1970-01-01 00:00:00', '1999-12-31 23:59:59.999999+00',
 '23:59:59.999999', '00:00-12', '-1 year -2 mons +3 days -04:05:06.5', '', '      ', ' x ',
 '', ' ', 'sad', '[]', 'null', '\\x', '00000000-0000-0000-0000-000000000000', '::1',
 '::/0', '00:00:00:00:00:00', -0.01, B'0000', '', 4294967295, ARRAY[]::text[], ARRAY[]::int[],
 ARRAY[NULL, '   ']::char(3)[], ARRAY[]::uuid[], ARRAY[]::f.mood[]);
CREATE TABLE f.wide_rows AS
SELECT g AS n, md5(g::text) AS s, (g * 1.25)::numeric(12, 2) AS amount,
       date '2020-01-01' + g % 1000 AS day
FROM generate_series(1, 200000) AS g;
ANALYZE f.everything, f.wide_rows;
"""

MY_SETUP = [
    """
    CREATE TABLE everything (
        id bigint unsigned PRIMARY KEY,
        flag boolean,
        t tinyint,
        tu tinyint unsigned,
        s smallint,
        su smallint unsigned,
        m mediumint,
        i int,
        iu int unsigned,
        big bigint,
        f float,
        d double,
        dec2 decimal(12, 2),
        dec0 decimal(10, 0),
        dec_wide decimal(30, 10),
        dt date,
        dtm datetime(6),
        ts timestamp NULL,
        tm time,
        yr year,
        name varchar(50),
        code char(6),
        memo text,
        e enum('a', 'b'),
        st set('r', 'w'),
        js json,
        bin binary(4),
        vbin varbinary(8),
        bl blob,
        bit1 bit(1),
        bit12 bit(12)
    )
    """,
    """
    INSERT INTO everything VALUES
    (18446744073709551615, 1, -128, 255, -32768, 65535, -8388608, -2147483648, 4294967295,
     -9223372036854775808, 1.5, 2.25, -9999999999.99, 1234567890, 12345678.0123456789,
     '2024-02-29', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05', '23:59:59', 2024,
     '居民甲 张三', 'ab', '福州市鼓楼区', 'b', 'r,w', '{"城市": "福州",  "n": 1}',
     x'00010203', x'ff', x'c4ca', b'1', b'101010101010'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL),
    (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.5, 1e300, 0.01, -1, -0.0000000001,
     '1000-01-01', '1970-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00', 1901,
     '', '', '', 'a', '', '[]', x'00000000', x'', x'', b'0', b'0')
    """,
    "CREATE TABLE fine (id int PRIMARY KEY, fine decimal(20, 12), huge decimal(65, 30), geo point)",
    """
    INSERT INTO fine VALUES
    (1, 12345678.123456789012, 12345678901234567890123456789012345.123456789012345678901234567890,
     POINT(1, 2)),
    (2, NULL, NULL, NULL)
    """,
    "CREATE TABLE zeros (id int PRIMARY KEY, d date, dtm datetime)",
    "SET SESSION sql_mode = ''",
    "INSERT INTO zeros VALUES (1, '0000-00-00', '0000-00-00 00:00:00'), (2, '2024-01-01', NULL)",
]


# --------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class Db:
    kind: str  # "postgresql" | "mysql"
    server: PostgresServer | MariaDBServer
    url: str

    def source(self) -> Source:
        return Source(
            name=f"fetch_{'pg' if self.kind == 'postgresql' else 'my'}",
            kind=self.kind,
            url=self.url,
            password_env=self.server.env_var_name,
        )

    def connector(self) -> Connector:
        return open_connector(self.source())


@pytest.fixture(scope="module")
def pg(postgres_server: PostgresServer) -> Iterator[Db]:
    server = postgres_server
    admin = make_conninfo(server.admin_conninfo)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
        conn.execute(f'CREATE DATABASE {TEST_DB} OWNER "{server.user}"')
    with psycopg.connect(make_conninfo(server.conninfo, dbname=TEST_DB), autocommit=True) as conn:
        conn.execute(PG_SETUP)
    yield Db(
        "postgresql", server, f"postgresql://{server.user}@{server.host}:{server.port}/{TEST_DB}"
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")


@pytest.fixture(scope="module")
def my(mariadb_server: MariaDBServer) -> Iterator[Db]:
    server = mariadb_server
    with server.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")
        cur.execute(f"CREATE DATABASE {TEST_DB} CHARACTER SET utf8mb4")
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"USE {TEST_DB}")
        for statement in MY_SETUP:
            cur.execute(statement)
    yield Db("mysql", server, f"mysql://{server.user}@{server.host}:{server.port}/{TEST_DB}")
    with server.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")


@pytest.fixture(params=["fast", "rows"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``rows``: as if adbc-driver-postgresql and connectorx were not installed."""
    if request.param == "rows":
        monkeypatch.setattr(postgres_module, "adbc_postgresql", lambda: None)
        monkeypatch.setattr(mysql_module, "connectorx", lambda: None)
    return str(request.param)


@pytest.fixture
def fast_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if fetch() falls back to the row path."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("fetch() used the row path")

    monkeypatch.setattr(postgres_module.PostgresConnector, "_fetch_rows", refuse)
    monkeypatch.setattr(mysql_module.MySQLConnector, "_fetch_rows", refuse)


@pytest.fixture(scope="module")
def pg_types(pg: Db) -> dict[str, str]:
    crawled = {d.key: d for d in pg.connector().crawl()}
    return {c.name: c.type for c in crawled["f", "everything"].columns}


@pytest.fixture(scope="module")
def my_crawl(my: Db) -> dict[str, dict[str, str]]:
    return {d.name: {c.name: c.type for c in d.columns} for d in my.connector().crawl()}


def _fetch(db: Db, sql: str) -> pa.Table:
    return db.connector().fetch(sql).read_all()


def _types(table: pa.Table) -> dict[str, str]:
    return {f.name: str(f.type) for f in table.schema}


def _rows_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres_module, "adbc_postgresql", lambda: None)
    monkeypatch.setattr(mysql_module, "connectorx", lambda: None)


# --------------------------------------------------------------------------------------------
# PostgreSQL


def test_pg_every_type_matches_the_crawl(
    pg: Db, pg_types: dict[str, str], path: str, request: pytest.FixtureRequest
) -> None:
    if path == "fast":
        request.getfixturevalue("fast_only")
    table = _fetch(pg, "SELECT * FROM f.everything ORDER BY id")
    assert _types(table) == pg_types
    assert table.num_rows == 3
    assert all(v is None for k, v in table.to_pylist()[1].items() if k != "id")  # NULLs


def test_pg_values(pg: Db, path: str) -> None:
    first, _, third = _fetch(pg, "SELECT * FROM f.everything ORDER BY id").to_pylist()
    assert (first["i2"], first["i4"], first["f4"], first["f8"]) == (-2, 3, 1.5, 2.25)
    assert first["n122"] == Decimal("10.25") and first["dom"] == Decimal("1.50")
    assert first["raw"] == Decimal("0.1428571429")  # rounded to the declared 10 places
    assert first["wide"] == Decimal("123456789012345678901234567890123.12345")
    assert first["huge"] == "12345.67"  # beyond decimal256: PostgreSQL's own text
    assert first["d"] == date(2024, 2, 29)
    assert first["ts"] == datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert first["tstz"].isoformat() == "2024-01-01T19:04:05+00:00"
    assert first["tm"] == dtime(6, 1, 2, 500000) and first["tmtz"] == "06:01:00+08"
    # A month counts 30 days, a year 365; then normalised like datetime.timedelta.
    assert first["iv"] == pa.MonthDayNano([0, 365 + 60 + 3 + 1, 3_601_500_000_000])
    assert third["iv"] == pa.MonthDayNano([0, -423, 71_693_500_000_000])
    assert first["name"] == "居民甲 张三" and first["vc"] == "福州市"
    assert first["code"] == "ab" and third["code"] == ""  # char(n) padding dropped
    assert third["vc"] == " x "  # varchar keeps its spaces
    assert (first["nm"], first["ch"], first["mood"]) == ("nm", "z", "happy")
    assert first["js"] == '{"n": 1, "城市": "福州"}' and first["j"] == '{"n":  1}'
    assert first["ba"] == bytes.fromhex("deadbeef") and third["ba"] == b""
    assert first["u"] == "c4ca4238-a0b9-2382-0dcc-509a6f75849b"
    assert (first["ip"], first["net"], third["ip"]) == ("10.0.0.1", "10.1.0.0/16", "::1")
    assert (first["mac"], first["mo"], first["bits"]) == ("08:00:2b:01:02:03", "$1,234.50", "1010")
    assert first["x"] == "<a>福</a>"
    assert (first["o"], third["o"]) == (42, 4294967295)
    assert first["tags"] == ["甲", None, "c d"] and first["ints"] == [1, None, 3]
    assert first["codes"] == ["a", "bb"] and third["codes"] == [None, ""]
    assert first["uuids"] == ["c4ca4238-a0b9-2382-0dcc-509a6f75849b"]
    assert first["moods"] == ["sad"] and third["moods"] == []
    assert third["raw"] is None  # numeric NaN
    assert math.isnan(third["f8"]) and third["f4"] == float("-inf")
    assert third["n122"] == Decimal("-9999999999.99") and third["dom"] == Decimal("-0.01")
    assert third["wide"] == Decimal("-0.00001") and third["huge"] == "-1.00"
    assert third["d"] == date(1, 1, 1)


def test_pg_both_paths_agree(pg: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = "SELECT * FROM f.everything ORDER BY id"
    fast = _fetch(pg, sql)
    _rows_path(monkeypatch)
    rows = _fetch(pg, sql)
    assert fast.schema == rows.schema
    assert repr(fast.to_pylist()) == repr(rows.to_pylist())  # NaN included


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1.0 / 3", Decimal("0.3333333333")),
        ("2.00000000015::numeric", Decimal("2.0000000002")),  # half to even, as before
        ("2.00000000025::numeric", Decimal("2.0000000002")),
        ("-2.00000000015::numeric", Decimal("-2.0000000002")),
        ("1e-30::numeric", Decimal("0E-10")),
        ("123456789012345678.12345678901::numeric", Decimal("123456789012345678.1234567890")),
        ("'NaN'::numeric", None),
        ("'Infinity'::numeric", None),
        ("0.1::numeric ^ 60", Decimal("0E-10")),  # more places than a wide decimal holds
    ],
)
def test_pg_unconstrained_numeric(pg: Db, path: str, expression: str, expected: Any) -> None:
    table = _fetch(pg, f"SELECT {expression} AS v")
    assert str(table.schema.field("v").type) == "decimal128(38, 10)"
    assert table.column("v").to_pylist() == [expected]


def test_pg_aggregates_and_expressions(pg: Db, path: str) -> None:
    table = _fetch(
        pg,
        "SELECT count(*) AS n, sum(amount) AS total, avg(amount) AS mean, "
        "max(amount) AS top, sum(n) AS ns, min(day) AS first_day, "
        "sum(amount)::numeric(20, 2) AS total2 FROM f.wide_rows",
    )
    assert _types(table) == {
        "n": "int64",
        "total": "decimal128(38, 10)",
        "mean": "decimal128(38, 10)",
        "top": "decimal128(38, 10)",  # max() of a numeric(12, 2) has no declared scale
        "ns": "int64",  # sum(integer) is a bigint
        "first_day": "date32[day]",
        "total2": "decimal128(20, 2)",
    }
    row = table.to_pylist()[0]
    total = Decimal("1.25") * 200000 * 200001 / 2
    assert row["n"] == 200000 and row["total"] == total and row["total2"] == total
    assert row["mean"] == (total / 200000).quantize(Decimal("1e-10"))
    assert row["top"] == Decimal("250000.00") and row["first_day"] == date(2020, 1, 1)


def test_pg_empty_result_keeps_the_schema(pg: Db, pg_types: dict[str, str], path: str) -> None:
    reader = pg.connector().fetch("SELECT * FROM f.everything WHERE false")
    assert {f.name: str(f.type) for f in reader.schema} == pg_types
    assert reader.read_all().num_rows == 0


def test_pg_large_result_streams_in_batches(pg: Db, path: str) -> None:
    reader = pg.connector().fetch("SELECT n, s, amount, day FROM f.wide_rows ORDER BY n")
    assert str(reader.schema) == "n: int32\ns: string\namount: decimal128(12, 2)\nday: date32[day]"
    sizes = []
    total = 0
    for batch in reader:
        sizes.append(batch.num_rows)
        total += sum(batch.column("n").to_pylist())
    assert sum(sizes) == 200000 and total == 200000 * 200001 // 2
    assert len(sizes) >= 20 and max(sizes) <= BATCH_ROWS


def test_pg_stopped_early_releases_the_connection(pg: Db, path: str) -> None:
    reader = pg.connector().fetch("SELECT a.n, b.s FROM f.wide_rows a, f.wide_rows b")
    assert reader.read_next_batch().num_rows > 0
    reader.close()
    del reader
    conninfo = make_conninfo(pg.server.admin_conninfo, dbname=TEST_DB)

    def others() -> int:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND pid <> pg_backend_pid() AND state <> 'idle'",
                (TEST_DB,),
            ).fetchone()
        return int(row[0]) if row else 0

    deadline = time.monotonic() + 10
    while others():
        assert time.monotonic() < deadline, "the query kept running"
        time.sleep(0.1)


def test_pg_connections_are_reused_without_what_a_statement_changed(
    pg: Db, fast_only: None
) -> None:
    """A connection that finished a fetch serves the next one, in a new read-only
    transaction at UTC: a setting or a session lock taken by the first is gone."""
    first = _fetch(
        pg,
        "SELECT pg_backend_pid() AS pid, set_config('TimeZone', 'Asia/Shanghai', false) AS tz, "
        "set_config('work_mem', '77MB', false) AS w, pg_try_advisory_lock(4242) AS locked",
    ).to_pylist()[0]
    second = _fetch(
        pg,
        "SELECT pg_backend_pid() AS pid, current_setting('TimeZone') AS tz, "
        "current_setting('work_mem') AS w, current_setting('transaction_read_only') AS ro",
    ).to_pylist()[0]
    assert first["locked"] and first["w"] == "77MB"
    assert second["pid"] == first["pid"]  # the same server process: no new login
    assert (second["tz"], second["ro"]) == ("UTC", "on") and second["w"] != "77MB"
    conninfo = make_conninfo(pg.server.admin_conninfo, dbname=TEST_DB)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(4242)").fetchone()
        assert row is not None and row[0], "the session lock outlived its fetch"


def test_pg_a_pooled_connection_the_server_dropped_is_replaced(pg: Db, fast_only: None) -> None:
    pid = _fetch(pg, "SELECT pg_backend_pid() AS pid").column("pid")[0].as_py()
    conninfo = make_conninfo(pg.server.admin_conninfo, dbname=TEST_DB)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    again = _fetch(pg, "SELECT pg_backend_pid() AS pid").column("pid")[0].as_py()
    assert again != pid


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT 1 AS a, 2 AS a, \'x\' AS "odd ""name""", 3',  # duplicate and odd names
        "SELECT u, 1 AS a, u FROM f.everything WHERE id = 1 -- a trailing comment",
        "  /* lead */ (SELECT u, ip FROM f.everything WHERE id = 1)",
        "WITH w AS (SELECT u FROM f.everything) SELECT count(u) FROM w",
        "VALUES (1, 'a'::char(3))",
        "TABLE f.wide_rows LIMIT 2",
    ],
)
def test_pg_query_shapes(pg: Db, sql: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = _fetch(pg, sql)
    _rows_path(monkeypatch)
    rows = _fetch(pg, sql)
    assert fast.schema == rows.schema and fast.to_pylist() == rows.to_pylist()
    assert fast.num_rows >= 1


def test_pg_types_the_driver_cannot_type_use_the_row_path(pg: Db) -> None:
    table = _fetch(
        pg,
        "SELECT int4range(1, 5) AS r, ARRAY[1.5, 2.25]::numeric(4, 2)[] AS nums, "
        "ARRAY['10.0.0.1'::inet] AS ips, '[2:3]={7,8}'::int[] AS shifted",
    )
    assert _types(table) == {
        "r": "string",
        "nums": "list<item: decimal128(4, 2)>",
        "ips": "list<item: string>",
        "shifted": "list<item: int32>",
    }
    assert table.to_pylist() == [
        {
            "r": "[1,5)",
            "nums": [Decimal("1.50"), Decimal("2.25")],
            "ips": ["10.0.0.1"],
            "shifted": [7, 8],
        }
    ]


def test_pg_a_type_created_later_is_read_exactly(pg: Db, path: str) -> None:
    _fetch(pg, "SELECT 1 AS warm")  # the driver has loaded the type catalogue by now
    conninfo = make_conninfo(pg.server.conninfo, dbname=TEST_DB)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TYPE IF EXISTS f.later")
        conn.execute("CREATE TYPE f.later AS ENUM ('x', 'y')")
    sql = "SELECT 'y'::f.later AS one, ARRAY['x', 'y']::f.later[] AS many"
    for _ in range(2):
        table = _fetch(pg, sql)
        assert _types(table) == {"one": "string", "many": "list<item: string>"}
        assert table.to_pylist() == [{"one": "y", "many": ["x", "y"]}]


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT ARRAY[[1, 2], [3, 4]] AS m", "does not fit"),
        ("SELECT 'infinity'::date AS d", "does not fit|too large"),
        ("SELECT '-infinity'::timestamp AS t", "does not fit|too small"),
        ("SELECT 1 / (g - 15000) AS x FROM generate_series(1, 20000) g", "division by zero"),
    ],
)
def test_pg_values_that_cannot_be_read(pg: Db, path: str, sql: str, problem: str) -> None:
    with pytest.raises(SourceError, match=problem) as info:
        _fetch(pg, sql)
    assert str(info.value).startswith("Source 'fetch_pg': ")


# --------------------------------------------------------------------------------------------
# PostgreSQL: whole results packed into one row (fetch_table)

PACKABLE = """
SELECT g::int2 AS i2, g AS i4, g::int8 * 3000000000 AS i8, g / 3.0::float4 AS f4,
       CASE g % 4 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN '-Infinity' ELSE g / 7.0 END AS f8,
       g % 3 = 0 AS b, date '0001-01-01' + (g + 5000) * 70 AS d,
       timestamp '1900-01-01 00:00:00.000001' + g * interval '1 day 1 second' AS ts,
       timestamptz '2024-01-02 03:04:05+08' - g * interval '1 hour' AS tstz,
       (g * -1.25)::numeric(12, 2) AS n122, (g::int8 * 100000000000003)::numeric(18, 0) AS n180,
       (g / 1e18)::numeric(18, 18) AS n1818
FROM generate_series(-5000, 5000) AS g
"""


@pytest.fixture
def packed(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Pack results of any size; records, per packed fetch, whether its rows unpacked."""
    from guajie.catalog.connectors import postgres_packed

    monkeypatch.setattr(postgres_packed, "PACKED_MIN_ROWS", 1)
    monkeypatch.setattr(postgres_packed, "PACKED_MAX_COLUMNS", 20)
    unpacked: list[bool] = []
    unpack = postgres_module.unpack

    def spy(row: Any, columns: Any) -> pa.Table | None:
        table = unpack(row, columns)
        unpacked.append(table is not None)
        return table

    monkeypatch.setattr(postgres_module, "unpack", spy)
    return unpacked


def _nan_free(value: Any) -> Any:
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


def _whole(
    db: Db, sql: str, not_null: Any, rows: int | None = 100_000, types: Any = None
) -> pa.Table:
    """fetch_table() told the result's types (by default as fetch() gives them)."""
    connector = db.connector()
    try:
        types = types or _types(connector.fetch(sql).read_all())
        return connector.fetch_table(sql, types=types, not_null=not_null, expected_rows=rows)
    finally:
        connector.close()


def test_pg_packed_results_equal_the_streamed_ones(pg: Db, packed: list[bool]) -> None:
    expected = _fetch(pg, PACKABLE)
    table = _whole(pg, PACKABLE, expected.column_names)
    assert packed == [True]
    assert table.schema == expected.schema
    for name in expected.column_names:  # NaN as NaN (Arrow's equals() tells them apart)
        got, want = table.column(name).to_pylist(), expected.column(name).to_pylist()
        assert [_nan_free(v) for v in got] == [_nan_free(v) for v in want], name
    assert str(table.schema.field("n122").type) == "decimal128(12, 2)"
    assert table.num_rows == 10_001 and table.column("f8").null_count == 0  # NaN is no NULL


def test_pg_packed_extremes(pg: Db, packed: list[bool]) -> None:
    """Each type's ends come through the byte swaps and shifts unchanged."""
    sql = """
    SELECT * FROM (VALUES
        ('-32768'::int2, '-2147483648'::int4, '-9223372036854775808'::int8,
         '-Infinity'::float8, '-999999999999999999'::numeric(18, 0),
         '-0.999999999999999999'::numeric(18, 18), date '0001-01-01',
         timestamp '0001-01-01 00:00:00', false),
        (32767::int2, 2147483647::int4, 9223372036854775807::int8, 'Infinity'::float8,
         999999999999999999::numeric(18, 0), 0.999999999999999999::numeric(18, 18),
         date '9999-12-31', timestamp '9999-12-31 23:59:59.999999', true),
        (0::int2, 0, 0, '-0'::float8, 0::numeric(18, 0), 0::numeric(18, 18),
         date '2000-01-01', timestamp '2000-01-01 00:00:00', true)
    ) AS v(a, b, c, d, e, f, g, h, i)
    """
    expected = _fetch(pg, sql)
    for columns in (["a", "b", "c"], ["d", "e", "f"], ["g", "h", "i"]):
        part = f"SELECT {', '.join(columns)} FROM ({sql}) AS x"
        table = _whole(pg, part, columns)
        assert table.to_pylist() == expected.select(columns).to_pylist(), columns
    assert packed == [True, True, True]


def test_pg_packed_fetch_only_where_it_pays(pg: Db, packed: list[bool], monkeypatch) -> None:
    from guajie.catalog.connectors import postgres_packed

    tried: list[str] = []
    attempt = postgres_module.PostgresConnector._fetch_packed
    monkeypatch.setattr(
        postgres_module.PostgresConnector,
        "_fetch_packed",
        lambda self, statement, *a, **k: (
            tried.append(statement) or attempt(self, statement, *a, **k)
        ),
    )
    numbers = "SELECT n, amount, day FROM f.wide_rows"
    with_text = "SELECT n, s FROM f.wide_rows"
    assert _whole(pg, with_text, ["n", "s"]).equals(_fetch(pg, with_text))
    assert _whole(pg, numbers, ["n", "amount"]).equals(_fetch(pg, numbers))  # day: NULLs?
    assert _whole(pg, numbers, ["n", "amount", "day"], rows=None).num_rows == 200_000
    # Text, a column that may hold NULL, no estimate: the usual fetch, without a round
    # trip to learn so.
    assert packed == [] and tried == []
    monkeypatch.setattr(postgres_packed, "PACKED_MAX_BYTES", 1000)
    assert _whole(pg, numbers, ["n", "amount", "day"]).num_rows == 200_000
    assert packed == [] and tried == []
    monkeypatch.setattr(postgres_packed, "PACKED_MAX_BYTES", 10**9)
    # The catalog's types out of date (text now): found out by the server, fetched as usual.
    assert _whole(pg, with_text, ["n", "s"], types={"n": "int32", "s": "int64"}).num_rows
    assert packed == [] and tried == [with_text]
    table = _whole(pg, numbers, ["n", "amount", "day"])
    assert packed == [True] and table.equals(_fetch(pg, numbers))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT NULLIF(g % 5000, 7) AS n FROM generate_series(1, 5000) g",  # NULL after all
        "SELECT CASE WHEN g = 9 THEN 'NaN'::numeric ELSE g END::numeric(8, 2) AS n "
        "FROM generate_series(1, 50) g",  # NaN: no bigint holds it
    ],
)
def test_pg_packed_fetch_gives_way_to_the_usual_one(pg: Db, packed: list[bool], sql: str) -> None:
    table = _whole(pg, sql, ["n"])
    assert table.equals(_fetch(pg, sql)) and table.column("n").null_count == 1
    assert packed in ([False], [])  # unpacked as NULL-free, or refused by the server
    assert _whole(pg, "SELECT 1::int8 AS n", ["n"]).to_pylist() == [{"n": 1}]  # still usable


def test_pg_packed_fetch_reports_what_the_usual_one_reports(pg: Db, packed: list[bool]) -> None:
    for sql, kind in (
        ("SELECT 'infinity'::date AS d", "date32[day]"),
        ("SELECT '-infinity'::timestamp AS d", "timestamp[us]"),
    ):
        with pytest.raises(SourceError, match="does not fit") as info:
            _whole(pg, sql, ["d"], types={"d": kind})
        assert str(info.value).startswith("Source 'fetch_pg': ")
    assert packed == [False, False]
    with pytest.raises(SourceError, match="division by zero"):
        _whole(pg, "SELECT 1 / (g - 15) AS x FROM generate_series(1, 20) g", ["x"])
    empty = _whole(pg, "SELECT n, day FROM f.wide_rows WHERE false", ["n", "day"])
    assert empty.num_rows == 0 and _types(empty) == {"n": "int32", "day": "date32[day]"}


def test_pg_a_slice_runs_without_parallel_workers(pg: Db, path: str) -> None:
    """Slices fetched side by side keep the server's cores busy already; a parallel plan
    of one slice could have every worker scan it again."""
    sql = "SELECT current_setting('max_parallel_workers_per_gather') AS w"
    connector = pg.connector()
    try:
        alone = connector.fetch_table(sql).column("w").to_pylist()
        sliced = connector.fetch_table(sql, sliced=True).column("w").to_pylist()
        after = connector.fetch(sql).read_all().column("w").to_pylist()  # not kept
    finally:
        connector.close()
    assert sliced == ["0"] and alone == after and alone != ["0"]


def test_pg_is_read_only(pg: Db, path: str) -> None:
    with pytest.raises(SourceError, match=r"read-only transaction|data-modifying"):
        _fetch(pg, "WITH gone AS (DELETE FROM f.wide_rows RETURNING n) SELECT n FROM gone")
    with pytest.raises(SourceError, match=r"read-only transaction|FOR UPDATE"):
        _fetch(pg, "SELECT n FROM f.wide_rows LIMIT 1 FOR UPDATE")
    with pytest.raises(SourceError, match="only queries"):
        pg.connector().fetch("DELETE FROM f.wide_rows")
    assert _fetch(pg, "SELECT count(*) AS n FROM f.wide_rows").column("n").to_pylist() == [200000]


def test_pg_bad_sql_is_a_clean_source_error(pg: Db, path: str) -> None:
    with pytest.raises(SourceError) as info:
        pg.connector().fetch("SELECT * FROM f.no_such_table")
    text = str(info.value)
    assert text.startswith("Source 'fetch_pg': running the query failed: ")
    assert 'relation "f.no_such_table" does not exist' in text
    assert pg.server.password not in text


def test_pg_wrong_password_is_clean_and_secret_free(
    pg: Db, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pg.server.env_var_name, WRONG_PASSWORD)
    with pytest.raises(SourceError) as info:
        pg.connector().fetch("SELECT 1 AS x")
    text = str(info.value)
    assert text.startswith("Source 'fetch_pg': authentication failed for user guajie")
    assert pg.server.env_var_name in text
    assert WRONG_PASSWORD not in text and pg.server.password not in text


def test_pg_unreachable_server(pg: Db, path: str) -> None:
    source = pg.source().model_copy(update={"url": pg.url.replace(f":{pg.server.port}/", ":1/")})
    with pytest.raises(SourceError, match=r"nothing answers at 127\.0\.0\.1:1 "):
        open_connector(source).fetch("SELECT 1 AS x")


# --------------------------------------------------------------------------------------------
# MySQL / MariaDB

MY_FAST_COLUMNS = (
    "id, flag, t, tu, s, su, m, i, iu, big, f, d, dec2, dec0, dec_wide, dt, dtm, ts, tm, yr, "
    "name, code, memo, e, st, js, bin, vbin, bl, bit1, bit12"
)


def test_my_every_type_matches_the_crawl(
    my: Db, my_crawl: dict[str, dict[str, str]], path: str, request: pytest.FixtureRequest
) -> None:
    if path == "fast":
        request.getfixturevalue("fast_only")
    table = _fetch(my, f"SELECT {MY_FAST_COLUMNS} FROM everything ORDER BY id")
    assert _types(table) == my_crawl["everything"]
    assert all(v is None for k, v in table.to_pylist()[0].items() if k != "id")  # id 2: NULLs


def test_my_values(my: Db, path: str) -> None:
    rows = {r["id"]: r for r in _fetch(my, "SELECT * FROM everything").to_pylist()}
    first, third = rows[18446744073709551615], rows[3]
    assert first["flag"] is True and third["flag"] is False
    assert (first["t"], first["tu"], first["s"], first["su"]) == (-128, 255, -32768, 65535)
    assert (first["m"], first["i"], first["iu"]) == (-8388608, -2147483648, 4294967295)
    assert first["big"] == -9223372036854775808
    assert (first["f"], first["d"], third["d"]) == (1.5, 2.25, 1e300)
    assert first["dec2"] == Decimal("-9999999999.99") and third["dec2"] == Decimal("0.01")
    assert first["dec0"] == Decimal("1234567890") and third["dec0"] == Decimal("-1")
    assert first["dec_wide"] == Decimal("12345678.0123456789")
    assert third["dec_wide"] == Decimal("-1E-10")
    assert first["dt"] == date(2024, 2, 29) and third["dt"] == date(1000, 1, 1)
    assert first["dtm"] == datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert first["ts"] == datetime(2024, 1, 2, 3, 4, 5)  # UTC: the session runs at +00:00
    assert first["tm"] == dtime(23, 59, 59) and first["yr"] == 2024
    assert first["name"] == "居民甲 张三" and first["memo"] == "福州市鼓楼区"
    assert first["code"] == "ab" and third["code"] == ""
    assert (first["e"], first["st"], third["st"]) == ("b", "r,w", "")
    assert first["js"] == '{"城市": "福州",  "n": 1}'  # the stored text, unchanged
    assert first["bin"] == bytes([0, 1, 2, 3]) and first["vbin"] == b"\xff"
    assert first["bl"] == b"\xc4\xca" and third["bl"] == b""
    assert (first["bit1"], third["bit1"]) == (True, False)
    assert (first["bit12"], third["bit12"]) == (0b101010101010, 0)


def test_my_both_paths_agree(my: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    sql = f"SELECT {MY_FAST_COLUMNS} FROM everything ORDER BY id"
    fast = _fetch(my, sql)
    _rows_path(monkeypatch)
    rows = _fetch(my, sql)
    assert fast.schema == rows.schema
    assert fast.to_pylist() == rows.to_pylist()


def test_my_columns_connectorx_cannot_carry(
    my: Db, my_crawl: dict[str, dict[str, str]], path: str
) -> None:
    table = _fetch(my, "SELECT * FROM fine ORDER BY id")
    assert _types(table) == my_crawl["fine"]
    first = table.to_pylist()[0]
    assert first["fine"] == Decimal("12345678.123456789012")  # 12 places, none rounded
    assert first["huge"] == Decimal(
        "12345678901234567890123456789012345.123456789012345678901234567890"
    )
    assert isinstance(first["geo"], bytes)
    nulls = _fetch(my, "SELECT NULL AS nothing, 1 AS one")
    assert _types(nulls) == {"nothing": "string", "one": "int32"}


def test_my_values_connectorx_cannot_read(my: Db, path: str) -> None:
    table = _fetch(my, "SELECT * FROM zeros ORDER BY id")
    assert _types(table) == {"id": "int32", "d": "date32[day]", "dtm": "timestamp[us]"}
    assert table.to_pylist() == [
        {"id": 1, "d": None, "dtm": None},  # zero dates become nulls
        {"id": 2, "d": date(2024, 1, 1), "dtm": None},
    ]
    big = _fetch(my, "SELECT CAST(12345678901234567890123.45 AS DECIMAL(30, 2)) AS v")
    assert big.column("v").to_pylist() == [Decimal("12345678901234567890123.45")]
    with pytest.raises(SourceError, match="does not fit"):
        _fetch(my, "SELECT CAST('25:00:00' AS TIME) AS late")


def test_my_aggregates(my: Db, path: str) -> None:
    table = _fetch(
        my,
        "SELECT COUNT(*) AS n, SUM(dec2) AS total, AVG(dec2) AS mean, MAX(dt) AS last_day, "
        "SUM(i) AS si FROM everything",
    )
    assert _types(table) == {
        "n": "int64",
        "total": "decimal128(34, 2)",
        "mean": "decimal128(16, 6)",
        "last_day": "date32[day]",
        "si": "decimal128(32, 0)",
    }
    assert table.to_pylist() == [
        {
            "n": 3,
            "total": Decimal("-9999999999.98"),
            "mean": Decimal("-4999999999.990000"),
            "last_day": date(2024, 2, 29),
            "si": Decimal("-2147483648"),
        }
    ]


def test_my_empty_result_keeps_the_schema(
    my: Db, my_crawl: dict[str, dict[str, str]], path: str
) -> None:
    reader = my.connector().fetch(f"SELECT {MY_FAST_COLUMNS} FROM everything WHERE 1 = 0")
    assert {f.name: str(f.type) for f in reader.schema} == my_crawl["everything"]
    assert reader.read_all().num_rows == 0


def test_my_large_result_comes_in_batches(my: Db, path: str) -> None:
    reader = my.connector().fetch(
        "SELECT seq AS n, MD5(seq) AS s, CAST(seq * 1.25 AS DECIMAL(12, 2)) AS amount "
        "FROM seq_1_to_200000"
    )
    assert str(reader.schema) == "n: uint64\ns: string\namount: decimal128(12, 2)"
    sizes = []
    total = 0
    for batch in reader:
        sizes.append(batch.num_rows)
        total += sum(batch.column("n").to_pylist())
    assert sum(sizes) == 200000 and total == 200000 * 200001 // 2
    assert len(sizes) >= 20 and max(sizes) <= BATCH_ROWS


def test_my_connections_that_only_prepared_are_reused(
    my: Db, fast_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection that prepares a statement for connectorx serves the next fetch; one
    the server dropped while idle is replaced."""
    logins = []
    connect = mysql_module.MySQLConnector._connect

    def counted(self: Any, **extra: Any) -> Any:
        conn = connect(self, **extra)
        logins.append(conn)
        return conn

    monkeypatch.setattr(mysql_module.MySQLConnector, "_connect", counted)
    sql = "SELECT id FROM everything ORDER BY id"
    first = _fetch(my, sql)
    second = _fetch(my, sql)
    assert first.equals(second) and first.num_rows > 0
    assert len(logins) <= 1  # the second fetch logged in no more (the first may have)
    idle = mysql_module._PREPARING.take(my.connector()._pool_key())
    assert idle is not None
    with my.server.connect(admin=True) as admin, admin.cursor() as cur:
        cur.execute(f"KILL {idle.thread_id()}")
    mysql_module._PREPARING.keep(my.connector()._pool_key(), idle)
    assert _fetch(my, sql).equals(first)


def test_my_is_read_only(my: Db, path: str) -> None:
    with pytest.raises(SourceError, match="READ ONLY"):
        _fetch(my, "SELECT id FROM everything FOR UPDATE")
    with pytest.raises(SourceError, match="only queries"):
        my.connector().fetch("DELETE FROM everything")
    assert _fetch(my, "SELECT COUNT(*) AS n FROM everything").column("n").to_pylist() == [3]


def test_my_bad_sql_is_a_clean_source_error(my: Db, path: str) -> None:
    with pytest.raises(SourceError) as info:
        my.connector().fetch("SELECT * FROM no_such_table")
    text = str(info.value)
    assert text.startswith("Source 'fetch_my': running the query failed: ")
    assert "no_such_table' doesn't exist" in text
    assert my.server.password not in text


def test_my_wrong_password_is_clean_and_secret_free(
    my: Db, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(my.server.env_var_name, WRONG_PASSWORD)
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        my.connector().fetch("SELECT 1 AS x")
    assert time.monotonic() - started < 5  # no driver retrying for half a minute
    text = str(info.value)
    assert text.startswith("Source 'fetch_my': authentication failed for user guajie")
    assert my.server.env_var_name in text
    assert WRONG_PASSWORD not in text and my.server.password not in text


# --------------------------------------------------------------------------------------------
# Without the drivers installed

_WITHOUT_DRIVERS = """
import json, os, sys
for name in ("adbc_driver_manager", "adbc_driver_postgresql", "connectorx"):
    sys.modules[name] = None  # importing it fails, as when it is not installed
from guajie.catalog.connectors import open_connector
from guajie.catalog.models import Source
out = []
for kind, url, env, sql in json.loads(os.environ["GUAJIE_FETCH_JOBS"]):
    source = Source(name="s", kind=kind, url=url, password_env=env)
    table = open_connector(source).fetch(sql).read_all()
    out.append([str(table.schema), repr(table.to_pylist())])
print(json.dumps(out))
"""


def test_without_the_drivers_installed_the_row_path_gives_the_same(pg: Db, my: Db) -> None:
    jobs = [
        (pg, "SELECT * FROM f.everything ORDER BY id"),
        (pg, "SELECT n, amount, day FROM f.wide_rows ORDER BY n LIMIT 20000"),
        (my, f"SELECT {MY_FAST_COLUMNS} FROM everything ORDER BY id"),
    ]
    spec = [(db.kind, db.url, db.server.env_var_name, sql) for db, sql in jobs]
    proc = subprocess.run(
        [sys.executable, "-c", _WITHOUT_DRIVERS],
        env={**os.environ, "GUAJIE_FETCH_JOBS": json.dumps(spec)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    without = json.loads(proc.stdout.strip().splitlines()[-1])
    for (db, sql), (schema, rows) in zip(jobs, without, strict=True):
        table = _fetch(db, sql)
        assert schema == str(table.schema)
        assert rows == repr(table.to_pylist())


# --------------------------------------------------------------------------------------------
# Helpers without a server


def test_a_missing_driver_is_none() -> None:
    assert optional_module("guajie_no_such_driver_module") is None
    assert optional_module("pyarrow") is not None


@pytest.mark.parametrize(
    ("statement", "query"),
    [
        ("  -- note\n /* block */ ((SELECT 1))", True),
        ("with t as (select 1) select * from t", True),
        ("TABLE t", True),
        ("VALUES (1)", True),
        ("DELETE FROM t", False),
        ("SELECTED", False),
        (" " * 20000 + "DELETE", False),  # no backtracking blow-up
        ("/* a */ " * 5000 + "DROP TABLE t", False),
        ("(" * 5000 + "x", False),
    ],
)
def test_pg_query_hint(statement: str, query: bool) -> None:
    started = time.monotonic()
    assert postgres_module._looks_like_a_query(statement) is query
    assert time.monotonic() - started < 1


def test_rebatch_slices_without_copying() -> None:
    batch = pa.record_batch({"n": list(range(25))})
    sizes = [b.num_rows for b in rebatch([batch, batch.slice(0, 0), batch.slice(0, 3)], 10)]
    assert sizes == [10, 10, 5, 3]


def test_redact_secret_covers_percent_encoding() -> None:
    text = "mysql://u:p%40ss%2Fw@h/db failed for p@ss/w"
    assert redact_secret(text, "p@ss/w") == "mysql://u:***@h/db failed for ***"


def test_numeric_text_to_decimal_rounds_half_to_even() -> None:
    values = pa.array(["2.5", "3.5", "-2.5", "nan", None, "Infinity", "1.25"])
    out = numeric_text_to_decimal(values, pa.decimal128(10, 0), round_places=0)
    assert out.to_pylist() == [2, 4, -2, None, None, None, 1]
    with pytest.raises(pa.ArrowInvalid):
        numeric_text_to_decimal(pa.array(["1.25"]), pa.decimal128(10, 1))


def test_sqlite_columns_of_one_kind_come_columnar_and_mixed_ones_as_text(tmp_path):
    """SQLite types values per row: a column mixing kinds is read as text, as ever; the
    rest take connectorx's columnar path with the same answer."""
    import sqlite3

    from guajie.catalog.connectors.sqlite import _fetch_columnar, fetch_sqlite
    from guajie.catalog.models import Source

    path = tmp_path / "loose.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (k INTEGER, loose, name TEXT, amount REAL)")
    db.executemany(
        "INSERT INTO t VALUES (?, ?, ?, ?)",
        [(1, 5, "甲", 1.5), (2, "five", None, 2.0), (3, None, "丙", None)],
    )
    db.commit()
    db.close()
    one_kind = "SELECT k, name, amount FROM t ORDER BY k"
    columnar = _fetch_columnar(path, one_kind)
    assert columnar is not None
    rows = fetch_sqlite(sqlite3.connect(path), one_kind).read_all()
    assert columnar.read_all().to_pylist() == rows.to_pylist()
    assert _fetch_columnar(path, "SELECT k, loose FROM t ORDER BY k") is None
    assert _fetch_columnar(tmp_path / "gone.sqlite", one_kind) is None
    connector = open_connector(Source(name="lite", kind="sqlite", url=f"sqlite://{path}"))
    mixed = connector.fetch("SELECT loose FROM t ORDER BY k").read_all()
    assert mixed.column("loose").to_pylist() == ["5", "five", None]
