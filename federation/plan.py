"""The plan: a pure object describing what each source runs and what runs locally.

``Plan.explain()`` prints it; ``Plan.to_dict()`` is the ``--json`` form. Execution fills in
actual rows and bytes per fragment in a separate :class:`RunStats`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from .dialects import transform_bottom_up, trino_meaning_in_duckdb


@dataclass
class DynamicFilter:
    """Semi-join reduction: restrict ``column`` of this fragment to the keys another
    fragment actually returned, once that smaller side has been fetched."""

    column: str  # in the target fragment's own table (source naming)
    from_fragment: str
    from_column: str  # output column of the source fragment
    arrow_type: str


@dataclass
class Fragment:
    id: str
    source: str
    kind: str
    tables: list[str]
    # SQL sources: the query AST in guajie's canonical form and the dialect to send it in.
    query: exp.Query | None = None
    dialect: str | None = None
    # File sources: a scan with projection and filter pushed into pyarrow.dataset.
    location: str | None = None
    format: str | None = None
    partitioning: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    predicates: list[exp.Expr] = field(default_factory=list)
    # Filters on this table alone that pyarrow cannot apply but a local engine reading the
    # files in place can (column against column, functions...).
    local_predicates: list[exp.Expr] = field(default_factory=list)
    limit: int | None = None
    output_types: dict[str, str] = field(default_factory=dict)
    # Output columns the catalog says never hold NULL (table columns declared NOT NULL).
    not_null: list[str] = field(default_factory=list)
    estimated_rows: int | None = None
    table_rows: int | None = None  # rows of its (largest) table, before any filter
    dynamic_filters: list[DynamicFilter] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)  # what was pushed: "join", "aggregate"...
    # Local fragments: a part of the query the local engine computes before the residual,
    # over other fragments (``inputs``), because its keys filter a source.
    local_query: exp.Query | None = None
    inputs: list[str] = field(default_factory=list)
    # SQL sources: fetched as this many disjoint slices of one table (alias, schema,
    # table) over as many connections at once, which the source runs in parallel.
    parts: int = 1
    part_table: tuple[str, str, str] | None = None
    _text: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_local(self) -> bool:
        return self.local_query is not None

    @property
    def relation(self) -> str:
        """The name under which the local engine sees this fragment's rows."""
        return f"__{self.id}"

    def sql(self, extra: exp.Expr | None = None, part: int | None = None) -> str | None:
        """The SQL sent, with ``extra`` conditions, for one slice ``part`` of ``parts``."""
        if self.query is None:
            return None
        query = self.query
        if extra is None and part is None:
            return self.text("sql", lambda: query.sql(dialect=self.dialect))
        conditions = [extra] if extra is not None else []
        if part is not None and self.part_table is not None:
            from .dialects import dialect_for

            dialect = dialect_for(self.kind)
            condition = (
                dialect.part_condition(*self.part_table, part, self.parts) if dialect else None
            )
            if condition is not None:
                conditions.append(condition)
        if conditions:
            query = query.copy()
            assert isinstance(query, exp.Select)
            query = query.where(*conditions, copy=False)
        return query.sql(dialect=self.dialect)

    def local_sql(self) -> str | None:
        """A local fragment's query in the local engine's SQL."""
        query = self.local_query
        return None if query is None else self.text("local", lambda: local_sql(query))

    def text(self, key: str, make: Callable[[], str]) -> str:
        """SQL text made from this fragment's trees, made once (a plan is not changed)."""
        if key not in self._text:
            self._text[key] = make()
        return self._text[key]

    def forget_texts(self) -> None:
        """Drop the SQL texts made so far (for a copy whose trees may be changed)."""
        self._text = {}

    def describe_scan(self) -> str:
        parts = [f"columns={', '.join(self.columns) or '(none)'}"]
        if self.predicates:
            parts.append("filter=" + " AND ".join(p.sql("duckdb") for p in self.predicates))
        if self.local_predicates:
            parts.append(
                "in-place filter=" + " AND ".join(p.sql("duckdb") for p in self.local_predicates)
            )
        if self.limit is not None:
            parts.append(f"limit={self.limit}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "source": self.source,
            "kind": self.kind,
            "tables": self.tables,
            "estimated_rows": self.estimated_rows,
            "pushed": self.pushed,
        }
        if self.query is not None:
            out["dialect"] = self.dialect
            out["sql"] = self.sql()
            if self.part_table is not None and self.parts > 1:
                out["parts"] = {"count": self.parts, "table": self.part_table[0]}
        elif self.local_query is not None:
            out["local_sql"] = self.local_sql()
            out["inputs"] = self.inputs
        else:
            out["scan"] = {
                "location": self.location,
                "format": self.format,
                "columns": self.columns,
                "filter": [p.sql("duckdb") for p in self.predicates],
                "limit": self.limit,
            }
        if self.dynamic_filters:
            out["dynamic_filters"] = [
                {"column": d.column, "from": f"{d.from_fragment}.{d.from_column}"}
                for d in self.dynamic_filters
            ]
        return out


@dataclass
class FragmentStats:
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    sql: str | None = None  # as actually sent, dynamic filters included
    dynamic_filter_keys: int | None = None
    slices: int = 1  # connections a sliced fragment was fetched over (1: fetched whole)
    packed: bool = False  # sent by the server as one row of packed column values
    started: float = 0.0  # seconds after the run began: shows what waited on what
    read_in_place: bool = False  # a Parquet scan the local query ran itself, untimed
    same_rows_as: str | None = None  # a scan answered from another fragment's read


@dataclass
class RunStats:
    fragments: dict[str, FragmentStats] = field(default_factory=dict)
    local_seconds: float = 0.0
    total_seconds: float = 0.0
    rows: int = 0
    began: float = field(default_factory=time.perf_counter, repr=False)

    def by_source(self, plan: Plan) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in plan.fragments:
            s = self.fragments.get(f.id)
            if s is None or f.is_local:
                continue
            agg = out.setdefault(f.source, {"rows": 0, "bytes": 0})
            agg["rows"] += s.rows
            agg["bytes"] += s.bytes
        return out


def _fetch_key(fragment: Fragment) -> tuple[object, ...]:
    return (
        fragment.source,
        fragment.sql(),
        tuple(d.column for d in fragment.dynamic_filters),
    )


@dataclass
class Plan:
    sql: str
    fragments: list[Fragment]
    residual: exp.Query | None  # None: the single fragment's rows are the answer
    output_columns: list[str]
    datasets: list[str] = field(default_factory=list)
    # The same answer moving more rows and asking less of the sources: the one source's
    # tables fetched apart (sliced where large) and combined locally, or a fragment fetched
    # at once instead of after a chain of keys. Run instead where measured faster (see
    # ``adaptive``); ``pulled_summary`` says which.
    pulled: Plan | None = None
    pulled_summary: str = ""
    _residual_sql: str | None = field(default=None, repr=False, compare=False)

    @property
    def residual_sql(self) -> str | None:
        if self.residual is None:
            return None
        # A plan is not changed once made (the planner hands out copies to change).
        if self._residual_sql is None:
            self._residual_sql = local_sql(self.residual)
        return self._residual_sql

    def copy(self) -> Plan:
        """A deep copy whose trees may be changed: no SQL text made from them is kept."""
        import copy

        plan = copy.deepcopy(self)
        for each in (plan, plan.pulled):
            if each is not None:
                each._residual_sql = None
                for f in each.fragments:
                    f.forget_texts()
        return plan

    def fragment(self, fid: str) -> Fragment:
        return next(f for f in self.fragments if f.id == fid)

    def estimated_bytes_by_source(self, unlike: Plan | None = None) -> dict[str, int]:
        """Bytes the fragments are expected to fetch from each source (unknown sizes: 0);
        with ``unlike``, only the SQL fetches that plan does not make the same way."""
        same = {_fetch_key(f) for f in unlike.fragments} if unlike is not None else set()
        out: dict[str, int] = {}
        for f in self.fragments:
            if f.is_local or (unlike is not None and (f.query is None or _fetch_key(f) in same)):
                continue
            width = sum(_TYPE_WIDTHS.get(t.split("(")[0], 16) for t in f.output_types.values())
            out[f.source] = out.get(f.source, 0) + (f.estimated_rows or 0) * max(width, 1)
        return out

    def to_dict(self, stats: RunStats | None = None) -> dict[str, Any]:
        fragments = []
        for f in self.fragments:
            d = f.to_dict()
            if stats is not None and f.id in stats.fragments:
                s = stats.fragments[f.id]
                d["actual"] = {
                    "rows": s.rows,
                    "bytes": s.bytes,
                    "seconds": round(s.seconds, 4),
                    "started": round(s.started, 4),
                }
                if s.read_in_place:
                    d["actual"]["read_in_place"] = True
                if s.same_rows_as:
                    d["actual"]["same_rows_as"] = s.same_rows_as
                if f.parts > 1:
                    d["actual"]["slices"] = s.slices
                if s.packed:
                    d["actual"]["packed"] = True
                if s.sql and s.sql != d.get("sql"):
                    d["sql_sent"] = s.sql
                if s.dynamic_filter_keys is not None:
                    d["actual"]["dynamic_filter_keys"] = s.dynamic_filter_keys
            fragments.append(d)
        out: dict[str, Any] = {
            "sql": self.sql,
            "datasets": self.datasets,
            "fragments": fragments,
            "residual": self.residual_sql,
            "output_columns": self.output_columns,
        }
        if self.pulled is not None:
            out["pulled"] = self.pulled.to_dict()
            out["pulled"]["summary"] = self.pulled_summary
        if stats is not None:
            out["actual"] = {
                "rows": stats.rows,
                "seconds": round(stats.total_seconds, 4),
                "local_seconds": round(stats.local_seconds, 4),
                "by_source": stats.by_source(self),
                "bytes_fetched": sum(s.bytes for s in stats.fragments.values()),
            }
        return out

    def explain(self, stats: RunStats | None = None) -> str:
        lines = []
        for f in self.fragments:
            est = f"~{f.estimated_rows:,} rows" if f.estimated_rows is not None else "rows unknown"
            head = f"Fragment {f.id} -> {f.source} ({f.kind}), {est}"
            if f.pushed:
                head += f", pushed: {', '.join(f.pushed)}"
            lines.append(head)
            if f.query is not None:
                lines.extend("    " + line for line in (f.sql() or "").splitlines())
                if f.part_table is not None and f.parts > 1:
                    lines.append(
                        f"    fetched as {f.parts} slices of {f.part_table[0]} at once "
                        "(one connection each) where the server reads slices by themselves "
                        "and the keys sent do not make it an index lookup"
                    )
            elif f.local_query is not None:
                lines.append(f"    computed locally first from {', '.join(f.inputs)}:")
                lines.append("    " + local_sql(f.local_query))
            else:
                lines.append(f"    scan {f.format} {f.location}")
                lines.append(f"    {f.describe_scan()}")
            for d in f.dynamic_filters:
                lines.append(
                    f"    dynamic filter: {d.column} IN (keys of {d.from_fragment}.{d.from_column})"
                )
            if stats is not None and f.id in stats.fragments:
                s = stats.fragments[f.id]
                if s.same_rows_as:
                    lines.append(f"    actual: the rows {s.same_rows_as} read, not scanned again")
                else:
                    timing = (
                        "read in place by the local query"
                        if s.read_in_place
                        else f"{s.seconds:.3f} s from +{s.started:.3f} s"
                    )
                    lines.append(f"    actual: {s.rows:,} rows, {s.bytes:,} bytes, {timing}")
                if f.parts > 1:
                    lines.append(
                        f"    fetched in {s.slices} slices, each adding its ctid range"
                        if s.slices > 1
                        else "    fetched whole"
                    )
                if s.packed:
                    lines.append("    sent packed: one row of each column's values per fetch")
                if s.sql and s.sql != f.sql():
                    lines.append(f"    sent: {_abbreviate(s.sql)}")
        if self.residual is not None:
            lines.append("Local (DuckDB over Arrow):")
            lines.extend(
                "    " + line for line in local_sql(self.residual, pretty=True).splitlines()
            )
        else:
            lines.append("Local: none (the fragment's rows are the answer)")
        if self.pulled is not None:
            lines.append(
                f"Alternative: {self.pulled_summary}; "
                "it runs instead once measured faster over this link"
            )
        if stats is not None:
            total = sum(s.bytes for s in stats.fragments.values())
            lines.append(
                f"Result: {stats.rows:,} rows in {stats.total_seconds:.3f} s; "
                f"{total:,} bytes fetched"
            )
        return "\n".join(lines)


# Bytes per value of Arrow types, for estimates; strings and others count 16.
_TYPE_WIDTHS = {
    "bool": 1,
    "int8": 1,
    "int16": 2,
    "int32": 4,
    "int64": 8,
    "float": 4,
    "double": 8,
    "date32[day]": 4,
    "timestamp[us]": 8,
    "decimal128": 16,
}


def local_sql(tree: exp.Expr, pretty: bool = False) -> str:
    """The residual in DuckDB's SQL, with Trino's meaning where the two differ."""
    return transform_bottom_up(tree, trino_meaning_in_duckdb).sql(dialect="duckdb", pretty=pretty)


def _abbreviate(sql: str, keep: int = 5) -> str:
    """Long key lists of dynamic filters, shortened for reading."""
    import re

    def shorten(m: re.Match[str]) -> str:
        items = m.group(1).split(", ")
        if len(items) <= keep:
            return m.group(0)
        return f"IN ({', '.join(items[:keep])}, ... {len(items) - keep:,} more)"

    def shorten_array(m: re.Match[str]) -> str:
        items = m.group(1).split(",")
        if len(items) <= keep:
            return m.group(0)
        return f"'{{{','.join(items[:keep])}, ... {len(items) - keep:,} more}}'"

    sql = re.sub(r"'\{([0-9,-]*)\}'", shorten_array, sql)
    return re.sub(r"IN \(([^()]*)\)", shorten, sql)
