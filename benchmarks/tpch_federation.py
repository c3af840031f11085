"""TPC-H over four kinds of source: guajie against DuckDB's scanners and against copying.

    python benchmarks/tpch_federation.py [--scale 1] [--repeat 3] [--queries 1,3,5]
        [--engines guajie,peer,copy,trino] [--shaped] [--json PATH] [--quick]

The data (``tpchgen-cli``, cached in ``$GUAJIE_TPCH_CACHE`` or ``~/.cache/guajie/tpch``) is
split as ``tests/tpch/data.py`` ``PLACEMENT`` says: PostgreSQL (orders, customer), MariaDB
(partsupp, supplier), SQLite (nation, region, part), Parquet (lineitem). The servers are
started here, loaded, and stopped at the end; the SQLite file and the Parquet directory are
cached beside the generated data.

Engines, each in a subprocess of its own (so that peak memory is per engine), on the same
data and the same queries (``tests/tpch/queries``, table names qualified per engine):

guajie
    embedded: a ``Session`` over a workspace with the four sources registered and crawled.
peer
    DuckDB 1.5 with its postgres, mysql and sqlite scanners ATTACHed READ_ONLY to the same
    sources and ``read_parquet`` for lineitem; threads = cores, MySQL compression disabled,
    scanner settings at their defaults (parallel binary COPY for PostgreSQL). Runs
    ``benchmarks/peer_duckdb.py`` in a virtualenv of its own (created on first use with
    ``uv``), as the scanners' wheels exist for DuckDB 1.5 only.
copy
    copy all eight tables into one in-memory DuckDB (through guajie's connectors), then
    query it there; the copy is timed separately.
trino
    guajie's Trino engine on a single-node Trino 476 started here, its catalogs made by
    ``guajie trino sync``; Trino cannot read SQLite, so this column uses another placement
    and also times the embedded engine on it (see ``trino_column.py``).

Per query: the best of ``--repeat`` warm runs (after one untimed run), rows returned, and
for guajie and the peer the bytes fetched from PostgreSQL and MariaDB, counted the same way
for both by a byte-counting TCP proxy in front of each server (``byte_counter.py``,
server-to-client bytes), plus rows per source: guajie's fragment statistics, the peer's
scan operators in DuckDB's profile. guajie's own Arrow byte counts per source (all four)
come from its plan statistics. ``--shaped`` sends the engines' traffic to the servers over
a rate-limited, delayed link (``shaped_link.py``).

Prints tables and a summary against the targets (geometric-mean latency of guajie at most
half the peer's; bytes fetched by guajie at most the peer's on every query and at most a
quarter of the peer's total) and writes every figure to ``.bench/tpch-sf<scale>.json``.
A benchmark prints figures; nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = Path(__file__).resolve().parent
for _path in (str(ROOT), str(BENCH_DIR)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

ENGINES = ("guajie", "peer", "copy", "trino")
KINDS = ("postgres", "mariadb", "sqlite", "parquet")
NETWORK_KINDS = ("postgres", "mariadb")
SOURCE_NAMES = {"postgres": "pg", "mariadb": "my", "sqlite": "lite", "parquet": "files"}
KIND_OF_SOURCE = {v: k for k, v in SOURCE_NAMES.items()}
SHORT = {"postgres": "pg", "mariadb": "my", "sqlite": "lite", "parquet": "files"}
PG_SCHEMA = "tpch"
MYSQL_DATABASE = "guajie_tpch"
PEER_PACKAGES = (
    "duckdb==1.5.*",
    "duckdb-extension-postgres",
    "duckdb-extension-mysql",
    "duckdb-extension-sqlite",
    "pyarrow",
)
DEFAULT_MAX_QUERY_SECONDS = 120.0
ENGINE_TIMEOUT = 3600.0
MB = 1e6


def open_catalog(home: Path) -> Any:
    """A workspace for the benchmark. TPC-H holds no personal information, but the
    crawler suggests some by column name (n_name, c_name): answers are compared with the
    peer's, so the default policy is told to return such columns raw."""
    from guajie.catalog.ledger import Catalog
    from guajie.catalog.workspace import PolicyConfig, write_config

    catalog = Catalog.open(str(home))
    catalog.workspace.config.policy = PolicyConfig(personal_information="raw")
    write_config(catalog.workspace.home, catalog.workspace.config)
    return catalog


def default_cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "guajie"


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------------------------
# Queries per engine


def engine_sql(number: int, engine: str) -> str:
    """TPC-H query ``number`` with its tables named the way ``engine`` sees them."""
    import sqlglot
    from sqlglot import exp

    from tests.tpch import load_query
    from tests.tpch.data import PLACEMENT

    tree = sqlglot.parse_one(load_query(number), read="trino")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.name not in PLACEMENT or table.name in ctes:
            continue
        kind = PLACEMENT[table.name]
        if engine == "guajie":  # source.table, as a steward writes it
            table.set("db", exp.to_identifier(SOURCE_NAMES[kind]))
        elif engine == "peer":  # the ATTACHed catalogs of peer_duckdb.py
            catalog, db = {
                "postgres": ("pg", PG_SCHEMA),
                "mariadb": ("my", MYSQL_DATABASE),
                "sqlite": ("lite", "main"),
                "parquet": (None, "files"),
            }[kind]
            table.set("db", exp.to_identifier(db))
            if catalog:
                table.set("catalog", exp.to_identifier(catalog))
    return tree.sql(dialect="trino" if engine == "guajie" else "duckdb")


# --------------------------------------------------------------------------------------------
# Workers: run in a subprocess each, read a JSON job, write a JSON result


def _snapshot(counters: dict[str, str]) -> dict[str, dict[str, int]]:
    from byte_counter import read_totals

    return {source: read_totals(path) for source, path in counters.items()}


def _delta(before: dict, after: dict) -> dict[str, dict[str, int]]:
    return {
        s: {k: after[s][k] - before[s][k] for k in ("down", "up", "connections")} for s in before
    }


def _mean_wire(runs: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    if not runs:
        return {}
    return {
        s: {k: round(sum(r[s][k] for r in runs) / len(runs)) for k in runs[0][s]} for s in runs[0]
    }


def _max_rss_bytes() -> int | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def _shorten(value: Any, limit: int = 3000) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[:limit] + f"... ({len(value):,} chars)"
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v, limit) for v in value]
    return value


def _timed_runs(run: Any, job: dict[str, Any], first: float) -> tuple[list[float], list, Any]:
    """``repeat`` timed runs of ``run()`` (skipped when the first run was over the limit)."""
    counters = job.get("counters") or {}
    limit = float(job.get("max_query_seconds") or 0)
    times: list[float] = []
    wire: list = []
    last = None
    if limit and first > limit:
        return [first], wire, None
    for _ in range(max(1, int(job.get("repeat", 3)))):
        before = _snapshot(counters)
        started = time.perf_counter()
        last = run()
        times.append(time.perf_counter() - started)
        wire.append(_delta(before, _snapshot(counters)))
    return times, wire, last


def _measure(run: Callable[[], Any], job: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """One first run, then the timed ones: the query's figures and the last run's result
    (``run`` returns the result and its row count)."""
    t0 = time.perf_counter()
    result, rows = run()
    first = time.perf_counter() - t0
    times, wire, last = _timed_runs(run, job, first)
    if last is not None:
        result, rows = last
    entry: dict[str, Any] = {"first_seconds": first, "rows": rows, "times": times}
    entry.update(best=min(times), wire=_mean_wire(wire))
    if len(times) == 1 and last is None:
        entry["note"] = "first run over the time limit: not repeated"
    return entry, result


def worker_guajie(job: dict[str, Any]) -> dict[str, Any]:
    from guajie.api import Session
    from guajie.catalog.ledger import Catalog

    started = time.perf_counter()
    session = Session(Catalog.open(job["home"]), **(job.get("session") or {}))
    out: dict[str, Any] = {"engine": "guajie", "queries": {}}
    out["setup_seconds"] = time.perf_counter() - started

    for query in job["queries"]:
        n, sql = str(query["n"]), query["sql"]
        try:

            def run(sql: str = sql) -> Any:
                result = session.execute(sql)
                table = result.read_all()
                return result, table.num_rows

            entry, result = _measure(run, job)
            plan = result.plan.to_dict(result.stats)
            entry["by_source"] = {
                KIND_OF_SOURCE.get(s, s): v for s, v in plan["actual"]["by_source"].items()
            }
            entry["arrow_bytes"] = plan["actual"].get("bytes_fetched")
            entry["plan"] = _shorten(plan)
            entry["explain"] = result.plan.explain(result.stats)
        except Exception as exc:
            entry = {"error": f"{type(exc).__name__}: {exc}"[:2000], "trace": _tail_trace()}
        out["queries"][n] = entry
        print(f"guajie Q{n}: {_brief(entry)}", file=sys.stderr, flush=True)
    session.close()
    return out


def worker_copy(job: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from guajie.api import Session
    from guajie.catalog.ledger import Catalog

    threads = int(job.get("threads") or os.cpu_count() or 1)
    con = duckdb.connect(":memory:", config={"threads": threads})
    out: dict[str, Any] = {"engine": "copy", "duckdb": duckdb.__version__, "queries": {}}
    counters = job.get("counters") or {}

    def fetch(table: str, qualified: str) -> tuple[str, Any, float]:
        t0 = time.perf_counter()
        # A session per thread: one Session's catalog store is not shared across threads.
        with Session(Catalog.open(job["home"])) as session:
            data = session.query(f"SELECT * FROM {qualified}")
        return table, data, time.perf_counter() - t0

    before = _snapshot(counters)
    started = time.perf_counter()
    tables: dict[str, Any] = {}
    with ThreadPoolExecutor(max_workers=int(job.get("copy_workers", 4))) as pool:
        futures = [pool.submit(fetch, t, q) for t, q in job["tables"].items()]
        for future in as_completed(futures):
            table, data, seconds = future.result()
            t0 = time.perf_counter()
            con.register("__incoming", data)
            con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM __incoming')
            con.unregister("__incoming")
            tables[table] = {
                "rows": data.num_rows,
                "arrow_bytes": data.nbytes,
                "fetch_seconds": seconds,
                "insert_seconds": time.perf_counter() - t0,
            }
            del data
    out["copy_seconds"] = time.perf_counter() - started
    out["copy_tables"] = tables
    out["copy_wire"] = _delta(before, _snapshot(counters))

    for query in job["queries"]:
        n, sql = str(query["n"]), query["sql"]
        entry: dict[str, Any] = {}
        try:

            def run(sql: str = sql) -> int:
                return con.sql(sql).to_arrow_table().num_rows

            t0 = time.perf_counter()
            rows = run()
            entry["first_seconds"] = first = time.perf_counter() - t0
            times, _, last = _timed_runs(run, {**job, "counters": {}}, first)
            entry.update(rows=last if last is not None else rows, times=times, best=min(times))
        except Exception as exc:
            entry = {"error": f"{type(exc).__name__}: {exc}"[:2000], "trace": _tail_trace()}
        out["queries"][n] = entry
        print(f"copy Q{n}: {_brief(entry)}", file=sys.stderr, flush=True)
    con.close()
    return out


def _tail_trace() -> str:
    return traceback.format_exc()[-4000:]


def _brief(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return "error: " + entry["error"].splitlines()[0][:200]
    return f"{entry['rows']} rows, best {entry['best']:.3f} s"


def run_worker(job_path: Path) -> int:
    job = json.loads(job_path.read_text())
    from trino_column import worker_trino

    worker = {"guajie": worker_guajie, "copy": worker_copy, "trino": worker_trino}[job["engine"]]
    result = worker(job)
    result["max_rss_bytes"] = _max_rss_bytes()
    Path(job["result"]).write_text(json.dumps(result, indent=1, default=str))
    return 0


# --------------------------------------------------------------------------------------------
# The environment: data, servers, proxies, workspace, peer venv


def _data_fingerprint() -> str:
    from tests.tpch import data

    text = Path(data.__file__).read_text() + json.dumps(data.PLACEMENT, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def placed_files(files: dict[str, Path], scale: float, cache: Path) -> tuple[Path, float]:
    """SQLite file and Parquet directory of the placement, cached beside the generated data.

    Built in a temporary directory and renamed into place; a cache made by another version
    of ``tests/tpch/data.py`` is rebuilt. Returns the directory and the seconds spent.
    """
    from tests.tpch.data import load_sqlite, scale_dir_name, tables_in, write_parquet

    target = cache / f"placed-{scale_dir_name(scale)}"
    stamp = _data_fingerprint()
    with contextlib.suppress(OSError):
        if (target / "stamp").read_text() == stamp:
            return target, 0.0
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=cache))
    try:
        load_sqlite(work / "tpch.sqlite", {t: files[t] for t in tables_in("sqlite")})
        write_parquet(work / "files", {t: files[t] for t in tables_in("parquet")})
        (work / "stamp").write_text(stamp)
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target, time.perf_counter() - started


def peer_python(venv: Path) -> Path:
    """The peer venv's interpreter, created with ``uv`` when missing or incomplete."""
    python = venv / "bin" / "python"
    probe = (
        "import duckdb, duckdb_extension_postgres, duckdb_extension_mysql, "
        "duckdb_extension_sqlite, pyarrow; print(duckdb.__version__)"
    )

    def version() -> str | None:
        if not python.exists():
            return None
        proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    found = version()
    if found and found.startswith("1.5."):
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise RuntimeError("uv is needed to create the peer venv (pip install uv)")
    log(f"creating the peer venv in {venv} (DuckDB 1.5 and its scanner extensions)")
    if not python.exists():
        subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", str(python), *PEER_PACKAGES], check=True
    )
    found = version()
    if not (found and found.startswith("1.5.")):
        raise RuntimeError(f"the peer venv {venv} has no working DuckDB 1.5 (found {found})")
    return python


class Environment:
    """Servers loaded with their tables, proxies in front of them, a crawled workspace."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.stack = contextlib.ExitStack()
        self.figures: dict[str, Any] = {}
        self.link: Any = None

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def setup(self) -> None:
        from tests.support.servers import MariaDBServer, PostgresServer
        from tests.tpch.data import generate_tpch, load_mysql, load_postgres, tables_in

        args = self.args
        cache = args.cache
        cache.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        self.files = generate_tpch(cache, args.scale)
        self.figures["generate_seconds"] = time.perf_counter() - t0
        self.placed, self.figures["place_files_seconds"] = placed_files(
            self.files, args.scale, cache
        )

        if args.shaped or args.link == "veth":
            from shaped_link import ShapedLink

            self.link = ShapedLink(args.rate if args.shaped else None, args.delay_ms)
            self.stack.callback(self.link.down)
            self.link.up()
            self.figures["link"] = {"description": self.link.describe()}
            self.figures["link"]["measured"] = self.link.measure()
            log(f"link: {self.link.describe()}")
            log(f"  measured: {self.figures['link']['measured']}")
        else:
            self.figures["link"] = {"description": "loopback"}

        t0 = time.perf_counter()
        self.pg = PostgresServer(shared_buffers="1GB")
        self.stack.callback(self.pg.stop)
        self.pg.start()
        self.my = MariaDBServer(buffer_pool_size="1G")
        self.stack.callback(self.my.stop)
        self.my.start()
        self.figures["servers_start_seconds"] = time.perf_counter() - t0
        os.environ.update(self.pg.env())
        os.environ.update(self.my.env())

        t0 = time.perf_counter()
        pick = lambda kind: {t: self.files[t] for t in tables_in(kind)}  # noqa: E731
        with ThreadPoolExecutor(2) as pool:
            loads = [
                pool.submit(load_postgres, self.pg.conninfo, pick("postgres"), schema=PG_SCHEMA),
                pool.submit(
                    load_mysql, self.my.connect_kwargs, pick("mariadb"), database=MYSQL_DATABASE
                ),
            ]
            for future in loads:
                future.result()
        self.figures["load_servers_seconds"] = time.perf_counter() - t0
        self._vacuum()

        self.start_proxies()
        self.register()
        if "trino" in args.engines:
            from trino_column import TrinoSide

            self.trino = TrinoSide(self, args.trino_heap)
            self.trino.setup()
            self.figures.update(self.trino.figures)

    def _vacuum(self) -> None:
        """Set PostgreSQL's visibility map so that both engines read a settled table."""
        with self.pg.connect() as conn:
            for table in ("orders", "customer"):
                conn.execute(f"VACUUM ANALYZE {PG_SCHEMA}.{table}")

    def start_proxies(self) -> None:
        from byte_counter import ByteCounter

        allow = None
        listen_host = "127.0.0.1"
        delay = 0.0
        if self.link is not None:
            from shaped_link import HOST_ADDR

            allow = listen_host = HOST_ADDR
            delay = self.link.proxy_delay
        self.proxies = {}
        for kind, server in (("postgres", self.pg), ("mariadb", self.my)):
            proxy = ByteCounter(
                (server.host, server.port),
                listen=(listen_host, 0),
                control_path=str(self.work / f"{kind}.counter.sock"),
                delay=delay,
                allow_address=allow,
                name=kind,
            )
            self.stack.callback(proxy.stop)
            proxy.start()
            self.proxies[kind] = proxy

    def endpoint(self, kind: str) -> tuple[str, int]:
        return self.proxies[kind].address

    @property
    def counters(self) -> dict[str, str]:
        return {k: str(p.control_path) for k, p in self.proxies.items()}

    def register(self) -> None:
        self.home = self.work / "workspace"
        catalog = open_catalog(self.home)
        pg_host, pg_port = self.endpoint("postgres")
        my_host, my_port = self.endpoint("mariadb")
        catalog.add_source(
            "pg",
            f"postgresql://{self.pg.user}@{pg_host}:{pg_port}/{self.pg.database}"
            f"?schemas={PG_SCHEMA}",
            password_env=self.pg.env_var_name,
        )
        catalog.add_source(
            "my",
            f"mysql://{self.my.user}@{my_host}:{my_port}/{MYSQL_DATABASE}",
            password_env=self.my.env_var_name,
        )
        catalog.add_source("lite", f"sqlite://{self.placed}/tpch.sqlite")
        catalog.add_source("files", f"file://{self.placed}/files")
        t0 = time.perf_counter()
        catalog.crawl(sample=False)
        self.figures["crawl_seconds"] = time.perf_counter() - t0
        catalog.workspace.close()

    def peer_connection(self) -> dict[str, Any]:
        from tests.tpch.data import tables_in

        pg_host, pg_port = self.endpoint("postgres")
        my_host, my_port = self.endpoint("mariadb")
        return {
            "postgres": {
                "host": pg_host,
                "port": pg_port,
                "user": self.pg.user,
                "password": self.pg.password,
                "dbname": self.pg.database,
                "schema": PG_SCHEMA,
            },
            "mysql": {
                "host": my_host,
                "port": my_port,
                "user": self.my.user,
                "password": self.my.password,
                "database": MYSQL_DATABASE,
            },
            "sqlite": str(self.placed / "tpch.sqlite"),
            "parquet": {t: str(self.placed / "files" / t) for t in tables_in("parquet")},
        }


# --------------------------------------------------------------------------------------------
# Running the engines


def run_engine(
    engine: str, env: Environment, args: argparse.Namespace, queries: list[int]
) -> dict[str, Any]:
    from tests.tpch import TABLES
    from tests.tpch.data import PLACEMENT

    result_path = env.work / f"{engine}.result.json"
    job: dict[str, Any] = {
        "engine": engine,
        "repeat": args.repeat,
        "max_query_seconds": args.max_query_seconds,
        "counters": env.counters,
        "result": str(result_path),
        "queries": [{"n": n, "sql": engine_sql(n, engine)} for n in queries],
    }
    if engine == "guajie":
        job["home"] = str(env.home)
        if args.guajie_workers:
            job["session"] = {"max_workers": args.guajie_workers}
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    elif engine == "trino":
        job.update(env.trino.job(queries, embedded_too=True))
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    elif engine == "copy":
        job["home"] = str(env.home)
        job["tables"] = {t: f"{SOURCE_NAMES[PLACEMENT[t]]}.{t}" for t in TABLES}
        argv = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    else:
        job.update(env.peer_connection())
        job["settings"] = dict(args.peer_set)
        argv = [str(peer_python(args.peer_venv)), str(BENCH_DIR / "peer_duckdb.py")]
    job_path = env.work / f"{engine}.job.json"
    job_path.write_text(json.dumps(job))
    job_path.chmod(0o600)
    # Trino and its own proxies are on loopback in this namespace: its driver stays here.
    prefix = env.link.exec_prefix if env.link is not None and engine != "trino" else []
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.Popen([*prefix, *argv, str(job_path)], cwd=ROOT)
    status, rusage = _wait(proc, ENGINE_TIMEOUT)
    wall = time.perf_counter() - started
    if status != 0 or not result_path.exists():
        raise RuntimeError(f"the {engine} engine exited with status {status}")
    result = json.loads(result_path.read_text())
    result["wall_seconds"] = wall
    result["cpu_seconds"] = rusage.ru_utime + rusage.ru_stime
    # The machine's 1-minute load average before and after: other work shares the cores.
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    # VmHWM of the engine's own process. wait4's ru_maxrss is only a fallback: Linux carries
    # the parent's high-water mark over fork and exec into it.
    result["max_rss_bytes"] = result.get("max_rss_bytes") or rusage.ru_maxrss * 1024
    if engine == "trino":
        env.trino.after_run(result)
    return result


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, Any]:
    """Wait for ``proc`` with ``wait4`` (its own peak RSS); kill it after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, rusage
        if time.monotonic() > deadline:
            proc.kill()
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# Figures


def geomean(values: list[float]) -> float | None:
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def _ok(entry: dict[str, Any] | None) -> bool:
    return bool(entry) and "error" not in entry


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _wire_down(entry: dict[str, Any], kind: str) -> int | None:
    wire = entry.get("wire") or {}
    return wire[kind]["down"] if kind in wire else None


def _fetched_rows(engine: str, entry: dict[str, Any]) -> dict[str, int]:
    if engine == "guajie":
        by_source = entry.get("by_source") or {}
        return {k: by_source.get(k, {}).get("rows", 0) for k in KINDS}
    scans = entry.get("scan_rows") or {}
    return {k: scans.get(k, 0) for k in KINDS}


def _bypassed(*entries: dict[str, Any]) -> bool:
    return any(e.get("proxy_bypassed") for e in entries)


def combine(results: dict[str, dict[str, Any]], queries: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n in queries:
        q: dict[str, Any] = {"query": n}
        for engine, result in results.items():
            entry = result["queries"].get(str(n))
            if not _ok(entry):
                q[engine] = {"error": (entry or {}).get("error", "not run")}
                continue
            assert entry is not None
            e: dict[str, Any] = {"best_seconds": entry["best"], "times": entry["times"]}
            e["rows"] = entry["rows"]
            if engine in ("guajie", "peer"):
                e["wire_down"] = {k: _wire_down(entry, k) for k in NETWORK_KINDS}
                rows_by_kind = _fetched_rows(engine, entry)
                bypassed = [
                    k
                    for k in NETWORK_KINDS
                    if rows_by_kind.get(k) and (e["wire_down"][k] or 0) < rows_by_kind[k]
                ]
                if bypassed:  # rows came back, yet hardly a byte through the proxy
                    e["proxy_bypassed"] = bypassed
                e["wire_up"] = {
                    k: (entry.get("wire") or {}).get(k, {}).get("up") for k in NETWORK_KINDS
                }
                e["wire_down_total"] = sum(v or 0 for v in e["wire_down"].values())
            if engine in ("guajie", "peer"):
                e["fetched_rows"] = _fetched_rows(engine, entry)
            if engine == "guajie":
                by_source = entry.get("by_source") or {}
                e["arrow_bytes"] = {k: by_source.get(k, {}).get("bytes", 0) for k in KINDS}
            if engine == "peer":
                e["parquet_file_bytes_read"] = entry.get("file_bytes_read")
            if "note" in entry:
                e["note"] = entry["note"]
            q[engine] = e
        g, p, c = (q.get(e) or {} for e in ("guajie", "peer", "copy"))
        q["guajie_over_peer"] = _ratio(g.get("best_seconds"), p.get("best_seconds"))
        q["guajie_over_copy"] = _ratio(g.get("best_seconds"), c.get("best_seconds"))
        if "wire_down_total" in g and "wire_down_total" in p and not _bypassed(g, p):
            q["bytes_guajie_over_peer"] = _ratio(g["wire_down_total"], p["wire_down_total"])
            q["bytes_target_met"] = g["wire_down_total"] <= p["wire_down_total"]
        counts = {e: q[e]["rows"] for e in ENGINES if "rows" in q.get(e, {})}
        q["rows_agree"] = len(set(counts.values())) <= 1
        rows.append(q)
    return rows


def summarize(
    per_query: list[dict[str, Any]], results: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    engines = list(results)
    complete = [q for q in per_query if all("best_seconds" in q.get(e, {}) for e in engines)]
    summary: dict[str, Any] = {
        "queries_compared": [q["query"] for q in complete],
        "failed": {e: [q["query"] for q in per_query if "error" in q.get(e, {})] for e in engines},
        "row_count_mismatches": [q["query"] for q in per_query if not q["rows_agree"]],
        "proxy_bypassed": {
            e: {
                f"Q{q['query']:02d}": q[e]["proxy_bypassed"]
                for q in per_query
                if q.get(e, {}).get("proxy_bypassed")
            }
            for e in engines
        },
        "geomean_seconds": {e: geomean([q[e]["best_seconds"] for q in complete]) for e in engines},
        "max_rss_bytes": {e: results[e].get("max_rss_bytes") for e in engines},
        "setup_seconds": {e: results[e].get("setup_seconds") for e in engines},
        "cpu_seconds": {e: results[e].get("cpu_seconds") for e in engines},
        "wall_seconds": {e: results[e].get("wall_seconds") for e in engines},
        "load_average": {e: results[e].get("load_average") for e in engines},
    }
    gm = summary["geomean_seconds"]
    summary["geomean_ratio"] = {
        "guajie/peer": _ratio(gm.get("guajie"), gm.get("peer")),
        "guajie/copy": _ratio(gm.get("guajie"), gm.get("copy")),
    }
    if "guajie" in results and "peer" in results:
        # Queries that read no database server (lineitem in local Parquet, SQLite) run the
        # same DuckDB scans in both engines; shown apart, the rest shows what federation does.
        reach: dict[str, list[float]] = {"servers": [], "local_files_only": []}
        for q in complete:
            rows = q["peer"].get("fetched_rows") or {}
            read = bool(rows.get("postgres") or rows.get("mariadb"))
            ratio = _ratio(q["guajie"]["best_seconds"], q["peer"]["best_seconds"])
            if ratio is not None:
                reach["servers" if read else "local_files_only"].append(ratio)
        summary["geomean_ratio_by_reach"] = {
            k: {"queries": len(v), "guajie/peer": geomean(v)} for k, v in reach.items() if v
        }
    if "copy" in results:
        summary["copy_seconds"] = results["copy"].get("copy_seconds")
        summary["copy_wire_down"] = sum(
            v["down"] for v in (results["copy"].get("copy_wire") or {}).values()
        )
    targets: dict[str, Any] = {}
    if "guajie" in results and "peer" in results:
        both = [q for q in per_query if "bytes_target_met" in q]
        totals = {e: sum(q[e]["wire_down_total"] for q in both) for e in ("guajie", "peer")}
        summary["wire_down_total"] = totals
        summary["wire_down_by_source"] = {
            e: {k: sum(q[e]["wire_down"][k] or 0 for q in both) for k in NETWORK_KINDS}
            for e in ("guajie", "peer")
        }
        summary["bytes_ratio"] = _ratio(totals["guajie"], totals["peer"])
        summary["guajie_arrow_bytes_total"] = {
            k: sum(q["guajie"]["arrow_bytes"][k] for q in both) for k in KINDS
        }
        ratio = summary["geomean_ratio"]["guajie/peer"]
        targets["geomean_latency_at_most_half_of_peer"] = {
            "value": ratio,
            "target": 0.5,
            "met": ratio is not None and ratio <= 0.5,
        }
        over = [q["query"] for q in both if not q["bytes_target_met"]]
        # A query whose bytes a driver hid from the proxy counts as not shown to be met.
        targets["bytes_at_most_peer_on_every_query"] = {
            "queries_over": over,
            "met": not over and len(both) == len(per_query),
            "queries_not_measured": [q["query"] for q in per_query if "bytes_target_met" not in q],
        }
        targets["bytes_total_at_most_quarter_of_peer"] = {
            "value": summary["bytes_ratio"],
            "target": 0.25,
            "met": summary["bytes_ratio"] is not None and summary["bytes_ratio"] <= 0.25,
        }
    summary["targets"] = targets
    return summary


# --------------------------------------------------------------------------------------------
# Printing


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:.2f}"


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _table(headers: list[str], rows: list[list[str]], title: str) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    out = [title, line, "-" * len(line)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _cell(q: dict[str, Any], engine: str, key: str) -> Any:
    return (q.get(engine) or {}).get(key)


def render(report: dict[str, Any]) -> str:
    per_query = report["queries"]
    engines = report["config"]["engines"]
    repeat = report["config"]["repeat"]
    parts = []
    rows = []
    for q in per_query:
        row = [f"Q{q['query']:02d}"]
        counts = [_cell(q, e, "rows") for e in engines]
        row.append(
            _n(next((c for c in counts if c is not None), None)) + ("" if q["rows_agree"] else " !")
        )
        for e in engines:
            entry = q.get(e) or {}
            row.append("ERROR" if "error" in entry else _s(entry.get("best_seconds")))
        if "peer" in engines and "guajie" in engines:
            row.append(_x(q["guajie_over_peer"]))
        if "copy" in engines and "guajie" in engines:
            row.append(_x(q["guajie_over_copy"]))
        rows.append(row)
    headers = ["query", "rows", *(f"{e} s" for e in engines)]
    if "peer" in engines and "guajie" in engines:
        headers.append("g/peer")
    if "copy" in engines and "guajie" in engines:
        headers.append("g/copy")
    parts.append(_table(headers, rows, f"Latency, best of {repeat} warm runs (seconds)"))

    if "guajie" in engines and "peer" in engines:
        rows = []
        for q in per_query:
            g, p = q.get("guajie") or {}, q.get("peer") or {}
            if "wire_down" not in g or "wire_down" not in p:
                rows.append([f"Q{q['query']:02d}", *(["-"] * 8)])
                continue
            if _bypassed(g, p):
                marks = {
                    (e, k): "bypass"
                    for e, x in (("g", g), ("p", p))
                    for k in x.get("proxy_bypassed", [])
                }
                rows.append(
                    [
                        f"Q{q['query']:02d}",
                        marks.get(("g", "postgres")) or _mb(g["wire_down"]["postgres"]),
                        marks.get(("g", "mariadb")) or _mb(g["wire_down"]["mariadb"]),
                        marks.get(("p", "postgres")) or _mb(p["wire_down"]["postgres"]),
                        marks.get(("p", "mariadb")) or _mb(p["wire_down"]["mariadb"]),
                        "-",
                        "-",
                        "-",
                        "?",
                    ]
                )
                continue
            rows.append(
                [
                    f"Q{q['query']:02d}",
                    _mb(g["wire_down"]["postgres"]),
                    _mb(g["wire_down"]["mariadb"]),
                    _mb(p["wire_down"]["postgres"]),
                    _mb(p["wire_down"]["mariadb"]),
                    _mb(g["wire_down_total"]),
                    _mb(p["wire_down_total"]),
                    _x(q.get("bytes_guajie_over_peer")),
                    "yes" if q.get("bytes_target_met") else "NO",
                ]
            )
        headers = [
            "query",
            "g pg",
            "g my",
            "peer pg",
            "peer my",
            "g total",
            "peer total",
            "g/peer",
            "g<=peer",
        ]
        parts.append(
            _table(
                headers,
                rows,
                "Bytes fetched over TCP from PostgreSQL and MariaDB (server->client, counted "
                "by the proxies; MB = 10^6 bytes)",
            )
        )
        rows = []
        for q in per_query:
            g, p = q.get("guajie") or {}, q.get("peer") or {}
            gr, pr, ga = (
                g.get("fetched_rows") or {},
                p.get("fetched_rows") or {},
                g.get("arrow_bytes") or {},
            )
            rows.append(
                [f"Q{q['query']:02d}"]
                + [_n(gr.get(k)) for k in KINDS]
                + [_n(pr.get(k)) for k in KINDS]
                + [_mb(ga.get(k)) for k in KINDS]
            )
        headers = (
            ["query"]
            + [f"g {SHORT[k]}" for k in KINDS]
            + [f"peer {SHORT[k]}" for k in KINDS]
            + [f"gMB {SHORT[k]}" for k in KINDS]
        )
        parts.append(
            _table(
                headers,
                rows,
                "Rows fetched per source (guajie: fragment rows; peer: rows out of its scan "
                "operators, DuckDB profile) and guajie's Arrow MB per source",
            )
        )
    parts.append(render_summary(report))
    return "\n\n".join(parts)


def render_summary(report: dict[str, Any]) -> str:
    s = report["summary"]
    env = report["environment"]
    lines = ["Summary"]
    cfg = report["config"]
    lines.append(
        f"  TPC-H SF {cfg['scale']:g}, {len(report['queries'])} queries, best of {cfg['repeat']}; "
        f"link: {env.get('link', {}).get('description', 'loopback')}"
    )
    gm = s["geomean_seconds"]
    lines.append(
        "  geometric mean latency: "
        + ", ".join(f"{e} {_s(v)} s" for e, v in gm.items())
        + f"  over {len(s['queries_compared'])} queries all engines answered"
    )
    lines.append(
        "  ratios: "
        + ", ".join(f"{k} {_x(v)}" for k, v in s["geomean_ratio"].items() if v is not None)
    )
    by_reach = s.get("geomean_ratio_by_reach") or {}
    if by_reach:
        names = {
            "servers": "reading PostgreSQL or MariaDB",
            "local_files_only": "reading local files only",
        }
        lines.append(
            "    guajie/peer by what the queries read: "
            + "; ".join(
                f"{v['queries']} {names[k]} {_x(v['guajie/peer'])}" for k, v in by_reach.items()
            )
        )
    if "wire_down_total" in s:
        t = s["wire_down_total"]
        lines.append(
            f"  bytes fetched from PostgreSQL+MariaDB: guajie {_mb(t['guajie'])} MB, "
            f"peer {_mb(t['peer'])} MB, ratio {_x(s['bytes_ratio'])}"
        )
        by = s["wire_down_by_source"]
        lines.append(
            "    by source: "
            + "; ".join(
                f"{e} " + ", ".join(f"{SHORT[k]} {_mb(v)} MB" for k, v in by[e].items()) for e in by
            )
        )
        arrow = s["guajie_arrow_bytes_total"]
        lines.append(
            "  guajie Arrow bytes per source (plan stats): "
            + ", ".join(f"{SHORT[k]} {_mb(v)} MB" for k, v in arrow.items())
        )
    if "copy_seconds" in s:
        lines.append(
            f"  copy: {_s(s['copy_seconds'])} s to copy all 8 tables into DuckDB "
            f"({_mb(s.get('copy_wire_down'))} MB over TCP), then queries as above"
        )
    lines.append(
        "  peak RSS: "
        + ", ".join(f"{e} {(v or 0) / 2**20:,.0f} MiB" for e, v in s["max_rss_bytes"].items())
    )
    lines.append(
        "  engine process: "
        + ", ".join(
            f"{e} {_s(s['wall_seconds'][e])} s wall, {_s(s['cpu_seconds'][e])} s CPU"
            for e in s["cpu_seconds"]
            if s["cpu_seconds"][e] is not None
        )
    )
    lines.append(
        f"  load average (1 min) before/after each engine on {os.cpu_count()} cores: "
        + ", ".join(f"{e} {v[0]:.1f}/{v[1]:.1f}" for e, v in s["load_average"].items() if v)
        + " (other work on the machine makes latencies noisy)"
    )
    lines.append(
        "  engine setup: "
        + ", ".join(f"{e} {_s(v)} s" for e, v in s["setup_seconds"].items() if v is not None)
    )
    lines.append(
        "  environment: "
        + ", ".join(
            f"{k.replace('_seconds', '')} {v:.1f} s"
            for k, v in env.items()
            if k.endswith("_seconds") and isinstance(v, float)
        )
    )
    bypassed = {e: v for e, v in s.get("proxy_bypassed", {}).items() if v}
    for engine, queries in bypassed.items():
        lines.append(
            f"  PROXY BYPASSED: {engine} fetched rows from {sorted({k for v in queries.values() for k in v})} "
            f"with (almost) no bytes through the proxy on {', '.join(queries)}; its driver "
            "reached the server another way (e.g. the server's unix socket when the proxy is "
            "on loopback): those bytes are not counted; run with --link veth"
        )
    failed = {e: v for e, v in s["failed"].items() if v}
    if failed:
        lines.append(f"  FAILED queries: {failed}")
    if s["row_count_mismatches"]:
        lines.append(f"  ROW COUNTS DIFFER between engines: {s['row_count_mismatches']}")
    if s["targets"]:
        lines.append("Targets")
        t = s["targets"]
        a = t["geomean_latency_at_most_half_of_peer"]
        lines.append(
            f"  [{'met' if a['met'] else 'NOT met'}] geomean guajie/peer {_x(a['value'])} <= 0.50x"
        )
        b = t["bytes_at_most_peer_on_every_query"]
        over = ", ".join(f"Q{n:02d}" for n in b["queries_over"]) or "none"
        unmeasured = ", ".join(f"Q{n:02d}" for n in b.get("queries_not_measured", []))
        lines.append(
            f"  [{'met' if b['met'] else 'NOT met'}] bytes guajie <= peer on every query "
            f"(over: {over}" + (f"; not measured: {unmeasured})" if unmeasured else ")")
        )
        c = t["bytes_total_at_most_quarter_of_peer"]
        lines.append(
            f"  [{'met' if c['met'] else 'NOT met'}] total bytes guajie/peer {_x(c['value'])} "
            "<= 0.25x"
        )
    return "\n".join(lines)


def worst_queries(report: dict[str, Any], results: dict[str, Any], count: int) -> str:
    """guajie's plan with actual figures for the queries where it trails the peer most."""
    ranked = sorted(
        (q for q in report["queries"] if q.get("guajie_over_peer")),
        key=lambda q: q["guajie_over_peer"],
        reverse=True,
    )[:count]
    out = []
    for q in ranked:
        entry = results["guajie"]["queries"][str(q["query"])]
        out.append(
            f"== Q{q['query']:02d}: guajie {_s(q['guajie']['best_seconds'])} s, peer "
            f"{_s(q['peer']['best_seconds'])} s ({_x(q['guajie_over_peer'])})"
        )
        out.append(entry.get("explain", "(no plan)"))
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, help="TPC-H scale factor (default 1)")
    parser.add_argument("--repeat", type=int, help="timed runs per query (default 3)")
    parser.add_argument("--queries", help="comma-separated query numbers (default all 22)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="guajie,peer,copy,trino")
    parser.add_argument("--trino-heap", default="2G", help="the Trino JVM's -Xmx (trino engine)")
    parser.add_argument("--shaped", action="store_true", help="run over a shaped link")
    parser.add_argument(
        "--link",
        choices=["auto", "veth", "loopback"],
        default="auto",
        help="unshaped runs: engines reach the proxies over a plain veth pair (auto: when "
        "root with iproute2) or over loopback, where a driver may switch to the server's "
        "unix socket and bypass the proxy",
    )
    parser.add_argument("--rate", default="100mbit", help="shaped link rate (tc syntax)")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="shaped one-way delay")
    parser.add_argument("--json", type=Path, help="where to write all figures")
    parser.add_argument("--quick", action="store_true", help="SF 0.1, 1 repeat: a smoke run")
    parser.add_argument("--cache", type=Path, help="TPC-H data cache directory")
    parser.add_argument("--peer-venv", type=Path, help="virtualenv for DuckDB 1.5")
    parser.add_argument(
        "--peer-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a DuckDB setting for the peer (repeatable)",
    )
    parser.add_argument("--guajie-workers", type=int, help="Session(max_workers=...)")
    parser.add_argument(
        "--max-query-seconds",
        type=float,
        default=DEFAULT_MAX_QUERY_SECONDS,
        help="a query whose first run takes longer is not repeated",
    )
    parser.add_argument("--explain", type=int, default=3, help="plans printed for worst queries")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return args
    args.scale = args.scale if args.scale is not None else (0.1 if args.quick else 1.0)
    args.repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    from tests.tpch import QUERY_NUMBERS

    args.query_numbers = (
        [int(x) for x in args.queries.split(",") if x.strip()]
        if args.queries
        else list(QUERY_NUMBERS)
    )
    bad = [n for n in args.query_numbers if n not in QUERY_NUMBERS]
    if bad:
        parser.error(f"TPC-H has queries 1..22, not {bad}")
    if args.link == "auto":
        from shaped_link import unavailable

        args.link = "loopback" if unavailable() else "veth"
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in args.engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown engines {unknown}; choose from {', '.join(ENGINES)}")
    args.peer_set = [_setting(s, parser) for s in args.peer_set]
    env_cache = os.environ.get("GUAJIE_TPCH_CACHE")
    args.cache = args.cache or (Path(env_cache) if env_cache else default_cache_root() / "tpch")
    env_venv = os.environ.get("GUAJIE_PEER_VENV")
    args.peer_venv = args.peer_venv or (
        Path(env_venv) if env_venv else default_cache_root() / "peer-venv"
    )
    suffix = "-shaped" if args.shaped else ""
    args.json = args.json or ROOT / ".bench" / f"tpch-sf{args.scale:g}{suffix}.json"
    return args


def _setting(text: str, parser: argparse.ArgumentParser) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        parser.error(f"--peer-set takes NAME=VALUE, not {text!r}")
    parsed: Any = value
    with contextlib.suppress(ValueError):
        parsed = int(value)
    if value.lower() in ("true", "false"):
        parsed = value.lower() == "true"
    return name.strip(), parsed


def _package_versions() -> dict[str, str]:
    """Versions of the fetch drivers that may be installed (for the record only)."""
    from importlib import metadata

    names = (
        "duckdb",
        "pyarrow",
        "psycopg",
        "pymysql",
        "mysqlclient",
        "adbc-driver-postgresql",
        "adbc-driver-sqlite",
        "connectorx",
        "sqlglot",
    )
    found = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _git_revision() -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    )
    return proc.stdout.strip() or None


@contextlib.contextmanager
def _work_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="guajie-bench-"))
    path.chmod(0o755)  # the servers' system users never read it; the proxies' sockets live here
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args.worker)
    if args.shaped:
        from shaped_link import unavailable

        reason = unavailable()
        if reason:
            log(f"--shaped: cannot build the shaped link here ({reason}); nothing to run.")
            return 1
    if "peer" in args.engines:
        peer_python(args.peer_venv)  # fail before the servers start
    log(
        f"TPC-H SF {args.scale:g}: engines {', '.join(args.engines)}; "
        f"{len(args.query_numbers)} queries, best of {args.repeat}"
    )
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        log(
            f"note: the machine is busy before the start (load average {load:.1f} on "
            f"{os.cpu_count()} cores): latencies will be noisy"
        )
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    with _work_dir() as work, Environment(args, work) as env:
        env.setup()
        log(
            "environment ready: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in env.figures.items() if k.endswith("_seconds"))
        )
        for engine in args.engines:
            log(f"-- {engine}")
            try:
                results[engine] = run_engine(engine, env, args, args.query_numbers)
            except Exception as exc:
                log(f"{engine}: {exc}")
                results[engine] = {"error": str(exc), "queries": {}}
        figures = dict(env.figures)
    finished = {e: r for e, r in results.items() if "error" not in r}
    per_query = combine(finished, args.query_numbers)
    report: dict[str, Any] = {
        "benchmark": "tpch_federation",
        "revision": _git_revision(),
        "packages": _package_versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime()),
        "config": {
            "scale": args.scale,
            "repeat": args.repeat,
            "engines": list(finished),
            "queries": args.query_numbers,
            "shaped": args.shaped,
            "cpu_count": os.cpu_count(),
            "peer_settings": dict(args.peer_set),
        },
        "environment": figures,
        "queries": per_query,
        "engines": {e: {k: v for k, v in r.items() if k != "queries"} for e, r in results.items()},
        "engine_queries": {e: r.get("queries", {}) for e, r in results.items()},
    }
    report["summary"] = summarize(per_query, finished)
    if "trino" in finished:
        import trino_column

        report["trino"] = trino_column.summarize(report, finished["trino"])
    report["total_seconds"] = time.perf_counter() - started
    log("")
    log(render(report))
    if "trino" in report:
        log("")
        log(trino_column.render(report["trino"], args.repeat))
    if "guajie" in finished and "peer" in finished and args.explain:
        text = worst_queries(report, finished, args.explain)
        log("\nguajie's plans where it trails the peer most (plan.explain with actual figures)")
        log(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, default=str))
    log(f"\nall figures: {args.json}  ({report['total_seconds']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
