"""Connection handling for the two store backends; everything else is shared SQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from ..errors import GuajieError, redact


class Backend(Protocol):
    serial: str
    text: str
    description: str

    def begin(self, write: bool) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def close(self) -> None: ...


class SqliteBackend:
    serial = "INTEGER PRIMARY KEY AUTOINCREMENT"
    text = "TEXT"

    def __init__(self, path: Path) -> None:
        self.description = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are opened explicitly so writes can take the
        # database lock up front (BEGIN IMMEDIATE) and never fail half-way on a busy lock.
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=60000")

    def begin(self, write: bool) -> None:
        self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def close(self) -> None:
        self.conn.close()


class PostgresBackend:
    serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    text = "TEXT"
    # One advisory lock for all catalog writers: catalog writes are small and rare, and a
    # single lock makes read-modify-write of documents safe without row-level bookkeeping.
    LOCK_KEY = 7_474_163_211

    def __init__(self, url: str, password: str | None) -> None:
        import psycopg

        parts = urlsplit(url)
        self.description = f"{parts.scheme}://{parts.username or ''}@{parts.hostname}:{parts.port or 5432}{parts.path}"
        try:
            self.conn = psycopg.connect(url, password=password, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise GuajieError(
                f"Cannot open the catalog store at {self.description}: "
                f"{redact(str(exc).strip(), password)}",
                "Check the store URL in guajie.yaml and the store password variable.",
            ) from None

    def begin(self, write: bool) -> None:
        self.conn.execute("BEGIN")
        if write:
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.LOCK_KEY,))

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)  # type: ignore[arg-type]

    def close(self) -> None:
        self.conn.close()


def open_backend(location: str | Path, password: str | None = None) -> Backend:
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresBackend(text, password)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite://") :]
    return SqliteBackend(Path(text))
