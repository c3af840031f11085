"""What Trino read from each source during one query, from its own statistics.

Trino keeps a finished query's ``QueryInfo`` for a while (``GET /v1/query/{id}``). It
says which tables were read (``inputs``: catalog, schema, table, and the fragment and plan
node of the scan), the plan of every stage, and one summary per operator with the rows and
bytes it took from the connector (``physicalInputPositions``, ``physicalInputDataSize``).
A scan operator is tied to its table by walking the stage's plan from the operator's node
down to the table scans below it (a filter or projection fused into the scan carries the
filter's node id); an operator above more than one scan is not attributed.

Only what Trino measured is reported. Rows come from every connector; bytes only where the
connector counts them (the Hive connector reading Parquet or CSV does; the JDBC connectors
for PostgreSQL and MySQL/MariaDB report zero, so their bytes are left out rather than
recorded as zero).

Catalogs are named after sources by ``guajie trino sync``, so a catalog is a source here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Connectors whose scans report no byte counts (their bytes are unknown, not zero).
NO_BYTES = frozenset({"postgresql", "mysql", "mariadb"})

_SIZE = re.compile(r"^\s*([0-9.]+)\s*([KMGTP]?B)\s*$")
_UNITS = {"B": 1, "kB": 1 << 10, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_UNITS["PB"] = 1 << 50


def data_size(value: Any) -> int | None:
    """Bytes of an airlift ``DataSize`` as JSON (``"1234B"``, ``"1.5MB"``) or a number."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    match = _SIZE.match(str(value).replace("kB", "KB"))
    if not match:
        return None
    return round(float(match.group(1)) * _UNITS[match.group(2)])


@dataclass
class TableRead:
    """What one query read from one table."""

    catalog: str
    schema: str
    table: str
    connector: str
    rows: int = 0
    bytes: int | None = None
    attributed: bool = False  # a scan operator was tied to this table

    @property
    def qualified_name(self) -> str:
        return f"{self.catalog}.{self.schema}.{self.table}"


@dataclass
class QueryReads:
    """Per-table and per-source reads of one Trino query, and the query's totals."""

    query_id: str
    state: str | None
    final: bool
    tables: list[TableRead] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    def by_source(self) -> dict[str, dict[str, int]]:
        """``{source: {"rows": n[, "bytes": n]}}`` for the tables a scan was tied to."""
        out: dict[str, dict[str, int]] = {}
        for t in self.tables:
            if not t.attributed:
                continue
            agg = out.setdefault(t.catalog, {"rows": 0})
            agg["rows"] += t.rows
            if t.bytes is not None:
                agg["bytes"] = agg.get("bytes", 0) + t.bytes
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_id": self.query_id,
            "state": self.state,
            "final": self.final,
            "tables": [
                {"table": t.qualified_name, "rows": t.rows, "bytes": t.bytes}
                for t in self.tables
                if t.attributed
            ],
            "totals": dict(self.totals),
        }


def reads_of(info: Mapping[str, Any]) -> QueryReads:
    """The reads described by a ``QueryInfo`` document."""
    stats = info.get("queryStats") or {}
    reads = QueryReads(
        query_id=str(info.get("queryId", "")),
        state=info.get("state"),
        final=bool(info.get("finalQueryInfo")),
        totals=_totals(stats),
    )
    by_scan: dict[tuple[str, str], TableRead] = {}
    for item in info.get("inputs") or []:
        read = TableRead(
            catalog=str(item.get("catalogName")),
            schema=str(item.get("schema")),
            table=str(item.get("table")),
            connector=str(item.get("connectorName") or ""),
        )
        reads.tables.append(read)
        by_scan[(str(item.get("fragmentId")), str(item.get("planNodeId")))] = read
    below = {stage: _scans_below(root) for stage, root in _stage_plans(info.get("outputStage"))}
    for op in stats.get("operatorSummaries") or []:
        rows = int(op.get("physicalInputPositions") or 0)
        size = data_size(op.get("physicalInputDataSize")) or 0
        if not rows and not size and "Scan" not in str(op.get("operatorType", "")):
            continue
        stage = str(op.get("stageId"))
        scans = below.get(stage, {}).get(str(op.get("planNodeId")), set())
        if len(scans) != 1:
            continue
        scanned = by_scan.get((stage, next(iter(scans))))
        if scanned is None:
            continue
        scanned.attributed = True
        scanned.rows += rows
        if scanned.connector not in NO_BYTES:
            scanned.bytes = (scanned.bytes or 0) + size
    return reads


def _totals(stats: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, name in (
        ("physicalInputPositions", "rows"),
        ("physicalInputDataSize", "bytes"),
        ("peakUserMemoryReservation", "peak_memory_bytes"),
        ("outputPositions", "output_rows"),
    ):
        value = stats.get(key)
        number = value if isinstance(value, int) else data_size(value)
        if number is not None:
            out[name] = int(number)
    return out


def _stage_plans(stage: Mapping[str, Any] | None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if not stage:
        return
    plan = stage.get("plan") or {}
    if plan.get("root"):
        # A stage id is "<query id>.<fragment id>"; operator summaries use the fragment id.
        yield str(stage.get("stageId")).rsplit(".", 1)[-1], plan["root"]
    for sub in stage.get("subStages") or []:
        yield from _stage_plans(sub)


def _scans_below(root: Mapping[str, Any]) -> dict[str, set[str]]:
    """For each plan node of one fragment: the ids of the table scans beneath it."""
    found: dict[str, set[str]] = {}

    def walk(node: Any) -> set[str]:
        if isinstance(node, list):
            out: set[str] = set()
            for item in node:
                out |= walk(item)
            return out
        if not isinstance(node, Mapping):
            return set()
        kind = node.get("@type")
        if kind == "remoteSource":
            scans: set[str] = set()
        elif kind == "tableScan":
            scans = {str(node.get("id"))}
        else:
            scans = set()
            for key in ("source", "sources", "left", "right", "filteringSource"):
                if key in node:
                    scans |= walk(node[key])
        if "id" in node and kind is not None:
            found[str(node["id"])] = scans
        return scans

    walk(root)
    return found
