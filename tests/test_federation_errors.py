"""Bad queries get one clear paragraph, and what planning refuses never reaches a source.

The refusals run against a workspace whose sources were crawled and then taken away (SQLite
and DuckDB files deleted, file directories removed) and through a spy on the connector
factory: a refusal that touched a source would fail with that source's error, or show up in
the spy. Each case also runs through ``guajie query``: a non-zero exit, no traceback, the
same message.

Sources that are down or slow are real: deleted SQLite files and a PostgreSQL server of this
module's own (not the session's shared one), stopped in the middle of a test, or kept busy by
a view that sleeps. The PostgreSQL password never shows up in any message.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

import guajie.api
from guajie.api import Session
from guajie.catalog.errors import GuajieError, SourceError
from guajie.catalog.ledger import Catalog
from guajie.cli import main
from guajie.federation.errors import (
    ExecutionError,
    QueryError,
    QuerySyntaxError,
    ReadOnlyError,
)
from tests.support.servers import PostgresServer

# -- workspaces --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gone_home(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose every source was crawled, then deleted from disk.

    ``market`` and ``registry`` both hold ``enterprise`` (a one-part name is ambiguous);
    ``dk`` holds ``t`` in two schemas (a two-part name is ambiguous).
    """
    root = tmp_path_factory.mktemp("gone")
    data = root / "data"
    data.mkdir()
    for name in ("market", "hrss"):
        shutil.copy(city_dir / f"{name}.sqlite", data / f"{name}.sqlite")
    shutil.copy(city_dir / "market.sqlite", data / "registry.sqlite")
    shutil.copytree(city_dir / "tax", data / "tax")
    shutil.copytree(city_dir / "transport", data / "transport")
    con = duckdb.connect(str(data / "dk.duckdb"))
    con.execute("CREATE SCHEMA a; CREATE SCHEMA b")
    con.execute("CREATE TABLE a.t (x INTEGER); CREATE TABLE b.t (x INTEGER)")
    con.close()

    home = root / "ws"
    catalog = Catalog.open(str(home))
    for name in ("market", "hrss", "registry"):
        catalog.add_source(name, f"sqlite://{data}/{name}.sqlite")
    catalog.add_source("tax", f"file://{data}/tax")
    catalog.add_source("transport", f"file://{data}/transport")
    catalog.add_source("dk", f"duckdb://{data}/dk.duckdb")
    catalog.crawl(sample=False)
    catalog.workspace.close()
    shutil.rmtree(data)
    return home


@pytest.fixture
def gone(gone_home: Path) -> Iterator[Session]:
    session = Session(Catalog.open(str(gone_home)))
    yield session
    session.close()


@pytest.fixture
def touched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the sources a session opened a connector for, in order."""
    opened: list[str] = []
    real = guajie.api.open_connector

    def spy(source):  # type: ignore[no-untyped-def]
        opened.append(source.name)
        return real(source)

    monkeypatch.setattr(guajie.api, "open_connector", spy)
    return opened


def run_cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--home", str(home), *args])


def one_paragraph(message: str) -> None:
    assert message.strip(), "empty message"
    assert "\n\n" not in message.strip(), message
    assert "Traceback" not in message, message


def assert_refused(result: Result, *fragments: str) -> str:
    """The CLI failed the way a person can act on: exit != 0, one paragraph, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    error = result.stderr
    assert error.startswith("Error: "), error
    one_paragraph(error)
    for fragment in fragments:
        assert fragment in error, (fragment, error)
    return error


# -- refusals at planning time ----------------------------------------------------------------


@dataclass
class Refusal:
    sql: str
    error: type[GuajieError]
    says: tuple[str, ...]
    dialect: str = "trino"


TWO_LINES = "SELECT credit_code\nFROM market.enterprise\nWHERE name = = 'x'"

REFUSALS = {
    # syntax: where, and the token
    "syntax_line_3": Refusal(TWO_LINES, QuerySyntaxError, ("line 3", "column 14", "'='")),
    "syntax_dangling_where": Refusal(
        "SELECT credit_code FROM market.enterprise WHERE",
        QuerySyntaxError,
        ("line 1", "column 47", "'WHERE'"),
    ),
    "syntax_double_and": Refusal(
        "SELECT credit_code FROM market.enterprise\nWHERE name = 'x' AND AND status = 'y'",
        QuerySyntaxError,
        ("line 2", "'AND'"),
    ),
    "attach_is_no_trino": Refusal("ATTACH 'x.db' AS y", QuerySyntaxError, ("Syntax error",)),
    # names
    "unknown_table": Refusal(
        "SELECT * FROM market.enterprize",
        QueryError,
        ("Unknown table 'market.enterprize'", "Did you mean 'market.main.enterprise'"),
    ),
    "unknown_table_one_part": Refusal(
        "SELECT * FROM enterprize", QueryError, ("Unknown table", "Did you mean 'enterprise'")
    ),
    "unknown_schema": Refusal(
        "SELECT * FROM market.nowhere.district",
        QueryError,
        ("Unknown table", "Did you mean 'market.main.district'"),
    ),
    "unknown_source": Refusal(
        "SELECT * FROM markt.enterprise",
        QueryError,
        ("Unknown source 'markt'", "Did you mean 'market'"),
    ),
    "unknown_column": Refusal(
        "SELECT credit_cod FROM market.enterprise",
        QueryError,
        ("Unknown column 'credit_cod'", "Did you mean 'credit_code'"),
    ),
    "unknown_qualified_column": Refusal(
        "SELECT e.statuz FROM market.enterprise e",
        QueryError,
        ("Unknown column 'statuz'", "Did you mean 'status'"),
    ),
    "ambiguous_one_part_table": Refusal(
        "SELECT count(*) FROM enterprise",
        QueryError,
        ("ambiguous", "market.main.enterprise", "registry.main.enterprise", "source.schema.table"),
    ),
    "ambiguous_two_part_table": Refusal(
        "SELECT x FROM dk.t", QueryError, ("ambiguous", "dk.a.t", "dk.b.t", "source.schema.table")
    ),
    "too_many_parts": Refusal("SELECT * FROM a.b.c.d", QueryError, ("a.b.c.d",)),
    "no_dataset": Refusal("SELECT 1", QueryError, ("reads no dataset",)),
    "empty": Refusal("-- nothing but a comment", ReadOnlyError, ("empty",)),
    # writes and everything else that is not one read-only query
    "insert": Refusal(
        "INSERT INTO market.enterprise SELECT * FROM market.enterprise",
        ReadOnlyError,
        ("read-only", "INSERT"),
    ),
    "update": Refusal(
        "UPDATE market.enterprise SET name = 'x'", ReadOnlyError, ("read-only", "UPDATE")
    ),
    "delete": Refusal("DELETE FROM market.enterprise", ReadOnlyError, ("read-only", "DELETE")),
    "drop": Refusal("DROP TABLE market.enterprise", ReadOnlyError, ("read-only", "DROP")),
    "create_table_as": Refusal(
        "CREATE TABLE copy AS SELECT * FROM market.enterprise",
        ReadOnlyError,
        ("read-only", "CREATE"),
    ),
    "create_view": Refusal(
        "CREATE VIEW v AS SELECT * FROM market.enterprise", ReadOnlyError, ("read-only", "CREATE")
    ),
    "merge": Refusal(
        "MERGE INTO market.enterprise t USING market.district d "
        "ON t.district_code = d.district_code WHEN MATCHED THEN DELETE",
        ReadOnlyError,
        ("read-only", "MERGE"),
    ),
    "truncate": Refusal("TRUNCATE TABLE market.district", ReadOnlyError, ("read-only",)),
    "alter": Refusal(
        "ALTER TABLE market.district ADD COLUMN x INTEGER", ReadOnlyError, ("read-only", "ALTER")
    ),
    "two_statements": Refusal(
        "SELECT * FROM market.district; DROP TABLE market.district",
        ReadOnlyError,
        ("2 statements", "one read-only query"),
    ),
    "two_selects": Refusal(
        "SELECT 1 FROM market.district; SELECT 2 FROM market.district",
        ReadOnlyError,
        ("2 statements",),
    ),
    "explain": Refusal(
        "EXPLAIN SELECT * FROM market.district", ReadOnlyError, ("read-only", "EXPLAIN")
    ),
    "set_session": Refusal("SET SESSION query_max_memory = '1GB'", ReadOnlyError, ("SET",)),
    "copy": Refusal("COPY market.district TO '/tmp/x.csv'", ReadOnlyError, ("COPY",)),
    "copy_duckdb": Refusal(
        "COPY (SELECT * FROM market.district) TO '/tmp/x.csv'",
        ReadOnlyError,
        ("COPY",),
        dialect="duckdb",
    ),
    "attach_duckdb": Refusal(
        "ATTACH '/tmp/other.duckdb' AS other", ReadOnlyError, ("ATTACH",), dialect="duckdb"
    ),
    "install_duckdb": Refusal("INSTALL httpfs", ReadOnlyError, ("INSTALL",), dialect="duckdb"),
    "select_into": Refusal(
        "SELECT * INTO copy FROM market.district", ReadOnlyError, ("SELECT ... INTO",)
    ),
    "select_into_postgres": Refusal(
        "SELECT * INTO copy FROM market.district",
        ReadOnlyError,
        ("SELECT ... INTO",),
        dialect="postgres",
    ),
    "call": Refusal("CALL system.flush_metadata_cache()", ReadOnlyError, ("CALL",)),
    "grant": Refusal("GRANT SELECT ON market.district TO someone", ReadOnlyError, ("GRANT",)),
    "show": Refusal("SHOW TABLES", ReadOnlyError, ("SHOW",)),
    "mysql_replace": Refusal(
        "REPLACE INTO district VALUES ('1', 'x', 1)", ReadOnlyError, ("REPLACE",), dialect="mysql"
    ),
    # table functions and files by path
    "read_parquet": Refusal(
        "SELECT * FROM read_parquet('/tmp/x.parquet')",
        QueryError,
        ("not a catalog dataset", "table functions"),
    ),
    "read_csv_auto": Refusal(
        "SELECT * FROM read_csv_auto('/etc/passwd')", QueryError, ("not a catalog dataset",)
    ),
    "table_function": Refusal(
        "SELECT * FROM TABLE(system.query(query => 'SELECT 1'))",
        QueryError,
        ("not a catalog dataset",),
    ),
    "time_travel": Refusal(
        "SELECT * FROM market.district FOR TIMESTAMP AS OF TIMESTAMP '2024-01-01 00:00:00'",
        QueryError,
        ("not supported",),
    ),
    # functions a source would run by name (locks, sleeps, server files)
    "source_only_function": Refusal(
        "SELECT get_lock('job', 0) AS locked FROM market.district",
        QueryError,
        ("Unknown function get_lock()", "Trino's SQL functions"),
    ),
    "misspelled_function": Refusal(
        "SELECT uper(name) AS n FROM market.district", QueryError, ("uper()", "'upper'")
    ),
    "source_only_function_in_where": Refusal(
        "SELECT name FROM market.district WHERE load_file('/etc/passwd') IS NULL",
        QueryError,
        ("Unknown function load_file()",),
    ),
    # types
    "join_string_with_number": Refusal(
        "SELECT d.name FROM market.district d "
        "JOIN hrss.social_insurance_monthly s ON d.name = s.headcount",
        QueryError,
        ("join condition compares", "VARCHAR", "BIGINT", "CAST"),
    ),
    "join_code_crawled_as_number": Refusal(
        "SELECT l.name, d.name FROM transport.parking_lots l "
        "JOIN market.district d ON l.district_code = d.district_code",
        QueryError,
        ("district_code", "CAST"),
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refused_before_any_source_is_touched(gone, gone_home, touched, case):
    refusal = REFUSALS[case]
    with pytest.raises(refusal.error) as info:
        gone.query(refusal.sql, dialect=refusal.dialect)
    message = str(info.value)
    one_paragraph(message)
    for fragment in refusal.says:
        assert fragment in message, (fragment, message)
    assert not isinstance(info.value, SourceError | ExecutionError)
    assert touched == []

    with pytest.raises(refusal.error):
        gone.plan(refusal.sql, dialect=refusal.dialect)
    for command in ("query", "explain"):
        result = run_cli(gone_home, command, "--dialect", refusal.dialect, "--", refusal.sql)
        assert_refused(result, *refusal.says)
    assert touched == []


def test_syntax_error_carries_line_column_and_token(gone):
    with pytest.raises(QuerySyntaxError) as info:
        gone.plan(TWO_LINES)
    assert (info.value.line, info.value.column, info.value.token) == (3, 14, "=")
    assert info.value.hint and "--dialect" in info.value.hint


def test_files_named_by_path_are_not_read(gone, touched, tmp_path):
    """A real Parquet file named as a table is refused, in Trino's and DuckDB's spelling."""
    path = tmp_path / "secret.parquet"
    pq.write_table(pa.table({"x": [1, 2, 3]}), path)
    for sql, dialect in (
        (f"SELECT * FROM '{path}'", "trino"),
        (f'SELECT * FROM "{path}"', "trino"),
        (f"SELECT * FROM '{path}'", "duckdb"),
        (f"SELECT * FROM read_parquet('{path}')", "duckdb"),
        (f"SELECT * FROM market.district d JOIN '{path}' p ON true", "duckdb"),
    ):
        with pytest.raises(QueryError) as info:
            gone.query(sql, dialect=dialect)
        one_paragraph(str(info.value))
        assert str(path) in str(info.value) or "not a catalog dataset" in str(info.value)
    assert touched == []


def test_ambiguous_column(gone, touched):
    sql = (
        "SELECT credit_code FROM market.enterprise e "
        "JOIN hrss.social_insurance_monthly s ON e.credit_code = s.credit_code"
    )
    with pytest.raises(QueryError) as info:
        gone.query(sql)
    message = str(info.value)
    assert "ambiguous" in message.lower(), message
    assert "Unknown column" not in message
    assert touched == []


def test_unterminated_string_says_where(gone):
    with pytest.raises(QuerySyntaxError) as info:
        gone.plan("SELECT name\nFROM market.district\nWHERE name = 'abc")
    assert info.value.line == 3, str(info.value)
    assert "line 3" in str(info.value)


def test_join_of_a_date_with_a_string_is_refused_at_planning(gone, touched):
    sql = (
        "SELECT s.credit_code FROM hrss.social_insurance_monthly s "
        "JOIN tax.filings t ON s.credit_code = t.credit_code AND s.month = t.month"
    )
    with pytest.raises(QueryError) as info:
        gone.query(sql)
    assert not isinstance(info.value, SourceError | ExecutionError), str(info.value)
    assert "CAST" in str(info.value)
    assert touched == []


def test_string_in_numbers_subquery_names_the_number(gone):
    sql = (
        "SELECT name FROM market.district "
        "WHERE name IN (SELECT headcount FROM hrss.social_insurance_monthly)"
    )
    with pytest.raises(QueryError) as info:
        gone.plan(sql)
    message = str(info.value)
    assert "CAST" in message
    assert "cannot equal a varchar" not in message, message


# -- queries Trino refuses, which guajie must refuse too (before reading a source) -------------

INVALID = {
    "column_neither_grouped_nor_aggregated": (
        "SELECT name, count(*) AS n FROM market.district",
        "nothing checks that a selected column is grouped or aggregated: pushed whole to "
        "SQLite the query answers with an arbitrary name ('鼓楼区', 13); federated, DuckDB "
        "fails at run time with 'The local engine failed: Binder Error ... planning gap'",
    ),
    "string_column_equals_number": (
        "SELECT name FROM market.district WHERE name = 1",
        "a string compared with a number is not refused: SQLite answers 0 rows",
    ),
    "partition_string_equals_number": (
        "SELECT count(*) AS n FROM tax.filings WHERE month = 202406",
        "a string compared with a number is not refused: the Parquet scan fails with "
        "\"Source 'tax' failed ...: month compared with a non-string. Check that the source "
        'answers", blaming the source after reading it',
    ),
    "sum_of_strings": (
        "SELECT sum(name) AS s FROM market.district",
        "sum() of a string column is not refused: SQLite answers '0'",
    ),
    "negative_limit": (
        "SELECT name FROM market.district LIMIT -1",
        "a negative LIMIT is not refused: SQLite reads LIMIT -1 as no limit (13 rows)",
    ),
}


@pytest.mark.parametrize(
    "case",
    [pytest.param(name, id=name) for name in sorted(INVALID)],
)
def test_queries_trino_refuses_are_refused_at_planning(gone, touched, case):
    sql, _ = INVALID[case]
    with pytest.raises(QueryError) as info:
        gone.plan(sql)
    one_paragraph(str(info.value))
    assert touched == []


# -- sources that are gone ----------------------------------------------------------------------


@pytest.fixture
def half_gone(city_dir: Path, tmp_path: Path) -> Iterator[Path]:
    """``market`` is there; ``hrss`` (SQLite) and ``tax`` (Parquet) were crawled, then deleted."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(city_dir / "hrss.sqlite", data / "hrss.sqlite")
    shutil.copytree(city_dir / "tax", data / "tax")
    home = tmp_path / "ws"
    catalog = Catalog.open(str(home))
    catalog.add_source("market", f"sqlite://{city_dir}/market.sqlite")
    catalog.add_source("hrss", f"sqlite://{data}/hrss.sqlite")
    catalog.add_source("tax", f"file://{data}/tax")
    catalog.crawl(sample=False)
    catalog.workspace.close()
    shutil.rmtree(data)
    yield home


GONE_QUERIES = {
    "sqlite_alone": ("SELECT count(*) AS n FROM hrss.social_insurance_monthly", "hrss"),
    "sqlite_joined": (
        "SELECT e.name, s.headcount FROM market.enterprise e "
        "JOIN hrss.social_insurance_monthly s ON e.credit_code = s.credit_code",
        "hrss",
    ),
    "files_alone": ("SELECT count(*) AS n FROM tax.filings", "tax"),
    "files_joined": (
        "SELECT e.district, sum(t.total_tax) AS tax FROM market.enterprise e "
        "JOIN tax.filings t ON e.credit_code = t.credit_code GROUP BY e.district",
        "tax",
    ),
}


@pytest.mark.parametrize("case", sorted(GONE_QUERIES))
def test_a_source_that_is_gone_is_named(half_gone, touched, case):
    sql, source = GONE_QUERIES[case]
    with Session(Catalog.open(str(half_gone))) as session:
        session.plan(sql)  # planning needs only the catalog
        assert touched == []
        with pytest.raises(SourceError) as info:
            session.query(sql)
    assert source in touched  # the spy sees what running does
    message = str(info.value)
    one_paragraph(message)
    assert f"Source '{source}'" in message
    assert "does not exist" in message
    assert_refused(run_cli(half_gone, "query", sql), f"Source '{source}'")


@pytest.mark.parametrize("extension", [".parquet", ".csv", ".json", ".jsonl", ".arrow"])
def test_a_failed_query_writes_no_output_file(half_gone, tmp_path, extension):
    out = tmp_path / "out" / f"result{extension}"
    out.parent.mkdir()
    for sql, says in (
        ("SELECT count(*) AS n FROM hrss.social_insurance_monthly", "Source 'hrss'"),
        (GONE_QUERIES["files_joined"][0], "Source 'tax'"),
        ("SELECT nope FROM market.enterprise", "Unknown column"),
    ):
        assert_refused(run_cli(half_gone, "query", sql, "--output", str(out)), says)
        assert list(out.parent.iterdir()) == []


GUAJIE = [sys.executable, "-m", "guajie"]

# A query whose error only shows once the local engine is running: DuckDB cannot cast 'x'.
LOCAL_FAILURE = (
    "SELECT CAST(CASE WHEN s.month = DATE '2024-06-01' THEN 'x' ELSE '1' END AS INTEGER) AS v "
    "FROM hrss.social_insurance_monthly s"
)


def test_a_local_failure_mid_stream_leaves_no_file(city_dir, tmp_path):
    home = tmp_path / "ws"
    catalog = Catalog.open(str(home))
    catalog.add_source("hrss", f"sqlite://{city_dir}/hrss.sqlite")
    catalog.crawl(sample=False)
    catalog.workspace.close()
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [*GUAJIE, "--home", str(home), "query", LOCAL_FAILURE, "-o", str(out / "v.parquet")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert list(out.iterdir()) == []


def test_a_local_failure_mid_stream_is_one_paragraph(city_dir, tmp_path):
    home = tmp_path / "ws"
    catalog = Catalog.open(str(home))
    catalog.add_source("hrss", f"sqlite://{city_dir}/hrss.sqlite")
    catalog.crawl(sample=False)
    with Session(catalog) as session, pytest.raises(GuajieError):
        session.query(LOCAL_FAILURE)
    result = subprocess.run(
        [*GUAJIE, "--home", str(home), "query", LOCAL_FAILURE],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("Error: ")


@pytest.mark.parametrize(
    "expression",
    [
        "unemployment_contribution / (headcount - headcount)",  # a decimal
        "headcount / (headcount - headcount)",  # an integer
    ],
)
def test_a_division_by_zero_fails_as_in_trino_and_try_makes_it_null(city_dir, tmp_path, expression):
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source("hrss", f"sqlite://{city_dir}/hrss.sqlite")
    catalog.crawl(sample=False)
    sql = f"SELECT {expression} AS q FROM hrss.social_insurance_monthly"
    with Session(catalog) as session:
        with pytest.raises(ExecutionError) as raised:
            session.query(sql)
        assert str(raised.value).startswith("Division by zero")
        assert "NULLIF" in str(raised.value) and "//" not in str(raised.value)
        tried = session.query(sql.replace(f"{expression} AS", f"TRY({expression}) AS"))
        assert tried.num_rows > 0 and tried.column("q").null_count == tried.num_rows


def test_integers_divide_as_integers_beyond_doubles(tmp_path):
    import sqlite3

    path = tmp_path / "big.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE b (i BIGINT, j BIGINT)")
        conn.executemany("INSERT INTO b VALUES (?, ?)", [(2**53 + 1, -7), (-(2**53) - 1, 2)])
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source("big", f"sqlite://{path}")
    catalog.crawl(sample=False)
    with Session(catalog) as session:
        got = session.query("SELECT i / 1 AS whole, i / j AS part FROM big.b ORDER BY whole")
    # Trino truncates toward zero, in 64 bits (a double would round 2^53 + 1 to 2^53).
    assert got.to_pylist() == [
        {"whole": -(2**53) - 1, "part": -((2**53 + 1) // 2)},
        {"whole": 2**53 + 1, "part": -((2**53 + 1) // 7)},
    ]


# -- PostgreSQL: down, slow, secrets --------------------------------------------------------------

PG_ENV = "GUAJIE_TEST_ERRORS_PG_PASSWORD"
SLEEP_SECONDS = 3.0
TIMEOUT = 0.5


@dataclass
class OwnPostgres:
    server: PostgresServer
    home: Path
    messages: list[str] = field(default_factory=list)

    def session(self, **options) -> Session:  # type: ignore[no-untyped-def]
        return Session(Catalog.open(str(self.home)), **options)

    def failure(self, session: Session, sql: str, error: type[Exception] = GuajieError) -> str:
        with pytest.raises(error) as info:
            session.query(sql)
        message = str(info.value)
        self.messages.append(message)
        one_paragraph(message)
        return message

    def cli(self, *args: str) -> Result:
        result = run_cli(self.home, *args)
        self.messages.append(result.output)
        return result


@pytest.fixture
def own_pg(
    city_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OwnPostgres]:
    """A PostgreSQL server of this test's own with a 100-row ``registry.enterprise`` and a
    view that sleeps, registered as ``pg`` next to the sample city's ``market`` (SQLite)."""
    with PostgresServer(env_var_name=PG_ENV) as server:
        monkeypatch.setenv(PG_ENV, server.password)
        with server.connect() as conn:
            conn.execute("CREATE SCHEMA registry")
            conn.execute(
                "CREATE TABLE registry.enterprise "
                "(credit_code text PRIMARY KEY, name text NOT NULL, capital numeric(18, 2))"
            )
            conn.execute(
                "INSERT INTO registry.enterprise "
                "SELECT 'c' || g, 'name ' || g, g * 10 FROM generate_series(1, 100) g"
            )
            conn.execute(
                "CREATE VIEW registry.slow AS SELECT g AS n, 'c' || g AS credit_code "
                f"FROM generate_series(1, 3) g, pg_sleep({SLEEP_SECONDS})"
            )
            conn.execute("ANALYZE")
        home = tmp_path / "ws"
        catalog = Catalog.open(str(home))
        catalog.add_source("pg", server.url + "?schemas=registry", password_env=PG_ENV)
        catalog.add_source("market", f"sqlite://{city_dir}/market.sqlite")
        catalog.crawl(sample=False)
        catalog.workspace.close()
        pg = OwnPostgres(server, home)
        yield pg
        for message in pg.messages:
            assert server.password not in message


PG_REFUSALS = {
    "SELECT nam FROM pg.registry.enterprise": "Did you mean 'name'",
    "SELECT * FROM pg.registry.enterprize": "Did you mean 'pg.registry.enterprise'",
    "SELECT name FROM pg.registry.enterprise WHERE": "Syntax error",
    "DELETE FROM pg.registry.enterprise": "read-only",
    "INSERT INTO pg.registry.enterprise VALUES ('x', 'y', 1)": "read-only",
    "SELECT * INTO pg.registry.copy FROM pg.registry.enterprise": "SELECT ... INTO",
    "SELECT e.name FROM pg.registry.enterprise e JOIN market.district d ON e.capital = d.name": (
        "CAST"
    ),
    "SELECT * FROM read_parquet('/tmp/x.parquet')": "not a catalog dataset",
}


@pytest.mark.servers
def test_postgresql_stopped_mid_test(own_pg, touched):
    """Refusals still say what is wrong with the query once the server is down; queries
    that need it name it."""
    with own_pg.session() as session:
        assert session.query("SELECT count(*) AS n FROM pg.registry.enterprise").to_pylist() == [
            {"n": 100}
        ]
        own_pg.server.stop()
        touched.clear()
        for sql, says in PG_REFUSALS.items():
            message = own_pg.failure(session, sql, QueryError)
            assert says in message, message
            assert_refused(own_pg.cli("query", sql), says)
        assert touched == []

        for sql in (
            "SELECT count(*) AS n FROM pg.registry.enterprise",
            "SELECT e.name, d.name AS district FROM pg.registry.enterprise e "
            "JOIN market.district d ON e.credit_code = d.district_code",
        ):
            message = own_pg.failure(session, sql, SourceError)
            assert "Source 'pg'" in message and "is the server running?" in message
            assert_refused(own_pg.cli("query", sql), "Source 'pg'")


@pytest.mark.servers
def test_postgresql_stopped_while_a_query_runs(own_pg):
    with own_pg.session() as session:
        stopper = threading.Timer(1.0, own_pg.server.stop)
        stopper.start()
        try:
            message = own_pg.failure(session, "SELECT n, credit_code FROM pg.registry.slow")
        finally:
            stopper.join()
    assert message.startswith("Source 'pg': "), message


@pytest.mark.servers
def test_wrong_password_is_named_but_never_shown(own_pg, monkeypatch):
    wrong = "wrong-" + own_pg.server.password[::-1]
    monkeypatch.setenv(PG_ENV, wrong)
    with own_pg.session() as session:
        message = own_pg.failure(session, "SELECT name FROM pg.registry.enterprise", SourceError)
    assert "authentication failed" in message and PG_ENV in message
    assert wrong not in message
    result = own_pg.cli("query", "SELECT name FROM pg.registry.enterprise")
    assert_refused(result, "authentication failed")
    assert wrong not in result.output


SLOW_JOIN = (
    "SELECT s.n, d.name FROM pg.registry.slow s "
    "JOIN market.district d ON s.credit_code = d.district_code"
)


@pytest.mark.servers
def test_a_slow_source_times_out_and_is_named(own_pg):
    with own_pg.session(timeout=TIMEOUT) as session:
        started = time.monotonic()
        message = own_pg.failure(session, SLOW_JOIN, ExecutionError)
        elapsed = time.monotonic() - started
    assert "timed out" in message and "'pg'" in message
    assert elapsed < SLEEP_SECONDS - 0.5, elapsed
    result = own_pg.cli("query", "--timeout", str(TIMEOUT), SLOW_JOIN)
    assert_refused(result, "timed out", "pg")


@pytest.mark.servers
def test_a_slow_source_times_out_when_the_query_is_pushed_whole(own_pg):
    with own_pg.session(timeout=TIMEOUT) as session:
        message = own_pg.failure(session, "SELECT n FROM pg.registry.slow", ExecutionError)
    assert "timed out" in message and "'pg'" in message


@pytest.mark.servers
def test_a_timeout_is_reported_on_time_while_a_source_is_blocked(own_pg):
    sql = (
        "SELECT e.name FROM pg.registry.enterprise p "
        "JOIN market.enterprise e ON e.credit_code = p.credit_code "
        "WHERE e.district_code = '330102' AND e.status = '吊销' AND e.industry = '制造业'"
    )
    # The SQLite side must answer before the time limit for PostgreSQL to be the one
    # waited on: three times the usual limit leaves it room on a loaded machine.
    with own_pg.session(timeout=3 * TIMEOUT) as session:
        plan = session.plan(sql)
        assert any(f.dynamic_filters for f in plan.fragments), plan.explain()
        locker = own_pg.server.connect(autocommit=False)
        locker.execute("LOCK TABLE registry.enterprise IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(SLEEP_SECONDS, locker.rollback)
        release.start()
        try:
            started = time.monotonic()
            message = own_pg.failure(session, sql, ExecutionError)
            elapsed = time.monotonic() - started
        finally:
            release.join()
            locker.close()
    assert "timed out" in message and "pg" in message
    assert elapsed < SLEEP_SECONDS - 0.5, elapsed


@pytest.mark.servers
def test_a_source_failing_mid_stream_leaves_no_file(own_pg, tmp_path):
    """PostgreSQL fails the cast once rows are fetched, after the output file was opened."""
    sql = "SELECT CAST(name AS INTEGER) AS n FROM pg.registry.enterprise"
    with own_pg.session() as session:
        message = own_pg.failure(session, sql, SourceError)
    assert "Source 'pg'" in message and "invalid input syntax" in message
    out = tmp_path / "out"
    out.mkdir()
    for extension in (".parquet", ".csv", ".json", ".arrow"):
        result = own_pg.cli("query", sql, "--output", str(out / f"n{extension}"))
        assert_refused(result, "Source 'pg'")
        assert list(out.iterdir()) == []


def test_an_unknown_dialect_is_named_with_a_suggestion(tmp_path):
    session = Session(Catalog.open(str(tmp_path / "ws")))
    with pytest.raises(QueryError, match=r"Unknown SQL dialect 'postgress'\. Did you mean"):
        session.plan("SELECT 1", dialect="postgress")
    session.close()
