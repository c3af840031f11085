"""Running a plan: fetch fragments concurrently as Arrow, then the residual in DuckDB.

Fragments without dynamic filters are fetched first, in parallel; fragments that wait on a
smaller side's keys follow, restricted to those keys. The residual runs in an in-process
DuckDB over the fetched Arrow tables (zero copy) and streams its result.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from guajie.catalog.connectors import Connector
from guajie.catalog.connectors.base import PACKED_KEY
from guajie.catalog.errors import GuajieError, redact, scrub_values, without_values

from .adaptive import CHOICES, PlanChoices
from .dialects import PostgresDialect
from .errors import ExecutionError
from .parquet_views import ParquetView, parquet_view, record_scans, with_key_filters
from .plan import DynamicFilter, Fragment, FragmentStats, Plan, RunStats
from .scan_filters import to_arrow_expression

ConnectorFactory = Callable[[str], Connector]

IN_LIST_MAX_KEYS = 5_000  # beyond this PostgreSQL gets integer keys as an array
MAX_LIST_KEYS = 100_000  # beyond this a SQL source gets a key range instead
ARRAY_MAX_SHARE = PostgresDialect.max_key_share or 1.0
FILE_IN_MAX_KEYS = 1_000_000
# A sliced fragment whose sliced table gets keys for at most this share of its rows is
# fetched whole: the source finds so few keys faster through an index than by scanning.
SLICE_MAX_KEY_SHARE = 0.05
BATCH_ROWS = 65_536
STREAM_MIN_ROWS = 500_000  # fragments expected smaller are read whole before the residual


@dataclass
class QueryResult:
    reader: pa.RecordBatchReader
    stats: RunStats
    plan: Plan

    def read_all(self) -> pa.Table:
        table = self.reader.read_all()
        self.stats.rows = table.num_rows
        return table


EARLY_VIEW_MAX_ROWS = 500_000  # estimated rows of a Parquet scan read early (see _run)


class Executor:
    def __init__(
        self,
        open_source: ConnectorFactory,
        *,
        max_workers: int = 4,
        timeout: float | None = None,
        local_threads: int | None = None,
        choices: PlanChoices = CHOICES,
    ) -> None:
        self.open_source = open_source
        self.max_workers = max_workers
        self.timeout = timeout
        self.local_threads = local_threads
        self.choices = choices

    def run(self, plan: Plan) -> QueryResult:
        """Run ``plan``, or its pulled alternative where runs measured that faster."""
        chosen = self.choices.choose(plan)

        def ran(seconds: float) -> None:
            self.choices.record(plan, chosen, seconds)

        return self._run(chosen, ran)

    def _run(self, plan: Plan, ran: Callable[[float], None]) -> QueryResult:
        started = time.perf_counter()
        stats = RunStats()
        if plan.residual is None:
            (fragment,) = plan.fragments
            stream = _Stream(self, fragment, {}, stats, self._deadline(started))
            try:
                reader = stream.reader()
            except BaseException:
                stream.cancel()
                raise
            reader = _finishing(reader, stats, started, stream.cancel, ran)
            return QueryResult(reader, stats, plan)
        views = self._parquet_views(plan)
        placed = _place(plan, views)
        tables: dict[str, Any] = self._fetch_all(
            placed.fetched, stats, views, dict(placed.in_place)
        )
        for fid, read in placed.shared.items():
            tables[fid] = tables[read].select(plan.fragment(fid).columns)
            stats.fragments[fid] = FragmentStats(same_rows_as=read)
        streams = [
            _Stream(self, f, tables, stats, self._deadline(started))
            for f in plan.fragments
            if f.id in placed.streamed
        ]
        try:
            for stream in streams:
                tables[stream.fragment.id] = stream.reader()
        except BaseException:
            for stream in streams:
                stream.cancel()
            raise
        local_started = time.perf_counter()
        reader = self._run_residual(plan, tables, streams, stats)
        stats.local_seconds = time.perf_counter() - local_started
        return QueryResult(_finishing(reader, stats, started, ran=ran), stats, plan)

    def _parquet_views(self, plan: Plan) -> dict[str, ParquetView]:
        """Scan fragments over local Parquet that the local engine reads in place."""
        from guajie.catalog.connectors.files import format_token

        views: dict[str, ParquetView] = {}
        for fragment in plan.fragments:
            if fragment.query is not None or format_token(fragment.format) != "parquet":
                continue
            connector = self.open_source(fragment.source)
            try:
                dataset = connector.dataset_for(  # type: ignore[attr-defined]
                    fragment.location, fragment.format or "", fragment.partitioning
                )
            finally:
                connector.close()
            expected = {c: _arrow_type(t) for c, t in fragment.output_types.items()}
            view = parquet_view(fragment, dataset, expected)
            if view is not None:
                views[fragment.id] = view
        return views

    def _deadline(self, started: float) -> float | None:
        return None if self.timeout is None else time.monotonic() + self.timeout

    # -- fragments ---------------------------------------------------------------------
    def _fetch_all(
        self,
        fragments: list[Fragment],
        stats: RunStats,
        views: dict[str, ParquetView],
        tables: dict[str, Any],
    ) -> dict[str, Any]:
        """Fetch ``fragments`` into ``tables`` (which holds the in-place views), each once
        the fragments it waits on are there."""
        pending = list(fragments)
        running: dict[Future[tuple[pa.Table, FragmentStats]], Fragment] = {}
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        pool = ThreadPoolExecutor(max_workers=self.max_workers)
        try:
            while pending or running:
                # Each fragment starts as soon as the fragments it waits on are there, not
                # when everything started before it has finished.
                ready = [
                    f
                    for f in pending
                    if all(d.from_fragment in tables for d in f.dynamic_filters)
                    and all(i in tables for i in f.inputs)
                ]
                if not ready and not running:  # a cycle cannot be planned, but never hang
                    ready = list(pending)
                pending = [f for f in pending if f not in ready]
                for fragment in ready:
                    future = pool.submit(
                        self._fetch, fragment, tables, views.get(fragment.id), stats
                    )
                    running[future] = fragment
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, _ = wait(running, timeout=remaining, return_when=FIRST_COMPLETED)
                if not done:
                    waiting = sorted({f.source for f in running.values()})
                    raise ExecutionError(
                        f"The query timed out after {self.timeout:g} s waiting for "
                        f"source(s) {', '.join(waiting)}.",
                        "Retry later, narrow the query, or raise the time limit.",
                    )
                for future in done:
                    fragment = running.pop(future)
                    if future.exception() is not None:
                        for other in running:
                            other.cancel()
                        raise _fragment_error(fragment, future.exception())
                    table, fstats = future.result()
                    tables[fragment.id] = table
                    stats.fragments[fragment.id] = fstats
        finally:
            # Never wait for a source that is still answering after a failure or a timeout.
            pool.shutdown(wait=False, cancel_futures=True)
        return tables

    def _fetch(
        self,
        fragment: Fragment,
        done: dict[str, pa.Table],
        view: ParquetView | None = None,
        stats: RunStats | None = None,
    ) -> tuple[pa.Table, FragmentStats]:
        started = time.perf_counter()
        fstats = FragmentStats(started=started - stats.began if stats is not None else 0.0)
        if view is not None:
            table, fstats.dynamic_filter_keys = _read_view(view, done)
            return _finish(table, fragment, fstats, started)
        if fragment.local_query is not None:
            scans = stats.fragments if stats is not None else {}
            return _finish(_compute_local(fragment, done, scans), fragment, fstats, started)
        connector = self.open_source(fragment.source)
        try:
            if (
                fragment.query is not None
                and fragment.parts > 1
                and not _looks_up(fragment, done)
                and connector.reads_in_slices()
            ):
                table, fstats.sql, fstats.dynamic_filter_keys, fstats.packed = self._fetch_slices(
                    connector, fragment, done
                )
                fstats.slices = fragment.parts
            elif fragment.query is not None:
                fstats.sql, fstats.dynamic_filter_keys = _filtered_sql(fragment, done)
                table = connector.fetch_table(fstats.sql or "", **_fetch_hints(fragment))
                fstats.packed = _was_packed(table)
            else:
                table, fstats.dynamic_filter_keys = self._scan(connector, fragment, done)
        finally:
            connector.close()
        table, fstats = _finish(table, fragment, fstats, started)
        if fragment.query is not None:
            self.choices.links.observe(fragment.source, fstats.bytes, fstats.seconds)
        return table, fstats

    def _fetch_slices(
        self, connector: Any, fragment: Fragment, done: dict[str, pa.Table]
    ) -> tuple[pa.Table, str | None, int | None, bool]:
        """A sliced fragment: every slice at once, one connection each, rows concatenated;
        and whether every slice came packed."""
        (whole, *sqls), keys = _filtered_sqls(fragment, done, [None, *range(fragment.parts)])

        hints = _fetch_hints(fragment, fragment.parts)
        packed: list[bool] = []

        def fetch(part: int) -> pa.Table:
            own = connector if part == 0 else self.open_source(fragment.source)
            try:
                table = own.fetch_table(sqls[part] or "", **hints)
            finally:
                if own is not connector:
                    own.close()
            packed.append(_was_packed(table))
            return conform(table, fragment.output_types)

        with ThreadPoolExecutor(max_workers=fragment.parts - 1) as pool:
            rest = [pool.submit(fetch, part) for part in range(1, fragment.parts)]
            first = fetch(0)
            tables = [first, *(f.result() for f in rest)]
        return pa.concat_tables(tables), whole, keys, all(packed)

    def _scan(
        self, connector: Any, fragment: Fragment, done: dict[str, pa.Table], stream: bool = False
    ) -> tuple[Any, int | None]:
        dataset = connector.dataset_for(
            fragment.location, fragment.format or "", fragment.partitioning
        )
        types = {f.name: f.type for f in dataset.schema}
        expression = to_arrow_expression(fragment.predicates, types)
        keys = None
        for d in fragment.dynamic_filters:
            values = _distinct_keys(done[d.from_fragment], d.from_column)
            if len(values) > FILE_IN_MAX_KEYS:
                continue
            keys = len(values)
            target_type = types.get(d.column)
            if target_type is not None and values.type != target_type:
                try:
                    values = values.cast(target_type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
            term = pc.field(d.column).isin(values)
            expression = term if expression is None else expression & term
        columns = fragment.columns
        if fragment.limit is not None:
            table = dataset.head(fragment.limit, columns=columns, filter=expression)
        elif stream and columns:
            return dataset.scanner(columns=columns, filter=expression).to_reader(), keys
        else:
            table = dataset.to_table(columns=columns, filter=expression)
        if not columns:
            table = pa.table({"__one": pa.nulls(table.num_rows, pa.int8())})
        return (table.to_reader() if stream else table), keys

    # -- local ---------------------------------------------------------------------------
    def _run_residual(
        self, plan: Plan, tables: dict[str, Any], streams: list[_Stream], stats: RunStats
    ) -> pa.RecordBatchReader:
        import duckdb

        con = local_connection(self.local_threads)
        views = _register(con, {f.relation: tables[f.id] for f in plan.fragments}, tables)
        sql = plan.residual_sql or ""

        def record() -> None:
            if not views:
                return
            try:
                profile = con.get_profiling_information(format="json")
            except duckdb.Error:
                return
            record_scans(profile, views, stats.fragments)

        def fail(exc: Exception) -> GuajieError:
            for stream in streams:
                stream.cancel()
            con.close()
            for stream in streams:  # a source that failed mid-stream is the real cause
                if stream.error is not None:
                    return scrub_values(stream.error)
            if "Division by zero" in str(exc):
                return ExecutionError(
                    "Division by zero: a divisor in the query is 0 in some row (Trino fails "
                    "such a query too).",
                    "Use TRY(x / y) or x / NULLIF(y, 0) where a NULL should stand for it.",
                )
            return ExecutionError(
                "The query failed while combining the sources' rows: "
                f"{without_values(_first_line(str(exc)))}",
                "Check the casts and functions the query applies; `guajie explain` shows "
                "what ran where.",
            )

        try:
            reader = con.sql(sql).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as exc:
            raise fail(exc) from None

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                while True:
                    try:
                        batch = reader.read_next_batch()
                    except StopIteration:
                        record()
                        return
                    except GuajieError:
                        raise
                    except Exception as exc:  # DuckDB surfaces some errors as OSError
                        raise fail(exc) from None
                    yield batch
            finally:
                for stream in streams:
                    stream.cancel()
                con.close()

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


_DATABASES: dict[int | None, Any] = {}
_DATABASES_LOCK = threading.Lock()


def local_connection(threads: int | None = None) -> Any:
    """A connection of its own to the process's local DuckDB database. Opening a database
    costs more than a small query does, and its caches (Parquet footers) serve the next
    query; views and registered tables stay private to the connection."""
    import duckdb

    with _DATABASES_LOCK:
        database = _DATABASES.get(threads)
        if database is None:
            database = duckdb.connect(config={"threads": threads} if threads else {})
            database.execute("SET GLOBAL parquet_metadata_cache = true")
            _DATABASES[threads] = database
        return database.cursor()


@dataclass
class _Placement:
    """Where each fragment's rows come from before the residual runs."""

    in_place: dict[str, ParquetView]  # Parquet the local query reads itself
    streamed: set[str]  # read by the local query as they arrive
    fetched: list[Fragment]  # read into Arrow first, each once its keys are there
    shared: dict[str, str]  # scans answered from another fetched scan's rows


def _place(plan: Plan, views: dict[str, ParquetView]) -> _Placement:
    # A view whose keys filter another fragment is read into Arrow first; the other
    # views stay in place, for the residual and for local fragments alike...
    key_sources = {d.from_fragment for f in plan.fragments for d in f.dynamic_filters}
    in_place = {fid: v for fid, v in views.items() if fid not in key_sources}
    streamed = _streamable(plan) - set(in_place)
    fetched = [f for f in plan.fragments if f.id not in streamed and f.id not in in_place]
    if fetched and all(_whole_table(f) for f in fetched):
        # ...except while sources send whole tables, whose keys could not narrow a scan:
        # a small filtered scan is then read alongside them instead of after them.
        for f in plan.fragments:
            if (
                f.id in in_place
                and not f.dynamic_filters
                and f.estimated_rows is not None
                and f.estimated_rows <= EARLY_VIEW_MAX_ROWS
            ):
                del in_place[f.id]
                fetched.append(f)
    shared = _shared_scans(plan, in_place)
    for fid in shared:
        del in_place[fid]
    for fid in sorted(set(shared.values())):
        del in_place[fid]
        fetched.append(plan.fragment(fid))
    return _Placement(in_place, streamed, fetched, shared)


def _shared_scans(plan: Plan, in_place: dict[str, ParquetView]) -> dict[str, str]:
    """Keyed Parquet scans that read the same rows (same files, filters and keys) as one
    with more columns: each is taken from that one's rows, read once into Arrow, rather
    than scanned again (Q17 reads lineitem for the parts kept twice)."""
    readers = {i for f in plan.fragments for i in f.inputs}
    groups: dict[tuple[object, ...], list[Fragment]] = {}
    for fid, view in in_place.items():
        f = view.fragment
        if not f.dynamic_filters or fid in readers:
            continue
        key = (
            tuple(view.files),
            tuple(sorted(p.sql() for p in [*f.predicates, *f.local_predicates])),
            f.limit,
            tuple((d.column, d.from_fragment, d.from_column) for d in f.dynamic_filters),
        )
        groups.setdefault(key, []).append(f)
    shared: dict[str, str] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        widest = max(group, key=lambda f: len(f.columns))
        for f in group:
            if f is not widest and set(f.columns) <= set(widest.columns):
                shared[f.id] = widest.id
    return shared


def _whole_table(fragment: Fragment) -> bool:
    """Whether a SQL fragment fetches a table as it is (columns aside)."""
    return (
        fragment.query is not None
        and not fragment.dynamic_filters
        and set(fragment.pushed) <= {"scan", "order"}
    )


def _was_packed(table: pa.Table) -> bool:
    return (table.schema.metadata or {}).get(PACKED_KEY) == b"1"


def _fetch_hints(fragment: Fragment, parts: int = 1) -> dict[str, Any]:
    """What a connector may use to fetch a whole fragment, or each of its ``parts``
    slices, its own way: the result's catalog types where it knows all of them, its NOT
    NULL columns, and the estimated rows."""
    assert fragment.query is not None
    names = [s.alias_or_name for s in fragment.query.selects]
    types = fragment.output_types
    rows = fragment.estimated_rows
    return {
        "types": {n: types[n] for n in names} if all(n in types for n in names) else None,
        "not_null": fragment.not_null,
        "expected_rows": None if rows is None else rows // parts,
        "sliced": parts > 1,
    }


def _finish(
    table: pa.Table, fragment: Fragment, fstats: FragmentStats, started: float
) -> tuple[pa.Table, FragmentStats]:
    table = conform(table, fragment.output_types)
    fstats.rows, fstats.bytes = table.num_rows, table.nbytes
    fstats.seconds = time.perf_counter() - started
    return table, fstats


def _register(con: Any, relations: dict[str, Any], done: dict[str, Any]) -> list[ParquetView]:
    """Make ``relations`` (name -> Arrow table, reader or Parquet view) readable by name on
    the local connection ``con``; the Parquet views read in place are returned, their scans
    profiled so that their rows can be counted (nothing is printed). A view keeps only the
    keys its dynamic filters take from the fragments in ``done``."""
    views: list[ParquetView] = []
    for name, relation in relations.items():
        if isinstance(relation, ParquetView):
            sql, _count = _keyed_view_sql(con, relation, done, name)
            con.execute(f'CREATE TEMP VIEW "{name}" AS {sql}')
            views.append(relation)
        else:
            con.register(name, relation)
    if views:
        con.execute("PRAGMA enable_profiling = 'no_output'")
    return views


def _compute_local(
    fragment: Fragment, done: dict[str, Any], scans: dict[str, FragmentStats]
) -> pa.Table:
    """A local fragment: DuckDB over the fragments it reads, before the residual. The rows
    it reads from Parquet in place count for their views in ``scans``."""
    import duckdb

    assert fragment.local_query is not None
    con = local_connection()
    try:
        views = _register(con, {f"__{fid}": done[fid] for fid in fragment.inputs}, done)
        table = con.sql(fragment.local_sql() or "").to_arrow_table()
        if views:
            with contextlib.suppress(duckdb.Error):
                record_scans(con.get_profiling_information(format="json"), views, scans)
        return table
    except duckdb.Error as exc:
        raise ExecutionError(
            f"The query failed while computing fragment {fragment.id} locally: "
            f"{_first_line(str(exc))}",
            "`guajie explain` shows what ran where.",
        ) from None
    finally:
        con.close()


def _read_view(view: ParquetView, done: dict[str, Any]) -> tuple[pa.Table, int | None]:
    """A local Parquet fragment whose rows another fragment waits on, read by DuckDB,
    restricted to the keys of the fragments it waits on in turn."""
    con = local_connection()
    try:
        sql, count = _keyed_view_sql(con, view, done, "__view")
        return con.sql(sql).to_arrow_table(), count
    finally:
        con.close()


def _keyed_view_sql(
    con: Any, view: ParquetView, done: dict[str, Any], name: str
) -> tuple[str, int | None]:
    """The view's SQL restricted to its dynamic filters' keys, which are registered on
    ``con`` as one-column tables, and how many keys the last filter has."""
    keys: dict[str, str] = {}
    count = None
    for i, d in enumerate(view.fragment.dynamic_filters):
        source = done.get(d.from_fragment)
        if not isinstance(source, pa.Table):
            continue  # streamed or read in place: the join itself restricts the view
        values = _distinct_keys(source, d.from_column)
        if len(values) > FILE_IN_MAX_KEYS:
            continue
        count = len(values)
        relation = f"{name}_keys{i}"
        con.register(relation, pa.table({"k": values}))
        keys[d.column] = relation
    return with_key_filters(view, keys), count


class _Stream:
    """A fragment fetched on a background thread into a small queue the local engine reads:
    fetching overlaps the local work, and memory holds a few batches, not the fragment."""

    QUEUE_BATCHES = 8
    _DONE = object()

    def __init__(
        self,
        executor: Executor,
        fragment: Fragment,
        done: dict[str, Any],
        stats: RunStats,
        deadline: float | None,
    ) -> None:
        import queue
        import threading

        self.fragment = fragment
        self.error: GuajieError | None = None
        self.deadline = deadline
        self.stats = FragmentStats(started=time.perf_counter() - stats.began)
        stats.fragments[fragment.id] = self.stats
        self.queue: queue.Queue[Any] = queue.Queue(self.QUEUE_BATCHES)
        self.cancelled = threading.Event()
        self.thread = threading.Thread(
            target=self._produce,
            args=(executor, done),
            daemon=True,
            name=f"guajie-fetch-{fragment.id}",
        )
        self.started = time.perf_counter()
        self.thread.start()
        _STREAMS.add(self)

    def _put(self, item: Any) -> bool:
        import queue

        while not self.cancelled.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self, executor: Executor, done: dict[str, Any]) -> None:
        connector = None
        try:
            connector = executor.open_source(self.fragment.source)
            if self.fragment.query is not None:
                self.stats.sql, self.stats.dynamic_filter_keys = _filtered_sql(self.fragment, done)
                reader = connector.fetch(self.stats.sql or "")
            else:
                reader, self.stats.dynamic_filter_keys = executor._scan(
                    connector, self.fragment, done, stream=True
                )
            schema = conform_schema(reader.schema, self.fragment.output_types)
            if not self._put(schema):
                return
            for batch in reader:
                batch = conform_batch(batch, schema)
                self.stats.rows += batch.num_rows
                self.stats.bytes += batch.nbytes
                if not self._put(batch):
                    return
            self._put(self._DONE)
        except BaseException as exc:  # surfaced to the consumer, never lost
            self.error = _fragment_error(self.fragment, exc)
            self._put(self.error)
        finally:
            self.stats.seconds = time.perf_counter() - self.started
            if connector is not None:
                connector.close()

    def _get(self) -> Any:
        import queue

        while True:
            remaining = None if self.deadline is None else self.deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self.error = ExecutionError(
                    f"The query timed out waiting for source '{self.fragment.source}'.",
                    "Retry later, narrow the query, or raise the time limit.",
                )
                raise self.error
            try:
                item = self.queue.get(timeout=min(remaining, 0.5) if remaining else 0.5)
            except queue.Empty:
                continue
            if isinstance(item, GuajieError):
                raise item
            return item

    def reader(self) -> pa.RecordBatchReader:
        schema = self._get()

        def batches() -> Iterator[pa.RecordBatch]:
            while (item := self._get()) is not self._DONE:
                yield item

        return pa.RecordBatchReader.from_batches(schema, batches())

    def cancel(self) -> None:
        self.cancelled.set()


# Fetch threads are daemons, so that a source that never answers cannot hold the process
# open. But one still closing its connection when the interpreter exits is stopped inside
# the driver's native code, which aborts the process: exiting stops them and waits a little.
_STREAMS: weakref.WeakSet[_Stream] = weakref.WeakSet()
STREAMS_EXIT_WAIT = 5.0


@atexit.register
def _stop_streams() -> None:
    streams = list(_STREAMS)
    for stream in streams:
        stream.cancel()
    deadline = time.monotonic() + STREAMS_EXIT_WAIT
    for stream in streams:
        stream.thread.join(max(0.0, deadline - time.monotonic()))


def _streamable(plan: Plan) -> set[str]:
    """Fragments the residual reads exactly once and no dynamic filter waits on."""
    if plan.residual is None:
        return set()
    waited_on = {d.from_fragment for f in plan.fragments for d in f.dynamic_filters}
    waited_on |= {i for f in plan.fragments for i in f.inputs}
    uses: dict[str, int] = {}
    for table in plan.residual.find_all(exp.Table):
        uses[table.name] = uses.get(table.name, 0) + 1
    return {
        f.id
        for f in plan.fragments
        if f.id not in waited_on
        and uses.get(f.relation, 0) == 1
        and f.limit is None
        and f.parts == 1  # slices are fetched at once, not streamed
        # A stream has no row count for the local engine to plan its joins with: small
        # fragments are read whole, so that they become the build sides.
        and (f.estimated_rows is None or f.estimated_rows >= STREAM_MIN_ROWS)
    }


def _finishing(
    reader: pa.RecordBatchReader,
    stats: RunStats,
    started: float,
    on_close: Callable[[], None] | None = None,
    ran: Callable[[float], None] | None = None,
) -> pa.RecordBatchReader:
    """``reader``, counting its rows and timing the run, which ``ran`` is told of once the
    last batch is read."""

    def batches() -> Iterator[pa.RecordBatch]:
        rows = 0
        try:
            for batch in reader:
                rows += batch.num_rows
                yield batch
        finally:
            if on_close is not None:
                on_close()
        stats.rows = rows
        stats.total_seconds = time.perf_counter() - started
        if ran is not None:
            ran(stats.total_seconds)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def _fragment_error(fragment: Fragment, exc: BaseException | None) -> GuajieError:
    if isinstance(exc, GuajieError):
        return scrub_values(exc)
    return ExecutionError(
        f"Source '{fragment.source}' failed while running fragment {fragment.id} "
        f"({', '.join(fragment.tables)}): {without_values(_first_line(redact(str(exc))))}",
        f"Check that the source answers (`guajie source test {fragment.source}`); "
        "nothing was written.",
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


# -- dynamic filters ---------------------------------------------------------------------


def _distinct_keys(table: pa.Table, column: str) -> pa.Array:
    values = pc.unique(
        table.column(column).combine_chunks()
        if table.num_rows
        else pa.array([], table.schema.field(column).type)
    )
    return values.filter(pc.is_valid(values))


def _looks_up(fragment: Fragment, done: dict[str, Any]) -> bool:
    """Whether a few keys restrict the table a sliced fragment would slice: the source
    then looks them up in an index, which slicing by heap blocks would turn into scans."""
    if fragment.part_table is None or not fragment.table_rows:
        return False
    alias = fragment.part_table[0]
    return any(
        d.column.rpartition(".")[0] == alias
        and len(_distinct_keys(done[d.from_fragment], d.from_column))
        <= SLICE_MAX_KEY_SHARE * fragment.table_rows
        for d in fragment.dynamic_filters
    )


def _filtered_sql(fragment: Fragment, done: dict[str, Any]) -> tuple[str | None, int | None]:
    """The fragment's SQL restricted to the keys of the fragments it waits on."""
    (sql,), keys = _filtered_sqls(fragment, done, [None])
    return sql, keys


def _filtered_sqls(
    fragment: Fragment, done: dict[str, Any], parts: list[int | None]
) -> tuple[list[str | None], int | None]:
    """:func:`_filtered_sql` for each slice in ``parts`` (None: the whole fragment)."""
    extra, keys, lists = _sql_dynamic_filter(fragment, done)
    sqls = []
    for part in parts:
        sql = fragment.sql(extra, part)
        for marker, text in lists.items():
            sql = sql.replace(marker, text, 1) if sql is not None else None
        sqls.append(sql)
    return sqls, keys


def _sql_dynamic_filter(
    fragment: Fragment, done: dict[str, pa.Table]
) -> tuple[exp.Expr | None, int | None, dict[str, str]]:
    terms: list[exp.Expr] = []
    keys = None
    # Integer key lists are written as text: building tens of thousands of literal nodes
    # for the SQL generator to walk costs more than the source takes to use them.
    lists: dict[str, str] = {}
    for d in fragment.dynamic_filters:
        values = _distinct_keys(done[d.from_fragment], d.from_column)
        keys = len(values)
        if (
            fragment.dialect == "postgres"
            and len(values) > IN_LIST_MAX_KEYS
            and fragment.table_rows
            and len(values) > ARRAY_MAX_SHARE * fragment.table_rows
        ):
            continue  # probing every row of the scan costs more than fetching it
        if pa.types.is_integer(values.type) and 0 < len(values) <= (
            IN_LIST_MAX_KEYS if fragment.dialect == "postgres" else MAX_LIST_KEYS
        ):
            marker = f"__guajie_keys_{len(lists)}__"
            lists[marker] = ", ".join(map(str, values.to_pylist()))
            table, _, name = d.column.rpartition(".")
            column = exp.column(name, table=table or None, quoted=True)
            terms.append(
                exp.In(this=column, expressions=[exp.Literal(this=marker, is_string=False)])
            )
            continue
        term = _key_predicate(d, values, fragment.dialect)
        if term is not None:
            terms.append(term)
    return (exp.and_(*terms) if terms else None), keys, lists


def _key_predicate(d: DynamicFilter, values: pa.Array, dialect: str | None) -> exp.Expr | None:
    table, _, name = d.column.rpartition(".")
    column = exp.column(name, table=table or None, quoted=True)
    if len(values) == 0:
        return exp.false()  # the inner join can match nothing
    as_array = dialect == "postgres" and pa.types.is_integer(values.type)
    if as_array and len(values) > IN_LIST_MAX_KEYS:
        # One constant array: PostgreSQL parses it once and probes it as a hash table.
        items = ",".join(str(v) for v in values.to_pylist())
        array = exp.cast(exp.Literal.string(f"{{{items}}}"), exp.DataType.build("BIGINT[]"))
        return exp.EQ(this=column, expression=exp.Any(this=exp.Paren(this=array)))
    if len(values) <= IN_LIST_MAX_KEYS or (not as_array and len(values) <= MAX_LIST_KEYS):
        literals = [_literal(v) for v in values.to_pylist()]
        if any(lit is None for lit in literals):
            return None
        return exp.In(this=column, expressions=literals)
    if pa.types.is_integer(values.type) or pa.types.is_date(values.type):
        low, high = pc.min_max(values).values()
        lo, hi = _literal(low.as_py()), _literal(high.as_py())
        if lo is not None and hi is not None:
            return exp.Between(this=column, low=lo, high=hi)
    return None


def _literal(value: Any) -> exp.Expr | None:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), "TIMESTAMP")
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return None


# -- types ---------------------------------------------------------------------------------


def _arrow_type(name: str) -> pa.DataType | None:
    import re

    simple = {
        "int8": pa.int8(),
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float": pa.float32(),
        "double": pa.float64(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "date32[day]": pa.date32(),
        "timestamp[us]": pa.timestamp("us"),
        "binary": pa.binary(),
    }
    if name in simple:
        return simple[name]
    if m := re.fullmatch(r"decimal128\((\d+), (\d+)\)", name):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    return None


def conform_schema(schema: pa.Schema, output_types: dict[str, str]) -> pa.Schema:
    fields = []
    for field in schema:
        target = _arrow_type(output_types.get(field.name, ""))
        fields.append(field.with_type(target) if target is not None else field)
    return pa.schema(fields)


def _cast(array: Any, target: pa.DataType) -> Any:
    if array.type == target:
        return array
    try:
        if pa.types.is_decimal(target) and pa.types.is_integer(array.type):
            # A whole-number decimal read back as an integer (SQLite's numeric affinity):
            # widen first, then narrow with the value check on.
            return array.cast(pa.decimal128(38, target.scale)).cast(target)
        if pa.types.is_decimal(target) and pa.types.is_floating(array.type):
            array = pc.round(array, target.scale)
        if (
            pa.types.is_decimal(target)
            and pa.types.is_decimal(array.type)
            and array.type.scale > target.scale
        ):
            array = pc.round(array, target.scale)
        if pa.types.is_integer(target) and (
            pa.types.is_integer(array.type)
            or pa.types.is_floating(array.type)
            or pa.types.is_decimal(array.type)
        ):
            return array.cast(target)  # a value that does not fit stays as it came
        return array.cast(target, safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return array


def conform(table: pa.Table, output_types: dict[str, str]) -> pa.Table:
    """Give fetched columns the types the catalog and the plan promise (SQLite's loose
    REAL decimals and text dates included)."""
    if not output_types:
        return table
    columns = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        target = _arrow_type(output_types.get(name, ""))
        columns.append(_cast(column, target) if target is not None else column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def conform_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema == schema:
        return batch
    arrays = [_cast(a, f.type) for a, f in zip(batch.columns, schema, strict=True)]
    if any(a.type != f.type for a, f in zip(arrays, schema, strict=True)):
        return pa.RecordBatch.from_arrays(arrays, names=schema.names)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
