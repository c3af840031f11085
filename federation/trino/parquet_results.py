"""Large answers through Parquet files instead of JSON pages (``transfer: parquet``).

Trino's client protocol returns rows as JSON, which the client has to parse value by value:
about 6 µs of client CPU per 9-column row. For large results it is faster to let Trino write
the answer as Parquet (``CREATE TABLE ... AS``, written in parallel by the workers) and read
the files with pyarrow. This needs a directory that both the Trino workers and this process
can read and write (``trino.results_dir``; the same host, or a shared mount), and a cluster
with dynamic catalogs: a Hive catalog ``guajie_results`` rooted there is created on first use.

A CTAS does not keep row order, so an ordered query gets a ``row_number()`` over its ORDER BY
keys, and the rows are sorted by it after reading. Where a key is not one of the query's
output columns, or the cluster cannot make the catalog, the JSON path is used instead.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from sqlglot import exp

from .client import TrinoClient
from .errors import TrinoError, TrinoQueryError
from .types import arrow_type_for

RESULTS_CATALOG = "guajie_results"
RESULTS_SCHEMA = "results"
_POSITION = "__guajie_pos"


class ParquetResults:
    """Runs queries as CTAS into ``results_dir`` and reads the Parquet files back."""

    def __init__(self, client: TrinoClient, results_dir: Path) -> None:
        self.client = client
        self.root = Path(results_dir).expanduser().resolve()
        self._ready = False

    def _ensure_catalog(self) -> bool:
        if self._ready:
            return True
        (self.root / "metastore").mkdir(parents=True, exist_ok=True)
        names = {
            r[0] for r in self.client.rows("SELECT catalog_name FROM system.metadata.catalogs")
        }
        try:
            if RESULTS_CATALOG not in names:
                props = {
                    "hive.metastore": "file",
                    "hive.metastore.catalog.dir": "local:///metastore",
                    "fs.native-local.enabled": "true",
                    "local.location": str(self.root),
                    "hive.compression-codec": "ZSTD",
                    "hive.timestamp-precision": "MICROSECONDS",
                }
                body = ", ".join(f"\"{k}\" = '{v}'" for k, v in props.items())
                self.client.execute(f"CREATE CATALOG {RESULTS_CATALOG} USING hive WITH ({body})")
            self.client.execute(f"CREATE SCHEMA IF NOT EXISTS {RESULTS_CATALOG}.{RESULTS_SCHEMA}")
        except TrinoError:
            return False
        self._ready = True
        return True

    def run(
        self, tree: exp.Query, trino_sql: str, names: list[str], session: dict[str, str]
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch], str] | None:
        """The answer as (schema, batches, table name); None where only JSON can do it."""
        columns = [f"c{i}" for i in range(len(names))]
        order = _order_keys(tree, columns)
        if order is None or not self._ensure_catalog():
            return None
        table = f"r_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:8]}"
        qualified = f"{RESULTS_CATALOG}.{RESULTS_SCHEMA}.{table}"
        alias = f"q ({', '.join(columns)})"
        select = ", ".join(columns)
        if order:
            select += f", row_number() OVER (ORDER BY {', '.join(order)}) AS {_POSITION}"
        ctas = (
            f"CREATE TABLE {qualified} WITH (format = 'PARQUET') AS "
            f"SELECT {select} FROM ({trino_sql}) AS {alias}"
        )
        client = self.client
        if session:
            client = TrinoClient(
                client.settings.with_overrides(
                    session_properties={**client.settings.session_properties, **session}
                ),
                client.sources,
            )
        # The file metastore keeps managed tables under its own directory.
        directory = self.root / "metastore" / RESULTS_SCHEMA / table
        try:
            try:
                client.execute(ctas)
            except TrinoError as exc:
                raise TrinoQueryError(
                    f"Trino could not write the answer as Parquet into {self.root}: {exc.message}",
                    "Set trino.transfer to json, or make trino.results_dir a directory the "
                    "Trino workers and guajie share.",
                ) from None
            types = {
                r[0]: r[1]
                for r in self.client.rows(
                    f"SELECT column_name, data_type FROM {RESULTS_CATALOG}.information_schema.columns "
                    f"WHERE table_schema = '{RESULTS_SCHEMA}' AND table_name = '{table}'"
                )
            }
            data = _read(directory, columns, types, bool(order))
        finally:
            with contextlib.suppress(TrinoError):
                self.client.execute(f"DROP TABLE IF EXISTS {qualified}")
            shutil.rmtree(directory, ignore_errors=True)
        data = data.rename_columns(names)
        return data.schema, iter(data.to_batches()), table


def _order_keys(tree: exp.Query, columns: list[str]) -> list[str] | None:
    """The ORDER BY keys as output columns (``c3 DESC NULLS FIRST``); [] when unordered;
    None when a key is not an output column."""
    order = tree.args.get("order")
    if order is None:
        return []
    selects = tree.selects
    keys = []
    for ordered in order.expressions:
        key = ordered.this
        index = None
        for i, s in enumerate(selects):
            inner = s.this if isinstance(s, exp.Alias) else s
            if key == inner or (
                isinstance(key, exp.Column) and not key.table and key.name == s.alias_or_name
            ):
                index = i
                break
        if index is None and isinstance(key, exp.Literal) and key.is_int:
            index = int(key.this) - 1
        if index is None or not 0 <= index < len(columns):
            return None
        node = exp.Ordered(
            this=exp.column(columns[index]),
            desc=ordered.args.get("desc"),
            nulls_first=ordered.args.get("nulls_first"),
        )
        keys.append(node.sql(dialect="trino"))
    return keys


def _read(path: Path, columns: list[str], types: dict[str, str], ordered: bool) -> pa.Table:
    target = pa.schema(
        [(c, arrow_type_for(types.get(c, "varchar")) or pa.string()) for c in columns]
    )
    files = [
        p
        for p in path.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
    ]
    if not files:
        return target.empty_table()
    table = ds.dataset([str(p) for p in files], format="parquet").to_table()
    if ordered:
        table = table.take(pc.sort_indices(table.column(_POSITION)))
    arrays: list[Any] = []
    for field in target:
        column = table.column(field.name)
        arrays.append(column if column.type == field.type else column.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=target)
