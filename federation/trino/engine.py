"""Running scenario SQL on Trino with the embedded engine's front end.

The query goes through the same steps as on the embedded engine —
:func:`~guajie.federation.frontend.parse_read_only` (one read-only query),
:func:`~guajie.federation.frontend.bind_tables` (names resolved through the catalog),
:func:`~guajie.federation.frontend.optimize_tree` (with the semantic checks it makes) — and
the optimized tree is sent to Trino
as one statement, with every table fully qualified (``source.schema.table``; catalogs are
named after sources by ``guajie trino sync``).

Where Trino reads a column with another type than the catalog records (a PostgreSQL or
MariaDB ``char(n)`` that Trino pads, MariaDB's ``tinyint(1)`` booleans, a ``json`` column),
the table is replaced by a subquery casting that column to the catalog's type, so the query
computes with the values the embedded engine computes with. Trino's types come from
``system.jdbc.columns``, once per table and engine.

Results come back as Arrow (:class:`TrinoResult`), streamed page by page.

Wiring (for the CLI and :class:`guajie.api.Session`)::

    engine = TrinoEngine.for_catalog(catalog, url=..., user=...)  # settings: see .settings
    result = engine.execute(sql, dialect="trino", timeout=None)     # .reader / .read_all()
    explanation = engine.explain(sql, dialect="trino", analyze=False)
    print(explanation.text())  # or explanation.to_dict() for --json
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from guajie.federation.catalog_view import CatalogView, LedgerView, TableInfo
from guajie.federation.frontend import bound_query
from guajie.federation.policy import Policy

from .client import ArrowStream, TrinoClient
from .errors import NotServedError, TrinoConfigError, TrinoQueryError
from .parquet_results import ParquetResults
from .query_stats import QueryReads, reads_of
from .settings import TrinoSettings, load_settings
from .sync import read_state
from .types import cast_sql, needs_cast, trino_type_for

_UNSERVED_KINDS = {
    "sqlite": "Trino has no SQLite connector",
    "duckdb": "Trino cannot read a DuckDB file another process uses",
}


@dataclass
class Cast:
    column: str
    trino_type: str
    catalog_type: str

    def to_dict(self) -> dict[str, str]:
        return {"column": self.column, "trino": self.trino_type, "catalog": self.catalog_type}


@dataclass
class TrinoQuery:
    """A query made ready for Trino: the SQL sent and what was done to get it."""

    sql: str
    trino_sql: str
    tree: exp.Query
    datasets: list[str]
    sources: list[str]
    output_columns: list[str]
    casts: dict[str, list[Cast]] = field(default_factory=dict)

    def pretty(self) -> str:
        return self.tree.sql(dialect="trino", pretty=True)


@dataclass
class TrinoStats:
    rows: int = 0
    seconds: float = 0.0
    query_id: str | None = None
    transfer: str = "json"
    trino: dict[str, Any] = field(default_factory=dict)


class TrinoResult:
    """A running query's answer: ``reader`` streams it, ``read_all()`` collects it.

    ``stats`` (rows, seconds, Trino's own statistics) is complete once the reader is done.
    """

    def __init__(
        self,
        query: TrinoQuery,
        schema: pa.Schema,
        batches: Iterator[pa.RecordBatch],
        started: float,
        *,
        stream: ArrowStream | None = None,
        transfer: str = "json",
    ) -> None:
        self.query = query
        self.schema = schema
        self._stream = stream
        self._source = batches
        self._started = started
        self._reads: QueryReads | None = None
        self.stats = TrinoStats(
            query_id=stream.query_id if stream is not None else None, transfer=transfer
        )
        self.reader = pa.RecordBatchReader.from_batches(schema, self._batches())

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            for batch in self._source:
                self.stats.rows += batch.num_rows
                yield batch
        finally:
            self.stats.seconds = time.perf_counter() - self._started
            if self._stream is not None:
                self.stats.trino = self._stream.stats

    def read_all(self) -> pa.Table:
        return self.reader.read_all()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()

    def reads(self) -> QueryReads | None:
        """What Trino read per table, from its statistics of the query (once it ended).

        None when the query has no id (answers moved as Parquet) or Trino no longer keeps
        its statistics. Asked once, after the stream ended.
        """
        if self._reads is None and self._stream is not None and self.stats.query_id:
            info = self._stream.client.query_info(self.stats.query_id)
            if info is not None:
                self._reads = reads_of(info)
        return self._reads

    def by_source(self) -> dict[str, dict[str, int]]:
        """Rows (and bytes, where the connector counts them) read per source."""
        reads = self.reads()
        return reads.by_source() if reads is not None else {}


@dataclass
class TrinoExplain:
    query: TrinoQuery
    plan: str
    url: str
    analyze: bool = False

    def text(self) -> str:
        lines = [f"Trino at {self.url} runs the whole query:"]
        lines.extend("    " + line for line in self.query.pretty().splitlines())
        if self.query.casts:
            lines.append("Columns cast to the catalog's types before use:")
            for dataset, casts in sorted(self.query.casts.items()):
                for c in casts:
                    lines.append(f"    {dataset}.{c.column}: {c.trino_type} -> {c.catalog_type}")
        lines.append(f"Trino's plan ({'EXPLAIN ANALYZE' if self.analyze else 'EXPLAIN'}):")
        lines.extend("    " + line for line in self.plan.rstrip().splitlines())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": "trino",
            "url": self.url,
            "sql": self.query.sql,
            "sql_sent": self.query.trino_sql,
            "datasets": self.query.datasets,
            "output_columns": self.query.output_columns,
            "casts": {k: [c.to_dict() for c in v] for k, v in sorted(self.query.casts.items())},
            "trino_plan": self.plan,
            "analyze": self.analyze,
        }


class TrinoEngine:
    """Federated queries over one workspace's catalog, run by a Trino cluster."""

    def __init__(self, catalog: Any, settings: TrinoSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.client = TrinoClient(settings)
        self._types: dict[tuple[str, ...], dict[str, str]] = {}
        self._results: ParquetResults | None = None

    @classmethod
    def for_catalog(cls, catalog: Any, **overrides: Any) -> TrinoEngine:
        """An engine with the workspace's ``trino:`` settings, ``overrides`` winning."""
        return cls(catalog, load_settings(catalog.workspace, **overrides))

    # -- planning ---------------------------------------------------------------------------

    def view(self) -> CatalogView:
        """The catalog as planning sees it: the same view the embedded engine binds with."""
        return LedgerView(self.catalog.store)

    def prepare(
        self, sql: str, *, dialect: str = "trino", policy: Policy | None = None
    ) -> TrinoQuery:
        """Bind, check, apply ``policy`` and rewrite ``sql`` for Trino (asks Trino for the
        tables' types)."""
        view = self.view()
        optimized, tables = bound_query(sql, view, dialect, policy)
        self._check_served(tables)
        actual = self._trino_types(tables)
        casts = _add_casts(optimized, view, actual)
        columns = [s.alias_or_name for s in optimized.selects]
        return TrinoQuery(
            sql=sql,
            trino_sql=optimized.sql(dialect="trino"),
            tree=optimized,
            datasets=sorted(t.qualified_name for t in tables),
            sources=sorted({t.source for t in tables}),
            output_columns=columns,
            casts=casts,
        )

    def _check_served(self, tables: Iterable[TableInfo]) -> None:
        state = read_state(self.settings)
        unserved_sources = state.get("unserved_sources", {})
        unserved_datasets = state.get("unserved_datasets", {})
        for t in tables:
            reason = _UNSERVED_KINDS.get(t.kind) or unserved_sources.get(t.source)
            if t.kind == "file" and t.location and t.location.startswith(("http://", "https://")):
                reason = reason or "Trino does not read files over HTTP"
            if reason:
                raise NotServedError(
                    t.source,
                    f"Trino cannot serve it ({reason}), and the query reads {t.qualified_name}.",
                    "Run this query on the embedded engine (without --engine trino), or move "
                    "the data to a source Trino serves (PostgreSQL, MySQL/MariaDB, Parquet or "
                    "CSV files) and run `guajie trino sync`.",
                )
            if why := unserved_datasets.get(t.qualified_name):
                raise NotServedError(
                    t.source,
                    f"Trino does not serve {t.qualified_name}: {why}.",
                    "Run this query on the embedded engine (without --engine trino).",
                )

    def _trino_types(self, tables: Sequence[TableInfo]) -> dict[str, dict[str, str]]:
        # Cached per table and per catalog schema: a re-crawl that changes columns asks again.
        missing = [t for t in tables if self._types.get(_type_key(t)) is None]
        if missing:
            catalogs = sorted({t.source for t in missing})
            schemas = sorted({t.schema.lower() for t in missing})
            names = sorted({t.name.lower() for t in missing})
            lit = lambda values: ", ".join(_literal(v) for v in values)  # noqa: E731
            rows = self.client.rows(
                "SELECT table_cat, table_schem, table_name, column_name, type_name "
                "FROM system.jdbc.columns "
                f"WHERE table_cat IN ({lit(catalogs)}) AND table_schem IN ({lit(schemas)}) "
                f"AND table_name IN ({lit(names)})",
                sources=catalogs,
            )
            found: dict[str, dict[str, str]] = {}
            for cat, schema, name, column, type_name in rows:
                found.setdefault(f"{cat}.{schema}.{name}".lower(), {})[column.lower()] = type_name
            for t in missing:
                key = t.qualified_name.lower()
                if key not in found:
                    known = {r[0] for r in self.client.rows("SHOW CATALOGS")}
                    if t.source not in known:
                        raise TrinoQueryError(
                            f"Trino at {self.settings.url} has no catalog for source "
                            f"'{t.source}', which the query reads.",
                            "Run `guajie trino sync` (it says which sources Trino can serve "
                            "and why not the others).",
                        )
                    raise TrinoQueryError(
                        f"Trino's catalog '{t.source}' has no table {t.schema}.{t.name}.",
                        "Crawl the source and run `guajie trino sync` again; for a file source "
                        "the sync report says why a dataset is not served.",
                    )
                self._types[_type_key(t)] = found[key]
        return {t.qualified_name.lower(): self._types[_type_key(t)] for t in tables}

    def refresh(self) -> None:
        """Forget the column types learned from Trino (after a sync or a schema change)."""
        self._types.clear()

    # -- running ----------------------------------------------------------------------------

    def execute(
        self,
        sql: str,
        *,
        dialect: str = "trino",
        timeout: float | None = None,
        transfer: str | None = None,
        policy: Policy | None = None,
    ) -> TrinoResult:
        """Run ``sql`` on Trino; the answer streams from ``.reader`` as Arrow.

        ``transfer`` (default: the ``trino.transfer`` setting) is ``json`` (pages of the
        client protocol, streamed) or ``parquet`` (large answers written by Trino as Parquet
        into ``trino.results_dir`` and read with pyarrow; see :mod:`.parquet_results`).
        """
        started = time.perf_counter()
        query = self.prepare(sql, dialect=dialect, policy=policy)
        session = {"query_max_run_time": f"{max(1, int(timeout))}s"} if timeout else {}
        if (transfer or self.settings.transfer) == "parquet":
            done = self._parquet().run(query.tree, query.trino_sql, query.output_columns, session)
            if done is not None:
                schema, batches, _ = done
                return TrinoResult(query, schema, batches, started, transfer="parquet")
        client = self.client
        if session:
            client = TrinoClient(
                self.settings.with_overrides(
                    session_properties={**self.settings.session_properties, **session}
                )
            )
        stream = client.stream(query.trino_sql, query.output_columns, sources=query.sources)
        return TrinoResult(query, stream.schema, stream.batches(), started, stream=stream)

    def _parquet(self) -> ParquetResults:
        if self._results is None:
            if self.settings.results_dir is None:
                raise TrinoConfigError(
                    "trino.transfer is parquet but no trino.results_dir is set.",
                    "Set trino.results_dir to a directory both Trino and guajie can use.",
                )
            self._results = ParquetResults(self.client, self.settings.results_dir)
        return self._results

    def query(
        self,
        sql: str,
        *,
        dialect: str = "trino",
        timeout: float | None = None,
        transfer: str | None = None,
    ) -> pa.Table:
        return self.execute(sql, dialect=dialect, timeout=timeout, transfer=transfer).read_all()

    def stream(
        self, sql: str, *, dialect: str = "trino", timeout: float | None = None
    ) -> pa.RecordBatchReader:
        return self.execute(sql, dialect=dialect, timeout=timeout).reader

    def explain(
        self,
        sql: str,
        *,
        dialect: str = "trino",
        analyze: bool = False,
        policy: Policy | None = None,
    ) -> TrinoExplain:
        query = self.prepare(sql, dialect=dialect, policy=policy)
        keyword = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
        rows = self.client.rows(f"{keyword} {query.trino_sql}", sources=query.sources)
        plan = "\n".join(str(r[0]) for r in rows)
        return TrinoExplain(query, plan, self.settings.url, analyze)

    # -- the server -------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        info = self.client.ping()
        catalogs = self.client.rows(
            "SELECT catalog_name, connector_name FROM system.metadata.catalogs ORDER BY 1"
        )
        state = read_state(self.settings)
        sources = {s.name: str(s.kind) for s in self.catalog.sources()}
        present = {c: n for c, n in catalogs}
        return {
            "url": self.settings.url,
            "version": (info.get("nodeVersion") or {}).get("version"),
            "uptime": info.get("uptime"),
            "catalogs": present,
            "sources": {
                name: {
                    "kind": kind,
                    "catalog": present.get(name),
                    "unserved": state.get("unserved_sources", {}).get(name),
                }
                for name, kind in sorted(sources.items())
            },
        }


def _type_key(table: TableInfo) -> tuple[str, ...]:
    return (table.qualified_name.lower(), *(f"{c.name}:{c.arrow_type}" for c in table.columns))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _add_casts(
    tree: exp.Query, view: CatalogView, actual: dict[str, dict[str, str]]
) -> dict[str, list[Cast]]:
    """Replace tables whose columns Trino types differently by casting subqueries."""
    done: dict[str, list[Cast]] = {}
    for table in list(tree.find_all(exp.Table)):
        if not table.catalog:
            continue  # a CTE
        info = view.get(f"{table.catalog}.{table.db}.{table.name}")
        if info is None:
            continue
        trino_types = actual.get(info.qualified_name.lower(), {})
        casts: list[Cast] = []
        selects: list[str] = []
        for column in info.columns:
            expected = trino_type_for(column.arrow_type)
            have = trino_types.get(column.name.lower())
            if have is None:
                raise TrinoQueryError(
                    f"Trino's table {info.qualified_name} has no column {column.name}.",
                    "The source changed since the last crawl, or Trino cannot map the column's "
                    "type: crawl again and run `guajie trino sync`.",
                )
            ident = _ident(column.name)
            if expected is not None and needs_cast(have, expected):
                casts.append(Cast(column.name, have, expected))
                selects.append(f"{cast_sql(ident, have, expected)} AS {ident}")
            else:
                selects.append(ident)
        if not casts:
            continue
        done[info.qualified_name] = casts
        source = f"{_ident(info.source)}.{_ident(info.schema)}.{_ident(info.name)}"
        inner = sqlglot.parse_one(f"SELECT {', '.join(selects)} FROM {source}", read="trino")
        alias = table.alias or info.name
        table.replace(
            exp.Subquery(
                this=inner, alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))
            )
        )
    return done


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
