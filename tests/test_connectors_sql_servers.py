"""PostgreSQL and MySQL/MariaDB connectors against real servers.

Each server gets a database of its own (``guajie_conn_tests``) so the crawl sees exactly what
these tests create, whatever else shares the session's servers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg.conninfo import make_conninfo

from guajie.catalog.connectors import CrawledDataset, open_connector
from guajie.catalog.connectors.base import Connector
from guajie.catalog.connectors.mysql import MySQLConnector
from guajie.catalog.connectors.mysql import arrow_type_for as mysql_arrow_type
from guajie.catalog.connectors.postgres import (
    PostgresConnector,
    column_stats,
    parse_array_literal,
)
from guajie.catalog.errors import InvalidInputError, SourceError
from guajie.catalog.models import Source
from tests.support.servers import MariaDBServer, PostgresServer, free_port

pytestmark = pytest.mark.servers

TEST_DB = "guajie_conn_tests"
WRONG_PASSWORD = "definitely-not-the-pw-7f3a"


# --------------------------------------------------------------------------------------------
# Fixtures: one database per server, filled once per module


@dataclass
class Database:
    kind: str  # "postgresql" | "mysql"
    server: PostgresServer | MariaDBServer
    url: str

    def source(self, url: str | None = None, name: str | None = None) -> Source:
        return Source(
            name=name or f"city_{'pg' if self.kind == 'postgresql' else 'my'}",
            kind=self.kind,
            url=url or self.url,
            password_env=self.server.env_var_name,
        )

    def connector(self, url: str | None = None) -> Connector:
        return open_connector(self.source(url))

    def with_url(self, **parts: Any) -> str:
        host = parts.get("host", self.server.host)
        port = parts.get("port", self.server.port)
        db = parts.get("database", TEST_DB)
        scheme = "postgresql" if self.kind == "postgresql" else "mysql"
        return f"{scheme}://{self.server.user}@{host}:{port}/{db}{parts.get('query', '')}"


PG_SETUP = """
CREATE SCHEMA city;
CREATE TYPE city.status AS ENUM ('active', 'closed');
CREATE DOMAIN city.money2 AS numeric(14, 2);
CREATE TABLE city.residents (
    id bigint PRIMARY KEY,
    name text NOT NULL,
    id_number char(18),
    phone varchar(20),
    age smallint,
    score real,
    balance numeric(12, 2),
    fee city.money2,
    ratio double precision,
    raw numeric,
    big_amount numeric(50, 5),
    active boolean,
    birth date,
    registered_at timestamptz,
    updated_local timestamp,
    wake time,
    status city.status,
    tags text[],
    scores int[],
    profile jsonb,
    photo bytea,
    ref uuid,
    addr inet,
    wait interval
);
COMMENT ON TABLE city.residents IS '常住人口';
COMMENT ON COLUMN city.residents.name IS '姓名';
COMMENT ON COLUMN city.residents.phone IS 'Mobile phone';
INSERT INTO city.residents
SELECT g,
       '居民' || g,
       '35010219' || lpad((g % 100)::text, 2, '0') || lpad(g::text, 8, '0'),
       CASE WHEN g % 5 = 0 THEN NULL ELSE '138' || lpad(g::text, 8, '0') END,
       (g % 80)::smallint,
       (g % 7) / 2.0,
       g * 10.25,
       g * 1.5,
       g / 3.0,
       g / 7.0,
       g::numeric * 1000000000000,
       g % 3 <> 0,
       date '1950-01-01' + g * 30,
       timestamptz '2024-01-01 08:00+08' + g * interval '1 hour',
       timestamp '2024-01-01' + g * interval '1 minute',
       time '06:00' + g * interval '1 minute',
       (CASE WHEN g % 4 = 0 THEN 'closed' ELSE 'active' END)::city.status,
       ARRAY['t' || (g % 3)],
       ARRAY[g, g + 1],
       jsonb_build_object('n', g),
       decode(md5(g::text), 'hex'),
       md5(g::text)::uuid,
       ('10.0.' || (g / 256) || '.' || (g % 256))::inet,
       g * interval '1 minute'
FROM generate_series(1, 500) AS g;
CREATE VIEW city.adults AS SELECT id, name, age FROM city.residents WHERE age >= 18;
COMMENT ON VIEW city.adults IS 'Adults only';
CREATE MATERIALIZED VIEW city.age_counts AS
    SELECT age, count(*) AS n FROM city.residents GROUP BY age;
CREATE TABLE city.trips (id int, day date NOT NULL, fare numeric(8, 2)) PARTITION BY RANGE (day);
COMMENT ON TABLE city.trips IS 'Bus trips';
CREATE TABLE city.trips_2024 PARTITION OF city.trips
    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE city.trips_2025 PARTITION OF city.trips
    FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO city.trips SELECT g, date '2024-06-01' + (g % 400), g * 1.5
FROM generate_series(1, 2000) AS g;
CREATE TABLE public.pending (x int);
CREATE SEQUENCE city.ticket_seq;
ANALYZE city.residents, city.age_counts, city.trips;
"""


@pytest.fixture(scope="module")
def pg(postgres_server: PostgresServer) -> Iterator[Database]:
    server = postgres_server
    admin_main = make_conninfo(server.admin_conninfo)
    admin_test = make_conninfo(server.admin_conninfo, dbname=TEST_DB)
    with psycopg.connect(admin_main, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")
        conn.execute(f'CREATE DATABASE {TEST_DB} OWNER "{server.user}"')
    with psycopg.connect(admin_test, autocommit=True) as conn:
        # An extension's own relations (a view here) are not the department's data.
        conn.execute("CREATE EXTENSION pg_buffercache")
        conn.execute("CREATE EXTENSION postgres_fdw")
        conn.execute(
            "CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw "
            f"OPTIONS (host '{server.host}', port '{server.port}', dbname '{TEST_DB}')"
        )
        conn.execute(f'GRANT USAGE ON FOREIGN SERVER loopback TO "{server.user}"')
    user_test = make_conninfo(server.conninfo, dbname=TEST_DB)
    with psycopg.connect(user_test, autocommit=True) as conn:
        conn.execute(PG_SETUP)
        conn.execute(
            "CREATE USER MAPPING FOR CURRENT_USER SERVER loopback "
            f"OPTIONS (user '{server.user}', password '{server.password}')"
        )
        conn.execute(
            "CREATE FOREIGN TABLE city.remote_people (id bigint, name text) SERVER loopback "
            "OPTIONS (schema_name 'city', table_name 'residents')"
        )
    # Counters reach pg_stat_user_tables when the writing backend has gone; wait for it.
    _wait_for(
        lambda: (
            _pg_scalar(
                user_test, "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'residents'"
            )
            == 500
        )
    )
    yield Database(
        "postgresql",
        server,
        f"postgresql://{server.user}@{server.host}:{server.port}/{TEST_DB}",
    )
    with psycopg.connect(admin_main, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {TEST_DB} WITH (FORCE)")


MY_SETUP = [
    """
    CREATE TABLE residents (
        id bigint unsigned PRIMARY KEY COMMENT '编号',
        name varchar(50) NOT NULL COMMENT '姓名',
        is_active boolean,
        age tinyint unsigned,
        level tinyint,
        floor smallint,
        visits mediumint,
        households int,
        score float,
        ratio double,
        balance decimal(12, 2),
        birth date,
        registered datetime(6),
        seen timestamp NULL,
        wake time,
        born_year year,
        status enum('active', 'closed'),
        perms set('r', 'w'),
        profile json,
        photo blob,
        code binary(16),
        flag bit(1),
        note varchar(100),
        memo text
    ) COMMENT = '常住人口'
    """,
    """
    INSERT INTO residents
    WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < 300)
    SELECT g, CONCAT('居民', g), g % 3 <> 0, g % 90, g % 100 - 50, g, g * 10, g * 100,
           g / 4, g / 7, g * 10.25, DATE '1950-01-01' + INTERVAL g * 30 DAY,
           TIMESTAMP '2024-01-01 00:00:00' + INTERVAL g MINUTE,
           TIMESTAMP '2024-01-01 00:00:00' + INTERVAL g HOUR,
           SEC_TO_TIME(21600 + g * 60), 1990 + g % 30,
           IF(g % 4 = 0, 'closed', 'active'), 'r,w', JSON_OBJECT('n', g),
           UNHEX(MD5(g)), UNHEX(MD5(g)), g % 2, IF(g % 5 = 0, NULL, CONCAT('note ', g)),
           REPEAT('memo ', g % 4)
    FROM s
    """,
    "CREATE UNIQUE INDEX residents_name ON residents (name)",
    "CREATE UNIQUE INDEX residents_age_id ON residents (age, id)",
    "CREATE VIEW adults AS SELECT id, name, age FROM residents WHERE age >= 18",
    "CREATE TABLE empty_one (x int) COMMENT = ''",
    "ANALYZE TABLE residents PERSISTENT FOR ALL",
]


@pytest.fixture(scope="module")
def my(mariadb_server: MariaDBServer) -> Iterator[Database]:
    server = mariadb_server
    with server.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")
        cur.execute(f"CREATE DATABASE {TEST_DB} CHARACTER SET utf8mb4")
    with server.connect() as conn, conn.cursor() as cur:
        cur.execute(f"USE {TEST_DB}")
        for statement in MY_SETUP:
            cur.execute(statement)
            cur.fetchall()
    yield Database("mysql", server, f"mysql://{server.user}@{server.host}:{server.port}/{TEST_DB}")
    with server.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {TEST_DB}")


@pytest.fixture(params=["postgresql", "mysql"])
def db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue("pg" if request.param == "postgresql" else "my")


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def _pg_scalar(conninfo: str, query: str) -> Any:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def _crawl(connector: Connector) -> dict[tuple[str, str], CrawledDataset]:
    return {d.key: d for d in connector.crawl()}


# --------------------------------------------------------------------------------------------
# check(): what answered, and errors a user can act on


def test_check_reports_the_server_and_database(db: Database) -> None:
    answer = db.connector().check()
    product = "PostgreSQL 15." if db.kind == "postgresql" else "MariaDB 10."
    assert answer.startswith(product), answer
    assert answer.endswith(f", database {TEST_DB}")


def test_wrong_password_names_the_source_and_the_env_var(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(db.server.env_var_name, WRONG_PASSWORD)
    connector = db.connector()
    with pytest.raises(SourceError) as info:
        connector.check()
    text = str(info.value)
    assert text.startswith(f"Source '{db.source().name}': authentication failed for user guajie")
    assert "password" in text
    assert db.server.env_var_name in text
    assert WRONG_PASSWORD not in text
    assert db.server.password not in text


def test_missing_password_says_none_was_given(db: Database) -> None:
    connector = (PostgresConnector if db.kind == "postgresql" else MySQLConnector)(
        db.source(), None
    )
    with pytest.raises(SourceError) as info:
        connector.check()
    text = str(info.value)
    assert "asks for a password for user guajie, but none was given" in text
    assert "--password-env" in text


def test_unreachable_port_says_nothing_answers(db: Database) -> None:
    port = free_port()
    with pytest.raises(SourceError) as info:
        db.connector(db.with_url(port=port)).check()
    text = str(info.value)
    assert f"nothing answers at 127.0.0.1:{port}" in text
    assert "is the server running?" in text
    assert "host and port" in text


def test_unknown_database(db: Database) -> None:
    with pytest.raises(SourceError) as info:
        db.connector(db.with_url(database="no_such_db")).check()
    text = str(info.value)
    assert "'no_such_db' does not exist" in text
    assert db.server.password not in text


def test_unresolvable_host(db: Database) -> None:
    with pytest.raises(SourceError) as info:
        db.connector(db.with_url(host="no-such-host.invalid")).check()
    assert "'no-such-host.invalid' cannot be resolved" in str(info.value)


# --------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("postgresql://u@h:5433/db", "postgresql://u@h:5433/db"),
        ("postgres://u@H.example:5432/db", "postgresql://u@h.example:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h:5432/db"),
        ("postgresql://u@h/db?schemas=a,%20b", "postgresql://u@h:5432/db?schemas=a,b"),
        ("postgresql://u@h/db?sslmode=require", "postgresql://u@h:5432/db?sslmode=require"),
        ("postgresql://u@[::1]:5432/db", "postgresql://u@[::1]:5432/db"),
    ],
)
def test_postgres_url_normalization(url: str, canonical: str) -> None:
    assert PostgresConnector.normalize_url(url) == canonical


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("mysql://u@h:3307/db", "mysql://u@h:3307/db"),
        ("mariadb://u@h/db", "mysql://u@h:3306/db"),
        ("mysql://u@h/db?sslmode=REQUIRED", "mysql://u@h:3306/db?sslmode=required"),
    ],
)
def test_mysql_url_normalization(url: str, canonical: str) -> None:
    assert MySQLConnector.normalize_url(url) == canonical


@pytest.mark.parametrize(
    ("cls", "url", "problem"),
    [
        (PostgresConnector, "postgresql://u@h:5432", "names no database"),
        (PostgresConnector, "postgresql:///db", "names no host"),
        (PostgresConnector, "postgresql://u@h:99999/db", "port"),
        (PostgresConnector, "postgresql://u@h/db?sslmode=maybe", "sslmode"),
        (PostgresConnector, "postgresql://u@h/db?schema=a", "unknown parameter 'schema'"),
        (PostgresConnector, "postgresql://u:secret@h/db", "contains a password"),
        (PostgresConnector, "mysql://u@h/db", "must start with postgresql://"),
        (MySQLConnector, "mysql://u@h:3306/", "names no database"),
        (MySQLConnector, "mysql://:3306/db", "names no host"),
        (MySQLConnector, "mysql://u:secret@h/db", "contains a password"),
        (MySQLConnector, "mysql://u@h/db?sslmode=sometimes", "sslmode"),
        (MySQLConnector, "postgresql://u@h/db", "must start with mysql://"),
    ],
)
def test_malformed_urls_are_refused_with_an_example(
    cls: type[Connector], url: str, problem: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        cls.normalize_url(url)
    assert problem in info.value.message
    assert info.value.hint is not None
    assert "e.g." in info.value.hint
    assert "secret" not in str(info.value)


# --------------------------------------------------------------------------------------------
# PostgreSQL crawl


@pytest.fixture(scope="module")
def pg_crawl(pg: Database) -> dict[tuple[str, str], CrawledDataset]:
    return _crawl(pg.connector())


def test_pg_crawl_lists_relations_of_every_kind_but_not_partitions(
    pg_crawl: dict[tuple[str, str], CrawledDataset],
) -> None:
    kinds = {key: d.kind for key, d in pg_crawl.items()}
    assert kinds == {
        ("city", "residents"): "table",
        ("city", "adults"): "view",
        ("city", "age_counts"): "materialized_view",
        ("city", "trips"): "partitioned_table",
        ("city", "remote_people"): "foreign_table",
        ("public", "pending"): "table",
    }
    assert list(pg_crawl) == sorted(pg_crawl)
    assert all(d.format == "PostgreSQL" for d in pg_crawl.values())


PG_TYPES = {
    "id": "int64",
    "name": "string",
    "id_number": "string",
    "phone": "string",
    "age": "int16",
    "score": "float",
    "balance": "decimal128(12, 2)",
    "fee": "decimal128(14, 2)",
    "ratio": "double",
    "raw": "decimal128(38, 10)",
    "big_amount": "decimal256(50, 5)",
    "active": "bool",
    "birth": "date32[day]",
    "registered_at": "timestamp[us, tz=UTC]",
    "updated_local": "timestamp[us]",
    "wake": "time64[us]",
    "status": "string",
    "tags": "list<item: string>",
    "scores": "list<item: int32>",
    "profile": "string",
    "photo": "binary",
    "ref": "string",
    "addr": "string",
    "wait": "month_day_nano_interval",
}


def test_pg_types_nullability_and_comments(
    pg_crawl: dict[tuple[str, str], CrawledDataset],
) -> None:
    residents = pg_crawl["city", "residents"]
    assert {c.name: c.type for c in residents.columns} == PG_TYPES
    assert [c.name for c in residents.columns] == list(PG_TYPES)  # in table order
    nullable = {c.name: c.nullable for c in residents.columns}
    assert nullable["id"] is False and nullable["name"] is False
    assert nullable["phone"] is True
    assert residents.description == "常住人口"
    docs = {c.name: c.description for c in residents.columns}
    assert docs["name"] == "姓名"
    assert docs["phone"] == "Mobile phone"
    assert docs["age"] is None
    assert pg_crawl["city", "adults"].description == "Adults only"
    assert pg_crawl["city", "trips"].description == "Bus trips"
    assert [(c.name, c.type) for c in pg_crawl["city", "adults"].columns] == [
        ("id", "int64"),
        ("name", "string"),
        ("age", "int16"),
    ]
    assert [(c.name, c.type) for c in pg_crawl["city", "remote_people"].columns] == [
        ("id", "int64"),
        ("name", "string"),
    ]


def test_pg_counts_sizes_and_change_counters(
    pg_crawl: dict[tuple[str, str], CrawledDataset],
) -> None:
    residents = pg_crawl["city", "residents"]
    assert residents.row_count == 500
    assert residents.size_bytes is not None and residents.size_bytes >= 8192 * 3
    assert residents.change_counter == 500
    assert residents.last_modified is None

    trips = pg_crawl["city", "trips"]
    assert trips.row_count == 2000  # over both partitions
    assert trips.partitioning == ["day"]
    assert trips.size_bytes is not None and trips.size_bytes > 0
    assert trips.change_counter == 2000  # the partitions' inserts, folded into the parent

    assert pg_crawl["city", "age_counts"].row_count == 80
    adults = pg_crawl["city", "adults"]
    assert (adults.row_count, adults.size_bytes, adults.change_counter) == (None, None, None)
    pending = pg_crawl["public", "pending"]  # never analysed: unknown, not zero
    assert (pending.row_count, pending.size_bytes) == (None, None)


def test_pg_column_statistics_from_pg_stats(
    pg_crawl: dict[tuple[str, str], CrawledDataset],
) -> None:
    cols = {c.name: c for c in pg_crawl["city", "residents"].columns}
    stats = {name: c.stats for name, c in cols.items()}

    assert stats["id"] is not None
    assert (stats["id"].distinct_count, stats["id"].min, stats["id"].max) == (500, "1", "500")
    assert stats["id"].null_fraction == 0
    age = stats["age"]
    assert age is not None
    assert (age.distinct_count, age.min, age.max) == (80, "0", "79")
    phone = stats["phone"]
    assert phone is not None
    assert phone.null_fraction == pytest.approx(0.2)
    assert phone.distinct_count == 400  # n_distinct -0.8 of 500 rows
    birth = stats["birth"]
    assert birth is not None
    assert birth.min == str(date(1950, 1, 1) + timedelta(days=30))
    assert birth.max == str(date(1950, 1, 1) + timedelta(days=15000))
    registered = stats["registered_at"]
    assert registered is not None
    assert registered.min == "2024-01-01 01:00:00+00"  # read in UTC whatever the server's zone
    balance = stats["balance"]
    assert balance is not None
    assert (balance.min, balance.max) == ("10.25", "5125.00")
    # Enums order by declaration, not by text: no min/max from unordered common values.
    status = stats["status"]
    assert status is not None
    assert (status.min, status.max, status.distinct_count) == (None, None, 2)
    assert stats["tags"] is not None and stats["tags"].min is None

    # The partitioned table's statistics are those over all of its partitions.
    trips = {c.name: c.stats for c in pg_crawl["city", "trips"].columns}
    day = trips["day"]
    assert day is not None
    assert (day.min, day.max) == ("2024-06-01", "2025-07-05")
    assert day.distinct_count == 400


def test_pg_samples_come_from_pg_stats(
    pg_crawl: dict[tuple[str, str], CrawledDataset],
) -> None:
    cols = {c.name: c for c in pg_crawl["city", "residents"].columns}
    phones = cols["phone"].samples
    assert phones is not None and 10 <= len(phones) <= 50
    assert all(p.startswith("138") and len(p) == 11 for p in phones)
    assert set(cols["status"].samples or []) == {"active", "closed"}
    names = cols["name"].samples
    assert names is not None and all(n.startswith("居民") for n in names)
    assert cols["photo"].samples is None  # binary: nothing to read
    profile = cols["profile"].samples
    assert profile is not None and profile[0].startswith('{"n": ')
    assert all(len(c.samples or []) <= 50 for c in cols.values())


def test_pg_crawl_reads_no_table_data(pg: Database) -> None:
    conninfo = make_conninfo(pg.server.conninfo, dbname=TEST_DB)
    scans_sql = (
        "SELECT sum(seq_scan + COALESCE(idx_scan, 0))::int8 FROM pg_stat_user_tables "
        "WHERE schemaname = 'city'"
    )

    def settled() -> int:
        # A backend's counters are published when it goes away; wait for every other one.
        _wait_for(
            lambda: (
                _pg_scalar(
                    conninfo,
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                )
                == 0
            )
        )
        time.sleep(0.3)
        return int(_pg_scalar(conninfo, scans_sql))

    before = settled()
    datasets = list(pg.connector().crawl())
    assert datasets
    assert settled() == before

    # The measurement does see reads: sampling a table counts as a scan.
    connector = pg.connector()
    residents = next(d for d in datasets if d.name == "residents")
    connector.sample(residents, ["name"], limit=5)
    _wait_for(lambda: int(_pg_scalar(conninfo, scans_sql)) > before)


def test_pg_schemas_parameter_limits_the_crawl(pg: Database) -> None:
    crawled = _crawl(pg.connector(pg.with_url(query="?schemas=public")))
    assert set(crawled) == {("public", "pending")}


def test_pg_unknown_schema_is_an_error_not_an_empty_crawl(pg: Database) -> None:
    connector = pg.connector(pg.with_url(query="?schemas=citty"))
    for action in (connector.check, lambda: list(connector.crawl())):
        with pytest.raises(SourceError) as info:
            action()
        assert "'citty'" in str(info.value)
        assert "Did you mean 'city'?" in str(info.value)


# --------------------------------------------------------------------------------------------
# PostgreSQL sample() and fetch()


def test_pg_sample_returns_strings(pg: Database, pg_crawl: dict[Any, CrawledDataset]) -> None:
    residents = pg_crawl["city", "residents"]
    values = pg.connector().sample(residents, ["phone", "birth", "tags"], limit=20)
    assert set(values) == {"phone", "birth", "tags"}
    assert 10 <= len(values["phone"]) < 20  # NULLs are left out
    assert all(isinstance(v, str) for vs in values.values() for v in vs)
    assert values["tags"][0].startswith("{t")
    # More rows than 100 x limit: random blocks (TABLESAMPLE), still exactly `limit` values.
    assert len(pg.connector().sample(residents, ["name"], limit=4)["name"]) == 4
    assert pg.connector().sample(residents, []) == {}


def test_pg_sample_of_a_view_and_a_quoted_name(pg: Database) -> None:
    conninfo = make_conninfo(pg.server.conninfo, dbname=TEST_DB)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute('CREATE TABLE IF NOT EXISTS public."Odd Name" ("Mixed Col" text)')
        conn.execute("""INSERT INTO public."Odd Name" VALUES ('a"b'), ('x')""")
    try:
        odd = CrawledDataset(schema="public", name="Odd Name", columns=[])
        assert pg.connector().sample(odd, ["Mixed Col"]) == {"Mixed Col": ['a"b', "x"]}
        adults = CrawledDataset(schema="city", name="adults", columns=[], kind="view")
        assert len(pg.connector().sample(adults, ["name"], limit=7)["name"]) == 7
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute('DROP TABLE public."Odd Name"')


def test_pg_fetch_types_match_the_crawl(
    pg: Database, pg_crawl: dict[tuple[str, str], CrawledDataset]
) -> None:
    names = list(PG_TYPES)
    reader = pg.connector().fetch(
        f"SELECT {', '.join(names)} FROM city.residents WHERE id <= 3 ORDER BY id;"
    )
    table = reader.read_all()
    crawled = {c.name: c.type for c in pg_crawl["city", "residents"].columns}
    assert {f.name: str(f.type) for f in table.schema} == crawled
    rows = table.to_pylist()
    first = rows[0]
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert first["name"] == "居民1"
    assert first["phone"] == "13800000001"
    assert first["balance"] == Decimal("10.25")
    assert first["fee"] == Decimal("1.50")
    assert first["raw"] == Decimal("0.1428571429")  # rounded to the declared 10 places
    assert first["big_amount"] == Decimal("1000000000000.00000")
    assert first["birth"] == date(1950, 1, 31)
    assert first["registered_at"] == datetime(2024, 1, 1, 1, 0, tzinfo=UTC)
    assert first["updated_local"] == datetime(2024, 1, 1, 0, 1)
    assert first["status"] == "active"
    assert first["tags"] == ["t1"]
    assert first["scores"] == [1, 2]
    assert first["profile"] == '{"n": 1}'
    assert first["ref"] == "c4ca4238-a0b9-2382-0dcc-509a6f75849b"
    assert first["addr"] == "10.0.0.1"
    assert first["photo"] == bytes.fromhex("c4ca4238a0b923820dcc509a6f75849b")
    assert first["wait"] == pa.MonthDayNano([0, 0, 60_000_000_000])
    assert first["active"] is True and rows[2]["active"] is False


def test_pg_fetch_streams_in_batches(pg: Database) -> None:
    reader = pg.connector().fetch("SELECT g AS n, g::text AS s FROM generate_series(1, 25000) g")
    assert str(reader.schema) == "n: int32\ns: string"
    sizes = [batch.num_rows for batch in reader]
    assert len(sizes) >= 3 and sum(sizes) == 25000


def test_pg_fetch_is_read_only_and_errors_are_source_errors(pg: Database) -> None:
    with pytest.raises(SourceError, match="read-only transaction"):
        pg.connector().fetch("SELECT nextval('city.ticket_seq')").read_all()
    with pytest.raises(SourceError, match="only queries"):
        pg.connector().fetch("DELETE FROM city.residents")
    with pytest.raises(SourceError, match="no_such_table"):
        pg.connector().fetch("SELECT * FROM no_such_table")


def test_pg_capabilities(pg: Database) -> None:
    caps = pg.connector().capabilities()
    assert (caps.dialect, caps.joins, caps.aggregates, caps.window_functions) == (
        "postgres",
        True,
        True,
        True,
    )


# --------------------------------------------------------------------------------------------
# PostgreSQL helpers without a server


@pytest.mark.parametrize(
    ("literal", "values"),
    [
        (None, []),
        ("{}", []),
        ("{1,2,3}", ["1", "2", "3"]),
        ("{a,NULL,b}", ["a", None, "b"]),
        ('{"a b","NULL",NULL}', ["a b", "NULL", None]),
        ('{"x\\"y","back\\\\slash","",c}', ['x"y', "back\\slash", "", "c"]),
        ('{"with, comma","{braces}"}', ["with, comma", "{braces}"]),
        ('{"line\nbreak",z}', ["line\nbreak", "z"]),
        ('{"{\\"k\\": 1}","{\\"k\\": 2}"}', ['{"k": 1}', '{"k": 2}']),
        ("[0:1]={7,8}", ["7", "8"]),
        ("{{1,2},{3,4}}", ["{1,2}", "{3,4}"]),
        ("not an array", []),
    ],
)
def test_parse_array_literal(literal: str | None, values: list[str | None]) -> None:
    assert parse_array_literal(literal) == values


@pytest.mark.parametrize(
    ("typname", "mcv", "histogram", "low", "high"),
    [
        ("int4", "{5,-3}", "{-10,0,9}", "-10", "9"),
        ("int4", "{100}", "{-10,0,9}", "-10", "100"),
        ("float8", "{NaN}", "{-Infinity,2.5}", "-Infinity", "NaN"),
        ("numeric", "{10.5}", "{2,9.75}", "2", "10.5"),
        ("date", "{2024-01-02}", "{2024-01-05,2024-03-01}", "2024-01-02", "2024-03-01"),
        ("date", "{infinity}", "{2024-01-05,2024-03-01}", "2024-01-05", "infinity"),
        ("date", '{"0044-03-15 BC"}', "{2024-01-05,2024-03-01}", "2024-01-05", "2024-03-01"),
        ("text", "{m}", '{b,"z z"}', "b", "z z"),
        ("text", "{m,a}", None, "a", "m"),
        ("inet", "{10.0.0.9}", "{10.0.0.1,10.0.0.200}", "10.0.0.1", "10.0.0.200"),
        ("inet", "{10.0.0.9}", None, None, None),
        ("jsonb", '{"{}"}', None, None, None),
    ],
)
def test_min_max_combine_histogram_and_common_values(
    typname: str, mcv: str | None, histogram: str | None, low: str | None, high: str | None
) -> None:
    stats, _ = column_stats(typname, 0.0, 3, mcv, histogram, 100)
    assert (stats.min, stats.max) == (low, high)


def test_n_distinct_and_samples() -> None:
    stats, samples = column_stats("int4", 0.25, -0.5, None, "{1,2,3}", 1000.0)
    assert stats.distinct_count == 500 and stats.null_fraction == 0.25
    assert samples == ["1", "2", "3"]
    stats, _ = column_stats("int4", 0.0, -0.5, None, None, -1.0)  # never analysed
    assert stats.distinct_count is None
    many = "{" + ",".join(str(i) for i in range(101)) + "}"
    _, samples = column_stats("int4", 0.0, 200, "{x,y}", many, 1000.0)
    assert samples is not None and len(samples) == 50
    assert samples[:3] == ["x", "y", "0"] and samples[-1] == "100"
    _, samples = column_stats("int4", 0.0, 3, "{1}", None, 10.0, want_samples=False)
    assert samples is None


# --------------------------------------------------------------------------------------------
# MySQL / MariaDB


@pytest.fixture(scope="module")
def my_crawl(my: Database) -> dict[tuple[str, str], CrawledDataset]:
    return _crawl(my.connector())


MY_TYPES = {
    "id": "uint64",
    "name": "string",
    "is_active": "bool",
    "age": "uint8",
    "level": "int8",
    "floor": "int16",
    "visits": "int32",
    "households": "int32",
    "score": "float",
    "ratio": "double",
    "balance": "decimal128(12, 2)",
    "birth": "date32[day]",
    "registered": "timestamp[us]",
    "seen": "timestamp[us]",
    "wake": "time64[us]",
    "born_year": "int16",
    "status": "string",
    "perms": "string",
    "profile": "string",
    "photo": "binary",
    "code": "binary",
    "flag": "bool",
    "note": "string",
    "memo": "string",
}


def test_my_crawl_tables_views_types_and_comments(
    my_crawl: dict[tuple[str, str], CrawledDataset],
) -> None:
    assert {key: d.kind for key, d in my_crawl.items()} == {
        (TEST_DB, "adults"): "view",
        (TEST_DB, "empty_one"): "table",
        (TEST_DB, "residents"): "table",
    }
    residents = my_crawl[TEST_DB, "residents"]
    assert [(c.name, c.type) for c in residents.columns] == list(MY_TYPES.items())
    nullable = {c.name: c.nullable for c in residents.columns}
    assert (nullable["id"], nullable["name"], nullable["note"]) == (False, False, True)
    assert residents.description == "常住人口"
    docs = {c.name: c.description for c in residents.columns}
    assert (docs["id"], docs["name"], docs["age"]) == ("编号", "姓名", None)
    adults = my_crawl[TEST_DB, "adults"]
    assert adults.description is None  # MariaDB's placeholder comment "VIEW" is dropped
    assert (adults.row_count, adults.size_bytes, adults.last_modified) == (None, None, None)
    assert [c.name for c in adults.columns] == ["id", "name", "age"]
    assert my_crawl[TEST_DB, "empty_one"].description is None
    assert all(d.format == "MySQL" for d in my_crawl.values())


def test_my_counts_sizes_and_update_time(my_crawl: dict[tuple[str, str], CrawledDataset]) -> None:
    residents = my_crawl[TEST_DB, "residents"]
    assert residents.row_count is not None and abs(residents.row_count - 300) <= 60  # estimate
    assert residents.size_bytes is not None and residents.size_bytes >= 16384
    modified = residents.last_modified
    assert modified is not None and modified.tzinfo is UTC
    assert abs(datetime.now(UTC) - modified) < timedelta(minutes=10)
    assert residents.change_counter is None
    assert all(c.samples is None for c in residents.columns)  # sample() does that


def test_my_column_statistics_when_readable(my: Database) -> None:
    # Without a grant on mysql.column_stats, only one-column unique keys have a statistic:
    # as many distinct values as rows. (A composite key says nothing of its first column.)
    residents = _crawl(my.connector())[TEST_DB, "residents"]
    counted = {c.name: c.stats.distinct_count for c in residents.columns if c.stats}
    assert counted == {"id": residents.row_count, "name": residents.row_count}

    accounts = [f"'{my.server.user}'@'{host}'" for host in MariaDBServer.USER_HOSTS]
    grants = [f"mysql.{t} TO {a}" for t in ("column_stats", "table_stats") for a in accounts]
    with my.server.connect(admin=True) as conn, conn.cursor() as cur:
        for grant in grants:
            cur.execute(f"GRANT SELECT ON {grant}")
    try:
        residents = _crawl(my.connector())[TEST_DB, "residents"]
    finally:
        with my.server.connect(admin=True) as conn, conn.cursor() as cur:
            for grant in grants:
                cur.execute(f"REVOKE SELECT ON {grant.replace(' TO ', ' FROM ')}")
    stats = {c.name: c.stats for c in residents.columns}
    assert stats["id"] is not None
    assert (stats["id"].min, stats["id"].max, stats["id"].distinct_count) == ("1", "300", 300)
    assert stats["age"] is not None and stats["age"].distinct_count == 90
    note = stats["note"]
    assert note is not None and note.null_fraction == pytest.approx(0.2)
    assert stats["birth"] is not None and stats["birth"].min == "1950-01-31"
    assert stats["code"] is not None and stats["code"].min is None  # raw bytes are not shown


def test_my_sample_returns_strings(my: Database, my_crawl: dict[Any, CrawledDataset]) -> None:
    residents = my_crawl[TEST_DB, "residents"]
    values = my.connector().sample(residents, ["name", "note", "birth", "is_active"], limit=10)
    assert values["name"][0].startswith("居民")
    assert len(values["note"]) == 8  # two of the first ten are NULL
    assert values["birth"][0] == "1950-01-31"
    assert set(values["is_active"]) <= {"0", "1"}
    binary = my.connector().sample(residents, ["code"], limit=1)["code"]
    assert binary == ["C4CA4238A0B923820DCC509A6F75849B"]


def test_my_fetch_types_match_the_crawl(
    my: Database, my_crawl: dict[tuple[str, str], CrawledDataset]
) -> None:
    names = list(MY_TYPES)
    table = (
        my.connector()
        .fetch(f"SELECT {', '.join(names)} FROM residents ORDER BY id LIMIT 3;")
        .read_all()
    )
    crawled = {c.name: c.type for c in my_crawl[TEST_DB, "residents"].columns}
    assert {f.name: str(f.type) for f in table.schema} == crawled
    first = table.to_pylist()[0]
    assert first["id"] == 1 and first["name"] == "居民1"
    assert first["is_active"] is True and first["flag"] is True
    assert first["balance"] == Decimal("10.25")
    assert first["birth"] == date(1950, 1, 31)
    assert first["registered"] == datetime(2024, 1, 1, 0, 1)
    assert first["wake"].isoformat() == "06:01:00"
    assert first["status"] == "active" and first["perms"] == "r,w"
    assert first["profile"].replace(" ", "") == '{"n":1}'
    assert first["photo"] == bytes.fromhex("c4ca4238a0b923820dcc509a6f75849b")
    assert first["born_year"] == 1991


def _numbers(n: int) -> str:
    digits = "(" + " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10)) + ")"
    tables = ", ".join(f"{digits} AS t{i}" for i in range(5))
    number = " + ".join(f"t{i}.d * {10**i}" for i in range(5))
    return f"SELECT {number} + 1 AS g FROM {tables} HAVING g <= {n}"


def test_my_fetch_streams_and_is_read_only(my: Database) -> None:
    reader = my.connector().fetch(_numbers(25000))
    assert str(reader.schema) == "g: int64"
    sizes = [batch.num_rows for batch in reader]
    assert len(sizes) >= 3 and sum(sizes) == 25000
    with pytest.raises(SourceError, match="READ ONLY"):
        my.connector().fetch("SELECT id FROM residents FOR UPDATE").read_all()
    with pytest.raises(SourceError, match="no_such_table"):
        my.connector().fetch("SELECT * FROM no_such_table")


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM residents",
        "DROP TABLE residents",
        "/*!DROP TABLE residents*/ SELECT 1",
        "SELECT * FROM residents INTO OUTFILE '/tmp/x.csv'",
        "SET @x = 1",
    ],
)
def test_my_fetch_runs_only_queries(my: Database, statement: str) -> None:
    with pytest.raises(SourceError, match="only queries"):
        my.connector().fetch(statement)
    assert (TEST_DB, "residents") in _crawl(my.connector())


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1 AS one",
        "  -- leading comment\n(SELECT 1 AS one)",
        "/* a comment */ WITH t AS (SELECT 1 AS one) SELECT one FROM t",
        "VALUES (1)",
    ],
)
def test_my_fetch_accepts_queries_with_comments(my: Database, statement: str) -> None:
    assert my.connector().fetch(statement).read_all().num_rows == 1


def test_my_fetch_stopped_early_releases_the_connection(my: Database) -> None:
    reader = my.connector().fetch(_numbers(100_000))
    first = reader.read_next_batch()
    assert first.num_rows == 10_000
    started = time.monotonic()
    reader.close()
    del reader

    def others() -> int:
        with contextlib.closing(my.server.connect()) as conn, conn.cursor() as cur:
            cur.execute(
                # An idle connection kept for the next fetch sleeps; none may still work.
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                f"WHERE DB = '{TEST_DB}' AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep'"
            )
            return int(cur.fetchone()[0])

    _wait_for(lambda: others() == 0)
    assert time.monotonic() - started < 5


def test_my_capabilities(my: Database) -> None:
    caps = my.connector().capabilities()
    assert (caps.dialect, caps.joins, caps.aggregates, caps.window_functions) == (
        "mysql",
        True,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("column_type", "arrow"),
    [
        ("tinyint(1)", "bool"),
        ("tinyint(4)", "int8"),
        ("tinyint(3) unsigned", "uint8"),
        ("smallint(5) unsigned", "uint16"),
        ("mediumint(8)", "int32"),
        ("int(10) unsigned zerofill", "uint32"),
        ("int", "int32"),
        ("bigint(20) unsigned", "uint64"),
        ("decimal(10,2)", "decimal128(10, 2)"),
        ("decimal(65,30)", "decimal256(65, 30)"),
        ("decimal(10,2) unsigned", "decimal128(10, 2)"),
        ("float", "float"),
        ("double", "double"),
        ("bit(1)", "bool"),
        ("bit(12)", "uint64"),
        ("year(4)", "int16"),
        ("datetime(6)", "timestamp[us]"),
        ("timestamp", "timestamp[us]"),
        ("time(3)", "time64[us]"),
        ("date", "date32[day]"),
        ("enum('a','b')", "string"),
        ("set('r','w')", "string"),
        ("json", "string"),
        ("longtext", "string"),
        ("varchar(255)", "string"),
        ("uuid", "string"),
        ("varbinary(16)", "binary"),
        ("mediumblob", "binary"),
        ("point", "binary"),
    ],
)
def test_mysql_type_mapping(column_type: str, arrow: str) -> None:
    assert mysql_arrow_type(column_type) == arrow
