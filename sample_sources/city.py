"""The whole sample city as a stream of column chunks, and as typed Arrow tables.

:func:`iter_city` walks the blocks once and emits chunks for the requested tables only, so the
file writer can produce every department in a single pass while a server loader can
regenerate just the one table it needs. Both see the same rows for the same seed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass

import pyarrow as pa

from .civil import recipient_columns
from .hrss import social_insurance_columns
from .market import district_columns, enterprise_columns
from .organizations import enterprises, institutions
from .plan import DEFAULT_SEED, CityPlan
from .schema import (
    DISTRICT,
    ENTERPRISE,
    PARKING_EVENTS,
    PARKING_LOTS,
    SOCIAL_INSURANCE,
    SUBSIDY_RECIPIENT,
    TABLES,
    TABLES_BY_NAME,
    TAX_FILINGS,
    Columns,
    TableSpec,
    to_batch,
)
from .tax import tax_columns
from .transport import event_columns, lot_columns, parking_lots


@dataclass(frozen=True)
class Chunk:
    """Rows of one table from one block; ``part`` is the tax period or event day if any."""

    spec: TableSpec
    columns: Columns
    part: str | None = None

    @property
    def rows(self) -> int:
        return len(self.columns[self.spec.columns[0].name])


def _wanted(tables: Collection[str] | None) -> set[str]:
    if tables is None:
        return set(TABLES_BY_NAME)
    unknown = set(tables) - set(TABLES_BY_NAME)
    if unknown:
        raise ValueError(f"unknown tables {sorted(unknown)}; known: {sorted(TABLES_BY_NAME)}")
    return set(tables)


def iter_city(plan: CityPlan, tables: Collection[str] | None = None) -> Iterator[Chunk]:
    """Non-empty chunks of the requested tables (all by default) in a deterministic order."""
    wanted = _wanted(tables)
    if DISTRICT.name in wanted:
        yield Chunk(DISTRICT, district_columns())
    if not wanted - {DISTRICT.name}:
        return
    issued_ids: set[str] = set()
    for block in plan.block_ids():
        ents = enterprises(plan, block)
        insts = institutions(plan, block)
        chunks: list[Chunk] = []
        if ENTERPRISE.name in wanted:
            chunks.append(Chunk(ENTERPRISE, enterprise_columns(ents)))
        if SOCIAL_INSURANCE.name in wanted:
            chunks.append(
                Chunk(SOCIAL_INSURANCE, social_insurance_columns(plan, block, ents, insts))
            )
        if TAX_FILINGS.name in wanted:
            chunks.extend(
                Chunk(TAX_FILINGS, cols, label)
                for label, cols in tax_columns(plan, block, ents).items()
            )
        if SUBSIDY_RECIPIENT.name in wanted:
            chunks.append(
                Chunk(SUBSIDY_RECIPIENT, recipient_columns(plan, block, ents, issued_ids))
            )
        yield from (c for c in chunks if c.rows)
        if wanted & {PARKING_LOTS.name, PARKING_EVENTS.name}:
            lots = parking_lots(plan, block, ents, insts)
            if PARKING_LOTS.name in wanted and lots:
                yield Chunk(PARKING_LOTS, lot_columns(lots))
            if PARKING_EVENTS.name in wanted:
                for day, cols in event_columns(plan, block, lots):
                    chunk = Chunk(PARKING_EVENTS, cols, day)
                    if chunk.rows:
                        yield chunk


@dataclass(frozen=True)
class TableSource:
    """One table of the city, regenerated on demand as typed Arrow record batches.

    Re-iterable and memory-bounded: each call to :meth:`batches` replays the generator, so
    a loader can stream millions of rows without holding them.
    """

    spec: TableSpec
    plan: CityPlan

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def department(self) -> str:
        return self.spec.department

    @property
    def schema(self) -> pa.Schema:
        return self.spec.schema

    def chunks(self) -> Iterator[Chunk]:
        return iter_city(self.plan, [self.spec.name])

    def batches(self) -> Iterator[pa.RecordBatch]:
        for chunk in self.chunks():
            yield to_batch(self.spec, chunk.columns)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self.batches()

    def read_all(self) -> pa.Table:
        return pa.Table.from_batches(list(self.batches()), schema=self.spec.schema)


def city_tables(scale: float = 1.0, seed: int = DEFAULT_SEED) -> dict[str, dict[str, TableSource]]:
    """Every table of the city by department then table name, e.g.
    ``city_tables()["market"]["enterprise"].read_all()``."""
    plan = CityPlan.create(scale, seed)
    out: dict[str, dict[str, TableSource]] = {}
    for spec in TABLES:
        out.setdefault(spec.department, {})[spec.name] = TableSource(spec, plan)
    return out
