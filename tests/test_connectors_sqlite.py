"""The SQLite crawler reads statistics from the schema and ANALYZE, never the table data."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from guajie.catalog.connectors import CrawledDataset, open_connector
from guajie.catalog.models import Source


def crawl(path: Path) -> dict[str, CrawledDataset]:
    connector = open_connector(Source(name="lite", kind="sqlite", url=f"sqlite://{path}"))
    return {d.name: d for d in connector.crawl()}


def distinct_counts(dataset: CrawledDataset) -> dict[str, int | None]:
    return {c.name: c.stats.distinct_count for c in dataset.columns if c.stats is not None}


def test_keys_and_analyzed_indexes_give_distinct_counts(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE enterprise (
            id INTEGER PRIMARY KEY, credit_code TEXT UNIQUE, district TEXT, name TEXT,
            kind TEXT, opened TEXT
        );
        CREATE UNIQUE INDEX enterprise_kind_name ON enterprise (kind, name);
        CREATE INDEX enterprise_district ON enterprise (district);
        CREATE INDEX enterprise_recent ON enterprise (opened) WHERE opened > '2020';
        CREATE TABLE filing (credit_code TEXT, month TEXT, PRIMARY KEY (credit_code, month));
        """
    )
    db.executemany(
        "INSERT INTO enterprise VALUES (?, ?, ?, ?, ?, ?)",
        [(i, f"91350{i:05d}", f"d{i % 7}", f"e{i}", f"k{i % 3}", "2021") for i in range(1, 401)],
    )
    db.commit()

    before = crawl(path)
    assert before["enterprise"].row_count == 400
    # Keys of one column have a value per row; a composite key says nothing of its first
    # column, nor does a plain index before ANALYZE.
    assert distinct_counts(before["enterprise"]) == {"id": 400, "credit_code": 400}
    assert distinct_counts(before["filing"]) == {}

    db.execute("ANALYZE")
    db.commit()
    db.close()
    after = crawl(path)
    counted = distinct_counts(after["enterprise"])
    # ANALYZE's rows per leading value of each index: 400 rows, about 58 per district and
    # 134 per kind (the composite key's first column). A partial index counts only some rows.
    assert counted == {"id": 400, "credit_code": 400, "district": 7, "kind": 3}
