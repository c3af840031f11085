"""Recording runs and writing results back into the pool (反哺).

Three entry points, composed over a session's unrecorded execution so that the planner and
executor stay pure of bookkeeping:

* :func:`execute` — run a query and stream the answer; the run is recorded when the stream
  ends (completed), fails (failed), or is closed or dropped before its end (aborted, the
  status OpenLineage calls ABORT).
* :func:`run_query` — the same, and with ``into=NAME`` the answer is written into the pool
  as dataset ``pool.default.NAME``, registered with its schema, column lineage, producing
  run, recipe and inherited sensitivity in the catalog transaction that completes the run.
* :func:`rerun` — rebuild a derived dataset from its recorded SQL: every contribution of a
  dataset built by appends is run again and the result is published once, atomically.

Every run sends OpenLineage START and COMPLETE/FAIL/ABORT events (when configured). A run
that fails leaves a failed run record and a FAIL event, and nothing else: no file in the
pool, no dataset, no lineage rows.

The session needs ``catalog`` and ``execute_unrecorded(sql, dialect=..., engine=...)``
(else ``execute(sql, dialect=...)`` is used), returning an object with ``reader`` and what
was read per source: a :class:`guajie.federation.QueryResult` (``stats.by_source(plan)``)
or a :class:`guajie.federation.trino.TrinoResult` (``by_source()``, from Trino's own query
statistics). The engine named in the run record is the ``engine`` argument, else the
session's ``engine`` attribute, else ``embedded``.

>>> import guajie  # doctest: +SKIP
>>> from guajie.lineage.recorder import run_query  # doctest: +SKIP
>>> outcome = run_query(guajie.connect(), "SELECT ...", into="eligible", mode="replace",
...                     scenario="policy_direct")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import re
import weakref
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

    def __init__(self, reader: pa.RecordBatchReader, result: Any, run: Run) -> None:
        self.reader = reader
        self.result = result  # the engine's own result (QueryResult or TrinoResult)
        self.stats = getattr(result, "stats", None)
        self.plan = getattr(result, "plan", None)
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
    engine: str | None = None,
) -> RecordedResult:
    """Run ``sql`` and stream its answer; the run record completes with the stream.

    A stream closed, or dropped by its reader, before its end is recorded as aborted —
    also when not one batch was read.
    """
    ctx = _Context.begin(session, sql, dialect=dialect, scenario=scenario, user=user, engine=engine)
    try:
        result = ctx.execute(sql)
    except BaseException as exc:
        ctx.fail(exc, None)
        raise
    reader = result.reader
    progress = {"rows": 0}

    def batches() -> Iterator[pa.RecordBatch]:
        finished = False
        try:
            for batch in reader:
                progress["rows"] += batch.num_rows
                yield batch
            finished = True
        except GeneratorExit:
            ctx.abort(result, progress["rows"])
            raise
        except BaseException as exc:
            ctx.fail(exc, result)
            raise
        if finished:
            ctx.run.row_count = progress["rows"]
            try:
                ctx.complete(result)
            except BaseException as exc:
                ctx.fail(exc, result)
                raise

    stream = batches()
    # A generator never started gets no GeneratorExit: when the reader lets go of it unread
    # (closed, or garbage-collected), this ends the run. It holds the run, not the stream.
    weakref.finalize(stream, _abandoned, ctx, result, progress)
    wrapped = pa.RecordBatchReader.from_batches(reader.schema, stream)
    return RecordedResult(wrapped, result, ctx.run)


def _abandoned(ctx: _Context, result: Any, progress: dict[str, int]) -> None:
    if ctx.ended:
        return
    with contextlib.suppress(Exception):
        close = getattr(result, "close", None)
        if close is not None:
            close()  # stop the engine's work (a Trino query is cancelled)
        else:
            result.reader.close()
    ctx.abort(result, progress["rows"])


def run_query(
    session: Engine,
    sql: str,
    *,
    into: str | None = None,
    mode: str = FAIL,
    scenario: str | None = None,
    user: str | None = None,
    dialect: str | None = None,
    engine: str | None = None,
) -> RunOutcome:
    """Run ``sql`` to the end; with ``into``, write the answer back into the pool.

    ``mode`` says what to do when dataset ``pool.default.<into>`` exists: ``fail`` (the
    default: a clear error), ``replace`` or ``append`` (columns must match).
    """
    if mode not in MODES:
        raise InvalidInputError(f"Unknown write mode {mode!r}.", f"Use one of: {', '.join(MODES)}.")
    if into is None:
        recorded = execute(
            session, sql, dialect=dialect, scenario=scenario, user=user, engine=engine
        )
        recorded.read_all()
        return RunOutcome(run=recorded.run, lineage=None)
    step = _Step(sql, dialect, scenario)
    return _write_back(session, target_name(into), [step], mode=mode, user=user, engine=engine)[0]


def rerun(
    session: Engine, dataset: str, *, user: str | None = None, engine: str | None = None
) -> list[RunOutcome]:
    """Rebuild a dataset written back into the pool from its recorded SQL.

    The runs whose rows it holds (its contributions: the write that created or last
    replaced it, then each append) are run again in order, each as a new recorded run, and
    their rows replace the dataset in one publication: readers see the old version until
    the new one is complete, and a failure in any contribution leaves the dataset as it
    was (the contributions are recorded as failed). Lineage, run records and events are
    those of the same writes made one by one: the first replaces, the others append.
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
    steps = [_Step(c["sql"], c["dialect"], c["scenario"]) for c in recipe["contributions"]] or [
        _Step(recipe["sql"], recipe["dialect"], recipe["scenario"])
    ]
    return _write_back(session, name, steps, mode=REPLACE, user=user, engine=engine)


@dataclass(frozen=True)
class _Step:
    """One query whose answer goes into the dataset being written."""

    sql: str
    dialect: str | None
    scenario: str | None


@dataclass
class _Written:
    ctx: _Context
    written: Written
    result: Any


def _write_back(
    session: Engine,
    name: str,
    steps: list[_Step],
    *,
    mode: str,
    user: str | None,
    engine: str | None,
) -> list[RunOutcome]:
    """Run ``steps`` in order into pool dataset ``name`` and publish their rows at once.

    The first step's rows are written as ``mode`` says, the later ones' are added to them;
    several steps are only used to rebuild (``replace``).
    """
    assert steps and (len(steps) == 1 or mode == REPLACE)
    done: list[_Written] = []
    ctx: _Context | None = None  # the step running now, until its rows are written
    stage: Stage | None = None
    pool: Pool | None = None
    result: Any = None
    try:
        existing: Dataset | None = None
        for i, step in enumerate(steps):
            result = None
            ctx = _Context.begin(
                session,
                step.sql,
                dialect=step.dialect,
                scenario=step.scenario,
                user=user,
                output=name,
                mode=mode if i == 0 else APPEND,
                engine=engine,
            )
            if pool is None:
                pool = Pool.open(PoolConfig.of(ctx.catalog.workspace))
                existing = ctx.existing_output()
                if existing is not None and mode == FAIL:
                    raise _clash(existing.qualified_name)
                ctx.check_pool_source(pool)
                pool.check_writable(ctx.run.id)
                pool.sweep(name, ctx.live_runs())
            result = ctx.execute(step.sql)
            if stage is None:
                _check_schema(result.reader.schema, existing if mode == APPEND else None)
                stage = pool.stage(
                    ctx.run.id,
                    name,
                    append=mode == APPEND and existing is not None,
                    current=existing.location if existing is not None else None,
                )
                part = stage.part
            else:
                _check_same_columns(result.reader.schema, done[0].written, ctx, i + 1)
                part = f"{stage.part.rsplit('/', 1)[0]}/part-{ctx.run.id}.parquet"
            written = pool.write_part(part, result.reader)
            ctx.run.row_count = written.rows
            done.append(_Written(ctx, written, result))
            ctx = None
        assert pool is not None and stage is not None
        outcomes = _publish(done, pool, stage, requested=mode)
    except BaseException as exc:
        if stage is not None and pool is not None:
            pool.unpublish(stage)
            pool.abandon(stage)
        if ctx is not None:
            ctx.fail(exc, result)
        stopped_early = len(done) < len(steps)
        for w in done:
            w.ctx.fail(_not_published(exc) if stopped_early else exc, w.result)
        raise
    pool.retire(stage, done[0].ctx.live_runs())
    return outcomes


def _not_published(exc: BaseException) -> GuajieError:
    return GuajieError(
        "Not published: the rebuild stopped at a later contribution, which failed: "
        + _describe(exc)
    )


def _check_same_columns(schema: pa.Schema, first: Written, ctx: _Context, number: int) -> None:
    _check_schema(schema, None)
    assert first.schema is not None
    have = [(f.name, _type_name(f.type)) for f in first.schema]
    new = [(f.name, _type_name(f.type)) for f in schema]
    if have != new:
        raise InvalidInputError(
            f"Cannot rebuild {ctx.run.output_dataset}: contribution {number} now returns "
            f"{_columns_text(new)} but the first returns {_columns_text(have)}; nothing was "
            "written.",
            "Rebuild it by hand: run the first query with --into NAME --replace, then the "
            "others with --append.",
        )


def _publish(done: list[_Written], pool: Pool, stage: Stage, *, requested: str) -> list[RunOutcome]:
    """Register the output and complete every run of ``done`` in one catalog transaction."""
    first = done[0].ctx
    target = first.run.output_dataset
    assert target is not None
    for i, w in enumerate(done):
        w.ctx.run.fetched = _fetched(w.result)
        w.ctx.run.status, w.ctx.run.ended_at = COMPLETED, now()
        w.ctx.run.mode = stage.mode if i == 0 else APPEND  # what was done: replace | append
    outputs: list[Output] = []
    with first.catalog.store.write() as txn:
        existing = txn.get_dataset(target)
        if existing is not None and requested == FAIL:
            first.run.mode = requested
            raise _clash(target)
        if existing is None and stage.mode == APPEND:
            raise ConflictError(
                f"{target} was removed while this run appended to it; nothing was written.",
                "Run the query again.",
            )
        source = _pool_source(txn, pool)
        if txn.get_source(POOL_SOURCE) is None:
            txn.put_source(source)
        dataset = existing
        for i, w in enumerate(done):
            run = w.ctx.run
            inputs = {q: d for q in run.inputs if (d := txn.get_dataset(q)) is not None}
            appending = dataset is not None and (i > 0 or stage.mode == APPEND)
            dataset = _output_dataset(
                dataset,
                target,
                w.written,
                w.ctx.lineage,
                run,
                inputs,
                appending,
                stage.location,
                source,
            )
            outputs.append(
                Output(
                    dataset=target,
                    mode=run.mode or REPLACE,
                    row_count=w.written.rows,
                    size_bytes=w.written.size_bytes,
                    location=stage.location,
                )
            )
        assert dataset is not None
        txn.put_dataset(dataset)
        ended = done[-1].ctx.run.ended_at
        if existing is None or existing.fingerprint != dataset.fingerprint:
            txn.add_schema_versions([dataset], ended)
        if existing is not None and existing.fingerprint != dataset.fingerprint:
            changes = column_changes(target, existing.columns, dataset.columns, ended)
            txn.add_drift(POOL_SOURCE, changes)
        for w, output in zip(done, outputs, strict=True):
            RunTables(txn).record_completion(w.ctx.run, w.ctx.lineage, output)
        pool.publish(stage)  # last, so that only the commit follows it
    outcomes = []
    for i, w in enumerate(done):
        ctx = w.ctx
        ctx.ended = True
        created = existing is None and i == 0
        if ctx.emitter.enabled:
            ctx.builder.datasets[target] = dataset
        ctx.emit_event(
            output=dataset,
            output_location=stage.location,
            output_stats=(w.written.rows, w.written.size_bytes),
            created=created,
        )
        outcomes.append(
            RunOutcome(
                run=ctx.run,
                dataset=dataset,
                created=created,
                location=stage.location,
                lineage=ctx.lineage,
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
    names: set[str] = field(default_factory=set)  # names kept in scrubbed error messages
    pool_url: str | None = None  # where a written-back output goes (for its events)
    ended: bool = False
    _builder: EventBuilder | None = None

    @property
    def builder(self) -> EventBuilder:
        """The run's OpenLineage event builder, made when the first event is sent: the
        catalog entries it describes are read only where events are configured."""
        if self._builder is None:
            with self.catalog.store.read() as txn:
                sources = {s.name: s for s in txn.list_sources()}
                datasets = {
                    q: d for q in self.lineage.inputs if (d := txn.get_dataset(q)) is not None
                }
            self._builder = EventBuilder(self.emitter.namespace, sources, datasets, self.pool_url)
        return self._builder

    def emit_event(self, **output: Any) -> None:
        self.emitter.emit(lambda: self.builder.event(self.run, self.lineage, **output))

    def execute(self, sql: str) -> Any:
        """Run the query through the session, without a run record of its own."""
        unrecorded = getattr(self.session, "execute_unrecorded", None)
        if unrecorded is not None:
            return unrecorded(
                sql, dialect=self.dialect, scenario=self.run.scenario, engine=self.run.engine
            )
        return self.session.execute(sql, dialect=self.dialect, scenario=self.run.scenario)

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
        engine: str | None = None,
    ) -> _Context:
        catalog = session.catalog
        dialect = dialect or getattr(session, "dialect", None) or "trino"
        # The planner's own front end, run once more: planning stays free of bookkeeping.
        view = LedgerView(catalog.store)
        lineage = analyze(sql, view, dialect=dialect)
        scenario = _scenario(scenario)
        from openlineage.client.uuid import generate_new_uuid

        output_name = f"{POOL_SOURCE}.{POOL_SCHEMA}.{output}" if output else None
        run = Run(
            id=str(generate_new_uuid()),
            job=scenario or output_name or f"query.{_digest(lineage.sql)}",
            sql=lineage.sql,
            dialect=dialect,
            engine=str(engine or getattr(session, "engine", None) or "embedded"),
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
        read = [t for q in lineage.inputs if (t := view.get(q)) is not None]
        names = set(view.source_kinds) | {t.qualified_name for t in read}
        names |= {t.name for t in read} | {c.name for t in read for c in t.columns}
        with catalog.store.write() as txn:
            RunTables(txn).insert_run(run)
        ctx = cls(session, catalog, dialect, run, lineage, emitter, names, pool_url)
        ctx.emit_event()
        return ctx

    # -- endings -------------------------------------------------------------------------
    def complete(self, result: Any) -> None:
        self.run.fetched = _fetched(result)
        self.run.status, self.run.ended_at = COMPLETED, now()
        with self.catalog.store.write() as txn:
            RunTables(txn).record_completion(self.run, self.lineage)
        self.ended = True
        self.emit_event()

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
        self.emit_event()

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


def _fetched(result: Any) -> dict[str, dict[str, int]]:
    """Rows (and bytes, where measured) read per source, as the engine reports them."""
    if result is None:
        return {}
    try:
        by_source = getattr(result, "by_source", None)
        if by_source is not None:  # Trino: from the query's own statistics
            return dict(by_source())
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
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # as getpass.getuser() looks
        if found := os.environ.get(name):
            return found
    return _account_name(os.getuid() if hasattr(os, "getuid") else -1)


@functools.lru_cache(maxsize=4)
def _account_name(uid: int) -> str:
    """The account's name: the password database is read once per process, not per run."""
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
    appending: bool,
    location: str,
    source: Source,
) -> Dataset:
    """The catalog record of a written-back dataset: facts from the write, steward
    decisions kept from before, sensitivity and grades inherited through lineage."""
    at = (run.ended_at or now()).replace(microsecond=0)
    assert written.schema is not None
    old_columns = {c.name: c for c in existing.columns} if existing else {}
    appending = appending and existing is not None
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
            if appending and old is not None and column.sensitivity is None and old.sensitivity:
                # The rows already there still hold what made the column personal.
                column.sensitivity = old.sensitivity
                column.sensitivity_source = old.sensitivity_source
                column.sensitivity_reason = old.sensitivity_reason
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
        location=location,
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
