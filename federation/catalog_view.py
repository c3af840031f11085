"""What planning needs from the ledger: a read-only snapshot of names, types and statistics.

Planning is pure: it takes this snapshot, never a connection, so a plan can be built,
printed and tested without any source answering.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from guajie.catalog.lru import LruCache
from guajie.catalog.models import Dataset, Source

_DECIMAL = re.compile(r"decimal(?:128|256)\((\d+), (-?\d+)\)")
_SIMPLE_TYPES = {
    "bool": "BOOLEAN",
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INT",
    "int64": "BIGINT",
    "uint8": "SMALLINT",
    "uint16": "INT",
    "uint32": "BIGINT",
    "uint64": "DECIMAL(20, 0)",
    "float": "REAL",
    "halffloat": "REAL",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "large_string": "VARCHAR",
    "binary": "VARBINARY",
    "large_binary": "VARBINARY",
    "date32[day]": "DATE",
    "date64[ms]": "DATE",
    "time64[us]": "TIME",
}


def sql_type_for(arrow_type: str) -> str:
    """The SQL type planning assumes for a column of a given Arrow type."""
    if arrow_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[arrow_type]
    if m := _DECIMAL.fullmatch(arrow_type):
        return f"DECIMAL({m.group(1)}, {m.group(2)})"
    if arrow_type.startswith("timestamp"):
        return "TIMESTAMP WITH TIME ZONE" if "tz=" in arrow_type else "TIMESTAMP"
    if arrow_type.startswith("dictionary<values=string"):
        return "VARCHAR"
    return "UNKNOWN"


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    arrow_type: str
    nullable: bool = True
    distinct_count: int | None = None
    # Crawled smallest and largest values, as the catalog keeps them (text).
    min: str | None = None
    max: str | None = None

    @property
    def sql_type(self) -> str:
        return sql_type_for(self.arrow_type)


@dataclass(frozen=True)
class TableInfo:
    """One dataset as the planner sees it."""

    source: str
    schema: str
    name: str
    kind: str  # the source's kind: postgresql, mysql, sqlite, duckdb, file
    columns: tuple[ColumnInfo, ...]
    row_count: int | None = None
    size_bytes: int | None = None
    location: str | None = None
    format: str | None = None
    partitioning: tuple[str, ...] = ()
    table_kind: str = "table"  # table, view, materialized_view, ... (the crawl's kind)

    @property
    def qualified_name(self) -> str:
        return f"{self.source}.{self.schema}.{self.name}"

    def column(self, name: str) -> ColumnInfo | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass
class CatalogView:
    tables: dict[str, TableInfo] = field(default_factory=dict)
    source_kinds: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, sources: Iterable[Source], datasets: Iterable[Dataset]) -> CatalogView:
        kinds = {s.name: str(s.kind) for s in sources}
        view = cls(source_kinds=kinds)
        for d in datasets:
            if d.source in kinds:
                view.add(table_info(d, kinds[d.source]))
        return view

    def add(self, table: TableInfo) -> None:
        self.tables[table.qualified_name.lower()] = table

    def get(self, qualified_name: str) -> TableInfo | None:
        return self.tables.get(qualified_name.lower())

    def names(self) -> list[str]:
        """Every dataset's qualified name (for resolving short names and suggestions)."""
        return [t.qualified_name for t in self.tables.values()]

    def schemas_of(self, source: str) -> set[str]:
        return {t.schema for t in self.tables.values() if t.source == source}


class LedgerView(CatalogView):
    """A view that reads only the datasets a query names from the catalog store, so
    planning costs the same with ten datasets or ten thousand."""

    def __init__(self, store: Any) -> None:
        super().__init__()
        self.store = store
        with store.read() as txn:
            self.source_kinds = {name: _source_kind(doc) for name, doc in txn.source_docs()}
            self._names = txn.dataset_names()

    def get(self, qualified_name: str) -> TableInfo | None:
        key = qualified_name.lower()
        if key not in self.tables:
            name = next((n for n in self._names if n.lower() == key), None)
            if name is None:
                return None
            with self.store.read() as txn:
                found = txn.dataset_doc(name)
            if found is None or found[0] not in self.source_kinds:
                return None
            self.add(_table_info_of(found[1], self.source_kinds[found[0]]))
        return self.tables[key]

    def names(self) -> list[str]:
        return list(self._names)

    def schemas_of(self, source: str) -> set[str]:
        return {n.split(".")[1] for n in self._names if n.split(".")[0] == source}


# Planning reads the same few catalog entries for every run of a query: what is parsed
# from an entry is kept by the entry's text, so a changed entry is parsed afresh.
_SOURCE_KINDS: LruCache[str, str] = LruCache(1024)
_TABLE_INFOS: LruCache[tuple[str, str], TableInfo] = LruCache(1024)


def _source_kind(doc: str) -> str:
    kind = _SOURCE_KINDS.get(doc)
    if kind is None:
        kind = str(Source.model_validate_json(doc).kind)
        _SOURCE_KINDS.put(doc, kind)
    return kind


def _table_info_of(doc: str, kind: str) -> TableInfo:
    info = _TABLE_INFOS.get((doc, kind))
    if info is None:
        info = table_info(Dataset.model_validate_json(doc), kind)
        _TABLE_INFOS.put((doc, kind), info)
    return info


def table_info(d: Dataset, kind: str) -> TableInfo:
    return TableInfo(
        source=d.source,
        schema=d.schema_name,
        name=d.name,
        kind=kind,
        columns=tuple(
            ColumnInfo(
                c.name,
                c.type,
                c.nullable,
                c.stats.distinct_count if c.stats else None,
                c.stats.min if c.stats else None,
                c.stats.max if c.stats else None,
            )
            for c in d.columns
        ),
        row_count=d.row_count,
        size_bytes=d.size_bytes,
        location=d.location,
        format=d.format,
        partitioning=tuple(d.partitioning),
        table_kind=d.kind,
    )


def sqlglot_schema(tables: Iterable[TableInfo]) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """The nested mapping sqlglot's optimizer takes, for the tables a query reads."""
    mapping: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for t in tables:
        mapping.setdefault(t.source, {}).setdefault(t.schema, {})[t.name] = {
            c.name: c.sql_type for c in t.columns
        }
    return mapping
