"""The audit log: every query, allowed, denied or failed, appended to the catalog store.

An entry says who ran what (normalized SQL, never secrets), as which scenario, through which
client and engine, the decision and why (no data values), the datasets touched and the rows
returned. Entries are only ever appended: guajie has no command or API that changes or
removes one. Each entry stores the hash of the entry before it and its own hash over its
content, so an entry edited, removed or inserted behind guajie's back breaks the chain that
:meth:`AuditLog.verify` walks (`guajie audit verify`). Removing the newest entries leaves a
shorter chain that still verifies; compare the head hash with one kept elsewhere
(``verify(head=...)``) to detect that.

:func:`audited` is the hook around a session's execution; an allowed query is recorded when
its result stream ends (the rows returned are known only then), or when the stream is
dropped before its end (``complete`` is false and ``rows`` counts what was read).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import uuid
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from guajie.catalog.errors import GuajieError, InvalidInputError, url_without_password

from .runs import now, scrub_error, stamp

log = logging.getLogger("guajie.audit")

ALLOWED, DENIED, FAILED = "allowed", "denied", "failed"
DECISIONS = (ALLOWED, DENIED, FAILED)
CLIENTS = ("python", "cli", "http")
GENESIS = "0" * 64
#: Longest SQL text kept in an entry.
MAX_SQL = 20_000

_COLUMNS = (
    "seq, id, started_at, ended_at, user_name, scenario, client, engine, decision, reason, "
    "sql, sql_hash, datasets, row_count, complete, run_id, prev_hash, hash"
)


@dataclass
class AuditEntry:
    """One audited query."""

    id: str
    started_at: str
    ended_at: str
    user: str
    scenario: str | None
    client: str
    engine: str
    decision: str
    reason: str | None
    sql: str
    sql_hash: str
    datasets: list[str] = field(default_factory=list)
    rows: int | None = None
    complete: bool = False  # the answer was read to its end
    run_id: str | None = None
    prev_hash: str = GENESIS
    hash: str = ""
    seq: int | None = None

    def content(self) -> bytes:
        """What the hash covers: every field but the position and the hash itself."""
        doc = asdict(self)
        doc.pop("seq")
        doc.pop("hash")
        return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def digest(self) -> str:
        return hashlib.sha256(self.content()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> AuditEntry:
        return cls(
            seq=int(row[0]),
            id=row[1],
            started_at=row[2],
            ended_at=row[3],
            user=row[4],
            scenario=row[5],
            client=row[6],
            engine=row[7],
            decision=row[8],
            reason=row[9],
            sql=row[10],
            sql_hash=row[11],
            datasets=json.loads(row[12]),
            rows=None if row[13] is None else int(row[13]),
            complete=bool(row[14]),
            run_id=row[15],
            prev_hash=row[16],
            hash=row[17],
        )


@dataclass
class Verification:
    """What `guajie audit verify` found."""

    entries: int
    head: str
    ok: bool
    broken_at: int | None = None  # seq of the first entry that does not verify
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AuditLog:
    """Appending to, searching and verifying the audit log of one catalog store."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def append(self, entry: AuditEntry) -> AuditEntry:
        # Write transactions are serialized on both backends, so reading the head and
        # appending after it cannot interleave with another writer.
        with self.store.write() as txn:
            rows = txn.db.execute("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            entry.prev_hash = rows[0][0] if rows else GENESIS
            entry.hash = entry.digest()
            txn.db.execute(
                f"INSERT INTO audit_log ({_COLUMNS.removeprefix('seq, ')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.id,
                    entry.started_at,
                    entry.ended_at,
                    entry.user,
                    entry.scenario,
                    entry.client,
                    entry.engine,
                    entry.decision,
                    entry.reason,
                    entry.sql,
                    entry.sql_hash,
                    json.dumps(entry.datasets, ensure_ascii=False),
                    entry.rows,
                    int(entry.complete),
                    entry.run_id,
                    entry.prev_hash,
                    entry.hash,
                ),
            )
        return entry

    def search(
        self,
        *,
        user: str | None = None,
        scenario: str | None = None,
        decision: str | None = None,
        dataset: str | None = None,
        client: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
        oldest_first: bool = False,
    ) -> list[AuditEntry]:
        """Entries matching every filter given, newest first unless ``oldest_first``."""
        if decision is not None and decision not in DECISIONS:
            raise InvalidInputError(
                f"Unknown decision {decision!r}.", f"Use one of: {', '.join(DECISIONS)}."
            )
        if limit is not None and limit < 1:
            raise InvalidInputError("--limit must be at least 1.")
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("user_name", user),
            ("scenario", scenario),
            ("decision", decision),
            ("client", client),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if dataset is not None:
            # datasets is a JSON list of names; a quoted name matches one element exactly.
            clauses.append("datasets LIKE ?")
            params.append("%" + json.dumps(dataset, ensure_ascii=False) + "%")
        if since is not None:
            clauses.append("started_at >= ?")
            params.append(stamp(since))
        if until is not None:
            clauses.append("started_at < ?")
            params.append(stamp(until))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "ASC" if oldest_first else "DESC"
        sql = f"SELECT {_COLUMNS} FROM audit_log{where} ORDER BY seq {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.store.read() as txn:
            return [AuditEntry.from_row(r) for r in txn.db.execute(sql, params)]

    def entries(self, batch: int = 5_000) -> Iterator[AuditEntry]:
        """Every entry, oldest first, read in batches."""
        last = 0
        while True:
            with self.store.read() as txn:
                rows = txn.db.execute(
                    f"SELECT {_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT {batch}",
                    (last,),
                )
            if not rows:
                return
            for row in rows:
                yield AuditEntry.from_row(row)
            last = int(rows[-1][0])

    def verify(self, head: str | None = None) -> Verification:
        """Walk the chain from the first entry; ``head``: a hash the chain must contain
        (e.g. one noted earlier), so that entries removed from the end are detected too."""
        prev, count, seen_head = GENESIS, 0, head is None
        for entry in self.entries():
            count += 1
            if entry.prev_hash != prev:
                return Verification(
                    count,
                    prev,
                    False,
                    entry.seq,
                    f"entry {entry.seq} does not follow the entry before it: an entry was "
                    "removed, inserted or reordered here",
                )
            if entry.digest() != entry.hash:
                return Verification(
                    count,
                    prev,
                    False,
                    entry.seq,
                    f"entry {entry.seq} was changed after it was written",
                )
            prev = entry.hash
            seen_head = seen_head or entry.hash == head
        if not seen_head:
            return Verification(
                count,
                prev,
                False,
                None,
                f"the chain does not contain {head}: entries were removed from its end",
            )
        return Verification(count, prev, True)

    def export(self, out: IO[str], kind: str, entries: Iterable[AuditEntry]) -> int:
        """Write entries as JSON lines or CSV; returns how many."""
        count = 0
        if kind == "jsonl":
            for entry in entries:
                out.write(json.dumps(entry.to_dict(), ensure_ascii=False) + "\n")
                count += 1
            return count
        if kind != "csv":
            raise InvalidInputError(f"Unknown export format {kind!r}.", "Use jsonl or csv.")
        writer = csv.writer(out)
        names = [f for f in AuditEntry.__dataclass_fields__]
        writer.writerow(names)
        for entry in entries:
            doc = entry.to_dict()
            doc["datasets"] = " ".join(entry.datasets)
            writer.writerow(["" if doc[n] is None else doc[n] for n in names])
            count += 1
        return count


# -- what an entry says about a query ------------------------------------------------------

_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key)"
    r"(\s*[=:]\s*)([^\s,;&'\"]+)"
)


def _unsecret(text: str) -> str:
    text = re.sub(r"[a-zA-Z][\w+.-]*://[^\s'\"]+", lambda m: url_without_password(m.group(0)), text)
    return _SECRET_ASSIGNMENT.sub(r"\1\2***", text)


def normalize_sql(sql: str, dialect: str | None = None) -> str:
    """One normalized text for ``sql``: parsed and printed again when it parses, passwords in
    URLs and ``password=...`` style assignments masked either way."""
    import sqlglot
    from sqlglot import exp

    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect or "trino") if t is not None]
        for tree in trees:
            for literal in tree.find_all(exp.Literal):
                if literal.is_string:
                    literal.set("this", _unsecret(literal.this))
        text = "; ".join(t.sql(dialect=dialect or "trino") for t in trees)
    except Exception:  # unparseable text is kept as written, minus secrets
        text = " ".join(sql.split())
    return _unsecret(text)[:MAX_SQL]


def referenced(sql: str, dialect: str | None = None) -> tuple[list[str], set[str]]:
    """The tables ``sql`` names (lowercased, as written) and every identifier in it, for a
    query that was refused or failed before its datasets were resolved."""
    import sqlglot
    from sqlglot import exp

    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect or "trino") if t is not None]
    except Exception:
        return [], set()
    tables: set[str] = set()
    names: set[str] = set()
    for tree in trees:
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            # Table functions and file paths are not dataset names (and may hold secrets).
            if table.parts and all(isinstance(p, exp.Identifier) for p in table.parts):
                name = ".".join(p.name for p in table.parts).lower()
                if name not in ctes:
                    tables.add(_unsecret(name))
        names |= {i.name for i in tree.find_all(exp.Identifier) if i.name}
    return sorted(tables), names


def decision_for(exc: BaseException) -> str:
    """``denied`` for a query refused by policy, by the read-only rule or for its token;
    ``failed`` for anything else."""
    from guajie.catalog.tokens import TokenError
    from guajie.federation.errors import ReadOnlyError

    if isinstance(exc, ReadOnlyError | TokenError):
        return DENIED
    if any(cls.__name__ == "PolicyError" for cls in type(exc).__mro__):
        return DENIED
    return FAILED


def public_reason(exc: BaseException, known: Iterable[str] = ()) -> str:
    """The error as an audit reason or an HTTP error message: no values, no secrets."""
    if isinstance(exc, GuajieError):
        text = str(exc)
    elif isinstance(exc, KeyboardInterrupt):
        text = "Interrupted."
    else:
        first = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
    return scrub_error(_unsecret(text), known)


# -- the hook around a session's execution -------------------------------------------------


class Audit:
    """One query being audited: :func:`audited` creates it, the result stream ends it."""

    def __init__(
        self,
        log: AuditLog,
        sql: str,
        *,
        dialect: str | None,
        scenario: str | None,
        user: str,
        client: str,
        engine: str,
    ) -> None:
        self.log = log
        self.entry = AuditEntry(
            id=str(uuid.uuid4()),
            started_at=stamp(now()),
            ended_at="",
            user=user,
            scenario=scenario,
            client=client,
            engine=engine,
            decision=ALLOWED,
            reason=None,
            sql="",
            sql_hash="",
        )
        self.raw_sql = sql
        self.dialect = dialect
        self.catalog: Any = None  # resolves the names in a refused query, when given
        self.rows = 0
        self.ended = False

    def _fill(self, sql: str | None = None, datasets: Iterable[str] | None = None) -> None:
        entry = self.entry
        entry.sql = sql or normalize_sql(self.raw_sql, self.dialect)
        entry.sql_hash = hashlib.sha256(entry.sql.encode()).hexdigest()[:16]
        if datasets is not None:
            entry.datasets = sorted(set(datasets))
        else:
            entry.datasets = referenced(self.raw_sql, self.dialect)[0]

    def refuse(self, exc: BaseException) -> None:
        """The query ended with ``exc`` before any answer was returned."""
        if self.ended:
            return
        tables, names = referenced(self.raw_sql, self.dialect)
        self._fill(datasets=[self._resolve(t) for t in tables])
        self.entry.decision = decision_for(exc)
        self.entry.reason = public_reason(exc, names | set(tables))
        self._end(complete=False, rows=None)

    def _resolve(self, name: str) -> str:
        """A table name as written, as the catalog's full name when it is one."""
        if self.catalog is None:
            return name
        try:
            dataset, column = self.catalog.resolve(name)
        except Exception:
            return name
        return name if column is not None else str(dataset.qualified_name)

    def track(self, result: Any) -> Any:
        """Audit ``result`` (a running query with a ``reader``) when its stream ends."""
        run = getattr(result, "run", None)
        query = getattr(result, "query", None)
        datasets = getattr(run, "inputs", None) or getattr(query, "datasets", None)
        self.entry.run_id = getattr(run, "id", None)
        self._fill(getattr(run, "sql", None), datasets)
        counted = _Counted(result.reader, self)
        result.reader = pa.RecordBatchReader.from_batches(result.reader.schema, counted)
        # A stream dropped before its end (or never read) is still audited, once.
        weakref.finalize(counted, self.abandon)
        result.audit = self
        return result

    def finish(self, outcome: Any) -> Any:
        """Audit a query run to its end at once (a write-back's ``RunOutcome``)."""
        run = outcome.run
        self.entry.run_id = run.id
        self._fill(run.sql, run.inputs)
        self._end(complete=True, rows=outcome.rows)
        return outcome

    def finish_each(self, outcomes: list[Any]) -> list[Any]:
        """Audit each of several runs (a rerun replays one run per contribution)."""
        for i, outcome in enumerate(outcomes):
            audit = self if i == 0 else self.again()
            audit.finish(outcome)
        return outcomes

    def again(self) -> Audit:
        e = self.entry
        return Audit(
            self.log,
            self.raw_sql,
            dialect=self.dialect,
            scenario=e.scenario,
            user=e.user,
            client=e.client,
            engine=e.engine,
        )

    # -- endings ---------------------------------------------------------------------------
    def completed(self) -> None:
        self._end(complete=True, rows=self.rows)

    def failed(self, exc: BaseException) -> None:
        if self.ended:
            return
        self.entry.decision = FAILED
        self.entry.reason = public_reason(exc, referenced(self.raw_sql, self.dialect)[1])
        self._end(complete=False, rows=self.rows)

    def abandon(
        self, reason: str = "The result was not read to its end.", rows: int | None = None
    ) -> None:
        """The reader stops before the end of the result; ``rows``: how many of the rows
        read were returned, when not all of them."""
        if self.ended:
            return
        self.entry.reason = reason
        try:
            self._end(complete=False, rows=self.rows if rows is None else rows)
        except Exception as exc:  # during collection there is nobody to raise to
            log.warning("guajie: could not audit query %s: %s", self.entry.id, exc)

    def _end(self, *, complete: bool, rows: int | None) -> None:
        if self.ended:
            return
        self.ended = True
        if not self.entry.sql:
            self._fill()
        self.entry.complete = complete
        self.entry.rows = rows
        self.entry.ended_at = stamp(now())
        self.log.append(self.entry)


class _Counted:
    """Batches of a result, counted; the audit entry is written when they run out."""

    def __init__(self, reader: pa.RecordBatchReader, audit: Audit) -> None:
        self.reader = reader
        self.audit = audit

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> pa.RecordBatch:
        try:
            batch = self.reader.read_next_batch()
        except StopIteration:
            self.audit.completed()
            raise
        except BaseException as exc:
            self.audit.failed(exc)
            raise
        self.audit.rows += batch.num_rows
        return batch


@contextmanager
def audited(
    session: Any,
    sql: str,
    *,
    dialect: str | None,
    scenario: str | None,
    user: str | None,
    engine: str,
) -> Iterator[Audit]:
    """Audit one query run through ``session``: a refusal or failure inside the block is
    recorded at once (and raised again); ``audit.track(result)`` or ``audit.finish(outcome)``
    records the rest."""
    from .recorder import current_user

    audit = Audit(
        AuditLog(session.catalog.store),
        sql,
        dialect=dialect or getattr(session, "dialect", None),
        scenario=scenario,
        user=user or current_user(),
        client=getattr(session, "client", "python"),
        engine=engine,
    )
    audit.catalog = getattr(session, "catalog", None)
    try:
        yield audit
    except BaseException as exc:
        try:
            audit.refuse(exc)
        except Exception as record_error:  # the refusal matters more than its record
            log.warning("guajie: could not audit query %s: %s", audit.entry.id, record_error)
        raise


def export_kind(path: Path, given: str | None) -> str:
    if given:
        return given
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("jsonl", "csv"):
        return suffix
    raise InvalidInputError(
        f"Cannot tell the export format of {path.name}.",
        "Name it .jsonl or .csv, or pass --format.",
    )
