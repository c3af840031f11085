"""Writing the sample city to disk in the formats each department really publishes.

Market, HRSS and civil affairs are SQLite databases (operational systems), tax is a
hive-partitioned Parquet data set (a data lake export), transport is CSV (files dropped by
an operator). Everything is written into a staging directory next to the target and renamed
into place at the end, so a rerun replaces a previous city instead of mixing with it and a
failed run leaves the previous city untouched.
"""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TextIO

import pyarrow as pa
import pyarrow.parquet as pq

from .city import Chunk, iter_city
from .plan import DEFAULT_SEED, CityPlan
from .schema import (
    DISTRICT,
    ENTERPRISE,
    PARKING_EVENTS,
    PARKING_LOTS,
    SOCIAL_INSURANCE,
    SUBSIDY_RECIPIENT,
    TAX_FILINGS,
    Column,
    Columns,
    TableSpec,
    cents_text,
    to_batch,
)
from .timeline import EVENT_DAYS

PARQUET_ROW_GROUP = 32_768
MARKET_DB = "market.sqlite"
HRSS_DB = "hrss.sqlite"
CIVIL_DB = "civil.sqlite"
TAX_DIR = "tax/filings"
LOTS_CSV = "transport/parking_lots.csv"
EVENTS_DIR = "transport/parking_events"


@dataclass(frozen=True)
class TableOutput:
    department: str
    table: str
    format: str  # "sqlite", "parquet" or "csv"
    path: str  # relative to the output directory: a file, or a directory of parts
    rows: int
    files: int = 1


@dataclass(frozen=True)
class CityManifest:
    """What :func:`generate` wrote: where each table lives and how many rows it has."""

    out_dir: Path
    scale: float
    seed: int
    tables: tuple[TableOutput, ...]
    elapsed_seconds: float = field(default=0.0, compare=False)

    def table(self, name: str) -> TableOutput:
        for t in self.tables:
            if t.table == name:
                return t
        raise KeyError(name)

    def rows(self, name: str) -> int:
        return self.table(name).rows

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


# --- value rendering per storage format -------------------------------------------------

Render = Callable[[Any], Any] | None  # None: the Python value is stored as it is


def _sqlite_value(column: Column) -> Render:
    if column.kind == "decimal":
        return lambda v: None if v is None else v / 100
    if column.kind == "date":
        return lambda v: None if v is None else v.isoformat()
    if column.kind == "timestamp":
        return lambda v: None if v is None else v.isoformat(sep=" ")
    if column.kind == "bool":
        return lambda v: None if v is None else int(v)
    return None


def _csv_value(column: Column) -> Render:
    if column.kind == "decimal":
        return lambda v: "" if v is None else cents_text(v)
    if column.kind == "timestamp":
        return lambda v: "" if v is None else v.isoformat(sep=" ")  # whole seconds only
    if column.kind == "bool":
        return lambda v: "" if v is None else ("true" if v else "false")
    return None  # csv writes None as an empty field and str() for the rest


def _rows(
    spec: TableSpec, columns: Columns, render: Callable[[Column], Render]
) -> Iterable[tuple[Any, ...]]:
    rendered = []
    for c in spec.columns:
        fn = render(c)
        values = columns[c.name]
        rendered.append(values if fn is None else [fn(v) for v in values])
    return zip(*rendered, strict=True)


# --- sinks -------------------------------------------------------------------------------

_SQLITE_TYPES = {
    "string": "VARCHAR",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float64": "REAL",
    "decimal": "DECIMAL(18,2)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "bool": "BOOLEAN",
}


def sqlite_ddl(spec: TableSpec) -> str:
    """CREATE TABLE with the Chinese comments as SQL comments: sqlite_master keeps the text."""
    lines = [f"CREATE TABLE {spec.name} (  -- {spec.comment}"]
    for c in spec.columns:
        sql_type = _SQLITE_TYPES[c.kind]
        if c.kind == "string" and c.length:
            sql_type += f"({c.length})"
        null = "" if c.nullable else " NOT NULL"
        lines.append(f"    {c.name} {sql_type}{null},  -- {c.comment}")
    lines.append(f"    PRIMARY KEY ({', '.join(spec.primary_key)})")
    lines.append(")")
    return "\n".join(lines)


class SqliteSink:
    """One SQLite database, loaded in a single transaction with batched executemany."""

    def __init__(self, path: Path, specs: Iterable[TableSpec]) -> None:
        self.path = path
        self.specs = {s.name: s for s in specs}
        self.rows = dict.fromkeys(self.specs, 0)
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=OFF")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("BEGIN")
        for spec in self.specs.values():
            self._conn.execute(sqlite_ddl(spec))

    def write(self, chunk: Chunk) -> None:
        spec = chunk.spec
        marks = ", ".join("?" * len(spec.columns))
        self._conn.executemany(
            f"INSERT INTO {spec.name} ({', '.join(spec.column_names)}) VALUES ({marks})",
            _rows(spec, chunk.columns, _sqlite_value),
        )
        self.rows[spec.name] += chunk.rows

    def close(self) -> None:
        for spec in self.specs.values():
            for cols in spec.indexes:
                self._conn.execute(
                    f"CREATE INDEX idx_{spec.name}_{'_'.join(cols)} ON {spec.name} "
                    f"({', '.join(cols)})"
                )
        self._conn.execute("COMMIT")
        self._conn.execute("ANALYZE")
        self._conn.close()


class HiveParquetSink:
    """``root/month=YYYY-MM/part-0.parquet``; the partition column lives only in the path."""

    def __init__(self, root: Path, spec: TableSpec, partition: str) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.spec = spec
        self.partition = partition
        self.file_schema = spec.schema.remove(spec.schema.get_field_index(partition))
        self.rows = 0
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._pending: dict[str, list[pa.RecordBatch]] = {}

    def write(self, chunk: Chunk) -> None:
        assert chunk.part is not None
        batch = to_batch(self.spec, chunk.columns).drop_columns([self.partition])
        pending = self._pending.setdefault(chunk.part, [])
        pending.append(batch)
        self.rows += chunk.rows
        if sum(b.num_rows for b in pending) >= PARQUET_ROW_GROUP:
            self._flush(chunk.part)

    def _flush(self, part: str) -> None:
        batches = self._pending.pop(part, [])
        if not batches:
            return
        writer = self._writers.get(part)
        if writer is None:
            directory = self.root / f"{self.partition}={part}"
            directory.mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(
                directory / "part-0.parquet", self.file_schema, compression="zstd"
            )
            self._writers[part] = writer
        writer.write_table(
            pa.Table.from_batches(batches, schema=self.file_schema), row_group_size=1 << 30
        )

    def close(self) -> None:
        for part in sorted(self._pending):
            self._flush(part)
        for writer in self._writers.values():
            writer.close()

    @property
    def files(self) -> int:
        return len(self._writers)


class CsvSink:
    """CSV with a header row; with ``parts`` given, one file per part (e.g. per day)."""

    def __init__(
        self,
        path: Path,
        spec: TableSpec,
        parts: Iterable[str] | None = None,
        name: str = "{part}.csv",
    ) -> None:
        self.spec = spec
        self.rows = 0
        self._files: dict[str | None, tuple[TextIO, Any]] = {}
        self._partitioned = parts is not None
        targets = {None: path} if parts is None else {p: path / name.format(part=p) for p in parts}
        for part, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            handle = target.open("w", encoding="utf-8", newline="")
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(spec.column_names)
            self._files[part] = (handle, writer)

    def write(self, chunk: Chunk) -> None:
        _, writer = self._files[chunk.part if self._partitioned else None]
        writer.writerows(_rows(self.spec, chunk.columns, _csv_value))
        self.rows += chunk.rows

    def close(self) -> None:
        for handle, _ in self._files.values():
            handle.close()

    @property
    def files(self) -> int:
        return len(self._files)


# --- generate ----------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, chunk: Chunk) -> None: ...

    def close(self) -> None: ...


class _CityWriter:
    """All sinks of one city, opened in a staging directory."""

    def __init__(self, staging: Path) -> None:
        (staging / "transport").mkdir(parents=True)
        self.market = SqliteSink(staging / MARKET_DB, [DISTRICT, ENTERPRISE])
        self.hrss = SqliteSink(staging / HRSS_DB, [SOCIAL_INSURANCE])
        self.civil = SqliteSink(staging / CIVIL_DB, [SUBSIDY_RECIPIENT])
        self.tax = HiveParquetSink(staging / TAX_DIR, TAX_FILINGS, "month")
        self.lots = CsvSink(staging / LOTS_CSV, PARKING_LOTS)
        self.events = CsvSink(
            staging / EVENTS_DIR,
            PARKING_EVENTS,
            [d.isoformat() for d in EVENT_DAYS],
            "events-{part}.csv",
        )
        self._route: dict[str, _Sink] = {
            DISTRICT.name: self.market,
            ENTERPRISE.name: self.market,
            SOCIAL_INSURANCE.name: self.hrss,
            SUBSIDY_RECIPIENT.name: self.civil,
            TAX_FILINGS.name: self.tax,
            PARKING_LOTS.name: self.lots,
            PARKING_EVENTS.name: self.events,
        }

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for sink in (self.market, self.hrss, self.civil, self.tax, self.lots, self.events):
            sink.close()

    def write(self, chunk: Chunk) -> None:
        self._route[chunk.spec.name].write(chunk)

    def outputs(self) -> tuple[TableOutput, ...]:
        return (
            TableOutput("market", DISTRICT.name, "sqlite", MARKET_DB, self.market.rows["district"]),
            TableOutput(
                "market", ENTERPRISE.name, "sqlite", MARKET_DB, self.market.rows["enterprise"]
            ),
            TableOutput(
                "hrss",
                SOCIAL_INSURANCE.name,
                "sqlite",
                HRSS_DB,
                self.hrss.rows[SOCIAL_INSURANCE.name],
            ),
            TableOutput("tax", TAX_FILINGS.name, "parquet", TAX_DIR, self.tax.rows, self.tax.files),
            TableOutput(
                "civil",
                SUBSIDY_RECIPIENT.name,
                "sqlite",
                CIVIL_DB,
                self.civil.rows[SUBSIDY_RECIPIENT.name],
            ),
            TableOutput("transport", PARKING_LOTS.name, "csv", LOTS_CSV, self.lots.rows),
            TableOutput(
                "transport",
                PARKING_EVENTS.name,
                "csv",
                EVENTS_DIR,
                self.events.rows,
                self.events.files,
            ),
        )


_PUBLISHED = (MARKET_DB, HRSS_DB, CIVIL_DB, TAX_DIR, LOTS_CSV, EVENTS_DIR)


def _publish(staging: Path, out: Path) -> None:
    """Move each staged artefact over its target; replaced directories go to the trash."""
    trash = staging / ".replaced"
    trash.mkdir()
    for i, rel in enumerate(_PUBLISHED):
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            target.rename(trash / str(i))
        os.replace(staging / rel, target)


def generate(
    out_dir: str | os.PathLike[str], scale: float = 1.0, seed: int = DEFAULT_SEED
) -> CityManifest:
    """Write the sample city under ``out_dir`` and describe what was written.

    Same ``scale`` and ``seed`` give byte-identical files. Existing outputs of a previous run
    are replaced; other files in ``out_dir`` are left alone.
    """
    started = time.perf_counter()
    plan = CityPlan.create(scale, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        with _CityWriter(staging) as writer:
            for chunk in iter_city(plan):
                writer.write(chunk)
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return CityManifest(out, plan.scale, plan.seed, writer.outputs(), time.perf_counter() - started)
