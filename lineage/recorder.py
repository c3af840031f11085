"""Recording runs and writing results back into the pool (反哺).

Three entry points, composed over a session's unrecorded execution so that the planner and
executor stay pure of bookkeeping:

* :func:`execute` — run a query and stream the answer; the run is recorded when the stream
  ends (completed), fails (failed) or is closed early (aborted).
* :func:`run_query` — the same, and with ``into=NAME`` the answer is written into the pool
  as dataset ``pool.default.NAME``, registered with its schema, column lineage, producing
  run, recipe and inherited sensitivity in the catalog transaction that completes the run.
* :func:`rerun` — rebuild a derived dataset from its recorded SQL.

Every run sends OpenLineage START and COMPLETE/FAIL/ABORT events (when configured). A run
that fails leaves a failed run record and a FAIL event, and nothing else: no file in the
pool, no dataset, no lineage rows.

The session needs ``catalog`` and ``execute_unrecorded(sql, dialect=...)`` (else
``execute`` is used), returning an object with ``reader``, ``stats`` and ``plan`` (a
:class:`guajie.federation.QueryResult`). Its ``engine`` attribute, when present, names the
engine in the run record.

>>> import guajie  # doctest: +SKIP
>>> from guajie.lineage.recorder import run_query  # doctest: +SKIP
>>> outcome = run_query(guajie.connect(), "SELECT ...", into="eligible", mode="replace",
...                     scenario="policy_direct")  # doctest: +SKIP
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from guajie.catalog.drift import column_changes, fingerprint
from guajie.catalog.errors import ConflictError, GuajieError, InvalidInputError, NotFoundError
from guajie.catalog.ledger import Catalog
from guajie.catalog.models import (
    NAME_RE,
    Column,
    ColumnStats,
    Dataset,
    Grade,
    PIKind,
    Source,
    SourceKind,
    highest_grade,
    resource_code_for,
)
from guajie.catalog.store import Txn
from guajie.federation.catalog_view import LedgerView

from .columns import QueryLineage, analyze
from .events import Emitter, EventBuilder
from .pool import POOL_SCHEMA, POOL_SOURCE, Pool, PoolConfig, Stage, Written
from .runs import (
    ABORTED,
    APPEND,
    COMPLETED,
    FAIL,
    FAILED,
    MODES,
    REPLACE,
    RUNNING,
    Output,
    Run,
    RunTables,
    now,
    scrub_error,
)

#: The start of the reason recorded on a column whose sensitivity came through lineage.
INHERITED = "inherited through lineage from "


class Engine(Protocol):
    catalog: Catalog

    def execute(
        self, sql: str, *, dialect: str | None = None, scenario: str | None = None
    ) -> Any: ...


@dataclass
class RunOutcome:
    """What a recorded run did."""

    run: Run
    dataset: Dataset | None = None  # the dataset written back, as registered
    created: bool = False
    location: str | None = None
    lineage: QueryLineage | None = None

    @property
    def rows(self) -> int:
        return self.run.row_count or 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run": self.run.to_dict()}
        if self.dataset is not None:
            out["dataset"] = {
                "name": self.dataset.qualified_name,
                "created": self.created,
                "location": self.location,
                "rows": self.dataset.row_count,
                "size_bytes": self.dataset.size_bytes,
                "columns": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "sensitivity": c.sensitivity.value if c.sensitivity else None,
                    }
                    for c in self.dataset.columns
                ],
            }
        return out


class RecordedResult:
    """A running query whose answer streams from ``reader``; the run is recorded as it ends."""

    def __init__(self, reader: pa.RecordBatchReader, stats: Any, plan: Any, run: Run) -> None:
        self.reader = reader
        self.stats = stats
        self.plan = plan
        self.run = run

    @property
    def run_id(self) -> str:
        return self.run.id

    def read_all(self) -> pa.Table:
        return self.reader.read_all()

    def close(self) -> None:
        """Stop reading: a run not read to its end is recorded as aborted."""
        reader, self.reader = self.reader, _closed(self.reader.schema)
        reader.close()
        del reader  # the last reference: its stream ends here and records the run


def _closed(schema: pa.Schema) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(schema, iter(()))


# -- entry points ------------------------------------------------------------------------


def execute(
    session: Engine,
    sql: str,
    *,
    dialect: str | None = None,
    scenario: str | None = None,
    user: str | None = None,
) -> RecordedResult:
    """Run ``sql`` and stream its answer; the run record completes with the stream."""
    ctx = _Context.begin(session, sql, dialect=dialect, scenario=scenario, user=user)
    try:
        result = ctx.execute(sql)
    except BaseException as exc:
        ctx.fail(exc)
        raise
    reader = result.reader

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        finished = False
        try:
            for batch in reader:
                rows += batch.num_rows
                yield batch
            finished = True
        except GeneratorExit:
            ctx.abort(result, rows)
            raise
        except BaseException as exc:
            ctx.fail(exc, result)
            raise
        if finished:
            ctx.run.row_count = rows
            try:
                ctx.complete(result)
            except BaseException as exc:
                ctx.fail(exc, result)
                raise

    wrapped = pa.RecordBatchReader.from_batches(reader.schema, batches())
    return RecordedResult(wrapped, result.stats, result.plan, ctx.run)


def run_query(
    session: Engine,
    sql: str,
    *,
    into: str | None = None,
    mode: str = FAIL,
    scenario: str | None = None,
    user: str | None = None,
    dialect: str | None = None,
) -> RunOutcome:
    """Run ``sql`` to the end; with ``into``, write the answer back into the pool.

    ``mode`` says what to do when dataset ``pool.default.<into>`` exists: ``fail`` (the
    default: a clear error), ``replace`` or ``append`` (columns must match).
    """
    if mode not in MODES:
        raise InvalidInputError(f"Unknown write mode {mode!r}.", f"Use one of: {', '.join(MODES)}.")
    if into is None:
        recorded = execute(session, sql, dialect=dialect, scenario=scenario, user=user)
        recorded.read_all()
        return RunOutcome(run=recorded.run, lineage=None)
    name = target_name(into)
    ctx = _Context.begin(
        session, sql, dialect=dialect, scenario=scenario, user=user, output=name, mode=mode
    )
    stage: Stage | None = None
    pool: Pool | None = None
    result: Any = None
    try:
        pool = Pool.open(PoolConfig.of(ctx.catalog.workspace))
        existing = ctx.existing_output()
        if existing is not None and mode == FAIL:
            raise _clash(existing.qualified_name)
        ctx.check_pool_source(pool)
        pool.check_writable(ctx.run.id)
        pool.sweep(name, ctx.live_runs())
        result = ctx.execute(sql)
        _check_schema(result.reader.schema, existing if mode == APPEND else None)
        stage = pool.stage(
            ctx.run.id,
            name,
            append=mode == APPEND and existing is not None,
            current=existing.location if existing is not None else None,
        )
        written = pool.write_part(stage.part, result.reader)
        ctx.run.row_count = written.rows
        outcome = ctx.publish(pool, stage, written, result)
    except BaseException as exc:
        if stage is not None and pool is not None:
            pool.unpublish(stage)
            pool.abandon(stage)
        ctx.fail(exc, result)
        raise
    pool.retire(stage, ctx.live_runs())
    return outcome


def rerun(session: Engine, dataset: str, *, user: str | None = None) -> list[RunOutcome]:
    """Rebuild a dataset written back into the pool from its recorded SQL.

    The runs whose rows it holds are replayed in order (the first replaces, later ones
    append), each as a new recorded run.
    """
    catalog = session.catalog
    qualified = _pool_qualified(dataset)
    with catalog.store.read() as txn:
        recipe = RunTables(txn).recipe(qualified)
    if recipe is None:
        raise NotFoundError(
            f"{qualified} was not written back by a guajie run, so there is nothing to rerun.",
            "List derived datasets with `guajie lineage usage` or `guajie lineage runs`.",
        )
    name = qualified.rsplit(".", 1)[-1]
    steps = recipe["contributions"] or [
        {"sql": recipe["sql"], "dialect": recipe["dialect"], "scenario": recipe["scenario"]}
    ]
    outcomes = []
    for i, step in enumerate(steps):
        outcomes.append(
            run_query(
                session,
                step["sql"],
                into=name,
                mode=REPLACE if i == 0 else APPEND,
                scenario=step["scenario"],
                user=user,
                dialect=step["dialect"],
            )
        )
    return outcomes


def target_name(into: str) -> str:
    """The dataset name in the pool for ``--into`` (``NAME``, ``pool.NAME`` or the full name)."""
    parts = into.strip().split(".")
    if len(parts) == 3 and parts[:2] == [POOL_SOURCE, POOL_SCHEMA]:
        parts = parts[2:]
    elif len(parts) == 2 and parts[0] == POOL_SOURCE:
        parts = parts[1:]
    name = parts[0] if len(parts) == 1 else ""
    if not NAME_RE.match(name):
        raise InvalidInputError(
            f"{into!r} cannot name a dataset in the pool.",
            "Use a lowercase name of letters, digits and _ starting with a letter, e.g. "
            "--into eligible_enterprises (it becomes pool.default.eligible_enterprises).",
        )
    return name


# -- one run -----------------------------------------------------------------------------


@dataclass
class _Context:
    session: Engine
    catalog: Catalog
    dialect: str
    run: Run
    lineage: QueryLineage
    emitter: Emitter
    builder: EventBuilder
    names: set[str] = field(default_factory=set)  # names kept in scrubbed error messages
    ended: bool = False

    def execute(self, sql: str) -> Any:
        """Run the query through the session, without a run record of its own."""
        run = getattr(self.session, "execute_unrecorded", None) or self.session.execute
        return run(sql, dialect=self.dialect, scenario=self.run.scenario)

    @classmethod
    def begin(
        cls,
        session: Engine,
        sql: str,
        *,
        dialect: str | None,
        scenario: str | None,
        user: str | None,
        output: str | None = None,
        mode: str | None = None,
    ) -> _Context:
        catalog = session.catalog
        dialect = dialect or getattr(session, "dialect", None) or "trino"
        # The planner's own front end, run once more: planning stays free of bookkeeping.
        lineage = analyze(sql, LedgerView(catalog.store), dialect=dialect)
        scenario = _scenario(scenario)
        with catalog.store.read() as txn:
            sources = {s.name: s for s in txn.list_sources()}
            datasets = {q: d for q in lineage.inputs if (d := txn.get_dataset(q)) is not None}
        from openlineage.client.uuid import generate_new_uuid

        output_name = f"{POOL_SOURCE}.{POOL_SCHEMA}.{output}" if output else None
        run = Run(
            id=str(generate_new_uuid()),
            job=scenario or output_name or f"query.{_digest(lineage.sql)}",
            sql=lineage.sql,
            dialect=dialect,
            engine=str(getattr(session, "engine", None) or "embedded"),
            user=user or current_user(),
            started_at=now(),
            scenario=scenario,
            output_dataset=output_name,
            mode=mode,
            inputs=lineage.inputs,
        )
        emitter = Emitter.of(catalog.workspace)
        emitter.prepare()  # bad settings are refused before anything is recorded
        try:
            pool_url = PoolConfig.of(catalog.workspace).url if output else None
        except GuajieError:
            pool_url = None  # reported when the run opens the pool
        builder = EventBuilder(emitter.namespace, sources, datasets, pool_url)
        names = set(sources) | set(datasets)
        names |= {d.name for d in datasets.values()}
        names |= {c.name for d in datasets.values() for c in d.columns}
        with catalog.store.write() as txn:
            RunTables(txn).insert_run(run)
        ctx = cls(session, catalog, dialect, run, lineage, emitter, builder, names)
        ctx.emitter.emit(builder.event(run, lineage))
        return ctx

    # -- endings -------------------------------------------------------------------------
    def complete(self, result: Any) -> None:
        self.run.fetched = _fetched(result)
        self.run.status, self.run.ended_at = COMPLETED, now()
        with self.catalog.store.write() as txn:
            RunTables(txn).record_completion(self.run, self.lineage)
        self.ended = True
        self.emitter.emit(self.builder.event(self.run, self.lineage))

    def fail(self, exc: BaseException, result: Any = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.run.status, self.run.ended_at = FAILED, now()
        self.run.fetched = _fetched(result)
        self.run.error = scrub_error(_describe(exc), self.names)
        self._finish()

    def abort(self, result: Any, rows: int) -> None:
        if self.ended:
            return
        self.ended = True
        self.run.status, self.run.ended_at = ABORTED, now()
        self.run.fetched = _fetched(result)
        self.run.row_count = rows
        self.run.error = "The reader was closed before the end of the result."
        self._finish()

    def _finish(self) -> None:
        try:
            with self.catalog.store.write() as txn:
                RunTables(txn).update_run(self.run)
        except Exception as exc:  # the original failure matters more than its record
            from .events import log

            log.warning("guajie: could not record the end of run %s: %s", self.run.id, exc)
        self.emitter.emit(self.builder.event(self.run, self.lineage))

    # -- write-back ----------------------------------------------------------------------
    def existing_output(self) -> Dataset | None:
        assert self.run.output_dataset is not None
        with self.catalog.store.read() as txn:
            return txn.get_dataset(self.run.output_dataset)

    def live_runs(self) -> set[str]:
        """Runs that may still be writing: their staged files must be left alone."""
        with self.catalog.store.read() as txn:
            return RunTables(txn).live_runs()

    def check_pool_source(self, pool: Pool) -> None:
        with self.catalog.store.read() as txn:
            _pool_source(txn, pool)

    def publish(self, pool: Pool, stage: Stage, written: Written, result: Any) -> RunOutcome:
        """Register the output and complete the run in one catalog transaction."""
        self.run.fetched = _fetched(result)
        self.run.status, self.run.ended_at = COMPLETED, now()
        requested, self.run.mode = self.run.mode, stage.mode  # what was done: replace | append
        target = self.run.output_dataset
        assert target is not None
        with self.catalog.store.write() as txn:
            existing = txn.get_dataset(target)
            if existing is not None and requested == FAIL:
                self.run.mode = requested
                raise _clash(target)
            if existing is None and stage.mode == "append":
                raise ConflictError(
                    f"{target} was removed while this run appended to it; nothing was written.",
                    "Run the query again.",
                )
            source = _pool_source(txn, pool)
            if txn.get_source(POOL_SOURCE) is None:
                txn.put_source(source)
            inputs = {q: d for q in self.run.inputs if (d := txn.get_dataset(q)) is not None}
            dataset = _output_dataset(
                existing, target, written, self.lineage, self.run, inputs, stage, source
            )
            txn.put_dataset(dataset)
            if existing is None or existing.fingerprint != dataset.fingerprint:
                txn.add_schema_versions([dataset], self.run.ended_at)
            if existing is not None and existing.fingerprint != dataset.fingerprint:
                changes = column_changes(
                    target, existing.columns, dataset.columns, self.run.ended_at
                )
                txn.add_drift(POOL_SOURCE, changes)
            output = Output(
                dataset=target,
                mode=stage.mode,
                row_count=written.rows,
                size_bytes=written.size_bytes,
                location=stage.location,
            )
            RunTables(txn).record_completion(self.run, self.lineage, output)
            pool.publish(stage)  # last, so that only the commit follows it
        self.ended = True
        self.builder.datasets[target] = dataset
        self.emitter.emit(
            self.builder.event(
                self.run,
                self.lineage,
                output=dataset,
                output_location=stage.location,
                output_stats=(written.rows, written.size_bytes),
                created=existing is None,
            )
        )
        return RunOutcome(
            run=self.run,
            dataset=dataset,
            created=existing is None,
            location=stage.location,
            lineage=self.lineage,
        )


def _fetched(result: Any) -> dict[str, dict[str, int]]:
    if result is None:
        return {}
    try:
        return dict(result.stats.by_source(result.plan))
    except Exception:
        return {}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, GuajieError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _digest(sql: str) -> str:
    from .runs import sql_digest

    return sql_digest(sql)[:12]


def _scenario(scenario: str | None) -> str | None:
    if scenario is None:
        return None
    text = scenario.strip()
    if not text or len(text) > 200:
        raise InvalidInputError(
            "A scenario name must be 1 to 200 characters.", "E.g. --scenario policy_direct."
        )
    return text


def current_user() -> str:
    """Who runs this: $GUAJIE_USER, else the operating-system user."""
    configured = os.environ.get("GUAJIE_USER")
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _clash(qualified: str) -> ConflictError:
    return ConflictError(
        f"A dataset named {qualified} already exists in the pool; nothing was written.",
        "Add --replace to overwrite it or --append to add these rows to it "
        "(mode='replace' or mode='append' from Python), or choose another name.",
    )


def _pool_qualified(name: str) -> str:
    return f"{POOL_SOURCE}.{POOL_SCHEMA}.{target_name(name)}"


def _pool_source(txn: Txn, pool: Pool) -> Source:
    """The ``pool`` source as registered, or as it will be; refuse a clashing one."""
    source = txn.get_source(POOL_SOURCE)
    if source is None:
        return Source(
            name=POOL_SOURCE,
            kind=SourceKind.FILE,
            url=pool.url,
            options=dict(pool.config.options),
            department="数据共享交换平台",
            description="Scenario results written back into the shared pool (反哺).",
            created_at=now().replace(microsecond=0),
            updated_at=now().replace(microsecond=0),
        )
    if source.kind != SourceKind.FILE or source.url.rstrip("/") != pool.url.rstrip("/"):
        raise ConflictError(
            f"The source named '{POOL_SOURCE}' is registered at {source.url}, but guajie.yaml "
            f"puts the pool at {pool.url}; nothing was written.",
            "Make them agree: fix `pool:` in guajie.yaml, or remove the source with "
            f"`guajie source remove {POOL_SOURCE}` so it is registered again.",
        )
    return source


def _check_schema(schema: pa.Schema, existing: Dataset | None) -> None:
    names = [f.name for f in schema]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInputError(
            f"The result has more than one column named {', '.join(twice)}; a dataset needs "
            "distinct column names.",
            "Give the columns distinct aliases (SELECT a.id AS a_id, b.id AS b_id ...).",
        )
    if existing is None:
        return
    have = [(c.name, c.type) for c in existing.columns]
    new = [(f.name, _type_name(f.type)) for f in schema]
    if have != new:
        raise InvalidInputError(
            f"Cannot append to {existing.qualified_name}: its columns are "
            f"{_columns_text(have)} but the result has {_columns_text(new)}; nothing was written.",
            "Select the same columns in the same order with the same types, or use --replace.",
        )


def _columns_text(columns: list[tuple[str, str]]) -> str:
    return "(" + ", ".join(f"{n} {t}" for n, t in columns) + ")"


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return str(t)


def _output_dataset(
    existing: Dataset | None,
    qualified: str,
    written: Written,
    lineage: QueryLineage,
    run: Run,
    inputs: dict[str, Dataset],
    stage: Stage,
    source: Source,
) -> Dataset:
    """The catalog record of a written-back dataset: facts from the write, steward
    decisions kept from before, sensitivity and grades inherited through lineage."""
    at = (run.ended_at or now()).replace(microsecond=0)
    assert written.schema is not None
    old_columns = {c.name: c for c in existing.columns} if existing else {}
    appending = stage.mode == "append" and existing is not None
    columns: list[Column] = []
    for f in written.schema:
        old = old_columns.get(f.name)
        stats = written.stats.get(f.name) or ColumnStats()
        if appending and old is not None:
            stats = _merged_stats(old.stats, existing.row_count, stats, written.rows)  # type: ignore[union-attr]
        column = Column(
            name=f.name,
            type=_type_name(f.type),
            nullable=f.nullable,
            description=old.description if old else None,
            grade=old.grade if old and old.grade else _inherited_grade(lineage, f.name, inputs),
            stats=stats,
        )
        if (
            old is not None
            and old.sensitivity_source == "steward"
            and not (old.sensitivity_reason or "").startswith(INHERITED)
        ):
            column.sensitivity = old.sensitivity
            column.sensitivity_source = "steward"
            column.sensitivity_reason = old.sensitivity_reason
        else:
            _inherit_sensitivity(column, lineage, inputs)
        columns.append(column)
    base: dict[str, Any] = (
        existing.model_dump(by_alias=True)
        if existing
        else {
            "source": POOL_SOURCE,
            "schema": POOL_SCHEMA,
            "name": qualified.rsplit(".", 1)[-1],
            "resource_code": resource_code_for(qualified, source.department_code),
            "title": qualified.rsplit(".", 1)[-1],
            "published_at": at,
            "tags": ["derived"],
        }
    )
    described = f"Written back by {'scenario ' + run.scenario if run.scenario else 'a query'} from "
    described += ", ".join(run.inputs) + "."
    if not base.get("description") or str(base.get("description")).startswith("Written back by"):
        base["description"] = described
    rows = written.rows + ((existing.row_count or 0) if appending and existing else 0)
    size = written.size_bytes + ((existing.size_bytes or 0) if appending and existing else 0)
    base.update(
        kind="files",
        format="Parquet",
        location=stage.location,
        row_count=rows,
        size_bytes=size,
        last_modified=at,
        crawled_at=None,
        fingerprint=fingerprint(columns),
        partitioning=[],
        columns=columns,
    )
    return Dataset.model_validate(base)


def _inherit_sensitivity(column: Column, lineage: QueryLineage, inputs: dict[str, Dataset]) -> None:
    """Mark ``column`` with the personal-information kind of what its values come from.

    Copies, transformations (a hash is still a pseudonym) and value-preserving aggregates
    (MIN, MAX, ...) carry it; COUNT, SUM, AVG and indirect uses do not. The record keeps the
    origin's review state: a steward-confirmed kind stays confirmed, a detector suggestion
    stays a suggestion for the steward to confirm.
    """
    found: list[tuple[str, Column, str]] = []
    for f in lineage.sources_of(column.name):
        if not f.transformation.carries_values:
            continue
        origin = inputs.get(f.dataset)
        source_column = origin.column(f.column) if origin else None
        if source_column is not None and source_column.sensitivity is not None:
            found.append((f"{f.dataset}.{f.column}", source_column, f.transformation.subtype))
    if not found:
        return
    order = list(PIKind)
    found.sort(key=lambda x: (x[1].sensitivity_source != "steward", order.index(x[1].sensitivity)))  # type: ignore[arg-type]
    column.sensitivity = found[0][1].sensitivity
    column.sensitivity_source = (
        "steward" if found[0][1].sensitivity_source == "steward" else "suggested"
    )
    column.sensitivity_reason = INHERITED + "; ".join(
        f"{name} ({subtype.lower()})" for name, _, subtype in found
    )


def _inherited_grade(
    lineage: QueryLineage, column: str, inputs: dict[str, Dataset]
) -> Grade | None:
    grades: list[Grade | None] = []
    for f in lineage.sources_of(column):
        if f.transformation.carries_values and (origin := inputs.get(f.dataset)):
            source_column = origin.column(f.column)
            grades.append(source_column.grade if source_column else None)
    return highest_grade(grades)


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _merged_stats(
    old: ColumnStats | None, old_rows: int | None, new: ColumnStats, new_rows: int
) -> ColumnStats:
    if old is None or old_rows is None:
        return ColumnStats()
    total = old_rows + new_rows
    fraction = None
    if old.null_fraction is not None and new.null_fraction is not None and total:
        fraction = round((old.null_fraction * old_rows + new.null_fraction * new_rows) / total, 6)

    def pick(a: str | None, b: str | None, lowest: bool) -> str | None:
        if a is None or b is None:
            return a if b is None else b
        key: Any = float if _NUMBER.match(a) and _NUMBER.match(b) else str
        return min(a, b, key=key) if lowest else max(a, b, key=key)

    return ColumnStats(
        null_fraction=fraction, min=pick(old.min, new.min, True), max=pick(old.max, new.max, False)
    )


__all__ = [
    "INHERITED",
    "RUNNING",
    "RecordedResult",
    "RunOutcome",
    "current_user",
    "execute",
    "rerun",
    "run_query",
    "target_name",
]
