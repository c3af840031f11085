"""Loading sample tables into PostgreSQL and MariaDB/MySQL servers.

The federation layer has to meet real database servers, not only files: the registry lives
in PostgreSQL (the typical 市场监管 system) and social insurance in MariaDB (the typical 人社
system). Both loads create the tables with primary keys, indexes and Chinese comments, as a
department DBA would, so the catalog has real metadata and statistics to harvest.

Driver imports are deferred so that the generator works without either driver installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .city import iter_city
from .plan import DEFAULT_SEED, CityPlan
from .schema import TABLES_BY_NAME, Column, Columns, TableSpec, cents_text

DEFAULT_POSTGRES_TABLES = ("enterprise", "district")
DEFAULT_MYSQL_TABLES = ("social_insurance_monthly",)
MYSQL_BATCH_ROWS = 5_000


def _specs(tables: Sequence[str]) -> list[TableSpec]:
    unknown = [t for t in tables if t not in TABLES_BY_NAME]
    if unknown:
        raise ValueError(f"unknown tables {unknown}; known: {sorted(TABLES_BY_NAME)}")
    return [TABLES_BY_NAME[t] for t in dict.fromkeys(tables)]


# --- PostgreSQL ---------------------------------------------------------------------------

_PG_TYPES = {
    "string": "varchar",
    "int32": "integer",
    "int64": "bigint",
    "float64": "double precision",
    "decimal": "numeric(18,2)",
    "date": "date",
    "timestamp": "timestamp",
    "bool": "boolean",
}
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _pg_type(c: Column) -> str:
    base = _PG_TYPES[c.kind]
    return f"{base}({c.length})" if c.kind == "string" and c.length else base


def _copy_renderer(c: Column) -> Callable[[Any], str]:
    if c.kind == "string":
        return lambda v: v.translate(_COPY_ESCAPES)
    if c.kind == "decimal":
        return cents_text
    if c.kind == "bool":
        return lambda v: "t" if v else "f"
    if c.kind == "timestamp":
        return lambda v: v.isoformat(sep=" ")
    if c.kind == "date":
        return lambda v: v.isoformat()
    return str


def _copy_text(spec: TableSpec, columns: Columns) -> bytes:
    """Rows in COPY text format (tab-separated, \\N for NULL)."""
    rendered = []
    for c in spec.columns:
        fn = _copy_renderer(c)
        rendered.append(["\\N" if v is None else fn(v) for v in columns[c.name]])
    return "".join("\t".join(row) + "\n" for row in zip(*rendered, strict=True)).encode()


def load_postgres(
    conninfo: str,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    schema: str = "public",
    tables: Sequence[str] = DEFAULT_POSTGRES_TABLES,
) -> dict[str, int]:
    """(Re)create ``tables`` in ``schema`` and bulk-load them with COPY; returns row counts.

    Existing tables of the same names are dropped first. Ends with ANALYZE so that pg_stats
    and reltuples are populated for the catalog's profiling.
    """
    import psycopg
    from psycopg import sql

    plan = CityPlan.create(scale, seed)
    counts: dict[str, int] = {}
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            for spec in _specs(tables):
                table = sql.Identifier(schema, spec.name)
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(table))
                columns = sql.SQL(", ").join(
                    sql.SQL("{} {}{}").format(
                        sql.Identifier(c.name),
                        sql.SQL(_pg_type(c)),
                        sql.SQL("" if c.nullable else " NOT NULL"),
                    )
                    for c in spec.columns
                )
                cur.execute(sql.SQL("CREATE TABLE {} ({})").format(table, columns))
                cur.execute(
                    sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(spec.comment))
                )
                for c in spec.columns:
                    cur.execute(
                        sql.SQL("COMMENT ON COLUMN {}.{} IS {}").format(
                            table, sql.Identifier(c.name), sql.Literal(c.comment)
                        )
                    )
                names = sql.SQL(", ").join(sql.Identifier(n) for n in spec.column_names)
                rows = 0
                with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)) as copy:
                    for chunk in iter_city(plan, [spec.name]):
                        copy.write(_copy_text(spec, chunk.columns))
                        rows += chunk.rows
                counts[spec.name] = rows
                cur.execute(
                    sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                        table, sql.SQL(", ").join(sql.Identifier(n) for n in spec.primary_key)
                    )
                )
                for cols in spec.indexes:
                    cur.execute(
                        sql.SQL("CREATE INDEX {} ON {} ({})").format(
                            sql.Identifier(f"{spec.name}_{'_'.join(cols)}_idx"),
                            table,
                            sql.SQL(", ").join(sql.Identifier(n) for n in cols),
                        )
                    )
                cur.execute(sql.SQL("ANALYZE {}").format(table))
        conn.commit()
    return counts


# --- MariaDB / MySQL ----------------------------------------------------------------------

_MYSQL_TYPES = {
    "string": "VARCHAR",
    "int32": "INT",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "decimal": "DECIMAL(18,2)",
    "date": "DATE",
    "timestamp": "DATETIME",
    "bool": "BOOLEAN",
}


def _mysql_type(c: Column) -> str:
    if c.kind == "string":
        return f"VARCHAR({c.length or 255})"
    return _MYSQL_TYPES[c.kind]


def mysql_ddl(spec: TableSpec, quote: Callable[[str], str]) -> str:
    """CREATE TABLE with column and table COMMENTs; ``quote`` makes a string literal.

    The collation is left to the database default on purpose: comparisons then ignore case
    and trailing spaces as they do on real department servers.
    """
    lines = [
        f"  `{c.name}` {_mysql_type(c)}{'' if c.nullable else ' NOT NULL'} "
        f"COMMENT {quote(c.comment)}"
        for c in spec.columns
    ]
    lines.append(f"  PRIMARY KEY ({', '.join(f'`{n}`' for n in spec.primary_key)})")
    lines.extend(
        f"  KEY `idx_{'_'.join(cols)}` ({', '.join(f'`{n}`' for n in cols)})"
        for cols in spec.indexes
    )
    body = ",\n".join(lines)
    return (
        f"CREATE TABLE `{spec.name}` (\n{body}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
        f"COMMENT={quote(spec.comment)}"
    )


def _mysql_rows(spec: TableSpec, columns: Columns) -> Iterator[tuple[Any, ...]]:
    rendered = []
    for c in spec.columns:
        values = columns[c.name]
        if c.kind == "decimal":
            values = [None if v is None else cents_text(v) for v in values]
        elif c.kind == "bool":
            values = [None if v is None else int(v) for v in values]
        rendered.append(values)
    return zip(*rendered, strict=True)


def load_mysql(
    host: str,
    port: int,
    user: str,
    password: str,
    database: str,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    tables: Sequence[str] = DEFAULT_MYSQL_TABLES,
) -> dict[str, int]:
    """(Re)create ``tables`` in ``database`` and load them with batched multi-row INSERTs.

    Pass ``tables=("social_insurance_monthly", "enterprise")`` to have the registry there
    too. Ends with ANALYZE TABLE so information_schema statistics are current.
    """
    import pymysql

    plan = CityPlan.create(scale, seed)
    counts: dict[str, int] = {}
    conn = pymysql.connect(
        host=host,
        port=int(port),
        user=user,
        password=password,
        database=database,
        charset="utf8mb4",
        autocommit=False,
    )
    try:
        with conn.cursor() as cur:
            for spec in _specs(tables):
                cur.execute(f"DROP TABLE IF EXISTS `{spec.name}`")
                cur.execute(mysql_ddl(spec, conn.escape))
                insert = (
                    f"INSERT INTO `{spec.name}` "
                    f"({', '.join(f'`{n}`' for n in spec.column_names)}) "
                    f"VALUES ({', '.join(['%s'] * len(spec.columns))})"
                )
                rows = 0
                batch: list[tuple[Any, ...]] = []
                for chunk in iter_city(plan, [spec.name]):
                    batch.extend(_mysql_rows(spec, chunk.columns))
                    rows += chunk.rows
                    if len(batch) >= MYSQL_BATCH_ROWS:
                        cur.executemany(insert, batch)
                        batch = []
                if batch:
                    cur.executemany(insert, batch)
                conn.commit()
                counts[spec.name] = rows
                cur.execute(f"ANALYZE TABLE `{spec.name}`")
                cur.fetchall()
    finally:
        conn.close()
    return counts
