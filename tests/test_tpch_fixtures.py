"""The TPC-H material for the federated SQL tests: queries, data, loaders and comparison.

SF 0.01 data is generated once for the module. DuckDB over the generated Parquet files is
the reference; the same 22 queries run on DuckDB over the SQLite and Parquet copies, and
natively on PostgreSQL and MariaDB over the loaded tables, must give the same answers.
"""

from __future__ import annotations

import datetime
import re
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.servers import MariaDBServer, PostgresServer
from tests.tpch import (
    LIMITS,
    ORDER_BY,
    QUERY_NUMBERS,
    TABLES,
    is_ordered,
    load_query,
    query_tables,
)
from tests.tpch.compare import assert_same_result, rows_to_table
from tests.tpch.data import (
    PLACEMENT,
    SOURCE_KINDS,
    arrow_schema,
    duckdb_connection,
    expected_row_counts,
    generate_tpch,
    load_mysql,
    load_postgres,
    load_sqlite,
    read_sqlite,
    read_table,
    reference_connection,
    tables_in,
    write_parquet,
)

SCALE = 0.01
# Queries that return no row at SF 0.01: none (Q18, Q20 and Q21 are the thinnest: 2, 1, 1).
EMPTY_AT_SF001: frozenset[int] = frozenset()
PG_SCHEMA = "tpch_fixture_test"
MARIADB_DATABASE = "guajie_tpch_fixture_test"
# MariaDB keeps only 4 more decimal digits in a division or average than its operand has
# (div_precision_increment): Q1's avg(l_discount) comes back as 0.050081 for 0.0500813...,
# off by about 1e-5 relative. Every other query matches to 1e-6.
MARIADB_NATIVE_TOL = {1: 1e-4}


def run_duckdb(conn: duckdb.DuckDBPyConnection, number: int) -> pa.Table:
    return conn.sql(load_query(number)).to_arrow_table()


def run_dbapi(conn: Any, sql: str) -> pa.Table:
    with conn.cursor() as cur:
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        return rows_to_table(names, cur.fetchall())


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def sf001(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_tpch(tmp_path_factory.mktemp("tpch-data"), SCALE)


@pytest.fixture(scope="module")
def sf001_tables(sf001: dict[str, Path]) -> dict[str, pa.Table]:
    return {name: read_table(path) for name, path in sf001.items()}


@pytest.fixture(scope="module")
def reference(sf001: dict[str, Path]) -> Iterator[duckdb.DuckDBPyConnection]:
    conn = reference_connection(sf001)
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def expected(reference: duckdb.DuckDBPyConnection) -> dict[int, pa.Table]:
    return {n: run_duckdb(reference, n) for n in QUERY_NUMBERS}


@pytest.fixture(scope="module")
def sqlite_file(tmp_path_factory: pytest.TempPathFactory, sf001: dict[str, Path]) -> Path:
    path = tmp_path_factory.mktemp("tpch-sqlite") / "tpch.sqlite"
    load_sqlite(path, sf001)
    return path


@pytest.fixture(scope="module", params=["sqlite-only", "sqlite+parquet"])
def local_sources(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_file: Path,
    sf001_tables: dict[str, pa.Table],
) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB over the SQLite copy (read by declared type) and re-written Parquet files.

    ``sqlite-only``: every table from SQLite. ``sqlite+parquet``: the SQLite tables of the
    placement from SQLite, every other table from ``write_parquet`` output (lineitem as a
    directory of parts). DuckDB's own SQLite scanner is an extension it downloads on first
    use, which this offline machine cannot do, so the file is read with ``sqlite3``.
    """
    if request.param == "sqlite-only":
        sources: dict[str, pa.Table | Path] = dict(read_sqlite(sqlite_file))
    else:
        from_sqlite = tables_in("sqlite")
        parquet = write_parquet(
            tmp_path_factory.mktemp("tpch-parquet"),
            {t: sf001_tables[t] for t in TABLES if t not in from_sqlite},
        )
        sources = {**read_sqlite(sqlite_file, from_sqlite), **parquet}
    conn = duckdb_connection(sources)
    yield conn
    conn.close()


# --------------------------------------------------------------------------------------------
# Queries


def test_query_files_match_their_metadata() -> None:
    for number in QUERY_NUMBERS:
        sql = load_query(number)
        assert sql and not sql.endswith(";"), number
        assert ("ORDER BY" in sql) == is_ordered(number), number
        limit = re.search(r"\bLIMIT (\d+)\s*$", sql)
        assert (int(limit.group(1)) if limit else None) == LIMITS.get(number), number
        assert not re.search(r"\.\s*(" + "|".join(TABLES) + r")\b", sql), "qualified name"
        assert query_tables(number), number
    assert query_tables(1) == {"lineitem"}
    assert query_tables(13) == {"customer", "orders"}
    assert len(query_tables(8)) == 7
    assert "WITH revenue0 AS" in load_query(15)
    assert "INTERVAL '90' DAY" in load_query(1)


def test_placement_puts_each_table_in_one_source() -> None:
    assert sorted(PLACEMENT) == sorted(TABLES)
    assert set(PLACEMENT.values()) == set(SOURCE_KINDS)
    assert sum(len(tables_in(kind)) for kind in SOURCE_KINDS) == len(TABLES)
    kinds_per_query = {n: {PLACEMENT[t] for t in query_tables(n)} for n in QUERY_NUMBERS}
    single = {n for n, kinds in kinds_per_query.items() if len(kinds) == 1}
    assert single == {1, 6, 13, 22}
    assert max(len(kinds) for kinds in kinds_per_query.values()) == 4


# --------------------------------------------------------------------------------------------
# Generation


def test_generate_tpch_types_counts_and_cache(sf001: dict[str, Path]) -> None:
    assert set(sf001) == set(TABLES)
    raw = pq.read_schema(sf001["lineitem"])
    assert raw.field("l_orderkey").type == pa.int64()
    assert raw.field("l_linenumber").type == pa.int32()
    assert raw.field("l_quantity").type == pa.decimal128(15, 2)
    assert raw.field("l_shipdate").type == pa.date32()
    assert raw.field("l_comment").type in (pa.string_view(), pa.string(), pa.large_string())

    counts = {}
    for name, path in sf001.items():
        table = read_table(path)
        assert table.schema.equals(arrow_schema(name)), name
        counts[name] = table.num_rows
    assert {t: counts[t] for t in expected_row_counts(SCALE)} == expected_row_counts(SCALE)
    assert counts["lineitem"] == 60_175

    stamps = {name: path.stat().st_mtime_ns for name, path in sf001.items()}
    again = generate_tpch(sf001["lineitem"].parent.parent, SCALE)
    assert again == sf001
    assert {name: path.stat().st_mtime_ns for name, path in again.items()} == stamps


@pytest.mark.parametrize("number", QUERY_NUMBERS)
def test_reference_answers(number: int, expected: dict[int, pa.Table]) -> None:
    result = expected[number]
    assert result.num_columns >= 1
    if number in EMPTY_AT_SF001:
        assert result.num_rows == 0
    else:
        assert result.num_rows >= 1
    assert result.num_rows <= LIMITS.get(number, result.num_rows)
    assert {n.casefold() for n in ORDER_BY[number]} <= set(result.column_names)


def test_reference_q1_and_q6_values(expected: dict[int, pa.Table]) -> None:
    q1 = expected[1].to_pylist()
    assert [(r["l_returnflag"], r["l_linestatus"]) for r in q1] == [
        ("A", "F"),
        ("N", "F"),
        ("N", "O"),
        ("R", "F"),
    ]
    assert sum(r["count_order"] for r in q1) < 60_175
    assert expected[6].column("revenue")[0].as_py() > 0


# --------------------------------------------------------------------------------------------
# SQLite and Parquet copies


def test_sqlite_storage_and_read_back(sqlite_file: Path, sf001_tables: dict[str, pa.Table]) -> None:
    with sqlite3.connect(sqlite_file) as conn:
        storage = dict(
            conn.execute(
                "SELECT typeof(l_shipdate) || ' ' || typeof(l_quantity)"
                " || ' ' || typeof(l_discount), count(*) FROM lineitem GROUP BY 1"
            ).fetchall()
        )
        # 17.00 is stored as the integer 17 (NUMERIC affinity), 0.04 as a real.
        assert set(storage) <= {"text integer real", "text real real", "text integer integer"}
        first_ship = min(sf001_tables["lineitem"].column("l_shipdate").to_pylist())
        assert conn.execute("SELECT min(l_shipdate) FROM lineitem").fetchone() == (
            first_ship.isoformat(),
        )
        assert conn.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
    back = read_sqlite(sqlite_file)
    assert sorted(back) == sorted(TABLES)
    assert back["lineitem"].schema.field("l_shipdate").type == pa.date32()
    assert back["lineitem"].schema.field("l_quantity").type == pa.float64()
    for name, table in back.items():
        assert table.num_rows == sf001_tables[name].num_rows, name
        assert_same_result(table, sf001_tables[name], ordered=False)


def test_write_parquet_splits_lineitem(tmp_path: Path, sf001_tables: dict[str, pa.Table]) -> None:
    paths = write_parquet(tmp_path, {t: sf001_tables[t] for t in ("lineitem", "nation")})
    assert paths["nation"].is_file()
    assert paths["lineitem"].is_dir()
    parts = sorted(paths["lineitem"].glob("*.parquet"))
    assert len(parts) == 4
    assert all(pq.ParquetFile(p).metadata.num_row_groups >= 3 for p in parts)
    assert read_table(paths["lineitem"]).equals(sf001_tables["lineitem"])


@pytest.mark.parametrize("number", QUERY_NUMBERS)
def test_local_sources_match_reference(
    number: int, local_sources: duckdb.DuckDBPyConnection, expected: dict[int, pa.Table]
) -> None:
    actual = run_duckdb(local_sources, number)
    assert_same_result(
        actual, expected[number], ordered=is_ordered(number), order_by=ORDER_BY[number]
    )


# --------------------------------------------------------------------------------------------
# compare.py


def _t(**columns: Any) -> pa.Table:
    return pa.table(columns)


def test_compare_normalises_representations() -> None:
    expected = pa.table(
        {
            "Name": pa.array(["AIR", "MAIL"], pa.string_view()),
            "qty": pa.array([Decimal("17.00"), Decimal("0.05")], pa.decimal128(15, 2)),
            "n": pa.array([1, 2], pa.int64()),
            "day": pa.array([datetime.date(1995, 3, 15), datetime.date(1996, 1, 2)]),
        }
    )
    actual = pa.table(
        {
            "name": pa.array(["AIR       ", "MAIL      "]),  # CHAR(10) padding
            "QTY": pa.array([17.000000001, 0.05], pa.float64()),
            "N": pa.array([1, 2], pa.int32()),
            "day": pa.array(["1995-03-15", "1996-01-02"]),
        }
    )
    assert_same_result(actual, expected, ordered=True)
    as_timestamps = actual.set_column(
        3,
        "day",
        pa.array([datetime.datetime(1995, 3, 15), datetime.datetime(1996, 1, 2)]),
    )
    assert_same_result(as_timestamps, expected, ordered=True)


def test_compare_reports_differences() -> None:
    expected = _t(k=["a", "b", "c"], v=[1.0, 2.0, 3.0])
    with pytest.raises(AssertionError, match=r"\(differs in v\)"):
        assert_same_result(_t(k=["a", "b", "c"], v=[1.0, 2.1, 3.0]), expected, ordered=False)
    with pytest.raises(AssertionError, match=r"missing from actual \(1\):\n  \('c', 3.0\)"):
        assert_same_result(_t(k=["a", "b"], v=[1.0, 2.0]), expected, ordered=False)
    with pytest.raises(AssertionError, match=r"unexpected rows in actual \(1\)"):
        assert_same_result(
            _t(k=["a", "b", "c", "c"], v=[1.0, 2.0, 3.0, 3.0]), expected, ordered=False
        )
    with pytest.raises(AssertionError, match="column names differ"):
        assert_same_result(_t(x=["a", "b", "c"], v=[1.0, 2.0, 3.0]), expected, ordered=False)
    with pytest.raises(AssertionError, match=r"1 columns \[.k.\], expected 2"):
        assert_same_result(_t(k=["a", "b", "c"]), expected, ordered=False)
    with pytest.raises(AssertionError, match="1 rows, expected 1"):
        assert_same_result(_t(n=[1]), _t(n=[2]), ordered=False)  # ints compare exactly
    assert_same_result(_t(n=[1]), _t(n=[1.0000000001]), ordered=False)


def test_compare_order() -> None:
    expected = _t(k=["x", "y", "y", "z"], v=[4.0, 3.0, 2.0, 1.0])
    shuffled = _t(k=["y", "x", "z", "y"], v=[2.0, 4.0, 1.0, 3.0])
    assert_same_result(shuffled, expected, ordered=False)
    with pytest.raises(AssertionError, match="different order: first difference at row 0"):
        assert_same_result(shuffled, expected, ordered=True, order_by=["k"])
    ties_swapped = _t(k=["x", "y", "y", "z"], v=[4.0, 2.0, 3.0, 1.0])
    assert_same_result(ties_swapped, expected, ordered=True, order_by=["K"])
    with pytest.raises(AssertionError, match="first difference at row 1"):
        assert_same_result(ties_swapped, expected, ordered=True)
    with pytest.raises(ValueError, match="not in"):
        assert_same_result(expected, expected, ordered=True, order_by=["nope"])


def test_compare_float_noise_within_a_group() -> None:
    expected = _t(k=["a", "a"], v=[1.0, 1.0 + 1e-12])
    actual = _t(k=["a", "a"], v=[1.0 + 2e-12, 1.0 - 1e-12])
    assert_same_result(actual, expected, ordered=False)
    assert_same_result(_t(v=[None, 0.0]), _t(v=[0.0, None]), ordered=False)
    with pytest.raises(AssertionError):
        assert_same_result(_t(v=[None]), _t(v=[0.0]), ordered=False)


# --------------------------------------------------------------------------------------------
# Servers


def _assert_tables_round_trip(conn: Any, sf001_tables: dict[str, pa.Table], qualify: str) -> None:
    for name in TABLES:
        back = run_dbapi(conn, f"SELECT * FROM {qualify}{name}")
        assert back.num_rows == sf001_tables[name].num_rows, name
        assert_same_result(back, sf001_tables[name], ordered=False)
    # Leading and trailing spaces of VARCHAR values survive the CSV path.
    trailing = sum(
        1 for v in sf001_tables["orders"].column("o_comment").to_pylist() if v[-1] == " "
    )
    leading = sum(1 for v in sf001_tables["nation"].column("n_comment").to_pylist() if v[0] == " ")
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {qualify}orders WHERE o_comment LIKE '% '")
        assert cur.fetchone()[0] == trailing > 0
        cur.execute(f"SELECT count(*) FROM {qualify}nation WHERE n_comment LIKE ' %'")
        assert cur.fetchone()[0] == leading > 0


@pytest.mark.servers
def test_postgres_load_and_native_queries(
    postgres_server: PostgresServer,
    sf001: dict[str, Path],
    sf001_tables: dict[str, pa.Table],
    expected: dict[int, pa.Table],
) -> None:
    counts = load_postgres(postgres_server.conninfo, sf001, schema=PG_SCHEMA)
    assert counts == {name: t.num_rows for name, t in sf001_tables.items()}
    with postgres_server.connect() as conn:
        _assert_tables_round_trip(conn, sf001_tables, f"{PG_SCHEMA}.")
        row = conn.execute(
            "SELECT data_type, character_maximum_length FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'lineitem'"
            " AND column_name = 'l_shipmode'",
            (PG_SCHEMA,),
        ).fetchone()
        assert row == ("character", 10)
        conn.execute(f"SET search_path TO {PG_SCHEMA}")
        for number in QUERY_NUMBERS:
            actual = run_dbapi(conn, load_query(number))
            assert_same_result(
                actual, expected[number], ordered=is_ordered(number), order_by=ORDER_BY[number]
            )


@pytest.mark.servers
def test_mariadb_load_and_native_queries(
    mariadb_server: MariaDBServer,
    sf001: dict[str, Path],
    sf001_tables: dict[str, pa.Table],
    expected: dict[int, pa.Table],
) -> None:
    counts = load_mysql(mariadb_server.connect_kwargs, sf001, database=MARIADB_DATABASE)
    assert counts == {name: t.num_rows for name, t in sf001_tables.items()}
    with mariadb_server.connect() as conn:
        _assert_tables_round_trip(conn, sf001_tables, f"{MARIADB_DATABASE}.")
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_collation FROM information_schema.tables"
                " WHERE table_schema = %s AND table_name = 'lineitem'",
                (MARIADB_DATABASE,),
            )
            assert cur.fetchone()[0] == mariadb_server.collation
            cur.execute(f"USE {MARIADB_DATABASE}")
            cur.execute("SELECT count(*) FROM region WHERE r_name = 'europe  '")
            assert cur.fetchone()[0] == 1  # case-insensitive, PAD SPACE
        for number in QUERY_NUMBERS:
            actual = run_dbapi(conn, load_query(number))
            assert_same_result(
                actual,
                expected[number],
                ordered=is_ordered(number),
                order_by=ORDER_BY[number],
                float_tol=MARIADB_NATIVE_TOL.get(number, 1e-6),
            )
