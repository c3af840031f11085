"""The Trino column of ``tpch_federation.py``: the same TPC-H queries on a real Trino.

Trino has no SQLite connector, so it cannot read the benchmark's SQLite tables (nation,
region, part). The Trino column uses the placement of ``tests/test_trino.py`` instead:
orders and customer in PostgreSQL (the benchmark's own tables), nation and region in a
second PostgreSQL schema, partsupp and supplier in MariaDB (the benchmark's own), lineitem
(the benchmark's Parquet directory) and part as Parquet. So that the ratio of Trino to the
embedded engine compares engines and not placements, the same worker also runs every query
on the embedded engine over that same workspace ("embedded, Trino's placement").

Setup (:class:`TrinoSide`): a single-node Trino 476 started with
``tests/support/trino_server.py`` (heap as ``--trino-heap``), a workspace with the five
sources, crawled, and its catalogs created by guajie's own ``trino sync``. Trino reaches
PostgreSQL and MariaDB through byte-counting proxies of its own (loopback), so the bytes
it fetches are counted the way the other engines' are.

The Trino worker and Trino's proxies stay on loopback: with ``--link veth`` or ``--shaped``
only the other engines go over the benchmark's link.

Per query: best of ``--repeat`` warm runs, rows, bytes over TCP from PostgreSQL and
MariaDB, Trino's peak query memory (``peakUserMemoryReservation`` of the query's
statistics) and the rows/bytes it read per source (``/v1/query/{id}``). After the run, the
Trino JVM's peak resident memory (``VmHWM``; it includes start-up and sync).
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Any

TRINO_PLACEMENT = {
    "orders": "pg",
    "customer": "pg",
    "nation": "tpg",
    "region": "tpg",
    "partsupp": "my",
    "supplier": "my",
    "lineitem": "files",
    "part": "tfiles",
}
EXTRA_PG_SCHEMA = "tpch_trino"
MB = 1e6

PLACEMENT_NOTE = (
    "Trino cannot read SQLite: its column uses nation/region in PostgreSQL and part in "
    "Parquet (tests/test_trino.py's placement); 'emb@trino' is the embedded engine on that "
    "same placement"
)


def engine_sql(number: int) -> str:
    """TPC-H query ``number`` with ``source.table`` names of the Trino placement."""
    import sqlglot
    from sqlglot import exp

    from tests.tpch import load_query

    tree = sqlglot.parse_one(load_query(number), read="trino")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.name in TRINO_PLACEMENT and table.name not in ctes:
            table.set("db", exp.to_identifier(TRINO_PLACEMENT[table.name]))
    return tree.sql(dialect="trino")


def _vm(pid: int, key: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    return None


class TrinoSide:
    """Trino, its extra tables, its proxies and its workspace, inside a benchmark run."""

    def __init__(self, env: Any, heap: str) -> None:
        self.env = env
        self.heap = heap
        self.figures: dict[str, Any] = {}

    def setup(self) -> None:
        from byte_counter import ByteCounter

        from tests.support.trino_server import TrinoServer
        from tests.tpch.data import load_postgres, write_parquet

        env = self.env
        t0 = time.perf_counter()
        load_postgres(
            env.pg.conninfo,
            {t: env.files[t] for t in ("nation", "region")},
            schema=EXTRA_PG_SCHEMA,
        )
        self.files_dir = env.work / "trino-files"
        write_parquet(self.files_dir, {"part": env.files["part"]})
        self.figures["trino_extra_tables_seconds"] = time.perf_counter() - t0

        self.proxies = {}
        for kind, server in (("postgres", env.pg), ("mariadb", env.my)):
            proxy = ByteCounter(
                (server.host, server.port),
                listen=("127.0.0.1", 0),
                control_path=str(env.work / f"trino-{kind}.counter.sock"),
                name=f"trino-{kind}",
            )
            env.stack.callback(proxy.stop)
            proxy.start()
            self.proxies[kind] = proxy

        t0 = time.perf_counter()
        # The servers' passwords are in os.environ: Trino's catalogs refer to them.
        query_memory = f"{max(1, int(self.heap.rstrip('Gg')) // 2)}GB"
        self.server = TrinoServer(heap=self.heap, query_memory=query_memory)
        env.stack.callback(self.server.stop)
        self.server.start()
        self.figures["trino_start_seconds"] = time.perf_counter() - t0
        self.figures["trino_rss_after_start_bytes"] = self._pid_vm("VmRSS")

        t0 = time.perf_counter()
        self.register()
        self.figures["trino_workspace_seconds"] = time.perf_counter() - t0

    def _pid_vm(self, key: str) -> int | None:
        proc = getattr(self.server, "_proc", None)
        return _vm(proc.pid, key) if proc is not None else None

    def register(self) -> None:
        from tpch_federation import MYSQL_DATABASE, PG_SCHEMA, open_catalog

        from guajie.federation.trino import load_settings, sync_catalogs

        env = self.env
        self.home = env.work / "workspace-trino"
        catalog = open_catalog(self.home)
        pg_host, pg_port = self.proxies["postgres"].address
        my_host, my_port = self.proxies["mariadb"].address
        pg = f"postgresql://{env.pg.user}@{pg_host}:{pg_port}/{env.pg.database}"

        catalog.add_source("pg", f"{pg}?schemas={PG_SCHEMA}", password_env=env.pg.env_var_name)
        catalog.add_source(
            "tpg", f"{pg}?schemas={EXTRA_PG_SCHEMA}", password_env=env.pg.env_var_name
        )
        catalog.add_source(
            "my",
            f"mysql://{env.my.user}@{my_host}:{my_port}/{MYSQL_DATABASE}",
            password_env=env.my.env_var_name,
        )
        catalog.add_source("files", f"file://{env.placed}/files")
        catalog.add_source("tfiles", f"file://{self.files_dir}")
        catalog.crawl(sample=False)
        t0 = time.perf_counter()
        report = sync_catalogs(catalog, load_settings(catalog.workspace, url=self.server.url))
        self.figures["trino_sync_seconds"] = time.perf_counter() - t0
        if not report.ok:
            raise RuntimeError(f"guajie trino sync failed: {report.to_dict()}")
        catalog.workspace.close()

    @property
    def counters(self) -> dict[str, str]:
        return {k: str(p.control_path) for k, p in self.proxies.items()}

    def job(self, queries: list[int], embedded_too: bool) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "trino_url": self.server.url,
            "counters": self.counters,
            "embedded_too": embedded_too,
            "queries": [{"n": n, "sql": engine_sql(n)} for n in queries],
        }

    def after_run(self, result: dict[str, Any]) -> None:
        result["trino_jvm_peak_rss_bytes"] = self._pid_vm("VmHWM")
        result["trino_jvm_rss_after_start_bytes"] = self.figures.get("trino_rss_after_start_bytes")
        result["trino_heap"] = self.heap


def worker_trino(job: dict[str, Any]) -> dict[str, Any]:
    """Run the queries on Trino and, with ``embedded_too``, on the embedded engine too."""
    from tpch_federation import _brief, _measure, _tail_trace

    from guajie.api import Session
    from guajie.catalog.ledger import Catalog

    started = time.perf_counter()
    session = Session(Catalog.open(job["home"]), trino={"url": job["trino_url"]})
    out: dict[str, Any] = {"engine": "trino", "queries": {}, "embedded_same_placement": {}}
    out["setup_seconds"] = time.perf_counter() - started

    for query in job["queries"]:
        n, sql = str(query["n"]), query["sql"]
        for engine, where in (
            ("trino", out["queries"]),
            ("embedded", out["embedded_same_placement"]),
        ):
            if engine == "embedded" and not job.get("embedded_too"):
                continue
            try:

                def run(sql: str = sql, engine: str = engine) -> Any:
                    recorded = session.execute(sql, engine=engine)
                    table = recorded.read_all()
                    return recorded, table.num_rows

                entry, recorded = _measure(run, job)
                entry["fetched"] = recorded.run.fetched
                if engine == "trino":
                    reads = recorded.result.reads()
                    if reads is not None:
                        entry["trino_totals"] = reads.totals
            except Exception as exc:
                entry = {"error": f"{type(exc).__name__}: {exc}"[:2000], "trace": _tail_trace()}
            where[n] = entry
            print(f"{engine}@trino-placement Q{n}: {_brief(entry)}", file=sys.stderr, flush=True)
    session.close()
    return out


# --------------------------------------------------------------------------------------------
# Figures


def _best(entry: dict[str, Any] | None) -> float | None:
    return entry.get("best") if entry and "error" not in entry else None


def summarize(report: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Trino against the embedded engine (same placement and main placement) and the peer."""
    from tpch_federation import NETWORK_KINDS, geomean

    queries = report["config"]["queries"]
    others = report.get("engine_queries", {})
    rows = []
    for n in queries:
        t = result["queries"].get(str(n))
        e = result.get("embedded_same_placement", {}).get(str(n))
        g = others.get("guajie", {}).get(str(n))
        p = others.get("peer", {}).get(str(n))
        wire = (t or {}).get("wire") or {}
        rows.append(
            {
                "query": n,
                "trino": _best(t),
                "embedded_same_placement": _best(e),
                "guajie": _best(g),
                "peer": _best(p),
                "trino_rows": (t or {}).get("rows"),
                "embedded_rows": (e or {}).get("rows"),
                "trino_wire_down": sum(wire.get(k, {}).get("down", 0) for k in NETWORK_KINDS)
                if wire
                else None,
                "trino_peak_query_memory": ((t or {}).get("trino_totals") or {}).get(
                    "peak_memory_bytes"
                ),
                "error": (t or {}).get("error"),
            }
        )
    columns = ("trino", "embedded_same_placement", "guajie", "peer")
    present = [c for c in columns if any(r[c] is not None for r in rows)]
    complete = [r for r in rows if all(r[c] is not None for c in present)]
    gm = {c: geomean([r[c] for r in complete]) for c in present}

    def ratio(a: str, b: str) -> float | None:
        return gm[a] / gm[b] if gm.get(a) and gm.get(b) else None

    return {
        "per_query": rows,
        "queries_compared": [r["query"] for r in complete],
        "geomean_seconds": gm,
        "ratios": {
            "trino/embedded(same placement)": ratio("trino", "embedded_same_placement"),
            "trino/guajie": ratio("trino", "guajie"),
            "trino/peer": ratio("trino", "peer"),
        },
        "row_count_mismatches": [
            r["query"]
            for r in rows
            if r["embedded_rows"] is not None
            and r["trino_rows"] is not None
            and r["embedded_rows"] != r["trino_rows"]
        ],
        "trino_wire_down_total": sum(r["trino_wire_down"] or 0 for r in rows),
        "trino_jvm_peak_rss_bytes": result.get("trino_jvm_peak_rss_bytes"),
        "trino_jvm_rss_after_start_bytes": result.get("trino_jvm_rss_after_start_bytes"),
        "trino_heap": result.get("trino_heap"),
        "worker_peak_rss_bytes": result.get("max_rss_bytes"),
        "load_average": result.get("load_average"),
    }


def render(summary: dict[str, Any], repeat: int) -> str:
    from tpch_federation import _mb, _n, _s, _table, _x

    def ratio(a: float | None, b: float | None) -> str:
        return _x(a / b) if a and b else "-"

    rows = []
    for r in summary["per_query"]:
        rows.append(
            [
                f"Q{r['query']:02d}",
                _n(r["trino_rows"]),
                "ERROR" if r["error"] else _s(r["trino"]),
                _s(r["embedded_same_placement"]),
                _s(r["guajie"]),
                _s(r["peer"]),
                ratio(r["trino"], r["embedded_same_placement"]),
                ratio(r["trino"], r["peer"]),
                _mb(r["trino_wire_down"]),
                _mb(r["trino_peak_query_memory"]),
            ]
        )
    headers = [
        "query",
        "rows",
        "trino s",
        "emb@trino s",
        "guajie s",
        "peer s",
        "t/emb@t",
        "t/peer",
        "t MB pg+my",
        "t peak MB",
    ]
    parts = [_table(headers, rows, f"Trino, best of {repeat} warm runs (seconds)")]
    gm = summary["geomean_seconds"]
    lines = ["Trino summary", f"  {PLACEMENT_NOTE}"]
    lines.append(
        "  geometric mean latency: "
        + ", ".join(f"{k} {_s(v)} s" for k, v in gm.items())
        + f"  over {len(summary['queries_compared'])} queries"
    )
    lines.append(
        "  ratios: "
        + ", ".join(f"{k} {_x(v)}" for k, v in summary["ratios"].items() if v is not None)
    )
    lines.append(
        f"  bytes Trino fetched from PostgreSQL+MariaDB: {_mb(summary['trino_wire_down_total'])} MB"
    )
    peak = summary.get("trino_jvm_peak_rss_bytes")
    start = summary.get("trino_jvm_rss_after_start_bytes")
    lines.append(
        f"  Trino JVM (-Xmx{summary.get('trino_heap')}): resident {(start or 0) / 2**20:,.0f} MiB "
        f"after start, peak {(peak or 0) / 2**20:,.0f} MiB; guajie worker driving it (Arrow "
        f"conversion + embedded runs) peak {(summary.get('worker_peak_rss_bytes') or 0) / 2**20:,.0f} MiB"
    )
    load = summary.get("load_average")
    if load:
        lines.append(f"  load average (1 min) before/after: {load[0]:.1f}/{load[1]:.1f}")
    if summary["row_count_mismatches"]:
        lines.append(f"  ROW COUNTS DIFFER (trino vs embedded): {summary['row_count_mismatches']}")
    parts.append("\n".join(lines))
    return "\n\n".join(parts)
