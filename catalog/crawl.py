"""Crawling: read what a source holds into the ledger, incrementally.

One pass asks the connector for every dataset's schema and statistics (the connector reads
system catalogs, footers or a bounded sample, never the data). Datasets whose schema
fingerprint and statistics are unchanged are not written at all, so a crawl that finds
nothing new costs little more than the connector's own metadata query. Changed schemas are
kept in history and reported as typed drift. Steward-set descriptions, grades and
sensitivity are never overwritten by a crawl.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .connectors import CrawledDataset, open_connector
from .drift import column_changes, fingerprint
from .models import Column, Dataset, DriftChange, Source, now_utc, resource_code_for
from .sensitivity import Suggestion, suggest_sensitivity
from .store import CatalogStore

Progress = Callable[[int, int], None]

_SAMPLE_TYPES = ("string", "large_string", "int64", "uint64", "decimal")


@dataclass
class CrawlReport:
    source: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)  # statistics only
    unchanged: int = 0
    vanished: list[str] = field(default_factory=list)
    drift: list[DriftChange] = field(default_factory=list)
    suggestions: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        return {
            "source": self.source,
            "added": len(self.added),
            "changed": len(self.changed),
            "refreshed": len(self.refreshed),
            "unchanged": self.unchanged,
            "vanished": len(self.vanished),
            "drift": len(self.drift),
            "breaking": sum(c.breaking for c in self.drift),
            "sensitivity_suggestions": self.suggestions,
            "seconds": round(self.seconds, 3),
        }


def stats_hash(crawled: CrawledDataset) -> str:
    payload = [
        crawled.row_count,
        crawled.size_bytes,
        crawled.last_modified.isoformat() if crawled.last_modified else None,
        crawled.change_counter,
        crawled.description,
        crawled.location,
        [[c.description, c.stats.model_dump() if c.stats else None] for c in crawled.columns],
    ]
    return hashlib.sha256(
        json.dumps(payload, ensure_ascii=False, default=str).encode()
    ).hexdigest()[:16]


def crawl_source(
    store: CatalogStore,
    source: Source,
    *,
    sample: bool = True,
    progress: Progress | None = None,
) -> CrawlReport:
    started = now_utc()
    clock = time.perf_counter()
    report = CrawlReport(source=source.name)
    with open_connector(source) as connector:
        crawled = list(connector.crawl())
        with store.read() as txn:
            known = txn.dataset_hashes(source.name)
            first_crawl = txn.last_crawl(source.name) is None and not known

        prints = {_qn(source, c): fingerprint(c.columns) for c in crawled}
        stat_hashes = {_qn(source, c): stats_hash(c) for c in crawled}
        schema_changed = [
            c for c in crawled if known.get(_qn(source, c), (None,))[0] != prints[_qn(source, c)]
        ]

        # Suggestions need values, which may mean I/O: gather them before taking the write lock.
        suggestions: dict[str, dict[str, Suggestion | None]] = {}
        for i, ds in enumerate(schema_changed, 1):
            samples = _samples_for(connector, ds) if sample else {}
            suggestions[_qn(source, ds)] = {
                col.name: suggest_sensitivity(
                    col.name,
                    arrow_type=col.type,
                    description=col.description,
                    samples=samples.get(col.name) or col.samples,
                )
                for col in ds.columns
            }
            if progress:
                progress(i, len(schema_changed))

    at = now_utc()
    with store.write() as txn:
        to_write: list[Dataset] = []
        history: list[Dataset] = []
        for ds in crawled:
            qn = _qn(source, ds)
            old_print, old_stats = known.get(qn, (None, None))
            if old_print == prints[qn] and old_stats == stat_hashes[qn]:
                report.unchanged += 1
                continue
            existing = txn.get_dataset(qn)
            merged = _merge(source, ds, existing, suggestions.get(qn, {}), prints[qn], at)
            to_write.append(merged)
            if existing is None:
                report.added.append(qn)
                history.append(merged)
                if not first_crawl:
                    report.drift.append(
                        DriftChange(
                            dataset=qn, change="dataset_added", breaking=False, detected_at=at
                        )
                    )
            elif existing.fingerprint != merged.fingerprint:
                report.changed.append(qn)
                history.append(merged)
                report.drift.extend(column_changes(qn, existing.columns, merged.columns, at))
            else:
                report.refreshed.append(qn)
        report.suggestions = sum(
            1 for d in to_write for c in d.columns if c.sensitivity_source == "suggested"
        )
        seen = set(prints)
        report.vanished = sorted(q for q in known if q not in seen)
        report.drift.extend(
            DriftChange(dataset=q, change="dataset_vanished", breaking=True, detected_at=at)
            for q in report.vanished
        )
        txn.put_datasets(
            to_write, {d.qualified_name: stat_hashes[d.qualified_name] for d in to_write}
        )
        txn.delete_datasets(report.vanished)
        txn.add_schema_versions(history, at)
        txn.add_drift(source.name, report.drift)
        report.seconds = time.perf_counter() - clock
        txn.record_crawl(source.name, started, now_utc(), report.summary())
    return report


def _qn(source: Source, ds: CrawledDataset) -> str:
    return f"{source.name}.{ds.schema}.{ds.name}"


def _samples_for(connector: object, ds: CrawledDataset) -> dict[str, list[str]]:
    wanted = [c.name for c in ds.columns if c.samples is None and c.type.startswith(_SAMPLE_TYPES)]
    if not wanted:
        return {}
    return connector.sample(ds, wanted, limit=100)  # type: ignore[attr-defined, no-any-return]


def _merge(
    source: Source,
    crawled: CrawledDataset,
    existing: Dataset | None,
    suggestions: dict[str, Suggestion | None],
    schema_print: str,
    at: datetime,
) -> Dataset:
    """The crawled facts, with everything a steward decided carried over by column name."""
    old_columns = {c.name: c for c in existing.columns} if existing else {}
    columns: list[Column] = []
    for col in crawled.columns:
        old = old_columns.get(col.name)
        column = Column(
            name=col.name,
            type=col.type,
            nullable=col.nullable,
            description=(old.description if old and old.description else col.description),
            grade=old.grade if old else None,
            stats=col.stats,
        )
        if old is not None and old.sensitivity_source == "steward":
            column.sensitivity = old.sensitivity
            column.sensitivity_source = "steward"
            column.sensitivity_reason = old.sensitivity_reason
        elif col.name in suggestions:
            if (s := suggestions[col.name]) is not None:
                column.sensitivity, column.sensitivity_source = s.kind, "suggested"
                column.sensitivity_reason = s.reason
        elif old is not None:  # schema unchanged: keep the earlier suggestion
            column.sensitivity = old.sensitivity
            column.sensitivity_source = old.sensitivity_source
            column.sensitivity_reason = old.sensitivity_reason
        columns.append(column)

    qn = _qn(source, crawled)
    base = (
        existing.model_dump(by_alias=True)
        if existing
        else {
            "source": source.name,
            "schema": crawled.schema,
            "name": crawled.name,
            "resource_code": resource_code_for(qn, source.department_code),
            "title": crawled.description or crawled.name,
            "published_at": at,
        }
    )
    base.update(
        kind=crawled.kind,
        description=base.get("description") or crawled.description,
        format=crawled.format or base.get("format"),
        location=crawled.location,
        row_count=crawled.row_count,
        size_bytes=crawled.size_bytes,
        last_modified=_last_modified(crawled, existing, at),
        change_counter=crawled.change_counter,
        partitioning=crawled.partitioning,
        crawled_at=at,
        fingerprint=schema_print,
        columns=columns,
    )
    return Dataset.model_validate(base)


def _last_modified(
    crawled: CrawledDataset, existing: Dataset | None, at: datetime
) -> datetime | None:
    if crawled.last_modified is not None:
        return crawled.last_modified
    if crawled.change_counter is None or existing is None:
        return existing.last_modified if existing else None
    if existing.change_counter is not None and existing.change_counter != crawled.change_counter:
        return at  # rows changed since the last crawl
    return existing.last_modified
