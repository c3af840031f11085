"""The peer engine of the TPC-H federation benchmark: DuckDB 1.5 with its scanners.

    <peer-venv>/bin/python benchmarks/peer_duckdb.py JOB.json

Runs in its own virtualenv (DuckDB 1.5.x with ``duckdb-extension-postgres``, ``-mysql`` and
``-sqlite``, whose wheels exist for 1.5.x only), never in guajie's. ``tpch_federation.py``
writes the job and reads the result; both are JSON files:

job
    ``postgres`` {host, port, user, password, dbname, schema}, ``mysql`` {host, port, user,
    password, database}, ``sqlite`` (path), ``parquet`` {table: directory}, ``queries``
    [{n, sql}] in DuckDB SQL naming ``pg.<schema>.t``, ``my.<db>.t``, ``lite.t`` and
    ``files.t``; ``repeat``, ``max_query_seconds``, ``counters`` {source: control socket of
    a ``byte_counter`` proxy}, ``settings`` {name: value} applied after the defaults, and
    ``result`` (the output path).

result
    ``setup_seconds`` (load + attach), ``settings`` in force, per query ``rows``, ``times``
    (the timed runs), ``wire`` {source: {down, up}} per run averaged from the proxies,
    ``scan_rows`` {source: rows} and ``file_bytes_read`` from DuckDB's profile of the
    untimed first run, and ``max_rss_bytes`` (VmHWM).

The extensions are installed offline from the wheels' own files, then loaded.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import duckdb
from byte_counter import read_totals

EXTENSIONS = ("postgres", "mysql", "sqlite")
SCAN_SOURCES = {
    "POSTGRES": "postgres",
    "MYSQL": "mariadb",
    "SQLITE": "sqlite",
    "PARQUET": "parquet",
}
PROFILE_METRICS = {
    "OPERATOR_NAME": "true",
    "OPERATOR_TYPE": "true",
    "OPERATOR_CARDINALITY": "true",
    "EXTRA_INFO": "true",
    "TOTAL_BYTES_READ": "true",
    "LATENCY": "true",
}


def _quote(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _dsn(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items() if v is not None)


def install_extensions(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """INSTALL each scanner from its wheel's file (no network), then LOAD it."""
    import importlib.util

    version = duckdb.__version__
    paths = {}
    for name in EXTENSIONS:
        spec = importlib.util.find_spec(f"duckdb_extension_{name}")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"duckdb-extension-{name} is not installed in {sys.prefix}")
        package = Path(next(iter(spec.submodule_search_locations)))
        candidates = sorted(package.glob(f"extensions/*/{name}.duckdb_extension"))
        exact = [p for p in candidates if p.parent.name == f"v{version}"]
        chosen = (exact or candidates or [None])[-1]
        if chosen is None:
            raise RuntimeError(f"no {name}.duckdb_extension file under {package}")
        con.execute(f"INSTALL {_quote(chosen)}")
        con.execute(f"LOAD {name}")
        paths[name] = str(chosen)
    return paths


def connect(job: dict[str, Any]) -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    threads = int(job.get("threads") or os.cpu_count() or 1)
    con = duckdb.connect(":memory:", config={"threads": threads})
    install_extensions(con)
    settings: dict[str, Any] = {"threads": threads}
    for name, value in (job.get("settings") or {}).items():
        con.execute(f"SET {name} = {_quote(value) if isinstance(value, str) else value}")
        settings[name] = value
    pg = job["postgres"]
    pg_dsn = _dsn({k: pg[k] for k in ("host", "port", "user", "password", "dbname")})
    con.execute(
        f"ATTACH {_quote(pg_dsn)} AS pg (TYPE postgres, READ_ONLY, SCHEMA {_quote(pg['schema'])})"
    )
    my = job["mysql"]
    my_dsn = _dsn(
        {
            **{k: my[k] for k in ("host", "port", "user", "password", "database")},
            "compression": "disabled",
        }
    )
    con.execute(f"ATTACH {_quote(my_dsn)} AS my (TYPE mysql, READ_ONLY)")
    con.execute(f"ATTACH {_quote(job['sqlite'])} AS lite (TYPE sqlite, READ_ONLY)")
    con.execute("CREATE SCHEMA files")
    for table, location in job["parquet"].items():
        path = Path(location)
        pattern = str(path / "*.parquet") if path.is_dir() else str(path)
        con.execute(f'CREATE VIEW files."{table}" AS SELECT * FROM read_parquet({_quote(pattern)})')
    rows = con.execute(
        "SELECT name, value FROM duckdb_settings() WHERE name IN "
        "('threads', 'pg_pages_per_task', 'pg_use_binary_copy', 'pg_use_ctid_scan', "
        "'pg_pool_max_connections', 'pg_experimental_filter_pushdown', "
        "'mysql_experimental_filter_pushdown', 'mysql_pool_size')"
    ).fetchall()
    settings.update(dict(rows))
    settings["mysql_compression"] = "disabled"
    return con, settings


def _snapshot(counters: dict[str, str]) -> dict[str, dict[str, int]]:
    return {source: read_totals(path) for source, path in counters.items()}


def _delta(before: dict, after: dict) -> dict[str, dict[str, int]]:
    return {
        s: {k: after[s][k] - before[s][k] for k in ("down", "up", "connections")} for s in before
    }


def _walk(node: dict[str, Any]):
    yield node
    for child in node.get("children", []):
        yield from _walk(child)


def profile_summary(path: Path) -> tuple[dict[str, int], int | None]:
    """Rows each source's scans produced, and file bytes read, from a JSON profile."""
    tree = json.loads(path.read_text())
    rows: dict[str, int] = {}
    for node in _walk(tree):
        name = str(node.get("operator_name") or node.get("operator_type") or "").upper()
        for key, source in SCAN_SOURCES.items():
            if key in name:
                rows[source] = rows.get(source, 0) + int(node.get("operator_cardinality") or 0)
    # DuckDB 1.5 leaves this at 0 for read_parquet over local files: absent, not zero.
    bytes_read = int(tree.get("total_bytes_read") or 0)
    return rows, bytes_read or None


def run_query(
    con: duckdb.DuckDBPyConnection, sql: str, job: dict[str, Any], profile_dir: Path
) -> dict[str, Any]:
    counters = job.get("counters") or {}
    repeat = max(1, int(job.get("repeat", 3)))
    limit = float(job.get("max_query_seconds") or 0)
    out: dict[str, Any] = {"times": []}
    # Untimed first run, profiled: warms caches and connections, gives rows per source.
    profile = profile_dir / "profile.json"
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = {_quote(profile)}")
    con.execute(f"SET custom_profiling_settings = {_quote(json.dumps(PROFILE_METRICS))}")
    started = time.perf_counter()
    table = con.execute(sql).to_arrow_table()
    first = time.perf_counter() - started
    con.execute("PRAGMA disable_profiling")
    out["rows"] = table.num_rows
    out["first_seconds"] = first
    try:
        out["scan_rows"], out["file_bytes_read"] = profile_summary(profile)
    except (OSError, ValueError) as exc:
        out["profile_error"] = str(exc)
    wire_runs = []
    for _ in range(repeat):
        if limit and first > limit:
            out["times"].append(first)
            out["note"] = f"first run over {limit:g} s: not repeated"
            break
        before = _snapshot(counters)
        started = time.perf_counter()
        table = con.execute(sql).to_arrow_table()
        out["times"].append(time.perf_counter() - started)
        wire_runs.append(_delta(before, _snapshot(counters)))
        out["rows"] = table.num_rows
    if wire_runs:
        out["wire"] = {
            s: {
                k: round(sum(r[s][k] for r in wire_runs) / len(wire_runs))
                for k in ("down", "up", "connections")
            }
            for s in wire_runs[0]
        }
    out["best"] = min(out["times"])
    return out


def max_rss_bytes() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    job = json.loads(Path(argv[1]).read_text())
    result: dict[str, Any] = {"engine": "peer", "duckdb": duckdb.__version__, "queries": {}}
    started = time.perf_counter()
    con, result["settings"] = connect(job)
    result["setup_seconds"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="peer-profile-") as tmp:
        for query in job["queries"]:
            n = str(query["n"])
            try:
                result["queries"][n] = run_query(con, query["sql"], job, Path(tmp))
            except Exception as exc:  # one failing query must not hide the others
                result["queries"][n] = {
                    "error": f"{type(exc).__name__}: {exc}".strip()[:2000],
                    "trace": traceback.format_exc()[-4000:],
                }
            print(f"peer Q{n}: {_brief(result['queries'][n])}", file=sys.stderr, flush=True)
    con.close()
    result["max_rss_bytes"] = max_rss_bytes()
    Path(job["result"]).write_text(json.dumps(result, indent=1))
    return 0


def _brief(entry: dict[str, Any]) -> str:
    if "error" in entry:
        return "error: " + entry["error"].splitlines()[0][:200]
    return f"{entry['rows']} rows, best {entry['best']:.3f} s"


if __name__ == "__main__":
    sys.exit(main(sys.argv))
