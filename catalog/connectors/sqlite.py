"""SQLite databases: ``sqlite:///abs/path.db``. Every table lives in schema ``main``."""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..models import ColumnStats
from .base import Capabilities, Connector, CrawledColumn, CrawledDataset

if TYPE_CHECKING:
    import pyarrow as pa

# SQLite's own affinity rules (https://sqlite.org/datatype3.html §3.1), refined by the
# declared names people actually write so dates and decimals keep their meaning.
_DECIMAL_RE = re.compile(r"(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+))?\s*\)", re.I)


_TABLE_COMMENT_RE = re.compile(r"^\s*CREATE\s+(?:TABLE|VIEW)[^\n]*?--\s*(.+)$", re.I | re.M)
_COLUMN_COMMENT_RE = re.compile(r'^\s*[`"\[]?(\w+)[`"\]]?\s[^\n]*?--\s*(.+)$', re.M)


def comments_from_ddl(sql: str | None) -> tuple[str | None, dict[str, str]]:
    """SQLite has no COMMENT ON; stewards and tools write ``-- comments`` in the DDL instead,
    and SQLite keeps the DDL text verbatim in sqlite_master."""
    if not sql:
        return None, {}
    table = _TABLE_COMMENT_RE.search(sql)
    body = sql.split("\n", 1)[1] if "\n" in sql else ""
    columns = {m.group(1): m.group(2).strip() for m in _COLUMN_COMMENT_RE.finditer(body)}
    return (table.group(1).strip() if table else None), columns


def arrow_type_for(declared: str) -> str:
    t = declared.upper()
    if m := _DECIMAL_RE.search(t):
        return f"decimal128({m.group(1)}, {m.group(2) or 0})"
    if "BOOL" in t:
        return "bool"
    if "DATETIME" in t or "TIMESTAMP" in t:
        return "timestamp[us]"
    if "DATE" in t:
        return "date32[day]"
    if "INT" in t:
        return "int64"
    if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return "string"
    if "BLOB" in t:
        return "binary"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "double"
    if "NUMERIC" in t or "DECIMAL" in t:
        return "double"
    return "string"


class SQLiteConnector(Connector):
    kind = "sqlite"

    @classmethod
    def normalize_url(cls, url: str) -> str:
        path = url.removeprefix("sqlite://")
        if not path.startswith("/"):
            from ..errors import InvalidInputError

            raise InvalidInputError(
                f"SQLite URL {url!r} must hold an absolute path.",
                "Write sqlite:///abs/path.db (three slashes, then the absolute path).",
            )
        # Both sqlite:///abs/x and SQLAlchemy's sqlite:////abs/x name the same file.
        return f"sqlite:///{path.lstrip('/')}"

    @property
    def path(self) -> Path:
        return Path("/" + self.source.url.removeprefix("sqlite://").lstrip("/"))

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise self.error(
                f"the SQLite file {self.path} does not exist.",
                "Check the path, or re-register the source with the right sqlite:/// URL.",
            )
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self.error(
                f"{self.path} is not a readable SQLite database ({exc}).",
                "Point the source at a SQLite file, or register it with the right kind.",
            ) from None
        return conn

    def check(self) -> str:
        conn = self._connect()
        try:
            (count,) = conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view')"
            ).fetchone()
            return f"SQLite {sqlite3.sqlite_version}, {count} tables and views"
        finally:
            conn.close()

    def crawl(self) -> Iterator[CrawledDataset]:
        conn = self._connect()
        try:
            modified = datetime.fromtimestamp(self.path.stat().st_mtime, UTC).replace(microsecond=0)
            stat_rows = self._stat1(conn)
            index_stats = self._index_stats(conn)
            tables = conn.execute(
                "SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
            for name, kind, ddl in tables:
                table_comment, column_comments = comments_from_ddl(ddl)
                info = [
                    col
                    for col in conn.execute(f'PRAGMA table_xinfo("{name}")')
                    if col[6] in (0, 2, 3)  # ordinary and generated columns, not hidden ones
                ]
                rows = stat_rows.get(name) if kind == "table" else None
                keyed = (
                    self._indexed_distinct(conn, name, info, rows, index_stats)
                    if rows is not None
                    else {}
                )
                columns = [
                    CrawledColumn(
                        name=col[1],
                        type=arrow_type_for(col[2] or ""),
                        nullable=not col[3] and not col[5],
                        description=column_comments.get(col[1]),
                        stats=ColumnStats(distinct_count=keyed[col[1]])
                        if col[1] in keyed
                        else None,
                    )
                    for col in info
                ]
                yield CrawledDataset(
                    schema="main",
                    name=name,
                    columns=columns,
                    kind=kind,
                    description=table_comment,
                    row_count=rows,
                    last_modified=modified,
                    format="SQLite",
                )
        finally:
            conn.close()

    @staticmethod
    def _index_stats(conn: sqlite3.Connection) -> dict[str, str]:
        """ANALYZE's figures per index (``rows rows-per-key ...``), where it was run."""
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return {}
        return {
            idx: str(stat)
            for _tbl, idx, stat in conn.execute(
                "SELECT tbl, idx, stat FROM sqlite_stat1 WHERE idx IS NOT NULL"
            )
        }

    @staticmethod
    def _indexed_distinct(
        conn: sqlite3.Connection,
        table: str,
        columns: list[tuple[Any, ...]],
        rows: int,
        index_stats: dict[str, str],
    ) -> dict[str, int]:
        """Distinct values of each column that leads an index: every row's own for a
        one-column primary or unique key, else ANALYZE's rows per key, where it ran."""
        found: dict[str, int] = {}
        primary = [col[1] for col in columns if col[5]]
        if len(primary) == 1:
            found[primary[0]] = rows
        for _seq, index, unique, _origin, partial in conn.execute(f'PRAGMA index_list("{table}")'):
            if partial:
                continue
            keys = [r[2] for r in conn.execute(f'PRAGMA index_info("{index}")')]
            if not keys or keys[0] is None:
                continue  # an index on an expression
            if unique and len(keys) == 1:
                found[keys[0]] = rows
                continue
            figures = index_stats.get(index, "").split()
            if len(figures) > 1 and figures[1].isdigit() and int(figures[1]) > 0:
                distinct = max(1, round(int(figures[0]) / int(figures[1])))
                found[keys[0]] = max(found.get(keys[0], 0), distinct)
        return found

    @staticmethod
    def _stat1(conn: sqlite3.Connection) -> dict[str, int]:
        """Row counts from ANALYZE's sqlite_stat1, or from max(rowid) — both O(1)-ish."""
        counts: dict[str, int] = {}
        has_stat = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).fetchone()
        if has_stat:
            for tbl, stat in conn.execute("SELECT tbl, stat FROM sqlite_stat1"):
                if stat:
                    counts.setdefault(tbl, int(str(stat).split()[0]))
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE '%WITHOUT ROWID%'"
        ):
            if name not in counts:
                (max_rowid,) = conn.execute(f'SELECT max(rowid) FROM "{name}"').fetchone()
                counts[name] = int(max_rowid or 0)
        return counts

    def sample(
        self, dataset: CrawledDataset, columns: list[str], limit: int = 100
    ) -> dict[str, list[str]]:
        if not columns:
            return {}
        conn = self._connect()
        try:
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = conn.execute(f'SELECT {cols} FROM "{dataset.name}" LIMIT ?', (limit,)).fetchall()
        finally:
            conn.close()
        return {c: [str(r[i]) for r in rows if r[i] is not None] for i, c in enumerate(columns)}

    def capabilities(self) -> Capabilities:
        return Capabilities(dialect="sqlite", joins=True, aggregates=True, window_functions=True)

    def fetch(self, sql: str) -> pa.RecordBatchReader:
        fast = _fetch_columnar(Path(self.path), sql)
        if fast is not None:
            return fast
        conn = self._connect()
        try:
            return fetch_sqlite(conn, sql)
        except sqlite3.Error as exc:
            conn.close()
            raise self.error(f"the query failed in {self.path}: {exc}.") from None


def _fetch_columnar(path: Path, sql: str) -> pa.RecordBatchReader | None:
    """The answer read by connectorx straight into Arrow (3x faster than rows through
    Python), or None when it cannot type the columns (SQLite mixes kinds within a column)
    or the query fails: the row path then answers, or reports the error."""
    if not (path.is_file() and os.access(path, os.R_OK)):
        return None  # connectorx would retry opening it for half a minute
    try:
        import connectorx as cx

        table = cx.read_sql(f"sqlite://{path.resolve()}", sql, return_type="arrow")
    except Exception:
        return None
    import pyarrow as pa

    if any(pa.types.is_null(t) for t in table.schema.types):
        return None  # no value to type a column by: the row path decides as it always has
    return table.to_reader()


def _rows_to_batch(names: list[str], rows: list[tuple[object, ...]]) -> pa.RecordBatch:
    """SQLite types values per row, not per column: infer each column, falling back to text
    when a column mixes kinds (the planner casts to the catalog's types afterwards)."""
    import pyarrow as pa

    arrays = []
    for i in range(len(names)):
        values = [r[i] for r in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def fetch_sqlite(
    conn: sqlite3.Connection, sql: str, batch_rows: int = 65_536
) -> pa.RecordBatchReader:
    import pyarrow as pa

    cur = conn.execute(sql)
    names = [d[0] for d in cur.description]
    first = cur.fetchmany(batch_rows)
    head = _rows_to_batch(names, first)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield head
            while rows := cur.fetchmany(batch_rows):
                batch = _rows_to_batch(names, rows)
                if batch.schema != head.schema:
                    batch = _conform(batch, head.schema)
                yield batch
        finally:
            conn.close()

    schema = head.schema
    return pa.RecordBatchReader.from_batches(schema, batches())


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Give a later batch the first batch's types (a reader has one schema)."""
    import pyarrow as pa

    arrays = []
    for array, field in zip(batch.columns, schema, strict=True):
        try:
            arrays.append(array.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            # The column changed kind mid-way: only text can hold both.
            raise pa.ArrowInvalid(f"column {field.name} mixes value kinds") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
