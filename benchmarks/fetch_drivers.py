"""Time moving a pushed-down fragment's rows into Arrow, driver by driver.

Starts a throw-away PostgreSQL and MariaDB (tests/support/servers.py), loads TPC-H ``orders``
and ``partsupp`` into both (generated with ``tpchgen-cli``, cached), then reads a few
fragments with each method, every (method, fragment) pair in a fresh Python process so that
its peak RSS is its own:

* ``fetch``: ``connector.fetch(sql).read_all()`` as the federation executor calls it
  (ADBC for PostgreSQL, connectorx for MariaDB, when installed);
* ``fetch, streamed``: the same, batches consumed and dropped one by one;
* ``fetch, row path``: the connector's psycopg / pymysql path (used without the drivers);
* ``adbc``: adbc-driver-postgresql alone (``fetch_arrow_table``), no type conversion;
* ``connectorx`` / ``connectorx stream``: ``cx.read_sql(..., return_type="arrow")`` and
  ``"arrow_stream"``, no type conversion;
* ``mysqlclient``: MySQLdb's unbuffered cursor into Arrow, when it is installed.

Prints one table: rows, best of ``--repeat`` wall seconds, peak RSS of the process (and
RSS after imports, before the first read).

    python benchmarks/fetch_drivers.py                # TPC-H SF 1 (about 1.5 min to load)
    python benchmarks/fetch_drivers.py --scale 0.1 --repeat 5
    python benchmarks/fetch_drivers.py --methods fetch,adbc --queries pg-orders
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MY_DATABASE = "guajie_bench_fetch"  # the test server's user may create guajie_* databases
PG_SCHEMA = "tpch"
PASSWORD_ENV = "GUAJIE_BENCH_FETCH_PASSWORD"

# name -> (source kind, SQL in that source's dialect)
QUERIES: dict[str, tuple[str, str]] = {
    "pg-orders": ("postgresql", f"SELECT * FROM {PG_SCHEMA}.orders"),
    "pg-orders-4col": (
        "postgresql",
        "SELECT o_orderkey, o_custkey, o_totalprice, o_orderdate "
        f"FROM {PG_SCHEMA}.orders WHERE o_orderdate < DATE '1995-06-17'",
    ),
    "pg-orders-by-cust": (
        "postgresql",
        "SELECT o_custkey, count(*) AS n, sum(o_totalprice) AS total "
        f"FROM {PG_SCHEMA}.orders GROUP BY o_custkey",
    ),
    "my-partsupp": ("mysql", "SELECT * FROM partsupp"),
    "my-orders": ("mysql", "SELECT * FROM orders"),
    "my-orders-4col": (
        "mysql",
        "SELECT o_orderkey, o_custkey, o_totalprice, o_orderdate "
        "FROM orders WHERE o_orderdate < DATE '1995-06-17'",
    ),
}

METHODS: dict[str, tuple[str, ...]] = {  # method -> source kinds it applies to
    "fetch": ("postgresql", "mysql"),
    "fetch, streamed": ("postgresql", "mysql"),
    "fetch, row path": ("postgresql", "mysql"),
    "adbc": ("postgresql",),
    "connectorx": ("postgresql", "mysql"),
    "connectorx stream": ("postgresql", "mysql"),
    "mysqlclient": ("mysql",),
}


@dataclass
class Server:
    kind: str
    host: str
    port: int
    user: str
    database: str

    @property
    def url(self) -> str:
        scheme = "postgresql" if self.kind == "postgresql" else "mysql"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.database}"


# --------------------------------------------------------------------------------------------
# One measurement (in its own process)


def _rss_mb() -> float:
    """This process's peak resident set size so far (``ru_maxrss`` would include the
    parent's: Linux carries it across ``execve``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _driver_url(server: Server, password: str) -> str:
    from urllib.parse import quote

    scheme = "postgresql" if server.kind == "postgresql" else "mysql"
    auth = f"{quote(server.user, safe='')}:{quote(password, safe='')}"
    return f"{scheme}://{auth}@{server.host}:{server.port}/{server.database}"


def _reader(method: str, server: Server, sql: str, password: str) -> Any:
    """A callable that reads ``sql`` once and returns (rows, batches)."""
    import pyarrow as pa

    if method.startswith("fetch"):
        from guajie.catalog.connectors import open_connector
        from guajie.catalog.models import Source

        source = Source(name="bench", kind=server.kind, url=server.url, password_env=PASSWORD_ENV)

        def run() -> tuple[int, int]:
            connector = open_connector(source)
            if method == "fetch, row path":
                if server.kind == "postgresql":
                    reader = connector._fetch_rows(sql, sql)  # type: ignore[attr-defined]
                else:
                    conn = connector._connect()  # type: ignore[attr-defined]
                    reader = connector._fetch_rows(conn, sql)  # type: ignore[attr-defined]
            else:
                reader = connector.fetch(sql)
            if method == "fetch, streamed":
                rows = batches = 0
                for batch in reader:
                    rows += batch.num_rows
                    batches += 1
                return rows, batches
            table = reader.read_all()
            return table.num_rows, len(table.to_batches())

        return run
    if method == "adbc":
        import adbc_driver_postgresql.dbapi as pgdbapi

        def run() -> tuple[int, int]:
            with pgdbapi.connect(_driver_url(server, password)) as conn, conn.cursor() as cur:
                cur.execute(sql)
                table = cur.fetch_arrow_table()
            return table.num_rows, len(table.to_batches())

        return run
    if method.startswith("connectorx"):
        import connectorx as cx

        def run() -> tuple[int, int]:
            url = _driver_url(server, password)
            if method == "connectorx":
                table = cx.read_sql(url, sql, return_type="arrow")
                return table.num_rows, len(table.to_batches())
            rows = batches = 0
            for batch in cx.read_sql(url, sql, return_type="arrow_stream", batch_size=10_000):
                rows += batch.num_rows
                batches += 1
            return rows, batches

        return run
    if method == "mysqlclient":
        import MySQLdb  # type: ignore[import-not-found]
        import MySQLdb.cursors  # type: ignore[import-not-found]

        def run() -> tuple[int, int]:
            conn = MySQLdb.connect(
                host=server.host,
                port=server.port,
                user=server.user,
                password=password,
                database=server.database,
                charset="utf8mb4",
                cursorclass=MySQLdb.cursors.SSCursor,
            )
            try:
                cur = conn.cursor()
                cur.execute(sql)
                batches = []
                while rows := cur.fetchmany(10_000):
                    columns = list(zip(*rows, strict=True))
                    batches.append(pa.table({str(i): list(c) for i, c in enumerate(columns)}))
                table = pa.concat_tables(batches) if batches else pa.table({})
            finally:
                conn.close()
            return table.num_rows, len(batches)

        return run
    raise ValueError(f"unknown method {method!r}")


def worker(job: dict[str, Any]) -> dict[str, Any]:
    server = Server(**job["server"])
    password = os.environ[PASSWORD_ENV]
    run = _reader(job["method"], server, job["sql"], password)
    imported = _rss_mb()
    best = float("inf")
    rows = batches = 0
    for _ in range(job["repeat"]):
        started = time.perf_counter()
        rows, batches = run()
        best = min(best, time.perf_counter() - started)
    return {"rows": rows, "batches": batches, "best": best, "rss": _rss_mb(), "base": imported}


# --------------------------------------------------------------------------------------------
# Orchestration


def _available(method: str) -> bool:
    import importlib.util

    needs = {
        "adbc": "adbc_driver_postgresql",
        "connectorx": "connectorx",
        "connectorx stream": "connectorx",
        "mysqlclient": "MySQLdb",
    }
    module = needs.get(method)
    return module is None or importlib.util.find_spec(module) is not None


def measure(
    method: str, server: Server, password: str, sql: str, repeat: int, timeout: float
) -> dict[str, Any]:
    job = {"method": method, "server": server.__dict__, "sql": sql, "repeat": repeat}
    env = {**os.environ, PASSWORD_ENV: password}
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", json.dumps(job)],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:g} s"}
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        return {"error": lines[-1][:70] if lines else f"exit {proc.returncode}"}
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def load(scale: float, pg: Any, my: Any) -> None:
    from tests.tpch.data import default_cache_dir, generate_tpch, load_mysql, load_postgres

    started = time.perf_counter()
    files = generate_tpch(default_cache_dir(), scale)
    tables = {name: files[name] for name in ("orders", "partsupp")}
    print(f"TPC-H SF {scale:g} generated in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    load_postgres(pg.conninfo, tables, schema=PG_SCHEMA)
    print(f"loaded into PostgreSQL in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    load_mysql(my.connect_kwargs, tables, database=MY_DATABASE)
    print(f"loaded into MariaDB in {time.perf_counter() - started:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="TPC-H scale factor (1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--methods", help=f"comma-separated subset of: {', '.join(METHODS)}")
    parser.add_argument("--queries", help=f"comma-separated subset of: {', '.join(QUERIES)}")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per measurement")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    methods = args.methods.split(",") if args.methods else list(METHODS)
    queries = args.queries.split(",") if args.queries else list(QUERIES)
    for name in methods:
        if name not in METHODS:
            parser.error(f"unknown method {name!r}")
    for name in queries:
        if name not in QUERIES:
            parser.error(f"unknown query {name!r}")

    from tests.support.servers import MariaDBServer, PostgresServer

    print("starting throw-away PostgreSQL and MariaDB servers ...", flush=True)
    with PostgresServer() as pg, MariaDBServer(buffer_pool_size="1G") as my:
        load(args.scale, pg, my)
        servers = {
            "postgresql": (Server("postgresql", pg.host, pg.port, pg.user, pg.database), pg),
            "mysql": (Server("mysql", my.host, my.port, my.user, MY_DATABASE), my),
        }
        header = (
            f"{'fragment':<18} {'method':<18} {'rows':>9} {'batches':>7} "
            f"{'best s':>8} {'peak RSS MB':>11} {'after import':>12}"
        )
        print(f"\nbest of {args.repeat}, SF {args.scale:g}, {os.cpu_count()} CPUs\n")
        print(header)
        print("-" * len(header))
        for query in queries:
            kind, sql = QUERIES[query]
            server, running = servers[kind]
            for method in methods:
                if kind not in METHODS[method]:
                    continue
                if not _available(method):
                    print(f"{query:<18} {method:<18} {'(not installed)':>9}", flush=True)
                    continue
                result = measure(method, server, running.password, sql, args.repeat, args.timeout)
                if "error" in result:
                    print(f"{query:<18} {method:<18} failed: {result['error']}", flush=True)
                    continue
                print(
                    f"{query:<18} {method:<18} {result['rows']:>9} {result['batches']:>7} "
                    f"{result['best']:>8.3f} {result['rss']:>11.0f} {result['base']:>12.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
