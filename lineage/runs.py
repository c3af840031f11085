"""Run records and the lineage tables, written inside the catalog's own transactions.

Every statement here runs on the open transaction of :class:`guajie.catalog.store.Txn`, so a
run's completion, its lineage, the dataset it wrote and the pool source land together or
not at all. The tables (store schema version 2) are relational and indexed for what
governance asks: which runs read a dataset or a column, what derives from what, and usage
kept as running totals so that reports cost in proportion to datasets, not runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from guajie.catalog.store import Txn

from .columns import QueryLineage

RUNNING, COMPLETED, FAILED, ABORTED = "running", "completed", "failed", "aborted"
STATUSES = (RUNNING, COMPLETED, FAILED, ABORTED)
REPLACE, APPEND, FAIL = "replace", "append", "fail"
MODES = (REPLACE, APPEND, FAIL)

_RUN_COLUMNS = (
    "id, job, scenario, user_name, engine, sql, sql_hash, dialect, started_at, ended_at, "
    "status, error, row_count, output_dataset, mode, inputs, fetched"
)


def now() -> datetime:
    return datetime.now(UTC)


def stamp(at: datetime) -> str:
    """Stored timestamps: ISO 8601 in UTC with microseconds, so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def parse_stamp(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def sql_digest(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()[:16]


@dataclass
class Run:
    """One query run, as recorded."""

    id: str
    job: str
    sql: str
    dialect: str
    engine: str
    user: str
    started_at: datetime
    scenario: str | None = None
    status: str = RUNNING
    ended_at: datetime | None = None
    error: str | None = None
    row_count: int | None = None
    output_dataset: str | None = None
    mode: str | None = None
    inputs: list[str] = field(default_factory=list)
    fetched: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def sql_hash(self) -> str:
        return sql_digest(self.sql)

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["started_at"] = stamp(self.started_at)
        out["ended_at"] = stamp(self.ended_at) if self.ended_at else None
        out["seconds"] = round(self.seconds, 3) if self.seconds is not None else None
        return out

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.job,
            self.scenario,
            self.user,
            self.engine,
            self.sql,
            self.sql_hash,
            self.dialect,
            stamp(self.started_at),
            stamp(self.ended_at) if self.ended_at else None,
            self.status,
            self.error,
            self.row_count,
            self.output_dataset,
            self.mode,
            json.dumps(self.inputs, ensure_ascii=False),
            json.dumps(self.fetched, ensure_ascii=False) if self.fetched else None,
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Run:
        (
            rid,
            job,
            scenario,
            user,
            engine,
            sql,
            _hash,
            dialect,
            started,
            ended,
            status,
            error,
            rows,
            output,
            mode,
            inputs,
            fetched,
        ) = row
        return cls(
            id=rid,
            job=job,
            sql=sql,
            dialect=dialect,
            engine=engine,
            user=user,
            started_at=parse_stamp(started) or now(),
            scenario=scenario,
            status=status,
            ended_at=parse_stamp(ended),
            error=error,
            row_count=rows,
            output_dataset=output,
            mode=mode,
            inputs=json.loads(inputs) if inputs else [],
            fetched=json.loads(fetched) if fetched else {},
        )


@dataclass
class Output:
    """What a write-back put into the pool."""

    dataset: str
    mode: str  # replace | append (a first write is a replace)
    row_count: int
    size_bytes: int
    location: str


_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key)\b(\s*[=:]\s*)\S+"
)
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
_LONG_NUMBER = re.compile(r"\d{7,}")


def scrub_error(message: str, known: Iterable[str] = (), secrets: Iterable[str] = ()) -> str:
    """An error message fit for the run record: no secrets and no data values.

    Quoted text stays only when it is a name the catalog knows (a source, dataset or column);
    any other quoted value, long digit runs (identity numbers, phones, cards) and
    ``password=...`` style assignments are masked.

    >>> scrub_error("Source 'civil': bad value '350102199001011234' for column \\"id\\"", ["civil", "id"])
    'Source \\'civil\\': bad value \\'…\\' for column "id"'
    """
    names = {n.lower() for n in known}
    text = message
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _SECRET_ASSIGNMENT.sub(r"\1\2***", text)

    def quoted(m: re.Match[str]) -> str:
        inner = m.group(1) if m.group(1) is not None else m.group(2)
        mark = m.group(0)[0]
        if inner.lower() in names or inner.lower().strip("`") in names:
            return m.group(0)
        return f"{mark}…{mark}"

    text = _QUOTED.sub(quoted, text)
    return _LONG_NUMBER.sub("…", text)[:2000]


class RunTables:
    """The lineage tables, on one open catalog transaction."""

    def __init__(self, txn: Txn) -> None:
        self.db = txn.db

    # -- runs ----------------------------------------------------------------------------
    def insert_run(self, run: Run) -> None:
        marks = ", ".join("?" * 17)
        self.db.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({marks})", run.row())

    def update_run(self, run: Run) -> None:
        self.db.execute(
            "UPDATE runs SET ended_at = ?, status = ?, error = ?, row_count = ?, fetched = ?, "
            "output_dataset = ?, mode = ? WHERE id = ?",
            (
                stamp(run.ended_at) if run.ended_at else None,
                run.status,
                run.error,
                run.row_count,
                json.dumps(run.fetched, ensure_ascii=False) if run.fetched else None,
                run.output_dataset,
                run.mode,
                run.id,
            ),
        )

    def get_run(self, run_id: str) -> Run | None:
        rows = self.db.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,))
        return Run.from_row(rows[0]) if rows else None

    def list_runs(
        self,
        *,
        limit: int = 20,
        scenario: str | None = None,
        status: str | None = None,
        user: str | None = None,
        dataset: str | None = None,
        since: datetime | None = None,
    ) -> list[Run]:
        clauses: list[str] = []
        params: list[Any] = []
        if scenario is not None:
            clauses.append("scenario = ?")
            params.append(scenario)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if user is not None:
            clauses.append("user_name = ?")
            params.append(user)
        if since is not None:
            clauses.append("started_at >= ?")
            params.append(stamp(since))
        if dataset is not None:
            # Newest first from each index, so a dataset read by many runs costs no more.
            inner = "" if clauses else f" ORDER BY started_at DESC LIMIT {int(limit)}"
            clauses.append(
                "id IN (SELECT run_id FROM (SELECT run_id FROM run_inputs WHERE dataset = ?"
                f"{inner}) AS read_it UNION SELECT id FROM (SELECT id FROM runs "
                f"WHERE output_dataset = ?{inner}) AS wrote_it)"
            )
            params.extend([dataset, dataset])
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.db.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs{where} ORDER BY started_at DESC LIMIT ?",
            (*params, int(limit)),
        )
        return [Run.from_row(r) for r in rows]

    # -- completion ----------------------------------------------------------------------
    def record_completion(
        self, run: Run, lineage: QueryLineage | None, output: Output | None = None
    ) -> None:
        """Mark ``run`` completed with what it read and wrote, and the lineage of its output."""
        self.update_run(run)
        at = stamp(run.started_at)
        scenario = run.scenario or ""
        self.db.executemany(
            "INSERT INTO run_inputs (run_id, dataset, started_at) VALUES (?, ?, ?)",
            [(run.id, d, at) for d in run.inputs],
        )
        uses = lineage.input_columns() if lineage else {}
        self.db.executemany(
            "INSERT INTO run_input_columns (run_id, dataset, column_name, how, exposed, "
            "started_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(run.id, ds, col, u.how, int(u.exposed), at) for (ds, col), u in uses.items()],
        )
        ended = stamp(run.ended_at or now())
        self._count_usage(run.inputs, scenario, ended)
        self.db.executemany(
            "INSERT INTO column_usage (dataset, column_name, scenario, runs, exposed_runs, "
            "last_used) VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (dataset, column_name, scenario) "
            "DO UPDATE SET runs = column_usage.runs + 1, "
            "exposed_runs = column_usage.exposed_runs + excluded.exposed_runs, "
            "last_used = excluded.last_used",
            [(ds, col, scenario, int(u.exposed), ended) for (ds, col), u in uses.items()],
        )
        if output is not None and lineage is not None:
            self._record_output(run, lineage, output)

    def _count_usage(self, datasets: list[str], scenario: str, at: str) -> None:
        """Bump the running totals per dataset, per (dataset, scenario) and per scenario."""
        if not datasets:
            return
        marks = ", ".join("?" * len(datasets))
        seen = {
            r[0]
            for r in self.db.execute(
                f"SELECT dataset FROM dataset_usage WHERE scenario = ? AND dataset IN ({marks})",
                (scenario, *datasets),
            )
        }
        fresh = [d for d in datasets if d not in seen] if scenario else []
        self.db.executemany(
            "INSERT INTO dataset_usage (dataset, scenario, runs, first_used, last_used) "
            "VALUES (?, ?, 1, ?, ?) ON CONFLICT (dataset, scenario) DO UPDATE SET "
            "runs = dataset_usage.runs + 1, last_used = excluded.last_used",
            [(d, scenario, at, at) for d in datasets],
        )
        self.db.executemany(
            "INSERT INTO dataset_totals (dataset, runs, scenarios, first_used, last_used) "
            "VALUES (?, 1, ?, ?, ?) ON CONFLICT (dataset) DO UPDATE SET "
            "runs = dataset_totals.runs + 1, "
            "scenarios = dataset_totals.scenarios + excluded.scenarios, "
            "last_used = excluded.last_used",
            [(d, int(d in fresh), at, at) for d in datasets],
        )
        if scenario:
            self.db.execute(
                "INSERT INTO scenario_totals (scenario, runs, datasets, first_used, last_used) "
                "VALUES (?, 1, ?, ?, ?) ON CONFLICT (scenario) DO UPDATE SET "
                "runs = scenario_totals.runs + 1, "
                "datasets = scenario_totals.datasets + excluded.datasets, "
                "last_used = excluded.last_used",
                (scenario, len(fresh), at, at),
            )

    def _record_output(self, run: Run, lineage: QueryLineage, output: Output) -> None:
        target = output.dataset
        at = stamp(run.started_at)
        if output.mode == REPLACE:
            self.db.execute("UPDATE run_outputs SET is_current = 0 WHERE dataset = ?", (target,))
            self.db.execute("DELETE FROM column_lineage WHERE output_dataset = ?", (target,))
            self.db.execute("DELETE FROM dataset_lineage WHERE output_dataset = ?", (target,))
        self.db.execute(
            "INSERT INTO run_outputs (run_id, dataset, mode, row_count, size_bytes, location, "
            "is_current, started_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
            (run.id, target, output.mode, output.row_count, output.size_bytes, output.location, at),
        )
        rows = {
            (
                target,
                column or "",
                f.dataset,
                f.column,
                f.transformation.type,
                f.transformation.subtype,
                int(f.transformation.masking),
            )
            for column, f in lineage.fields()
        }
        self.db.executemany(
            "INSERT INTO column_lineage (output_dataset, output_column, input_dataset, "
            "input_column, type, subtype, masking, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(*r, run.id) for r in sorted(rows)],
        )
        known = {
            r[0]
            for r in self.db.execute(
                "SELECT input_dataset FROM dataset_lineage WHERE output_dataset = ?", (target,)
            )
        }
        self.db.executemany(
            "INSERT INTO dataset_lineage (input_dataset, output_dataset) VALUES (?, ?)",
            [(d, target) for d in sorted(set(run.inputs) - known)],
        )
        created = self.db.execute(
            "SELECT created_at FROM derived_datasets WHERE dataset = ?", (target,)
        )
        self.db.execute("DELETE FROM derived_datasets WHERE dataset = ?", (target,))
        self.db.execute(
            "INSERT INTO derived_datasets (dataset, run_id, scenario, sql, dialect, inputs, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                target,
                run.id,
                run.scenario,
                run.sql,
                run.dialect,
                json.dumps(run.inputs, ensure_ascii=False),
                created[0][0] if created else stamp(run.ended_at or now()),
                stamp(run.ended_at or now()),
            ),
        )

    def forget_dataset(self, dataset: str) -> None:
        """Drop the lineage of a dataset that no longer exists (its runs stay on record)."""
        self.db.execute("DELETE FROM column_lineage WHERE output_dataset = ?", (dataset,))
        self.db.execute("DELETE FROM dataset_lineage WHERE output_dataset = ?", (dataset,))
        self.db.execute("DELETE FROM derived_datasets WHERE dataset = ?", (dataset,))
        self.db.execute("UPDATE run_outputs SET is_current = 0 WHERE dataset = ?", (dataset,))

    # -- recipes -------------------------------------------------------------------------
    def recipe(self, dataset: str) -> dict[str, Any] | None:
        """How a derived dataset was made: its SQL, inputs, scenario and contributing runs."""
        rows = self.db.execute(
            "SELECT run_id, scenario, sql, dialect, inputs, created_at, updated_at "
            "FROM derived_datasets WHERE dataset = ?",
            (dataset,),
        )
        if not rows:
            return None
        run_id, scenario, sql, dialect, inputs, created, updated = rows[0]
        contributions = self.db.execute(
            "SELECT o.run_id, o.mode, o.row_count, r.sql, r.dialect, r.scenario, o.started_at "
            "FROM run_outputs o JOIN runs r ON r.id = o.run_id "
            "WHERE o.dataset = ? AND o.is_current = 1 ORDER BY o.started_at",
            (dataset,),
        )
        return {
            "dataset": dataset,
            "run_id": run_id,
            "scenario": scenario,
            "sql": sql,
            "dialect": dialect,
            "inputs": json.loads(inputs),
            "created_at": created,
            "updated_at": updated,
            "contributions": [
                {
                    "run_id": c[0],
                    "mode": c[1],
                    "rows": c[2],
                    "sql": c[3],
                    "dialect": c[4],
                    "scenario": c[5],
                    "started_at": c[6],
                }
                for c in contributions
            ],
        }

    def live_runs(self, within_hours: int = 24) -> set[str]:
        """Runs still marked running that started recently (an older one's process is gone)."""
        since = stamp(now() - timedelta(hours=within_hours))
        rows = self.db.execute(
            "SELECT id FROM runs WHERE status = ? AND started_at >= ?", (RUNNING, since)
        )
        return {r[0] for r in rows}

    def derived_datasets(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT dataset FROM derived_datasets ORDER BY 1")]
