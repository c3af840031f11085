"""DuckDB database files: ``duckdb:///abs/path.duckdb``, opened read-only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .base import Capabilities, Connector, CrawledColumn, CrawledDataset


class DuckDBConnector(Connector):
    kind = "duckdb"

    @classmethod
    def normalize_url(cls, url: str) -> str:
        path = url.removeprefix("duckdb://")
        if not path.startswith("/"):
            from ..errors import InvalidInputError

            raise InvalidInputError(
                f"DuckDB URL {url!r} must hold an absolute path.",
                "Write duckdb:///abs/path.duckdb (three slashes, then the absolute path).",
            )
        # Both sqlite:///abs/x and SQLAlchemy's sqlite:////abs/x name the same file.
        return f"duckdb:///{path.lstrip('/')}"

    @property
    def path(self) -> Path:
        return Path("/" + self.source.url.removeprefix("duckdb://").lstrip("/"))

    def _connect(self) -> Any:
        import duckdb

        if not self.path.is_file():
            raise self.error(
                f"the DuckDB file {self.path} does not exist.",
                "Check the path, or re-register the source with the right duckdb:/// URL.",
            )
        try:
            return duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise self.error(
                f"cannot open {self.path} as a DuckDB database ({exc}).",
                "Point the source at a DuckDB file written by a compatible DuckDB version.",
            ) from None

    def check(self) -> str:
        import duckdb

        conn = self._connect()
        try:
            (count,) = conn.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE NOT internal"
            ).fetchone()
            return f"DuckDB {duckdb.__version__}, {count} tables"
        finally:
            conn.close()

    def crawl(self) -> Iterator[CrawledDataset]:
        conn = self._connect()
        try:
            modified = datetime.fromtimestamp(self.path.stat().st_mtime, UTC).replace(microsecond=0)
            relations = conn.execute(
                "SELECT schema_name, table_name, 'table', comment, estimated_size "
                "FROM duckdb_tables() WHERE NOT internal UNION ALL "
                "SELECT schema_name, view_name, 'view', comment, NULL "
                "FROM duckdb_views() WHERE NOT internal ORDER BY 1, 2"
            ).fetchall()
            comments = {
                (r[0], r[1], r[2]): r[3]
                for r in conn.execute(
                    "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns()"
                ).fetchall()
            }
            for schema, name, kind, comment, estimated in relations:
                arrow_schema = (
                    conn.sql(f'SELECT * FROM "{schema}"."{name}" LIMIT 0').to_arrow_table().schema
                )
                columns = [
                    CrawledColumn(
                        name=f.name,
                        type=str(f.type),
                        nullable=f.nullable,
                        description=comments.get((schema, name, f.name)),
                    )
                    for f in arrow_schema
                ]
                yield CrawledDataset(
                    schema=schema,
                    name=name,
                    columns=columns,
                    kind=kind,
                    description=comment or None,
                    row_count=int(estimated) if estimated is not None else None,
                    last_modified=modified,
                    format="DuckDB",
                )
        finally:
            conn.close()

    def sample(
        self, dataset: CrawledDataset, columns: list[str], limit: int = 100
    ) -> dict[str, list[str]]:
        if not columns:
            return {}
        conn = self._connect()
        try:
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = conn.execute(
                f'SELECT {cols} FROM "{dataset.schema}"."{dataset.name}" LIMIT {int(limit)}'
            ).fetchall()
        finally:
            conn.close()
        return {c: [str(r[i]) for r in rows if r[i] is not None] for i, c in enumerate(columns)}

    def fetch(self, sql: str) -> Any:
        import duckdb

        conn = self._connect()
        try:
            return conn.sql(sql).to_arrow_reader(65_536)
        except duckdb.Error as exc:
            conn.close()
            raise self.error(f"the query failed in {self.path}: {exc}.") from None

    def capabilities(self) -> Capabilities:
        return Capabilities(dialect="duckdb", joins=True, aggregates=True, window_functions=True)
