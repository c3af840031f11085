"""Local Parquet read by the local engine itself, lazily.

A scan fragment over Parquet files on the local disk needs no fetching: the residual's
DuckDB reads the files in place (``read_parquet``), so the filters and aggregates of the
residual, and the filters DuckDB derives from its joins, run inside the scan and skip row
groups. Files elsewhere (S3, HTTP), CSV and JSON keep the pyarrow.dataset path.

The view keeps a fragment's meaning exactly: the same columns with the same types (a
column whose type DuckDB would read differently keeps the pyarrow path), and the pushed
predicates in the residual's own SQL, which applies them again anyway.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from .plan import Fragment, FragmentStats, local_sql


@dataclass
class ParquetView:
    fragment: Fragment
    files: list[str]
    sql: str  # a SELECT over read_parquet(...) giving the fragment's rows


def _read_the_same(t: pa.DataType) -> bool:
    """Types DuckDB's Parquet reader gives back as pyarrow does."""
    return (
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_date32(t)
        or pa.types.is_decimal128(t)
    )


def parquet_view(fragment: Fragment, dataset: Any, expected: dict[str, Any]) -> ParquetView | None:
    """The view for ``fragment`` over ``dataset`` (a pyarrow dataset of its files), or None
    when the fragment must keep the pyarrow path. ``expected`` maps columns to the Arrow
    types the plan promises (None where it promises none)."""
    import pyarrow.fs as pafs

    if fragment.partitioning or not isinstance(dataset.filesystem, pafs.LocalFileSystem):
        return None
    types = {f.name: f.type for f in dataset.schema}
    used = set(fragment.columns)
    for p in (*fragment.predicates, *fragment.local_predicates):
        used |= {c.name for c in p.find_all(exp.Column)}
    for name in used:
        t = types.get(name)
        if t is None or not _read_the_same(t):
            return None
        want = expected.get(name)
        if want is not None and want != t and name in fragment.columns:
            return None
    files = list(dataset.files)
    if not files:
        return None
    # DuckDB's string literals escape only the quote itself.
    source = "read_parquet([{}])".format(", ".join("'" + f.replace("'", "''") + "'" for f in files))
    sql = fragment.text("parquet_view", lambda: _view_template(fragment))
    return ParquetView(fragment, files, sql.replace('"__files__"', source, 1))


def _view_template(fragment: Fragment) -> str:
    """The view's SELECT over a placeholder relation that stands for the files."""
    columns: list[exp.Expr] = [exp.column(c, quoted=True) for c in fragment.columns] or [
        exp.alias_(exp.cast(exp.null(), "TINYINT"), "__one", quoted=True)
    ]
    query = exp.select(*columns).from_(exp.Table(this=exp.to_identifier("__files__", quoted=True)))
    predicates = [*fragment.predicates, *fragment.local_predicates]
    if predicates:
        query = query.where(exp.and_(*[p.copy() for p in predicates]), copy=False)
    if fragment.limit is not None:
        query = query.limit(fragment.limit, copy=False)
    return local_sql(query)


def with_key_filters(view: ParquetView, keys: dict[str, str]) -> str:
    """The view's SELECT restricted to rows whose ``column`` is in the relation ``keys[column]``
    (a one-column table of the keys another fragment returned)."""
    if not keys:
        return view.sql
    terms = [
        f"{exp.to_identifier(column, quoted=True).sql('duckdb')} IN (SELECT k FROM "
        f"{exp.to_identifier(relation, quoted=True).sql('duckdb')})"
        for column, relation in keys.items()
    ]
    return f"SELECT * FROM ({view.sql}) AS v WHERE {' AND '.join(terms)}"


def record_scans(profile: str, views: list[ParquetView], stats: dict[str, FragmentStats]) -> None:
    """Rows and bytes each view's scans produced, from DuckDB's JSON profile of a query
    (the residual's or a local fragment's), added to what they read before.

    Views over the same files cannot be told apart in the profile: their scans' rows are
    shared out evenly, so per-source totals are exact and per-fragment figures approximate.
    """
    try:
        tree = json.loads(profile)
    except ValueError:
        return
    scans: dict[str, list[tuple[int, int]]] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        stack.extend(node.get("children") or [])
        stack.extend(node.get("operator") or [])
        if str(node.get("name") or "").upper() != "READ_PARQUET":
            continue
        key = str((node.get("extra_info") or {}).get("Filename(s)") or "")
        rows = int(node.get("intermediate_rows") or 0)
        size = int(node.get("intermediate_size_bytes") or 0)
        scans.setdefault(key, []).append((rows, size))
    by_files: dict[str, list[ParquetView]] = {}
    for view in views:
        by_files.setdefault(", ".join(view.files), []).append(view)
    unmatched = [s for key, found in scans.items() if key not in by_files for s in found]
    for key, group in by_files.items():
        found = scans.get(key)
        if found is None and len(by_files) == 1:
            found = unmatched  # a long file list may be shown abbreviated
        rows = sum(r for r, _ in found or [])
        size = sum(b for _, b in found or [])
        for i, view in enumerate(group):
            s = stats.setdefault(view.fragment.id, FragmentStats(read_in_place=True))
            share = len(group) - i  # the first views take the remainders
            taken_rows, taken_bytes = rows // share, size // share
            # A view read by a local fragment and by the residual counts both reads.
            s.rows += taken_rows
            s.bytes += taken_bytes
            rows, size = rows - taken_rows, size - taken_bytes
