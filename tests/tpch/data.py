"""TPC-H data: generation with ``tpchgen-cli``, placement over four source kinds, loaders.

Generated data
    :func:`generate_tpch` runs ``tpchgen-cli parquet`` (the ``tpchgen-cli`` package on PyPI,
    a Rust port of ``dbgen`` that produces the same rows) and caches one directory per scale
    factor. It writes one Snappy-compressed file per table, ``<table>.parquet``, with row
    groups of about 7 MiB (lineitem: 1 row group at SF 0.01, 6 at SF 0.1, 53 at SF 1). Its
    Arrow types, all columns ``NOT NULL`` (TPC-H has no NULLs):

    * keys (``*_custkey``, ``*_orderkey``, ``*_partkey``, ``*_suppkey``, ``*_nationkey``,
      ``*_regionkey``): ``int64``;
    * ``l_linenumber``, ``o_shippriority``, ``ps_availqty``, ``p_size``: ``int32``;
    * money, quantities, discounts and taxes: ``decimal128(15, 2)``;
    * dates (``o_orderdate``, ``l_shipdate``, ``l_commitdate``, ``l_receiptdate``):
      ``date32``;
    * text, fixed-width (``CHAR``) or not in the specification: ``string_view``. Many
      ``VARCHAR`` values (comments, addresses) begin or end with a space; no ``CHAR`` value
      does, and every value fits the specification's length.

    :func:`read_table` reads such a file (or a directory of parts) and turns ``string_view``
    into ``string``, which every consumer here (CSV writer, DuckDB, sqlite3) handles.

Placement
    :data:`PLACEMENT` puts each table in exactly one source kind. Database types follow the
    specification's DDL (clause 1.4), with keys as ``BIGINT`` so that they read back as the
    ``int64`` that the Parquet files hold, and a primary key on every table.

    * PostgreSQL: ``CHAR(n)`` values come back blank-padded to ``n`` characters.
    * MariaDB: tables take the server's default character set and collation (a
      case-insensitive ``PAD SPACE`` one such as ``utf8mb4_general_ci``): ``'a' = 'A '`` is
      true there. ``CHAR(n)`` values come back without trailing spaces.
    * SQLite: declared types (``BIGINT``, ``INTEGER``, ``DECIMAL(15,2)``, ``DATE``,
      ``CHAR(n)``, ``VARCHAR(n)``) only set a column affinity. Dates are stored as ISO
      ``'YYYY-MM-DD'`` text, decimals as binary floating point (``REAL``); a decimal column
      has ``NUMERIC`` affinity, so a value with no fraction (``17.00``) is stored as the
      ``INTEGER`` 17. :func:`read_sqlite` reads tables back by declared type.
    * Parquet: written by :func:`write_parquet` with the generated types; ``lineitem`` is a
      directory of several files with several row groups each.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeAlias

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tests.tpch import TABLES

TableSource: TypeAlias = pa.Table | Path
SourceKind = Literal["postgres", "mariadb", "sqlite", "parquet"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("postgres", "mariadb", "sqlite", "parquet")

# Each table in exactly one place. With this split, 18 of the 22 queries join tables from
# two or more kinds of source; Q1 and Q6 read Parquet only, Q13 and Q22 PostgreSQL only.
PLACEMENT: dict[str, SourceKind] = {
    "orders": "postgres",
    "customer": "postgres",
    "partsupp": "mariadb",
    "supplier": "mariadb",
    "nation": "sqlite",
    "region": "sqlite",
    "part": "sqlite",
    "lineitem": "parquet",
}

DEFAULT_PG_SCHEMA = "tpch"
DEFAULT_MYSQL_DATABASE = "guajie_tpch"  # the test MariaDB user may create guajie_* only
# Parquet files per table written by ``write_parquet`` (tables not named: one file).
DEFAULT_PARQUET_PARTS: dict[str, int] = {"lineitem": 4}
ROW_GROUPS_PER_FILE = 4

_CSV_CHUNK_ROWS = 65_536
_SQLITE_CHUNK_ROWS = 50_000


# --------------------------------------------------------------------------------------------
# Schema (TPC-H specification clause 1.4, keys widened to BIGINT)


ColumnKind = Literal["bigint", "integer", "decimal", "date", "char", "varchar"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    length: int = 0  # for char / varchar

    def sql_type(self) -> str:
        """The column type in SQL, the same text for PostgreSQL, MariaDB and SQLite."""
        if self.kind == "bigint":
            return "BIGINT"
        if self.kind == "integer":
            return "INTEGER"
        if self.kind == "decimal":
            return "DECIMAL(15,2)"
        if self.kind == "date":
            return "DATE"
        return f"{self.kind.upper()}({self.length})"

    def arrow_type(self) -> pa.DataType:
        """The Arrow type ``tpchgen-cli`` writes for this column (strings as ``string``)."""
        return {
            "bigint": pa.int64(),
            "integer": pa.int32(),
            "decimal": pa.decimal128(15, 2),
            "date": pa.date32(),
            "char": pa.string(),
            "varchar": pa.string(),
        }[self.kind]


def _c(name: str, kind: ColumnKind, length: int = 0) -> Column:
    return Column(name, kind, length)


SCHEMA: dict[str, tuple[Column, ...]] = {
    "region": (
        _c("r_regionkey", "bigint"),
        _c("r_name", "char", 25),
        _c("r_comment", "varchar", 152),
    ),
    "nation": (
        _c("n_nationkey", "bigint"),
        _c("n_name", "char", 25),
        _c("n_regionkey", "bigint"),
        _c("n_comment", "varchar", 152),
    ),
    "supplier": (
        _c("s_suppkey", "bigint"),
        _c("s_name", "char", 25),
        _c("s_address", "varchar", 40),
        _c("s_nationkey", "bigint"),
        _c("s_phone", "char", 15),
        _c("s_acctbal", "decimal"),
        _c("s_comment", "varchar", 101),
    ),
    "customer": (
        _c("c_custkey", "bigint"),
        _c("c_name", "varchar", 25),
        _c("c_address", "varchar", 40),
        _c("c_nationkey", "bigint"),
        _c("c_phone", "char", 15),
        _c("c_acctbal", "decimal"),
        _c("c_mktsegment", "char", 10),
        _c("c_comment", "varchar", 117),
    ),
    "part": (
        _c("p_partkey", "bigint"),
        _c("p_name", "varchar", 55),
        _c("p_mfgr", "char", 25),
        _c("p_brand", "char", 10),
        _c("p_type", "varchar", 25),
        _c("p_size", "integer"),
        _c("p_container", "char", 10),
        _c("p_retailprice", "decimal"),
        _c("p_comment", "varchar", 23),
    ),
    "partsupp": (
        _c("ps_partkey", "bigint"),
        _c("ps_suppkey", "bigint"),
        _c("ps_availqty", "integer"),
        _c("ps_supplycost", "decimal"),
        _c("ps_comment", "varchar", 199),
    ),
    "orders": (
        _c("o_orderkey", "bigint"),
        _c("o_custkey", "bigint"),
        _c("o_orderstatus", "char", 1),
        _c("o_totalprice", "decimal"),
        _c("o_orderdate", "date"),
        _c("o_orderpriority", "char", 15),
        _c("o_clerk", "char", 15),
        _c("o_shippriority", "integer"),
        _c("o_comment", "varchar", 79),
    ),
    "lineitem": (
        _c("l_orderkey", "bigint"),
        _c("l_partkey", "bigint"),
        _c("l_suppkey", "bigint"),
        _c("l_linenumber", "integer"),
        _c("l_quantity", "decimal"),
        _c("l_extendedprice", "decimal"),
        _c("l_discount", "decimal"),
        _c("l_tax", "decimal"),
        _c("l_returnflag", "char", 1),
        _c("l_linestatus", "char", 1),
        _c("l_shipdate", "date"),
        _c("l_commitdate", "date"),
        _c("l_receiptdate", "date"),
        _c("l_shipinstruct", "char", 25),
        _c("l_shipmode", "char", 10),
        _c("l_comment", "varchar", 44),
    ),
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "region": ("r_regionkey",),
    "nation": ("n_nationkey",),
    "supplier": ("s_suppkey",),
    "customer": ("c_custkey",),
    "part": ("p_partkey",),
    "partsupp": ("ps_partkey", "ps_suppkey"),
    "orders": ("o_orderkey",),
    "lineitem": ("l_orderkey", "l_linenumber"),
}


def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of ``table`` as :func:`read_table` returns it."""
    return pa.schema([pa.field(c.name, c.arrow_type(), nullable=False) for c in SCHEMA[table]])


def expected_row_counts(scale: float) -> dict[str, int]:
    """Row counts fixed by the specification (lineitem varies: about 6,000,000 x scale)."""
    return {
        "region": 5,
        "nation": 25,
        "supplier": round(10_000 * scale),
        "customer": round(150_000 * scale),
        "part": round(200_000 * scale),
        "partsupp": round(800_000 * scale),
        "orders": round(1_500_000 * scale),
    }


def tables_in(kind: SourceKind) -> tuple[str, ...]:
    """The tables :data:`PLACEMENT` puts in sources of ``kind``, in :data:`TABLES` order."""
    return tuple(t for t in TABLES if PLACEMENT[t] == kind)


def _create_table_sql(name: str, qualified: str) -> str:
    columns = [f"{c.name} {c.sql_type()} NOT NULL" for c in SCHEMA[name]]
    columns.append(f"PRIMARY KEY ({', '.join(PRIMARY_KEYS[name])})")
    body = ",\n  ".join(columns)
    return f"CREATE TABLE {qualified} (\n  {body}\n)"


# --------------------------------------------------------------------------------------------
# Generation


def _tpchgen_executable() -> str:
    beside_python = Path(sys.executable).parent / "tpchgen-cli"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("tpchgen-cli")
    if found is None:
        raise RuntimeError(
            "tpchgen-cli is not installed: pip install tpchgen-cli (into "
            f"{sys.prefix}) to generate TPC-H data"
        )
    return found


def scale_dir_name(scale: float) -> str:
    """The cache directory name of ``scale``: ``sf0.01``, ``sf0.1``, ``sf1``."""
    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale factor must be positive, not {scale!r}")
    return f"sf{scale:g}"


def default_cache_dir() -> Path:
    """``$GUAJIE_TPCH_CACHE`` or ``<tmp>/guajie-tpch``: generated data kept across runs."""
    env = os.environ.get("GUAJIE_TPCH_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "guajie-tpch"


def _table_files(directory: Path) -> dict[str, Path]:
    return {t: directory / f"{t}.parquet" for t in TABLES}


def generate_tpch(out_dir: Path, scale: float) -> dict[str, Path]:
    """Generate (or reuse) TPC-H data at ``scale`` as ``out_dir/sf<scale>/<table>.parquet``.

    Generation goes to a temporary directory beside the target, which is renamed into
    place when complete, so an interrupted run never leaves a half-written cache and
    concurrent callers agree on one copy. Returns the file of every table.
    """
    out_dir = Path(out_dir)
    target = out_dir / scale_dir_name(scale)
    files = _table_files(target)
    if all(p.is_file() for p in files.values()):
        return files
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=out_dir))
    try:
        argv = [
            _tpchgen_executable(),
            "parquet",
            f"--scale-factor={scale:g}",
            f"--output-dir={work}",
            "--quiet",
            "--no-progress",
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed with status {proc.returncode}:\n{proc.stderr}"
            )
        missing = [t for t, p in _table_files(work).items() if not p.is_file()]
        if missing:
            raise RuntimeError(f"tpchgen-cli wrote no file for {missing} in {work}")
        if target.exists() and not all(p.is_file() for p in files.values()):
            shutil.rmtree(target)  # an incomplete copy from an older layout
        with contextlib.suppress(FileExistsError, OSError):
            work.rename(target)  # loses the race harmlessly if another caller won it
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not all(p.is_file() for p in files.values()):
        raise RuntimeError(f"TPC-H data for scale {scale:g} is incomplete in {target}")
    return files


# --------------------------------------------------------------------------------------------
# Reading


def _plain_strings(table: pa.Table) -> pa.Table:
    fields = [
        pa.field(f.name, pa.string(), f.nullable, f.metadata)
        if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type)
        else f
        for f in table.schema
    ]
    target = pa.schema(fields)
    return table if target.equals(table.schema) else table.cast(target)


def read_table(source: TableSource) -> pa.Table:
    """An Arrow table from a table, a Parquet file or a directory of Parquet files.

    ``string_view`` and ``large_string`` columns become ``string``.
    """
    if isinstance(source, pa.Table):
        return _plain_strings(source)
    path = Path(source)
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise FileNotFoundError(f"no *.parquet files in {path}")
        return _plain_strings(pa.concat_tables(pq.read_table(p) for p in parts))
    return _plain_strings(pq.read_table(path))


def _checked(name: str, source: TableSource) -> pa.Table:
    if name not in SCHEMA:
        raise ValueError(f"{name!r} is not a TPC-H table")
    table = read_table(source)
    expected = [c.name for c in SCHEMA[name]]
    if table.column_names != expected:
        raise ValueError(f"{name}: columns {table.column_names} differ from {expected}")
    for column_name, column in zip(table.column_names, table.columns, strict=True):
        if column.null_count:
            raise ValueError(f"{name}.{column_name} has NULLs; TPC-H data has none")
    return table


def _csv_chunks(table: pa.Table) -> Iterator[bytes]:
    """CSV text of ``table`` without a header, a chunk of rows at a time.

    Every string is quoted (an empty string is ``""``, never an empty field), numbers and
    dates are not; decimals keep their scale (``24710.35``) and dates are ISO.
    """
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in table.to_batches(max_chunksize=_CSV_CHUNK_ROWS):
        buffer = io.BytesIO()
        pa_csv.write_csv(batch, buffer, options)
        yield buffer.getvalue()


# --------------------------------------------------------------------------------------------
# PostgreSQL


def load_postgres(
    conninfo: str,
    tables: Mapping[str, TableSource],
    *,
    schema: str = DEFAULT_PG_SCHEMA,
) -> dict[str, int]:
    """(Re)create ``tables`` in ``schema`` and fill them with ``COPY ... FROM STDIN``.

    One transaction creates the schema if missing, drops and creates each table, copies the
    rows in and runs ``ANALYZE``. Returns the rows loaded per table.
    """
    import psycopg
    from psycopg import sql

    counts: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        for name, source in tables.items():
            table = _checked(name, source)
            qualified = sql.Identifier(schema, name).as_string(conn)
            conn.execute(f"DROP TABLE IF EXISTS {qualified}")
            conn.execute(_create_table_sql(name, qualified))
            columns = ", ".join(table.column_names)
            copy_sql = f"COPY {qualified} ({columns}) FROM STDIN (FORMAT csv)"
            with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for chunk in _csv_chunks(table):
                    copy.write(chunk)
            counts[name] = table.num_rows
        for name in tables:
            conn.execute(f"ANALYZE {sql.Identifier(schema, name).as_string(conn)}")
    return counts


# --------------------------------------------------------------------------------------------
# MariaDB / MySQL


def _mysql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def load_mysql(
    connect_kwargs: Mapping[str, Any],
    tables: Mapping[str, TableSource],
    *,
    database: str | None = DEFAULT_MYSQL_DATABASE,
) -> dict[str, int]:
    """(Re)create ``tables`` in ``database`` and fill them with ``LOAD DATA LOCAL INFILE``.

    ``database`` is created when missing, with the server's default character set and
    collation (deliberately not chosen here); ``None`` uses the database of
    ``connect_kwargs``. Each table is written to a temporary CSV file that the client
    sends; a warning from the server (truncation, bad value) fails the load. Ends with
    ``ANALYZE TABLE``. Returns the rows loaded per table.
    """
    import pymysql

    kwargs = {**connect_kwargs, "local_infile": True, "autocommit": True}
    counts: dict[str, int] = {}
    conn = pymysql.connect(**kwargs)
    try:
        with conn.cursor() as cur, tempfile.TemporaryDirectory(prefix="tpch-csv-") as tmp:
            if database is not None:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {_mysql_ident(database)}")
                cur.execute(f"USE {_mysql_ident(database)}")
            cur.execute("SET SESSION unique_checks = 0, foreign_key_checks = 0")
            for name, source in tables.items():
                table = _checked(name, source)
                qualified = _mysql_ident(name)
                cur.execute(f"DROP TABLE IF EXISTS {qualified}")
                cur.execute(_create_table_sql(name, qualified))
                csv_path = Path(tmp) / f"{name}.csv"
                with csv_path.open("wb") as out:
                    for chunk in _csv_chunks(table):
                        out.write(chunk)
                columns = ", ".join(table.column_names)
                loaded = cur.execute(
                    f"LOAD DATA LOCAL INFILE %s INTO TABLE {qualified}"
                    " CHARACTER SET utf8mb4"
                    " FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''"
                    f" LINES TERMINATED BY '\\n' ({columns})",
                    (str(csv_path),),
                )
                cur.execute("SHOW WARNINGS LIMIT 5")
                warnings = cur.fetchall()
                if warnings:
                    raise RuntimeError(f"LOAD DATA into {name} gave warnings: {warnings}")
                if loaded != table.num_rows:
                    raise RuntimeError(f"LOAD DATA into {name}: {loaded} of {table.num_rows}")
                csv_path.unlink()
                counts[name] = table.num_rows
            for name in tables:
                cur.execute(f"ANALYZE TABLE {_mysql_ident(name)}")
                cur.fetchall()
    finally:
        conn.close()
    return counts


# --------------------------------------------------------------------------------------------
# SQLite


def _sqlite_columns(table: pa.Table) -> list[list[Any]]:
    """Python values per column as SQLite stores them: decimals as float, dates as ISO text."""
    columns: list[list[Any]] = []
    for column in table.columns:
        if pa.types.is_decimal(column.type):
            column = column.cast(pa.float64())
        elif pa.types.is_date(column.type):
            column = column.cast(pa.string())  # ISO YYYY-MM-DD
        columns.append(column.to_pylist())
    return columns


def load_sqlite(path: Path, tables: Mapping[str, TableSource]) -> dict[str, int]:
    """(Re)create ``tables`` in the SQLite file ``path`` (created if missing).

    Declared types as in :data:`SCHEMA` (see the module documentation for what SQLite makes
    of them): dates stored as ``'YYYY-MM-DD'`` text, decimals as ``REAL``. All inserts run
    in one transaction, then ``ANALYZE``. Returns the rows loaded per table.
    """
    counts: dict[str, int] = {}
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for name, source in tables.items():
            table = _checked(name, source)
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            conn.execute(_create_table_sql(name, f'"{name}"'))
            marks = ", ".join("?" * table.num_columns)
            insert = f'INSERT INTO "{name}" VALUES ({marks})'
            for batch in table.to_batches(max_chunksize=_SQLITE_CHUNK_ROWS):
                columns = _sqlite_columns(pa.Table.from_batches([batch]))
                conn.executemany(insert, zip(*columns, strict=True))
            counts[name] = table.num_rows
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return counts


def _sqlite_arrow_type(declared: str) -> pa.DataType:
    """Arrow type for a SQLite declared type, as DuckDB's SQLite scanner maps them."""
    upper = declared.upper()
    if "INT" in upper:
        return pa.int64()
    if upper.startswith(("DECIMAL", "NUMERIC", "REAL", "DOUBLE", "FLOAT")):
        return pa.float64()
    if upper == "DATE":
        return pa.date32()
    return pa.string()


def read_sqlite(path: Path, tables: tuple[str, ...] | None = None) -> dict[str, pa.Table]:
    """Read tables of the SQLite file ``path`` into Arrow by their declared types.

    ``INTEGER``/``BIGINT`` become ``int64``, ``DECIMAL``/``REAL`` ``float64`` (whether SQLite
    stored an integer or a real), ``DATE`` ``date32`` parsed from ISO text, anything else
    ``string``. ``tables`` defaults to every TPC-H table in the file.
    """
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        if tables is None:
            present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            tables = tuple(t for t in TABLES if t in present)
        result: dict[str, pa.Table] = {}
        for name in tables:
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            if not info:
                raise KeyError(f"no table {name!r} in {path}")
            names = [row[1] for row in info]
            types = [_sqlite_arrow_type(row[2]) for row in info]
            rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
            arrays = []
            for index, (column_name, arrow_type) in enumerate(zip(names, types, strict=True)):
                values = [row[index] for row in rows]
                if pa.types.is_date(arrow_type):
                    values = [None if v is None else date.fromisoformat(v) for v in values]
                elif pa.types.is_floating(arrow_type):
                    values = [None if v is None else float(v) for v in values]
                try:
                    arrays.append(pa.array(values, arrow_type))
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise ValueError(f"{name}.{column_name}: {exc}") from exc
            result[name] = pa.Table.from_arrays(arrays, names=names)
        return result
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Parquet and DuckDB


def write_parquet(
    out_dir: Path,
    tables: Mapping[str, TableSource],
    *,
    parts: Mapping[str, int] | None = None,
    row_groups_per_file: int = ROW_GROUPS_PER_FILE,
) -> dict[str, Path]:
    """Write ``tables`` as Parquet under ``out_dir``; returns the path of every table.

    A table with more than one part (``parts``, default: lineitem in 4) becomes a directory
    ``<table>/part-N.parquet``, each file with about ``row_groups_per_file`` row groups;
    the others are a single ``<table>.parquet`` file. Existing output is replaced.
    """
    parts = DEFAULT_PARQUET_PARTS if parts is None else parts
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, source in tables.items():
        table = _checked(name, source)
        count = max(1, parts.get(name, 1))
        file_path = out_dir / f"{name}.parquet"
        dir_path = out_dir / name
        file_path.unlink(missing_ok=True)
        shutil.rmtree(dir_path, ignore_errors=True)
        if count == 1:
            row_group = max(1, math.ceil(table.num_rows / row_groups_per_file))
            pq.write_table(table, file_path, row_group_size=row_group)
            paths[name] = file_path
            continue
        dir_path.mkdir()
        per_file = max(1, math.ceil(table.num_rows / count))
        row_group = max(1, math.ceil(per_file / row_groups_per_file))
        for index in range(count):
            piece = table.slice(index * per_file, per_file)
            if piece.num_rows or index == 0:
                pq.write_table(piece, dir_path / f"part-{index}.parquet", row_group_size=row_group)
        paths[name] = dir_path
    return paths


def _parquet_glob(path: Path) -> str:
    target = path / "*.parquet" if path.is_dir() else path
    return str(target).replace("'", "''")


def duckdb_connection(tables: Mapping[str, TableSource]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with one view per table.

    A :class:`~pathlib.Path` (a Parquet file or a directory of them) becomes a view over
    ``read_parquet``; an Arrow table is registered as is.
    """
    conn = duckdb.connect(":memory:")
    for name, source in tables.items():
        if isinstance(source, pa.Table):
            conn.register(name, source)
        else:
            conn.execute(
                f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{_parquet_glob(source)}')"
            )
    return conn


def reference_connection(parquet_paths: Mapping[str, Path]) -> duckdb.DuckDBPyConnection:
    """DuckDB over the generated Parquet files: every table in one place, native types.

    The reference engine for query results (``tests/tpch/queries`` run on it unchanged).
    """
    missing = [t for t in TABLES if t not in parquet_paths]
    if missing:
        raise ValueError(f"reference connection needs every table; missing {missing}")
    return duckdb_connection({t: Path(parquet_paths[t]) for t in TABLES})
