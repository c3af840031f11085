"""Transactions over the catalog's records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ..errors import GuajieError
from ..models import Dataset, DriftChange, Source, now_utc
from .backends import Backend
from .migrations import LATEST, MIGRATIONS


def _iso(at: datetime | None = None) -> str:
    return (at or now_utc()).isoformat()


class Txn:
    """One open transaction; every method runs inside it."""

    def __init__(self, backend: Backend) -> None:
        self.db = backend

    # -- sources ---------------------------------------------------------------------
    def get_source(self, name: str) -> Source | None:
        rows = self.db.execute("SELECT doc FROM sources WHERE name = ?", (name,))
        return Source.model_validate_json(rows[0][0]) if rows else None

    def source_docs(self) -> list[tuple[str, str]]:
        """(name, JSON document) of every source, unparsed: for callers that cache what
        they parse from a document by its text."""
        return [
            (r[0], r[1]) for r in self.db.execute("SELECT name, doc FROM sources ORDER BY name")
        ]

    def list_sources(self) -> list[Source]:
        rows = self.db.execute("SELECT doc FROM sources ORDER BY name")
        return [Source.model_validate_json(r[0]) for r in rows]

    def put_source(self, source: Source) -> None:
        self.db.execute(
            "INSERT INTO sources (name, doc, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at",
            (source.name, source.model_dump_json(exclude_none=True), _iso()),
        )

    def delete_source(self, name: str) -> int:
        """Remove a source with everything recorded about it; returns datasets removed."""
        count = self.db.execute("SELECT count(*) FROM datasets WHERE source = ?", (name,))[0][0]
        prefix = f"{name}.%"
        self.db.execute("DELETE FROM schema_history WHERE dataset LIKE ?", (prefix,))
        self.db.execute("DELETE FROM drift WHERE source = ?", (name,))
        self.db.execute("DELETE FROM crawls WHERE source = ?", (name,))
        self.db.execute("DELETE FROM datasets WHERE source = ?", (name,))
        self.db.execute("DELETE FROM sources WHERE name = ?", (name,))
        return int(count)

    # -- datasets --------------------------------------------------------------------
    def get_dataset(self, qualified_name: str) -> Dataset | None:
        rows = self.db.execute(
            "SELECT doc FROM datasets WHERE qualified_name = ?", (qualified_name,)
        )
        return Dataset.model_validate_json(rows[0][0]) if rows else None

    def dataset_doc(self, qualified_name: str) -> tuple[str, str] | None:
        """A dataset's source and JSON document, unparsed (see :meth:`source_docs`)."""
        rows = self.db.execute(
            "SELECT source, doc FROM datasets WHERE qualified_name = ?", (qualified_name,)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def list_datasets(self, source: str | None = None) -> list[Dataset]:
        if source is None:
            rows = self.db.execute("SELECT doc FROM datasets ORDER BY qualified_name")
        else:
            rows = self.db.execute(
                "SELECT doc FROM datasets WHERE source = ? ORDER BY qualified_name", (source,)
            )
        return [Dataset.model_validate_json(r[0]) for r in rows]

    def dataset_names(self, source: str | None = None) -> list[str]:
        """Qualified names only: cheap even with many thousands of datasets."""
        if source is None:
            rows = self.db.execute("SELECT qualified_name FROM datasets ORDER BY qualified_name")
        else:
            rows = self.db.execute(
                "SELECT qualified_name FROM datasets WHERE source = ? ORDER BY qualified_name",
                (source,),
            )
        return [r[0] for r in rows]

    def dataset_hashes(self, source: str) -> dict[str, tuple[str | None, str | None]]:
        """Fingerprint and statistics hash per dataset: what an incremental crawl compares."""
        rows = self.db.execute(
            "SELECT qualified_name, fingerprint, stats_hash FROM datasets WHERE source = ?",
            (source,),
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def put_datasets(
        self, datasets: Iterable[Dataset], stats_hashes: dict[str, str] | None = None
    ) -> None:
        stats_hashes = stats_hashes or {}
        now = _iso()
        rows = [
            (
                d.qualified_name,
                d.source,
                d.fingerprint,
                stats_hashes.get(d.qualified_name),
                d.model_dump_json(by_alias=True, exclude_none=True),
                now,
            )
            for d in datasets
        ]
        self.db.executemany(
            "INSERT INTO datasets (qualified_name, source, fingerprint, stats_hash, doc, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (qualified_name) DO UPDATE SET "
            "fingerprint = excluded.fingerprint, "
            "stats_hash = COALESCE(excluded.stats_hash, datasets.stats_hash), "
            "doc = excluded.doc, updated_at = excluded.updated_at",
            rows,
        )

    def put_dataset(self, dataset: Dataset) -> None:
        self.put_datasets([dataset])

    def delete_datasets(self, qualified_names: Iterable[str]) -> None:
        rows = [(q,) for q in qualified_names]
        self.db.executemany("DELETE FROM datasets WHERE qualified_name = ?", rows)

    # -- schema history and drift ----------------------------------------------------
    def add_schema_versions(self, versions: Iterable[Dataset], at: datetime) -> None:
        rows = [
            (
                d.qualified_name,
                d.fingerprint or "",
                json.dumps([[c.name, c.type, c.nullable] for c in d.columns], ensure_ascii=False),
                _iso(at),
            )
            for d in versions
        ]
        self.db.executemany(
            "INSERT INTO schema_history (dataset, fingerprint, columns, recorded_at) "
            "VALUES (?, ?, ?, ?)",
            rows,
        )

    def schema_history(self, qualified_name: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT fingerprint, columns, recorded_at FROM schema_history WHERE dataset = ? "
            "ORDER BY id",
            (qualified_name,),
        )
        return [
            {"fingerprint": r[0], "columns": json.loads(r[1]), "recorded_at": r[2]} for r in rows
        ]

    def add_drift(self, source: str, changes: Iterable[DriftChange]) -> None:
        rows = [(source, c.dataset, c.model_dump_json(), _iso(c.detected_at)) for c in changes]
        self.db.executemany(
            "INSERT INTO drift (source, dataset, doc, detected_at) VALUES (?, ?, ?, ?)", rows
        )

    def list_drift(
        self,
        *,
        source: str | None = None,
        dataset: str | None = None,
        since: datetime | None = None,
    ) -> list[DriftChange]:
        clauses, params = [], []
        if source:
            clauses.append("source = ?")
            params.append(source)
        if dataset:
            clauses.append("dataset = ?")
            params.append(dataset)
        if since:
            clauses.append("detected_at >= ?")
            params.append(_iso(since))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(f"SELECT doc FROM drift{where} ORDER BY id", params)
        return [DriftChange.model_validate_json(r[0]) for r in rows]

    def record_crawl(
        self, source: str, started: datetime, finished: datetime, summary: dict[str, Any]
    ) -> None:
        self.db.execute(
            "INSERT INTO crawls (source, started_at, finished_at, doc) VALUES (?, ?, ?, ?)",
            (source, _iso(started), _iso(finished), json.dumps(summary, ensure_ascii=False)),
        )

    def last_crawl(self, source: str) -> dict[str, Any] | None:
        rows = self.db.execute(
            "SELECT started_at, finished_at, doc FROM crawls WHERE source = ? ORDER BY id DESC LIMIT 1",
            (source,),
        )
        if not rows:
            return None
        return {"started_at": rows[0][0], "finished_at": rows[0][1], **json.loads(rows[0][2])}


class CatalogStore:
    """Opens transactions and keeps the store's schema at the latest version."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._migrate()

    @contextmanager
    def read(self) -> Iterator[Txn]:
        yield from self._transaction(write=False)

    @contextmanager
    def write(self) -> Iterator[Txn]:
        yield from self._transaction(write=True)

    def _transaction(self, write: bool) -> Iterator[Txn]:
        self.backend.begin(write)
        try:
            yield Txn(self.backend)
        except BaseException:
            self.backend.rollback()
            raise
        else:
            self.backend.commit()

    def close(self) -> None:
        self.backend.close()

    def _migrate(self) -> None:
        db = self.backend
        db.begin(write=True)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS guajie_schema (version INTEGER NOT NULL)")
            # Versions are applied by set, not by maximum: a store that has a later version
            # still gets an earlier one it lacks.
            applied = {int(r[0]) for r in db.execute("SELECT version FROM guajie_schema")}
            current = max(applied, default=0)
            if current > LATEST:
                raise GuajieError(
                    f"The catalog store {db.description} has schema version {current}, newer "
                    f"than this guajie understands ({LATEST}).",
                    "Upgrade guajie before using this workspace.",
                )
            for version, statements in MIGRATIONS:
                if version in applied:
                    continue
                for statement in statements:
                    db.execute(statement.format(serial=db.serial, text=db.text))
                db.execute("INSERT INTO guajie_schema (version) VALUES (?)", (version,))
        except BaseException:
            db.rollback()
            raise
        db.commit()
