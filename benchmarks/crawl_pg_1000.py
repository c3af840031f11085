"""Time PostgresConnector.crawl() over 1,000 tables of 12 columns each.

Builds schema ``bench1000`` (dropped and recreated) with 1,000 tables of mixed column types,
50 rows each, comments on every table and a few columns, then ANALYZEs them so ``pg_stats`` is
full. It then times ``list(connector.crawl())`` several times in this process, and once in a
fresh Python process (interpreter start, imports, connect and crawl: what a ``guajie crawl``
of such a source costs end to end).

    python benchmarks/crawl_pg_1000.py                 # starts a throw-away PostgreSQL 15
    python benchmarks/crawl_pg_1000.py --dsn postgresql://user@host:5432/db --password-env PGPASSWORD

With ``--dsn`` the database must let the user create a schema; ``bench1000`` is dropped
first, and again at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCHEMA = "bench1000"
COLUMNS_PER_TABLE = 12
TABLE_DDL = """
CREATE TABLE {schema}.{table} (
    id integer PRIMARY KEY,
    code varchar(20) NOT NULL,
    name text,
    amount numeric(12, 2),
    ratio double precision,
    qty smallint,
    active boolean,
    created date,
    updated_at timestamptz,
    ref uuid,
    payload jsonb,
    big bigint
);
COMMENT ON TABLE {schema}.{table} IS 'Benchmark table {n} (基准表)';
COMMENT ON COLUMN {schema}.{table}.code IS 'Business code';
COMMENT ON COLUMN {schema}.{table}.amount IS 'Amount in yuan';
INSERT INTO {schema}.{table}
SELECT g, 'C' || lpad((g * {n})::text, 8, '0'),
       CASE WHEN g % 10 = 0 THEN NULL ELSE 'name ' || (g % 17) END,
       (g * 12.34)::numeric(12, 2), g / 7.0, (g % 9)::smallint, g % 2 = 0,
       date '2024-01-01' + g, timestamptz '2024-01-01 00:00+00' + g * interval '1 hour',
       md5(g::text || '{table}')::uuid, jsonb_build_object('k', g), g::int8 * 1000000
FROM generate_series(1, {rows}) AS g;
"""


@dataclass
class Target:
    host: str
    port: int
    user: str
    database: str
    password: str | None
    password_env: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=self.database,
            password=self.password,
            autocommit=True,
        )


@contextlib.contextmanager
def target_from(args: argparse.Namespace) -> Iterator[Target]:
    if args.dsn:
        from psycopg.conninfo import conninfo_to_dict

        info = conninfo_to_dict(args.dsn)
        password = str(info.get("password") or os.environ.get(args.password_env) or "") or None
        yield Target(
            host=str(info.get("host") or "127.0.0.1"),
            port=int(info.get("port") or 5432),
            user=str(info.get("user") or os.environ.get("USER", "postgres")),
            database=str(info.get("dbname") or "postgres"),
            password=password,
            password_env=args.password_env,
        )
        return
    from tests.support.servers import PostgresServer

    print("starting a throw-away PostgreSQL server ...", flush=True)
    with PostgresServer() as server:
        yield Target(
            host=server.host,
            port=server.port,
            user=server.user,
            database=server.database,
            password=server.password,
            password_env=server.env_var_name,
        )


def build(target: Target, tables: int, rows: int) -> float:
    """Create and ANALYZE the benchmark schema; return the seconds it took."""
    started = time.perf_counter()
    names = [f"t{n:04d}" for n in range(tables)]
    with target.connect() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        for start in range(0, tables, 50):
            script = "".join(
                TABLE_DDL.format(schema=SCHEMA, table=name, n=start + i + 1, rows=rows)
                for i, name in enumerate(names[start : start + 50])
            )
            with conn.transaction():
                conn.execute(script)
        for start in range(0, tables, 100):
            chunk = ", ".join(f"{SCHEMA}.{name}" for name in names[start : start + 100])
            conn.execute(f"ANALYZE {chunk}")
    return time.perf_counter() - started


def drop(target: Target) -> None:
    with target.connect() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def make_connector(target: Target, all_schemas: bool) -> Any:
    from guajie.catalog.connectors.postgres import PostgresConnector
    from guajie.catalog.models import Source

    url = target.url if all_schemas else f"{target.url}?schemas={SCHEMA}"
    source = Source(name="bench", kind="postgresql", url=url, password_env=target.password_env)
    return PostgresConnector(source, target.password)


def crawl_once(target: Target, all_schemas: bool) -> tuple[float, list[Any]]:
    connector = make_connector(target, all_schemas)
    started = time.perf_counter()
    datasets = list(connector.crawl())
    return time.perf_counter() - started, datasets


def cold_process(target: Target, all_schemas: bool) -> float:
    """Wall time of a fresh interpreter that imports the connector and crawls once."""
    env = {**os.environ, target.password_env: target.password or ""}
    argv = [
        sys.executable,
        __file__,
        "--crawl-only",
        "--dsn",
        target.url,
        "--password-env",
        target.password_env,
    ]
    if all_schemas:
        argv.append("--all-schemas")
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="postgresql://user@host:port/db of a running server")
    parser.add_argument(
        "--password-env",
        default="PGPASSWORD",
        help="environment variable holding the password for --dsn (default PGPASSWORD)",
    )
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=50, help="rows per table (default 50)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--all-schemas", action="store_true", help="crawl every schema")
    parser.add_argument("--keep", action="store_true", help="keep schema bench1000 afterwards")
    parser.add_argument("--skip-build", action="store_true", help="reuse an existing bench1000")
    parser.add_argument("--crawl-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.crawl_only:
        with target_from(args) as target:
            crawl_once(target, args.all_schemas)
        return 0

    with target_from(args) as target:
        print(f"server: {target.url}")
        if not args.skip_build:
            seconds = build(target, args.tables, args.rows)
            print(
                f"built {SCHEMA}: {args.tables} tables x {COLUMNS_PER_TABLE} columns, "
                f"{args.rows} rows each, analysed, in {seconds:.1f} s"
            )
        try:
            times: list[float] = []
            datasets: list[Any] = []
            for round_no in range(1, args.rounds + 1):
                seconds, datasets = crawl_once(target, args.all_schemas)
                times.append(seconds)
                print(f"  crawl {round_no}: {seconds:.3f} s")
            columns = [c for d in datasets for c in d.columns]
            print()
            print(f"datasets: {len(datasets)}   columns: {len(columns)}")
            print(
                f"columns with pg_stats statistics: {sum(c.stats is not None for c in columns)}"
                f"   with samples: {sum(bool(c.samples) for c in columns)}"
            )
            print(f"crawl() best:   {min(times):.3f} s")
            print(f"crawl() median: {statistics.median(times):.3f} s")
            print(
                f"fresh process (start + imports + connect + crawl): "
                f"{cold_process(target, args.all_schemas):.3f} s"
            )
        finally:
            if not args.keep:
                drop(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
