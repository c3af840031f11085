"""The pool (共享数据池): where scenario results are written back as Parquet, atomically.

The workspace names the pool in ``guajie.yaml``::

    pool: s3://city-pool/guajie          # any fsspec URL; default: <workspace>/pool
    pool_options: {endpoint_url: https://s3.example.gov.cn}

A dataset ``NAME`` lives under ``<pool>/NAME/`` as Parquet parts, the layout the file
connector reads, so the pool is an ordinary file source (named ``pool``) and a crawl of it
finds the same datasets. Readers see a complete old version or a complete new one, never a
half-written one; a failed or interrupted write leaves nothing behind. How that is achieved
depends on what the storage can do atomically, one small class per kind:

* :class:`LocalPool` (``file://``): a new version is written into a hidden ``_tmp-<run>``
  directory (pyarrow and the crawler ignore ``_`` and ``.`` names) and renamed into place —
  the old and new directories are swapped in one ``renameat2(RENAME_EXCHANGE)`` call where
  the kernel offers it. An append writes one hidden part and renames it in.
* :class:`ObjectStorePool` (``s3://``, where nothing renames): every write is a new version
  prefix ``NAME/v-<run>/`` (an append copies the current parts into it server-side); the
  catalog's location switches to it in the same transaction that records the run, and the
  old version is deleted afterwards.
"""

from __future__ import annotations

import contextlib
import errno
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from guajie.catalog.connectors.filesystems import FileStore, LocationError, canonical_url
from guajie.catalog.errors import GuajieError, InvalidInputError
from guajie.catalog.models import ColumnStats
from guajie.catalog.workspace import Workspace

POOL_SOURCE = "pool"
POOL_SCHEMA = "default"
COMPRESSION = "zstd"


class PoolError(GuajieError):
    """The pool cannot be written (not writable, full, unreachable)."""


@dataclass(frozen=True)
class PoolConfig:
    url: str
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, workspace: Workspace) -> PoolConfig:
        extra = workspace.config.model_extra or {}
        raw = extra.get("pool")
        options = {str(k): str(v) for k, v in (extra.get("pool_options") or {}).items()}
        if raw is None:
            path = (workspace.home / "pool").resolve()
            return cls(f"file://{path}", options)
        text = str(raw)
        if "://" not in text:  # a path, relative to the workspace
            path = Path(text).expanduser()
            path = path if path.is_absolute() else (workspace.home / path)
            return cls(f"file://{path.resolve()}", options)
        try:
            return cls(canonical_url(text), options)
        except LocationError as exc:
            raise InvalidInputError(
                f"The pool URL {text!r} in guajie.yaml is not usable: {exc.message}",
                exc.hint,
            ) from None


@dataclass
class Written:
    """A Parquet part as written: size, rows and what the catalog records about it."""

    rows: int = 0
    size_bytes: int = 0
    schema: pa.Schema | None = None
    stats: dict[str, ColumnStats] = field(default_factory=dict)


@dataclass
class Stage:
    """One run's write, from staging to publication."""

    run_id: str
    name: str
    mode: str  # replace | append, as carried out
    part: str  # filesystem path the run's rows are written to
    location: str  # URL the catalog records once published
    cleanup: list[str] = field(default_factory=list)  # paths removed if the run fails
    published: bool = False
    retired: str | None = None  # where the previous version went, deleted when all is done


class Pool(ABC):
    """A writable pool location; subclasses know how their storage publishes atomically."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.store = FileStore(config.url, config.options)
        self.url = self.store.url
        self.root = self.store.path_for(self.url).rstrip("/")

    @staticmethod
    def open(config: PoolConfig) -> Pool:
        scheme = config.url.split("://", 1)[0]
        kinds: dict[str, type[Pool]] = {"file": LocalPool, "s3": ObjectStorePool}
        if scheme not in kinds:
            raise PoolError(
                f"The pool {config.url} cannot be written: {scheme}:// locations are read-only.",
                "Set `pool:` in guajie.yaml to a local directory or an s3:// URL.",
            )
        return kinds[scheme](config)

    @property
    def fs(self) -> Any:
        try:
            return self.store.fs
        except LocationError as exc:
            raise PoolError(
                f"The pool {self.url} cannot be opened: {exc.message}", exc.hint
            ) from None

    def dataset_path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def dataset_url(self, name: str) -> str:
        return self.store.url_for(self.dataset_path(name))

    # -- checks --------------------------------------------------------------------------
    def check_writable(self, run_id: str) -> None:
        """Create the pool if needed and prove it takes a file; raise PoolError if not."""
        probe = f"{self.root}/_probe-{run_id}"
        with self.explained("write to"):
            self.fs.makedirs(self.root, exist_ok=True)
            with self.fs.open(probe, "wb") as f:
                f.write(b"guajie")
            self.fs.rm(probe)

    @contextlib.contextmanager
    def explained(self, doing: str) -> Iterator[None]:
        """Turn storage failures into a PoolError that says what to do."""
        try:
            yield
        except GuajieError:
            raise
        except Exception as exc:
            raise self.error(exc, doing) from exc

    def error(self, exc: BaseException, doing: str) -> PoolError:
        where = self.url.removeprefix("file://")
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return PoolError(
                f"The pool at {where} is full (no space left on device); nothing was written.",
                "Free space or point `pool:` in guajie.yaml at a larger location, then re-run.",
            )
        if isinstance(exc, PermissionError) or (
            isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
        ):
            return PoolError(
                f"The pool at {where} is not writable (permission denied); nothing was written.",
                "Give the user running guajie write access, or set `pool:` in guajie.yaml.",
            )
        if isinstance(exc, NotADirectoryError | FileExistsError):
            return PoolError(
                f"Cannot {doing} the pool at {where}: a file stands where a directory must be.",
                "Point `pool:` in guajie.yaml at a directory.",
            )
        problem = self.store.explain(exc, self.url)
        return PoolError(
            f"Cannot {doing} the pool at {where}: {problem.message}",
            problem.hint or "Check the `pool:` setting in guajie.yaml.",
        )

    # -- writing -------------------------------------------------------------------------
    def write_part(
        self, path: str, reader: pa.RecordBatchReader, on_batch: Callable[[int], None] | None = None
    ) -> Written:
        """Stream ``reader`` into one Parquet file at ``path``; nothing stays if it fails."""
        written = Written(schema=reader.schema)
        bounds = _Bounds(reader.schema)
        with self.explained("write to"):
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            handle = self.fs.open(path, "wb")
        writer: pq.ParquetWriter | None = None
        try:
            writer = pq.ParquetWriter(handle, reader.schema, compression=COMPRESSION)
            for batch in reader:
                if batch.schema != reader.schema:
                    batch = _conform(batch, reader.schema)
                writer.write_batch(batch)
                bounds.add(batch)
                written.rows += batch.num_rows
                if on_batch is not None:
                    on_batch(batch.num_rows)
            writer.close()
            handle.close()
        except BaseException as exc:
            # Abort the upload first, so that closing the writer cannot commit a partial file.
            _discard(handle)
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.close()
            self.remove(path)
            if isinstance(exc, OSError) and not isinstance(exc, GuajieError):
                raise self.error(exc, "write to") from exc
            raise
        with self.explained("read back from"):
            written.size_bytes = int(self.fs.size(path))
        written.stats = bounds.stats(written.rows)
        return written

    def remove(self, path: str) -> None:
        """Remove a file or a directory tree, quietly: used to clean up after failures."""
        with contextlib.suppress(Exception):
            if self.fs.exists(path):
                self.fs.rm(path, recursive=True)

    def exists(self, name: str) -> bool:
        with self.explained("read"):
            return bool(self.fs.exists(self.dataset_path(name)))

    # -- the atomic part: one small class per kind of storage ----------------------------
    @abstractmethod
    def stage(self, run_id: str, name: str, append: bool, current: str | None) -> Stage:
        """Where this run writes; ``current`` is the catalog's location of the data."""

    @abstractmethod
    def publish(self, stage: Stage) -> None:
        """Make the staged data the dataset's (inside the catalog transaction)."""

    @abstractmethod
    def unpublish(self, stage: Stage) -> None:
        """Undo :meth:`publish` when the catalog transaction did not commit."""

    @abstractmethod
    def retire(self, stage: Stage, live: set[str]) -> None:
        """After the catalog committed: delete what the new version replaced (never the
        staged files of ``live`` runs, which may still be writing)."""

    def abandon(self, stage: Stage) -> None:
        """The run failed before publication: remove everything it wrote."""
        for path in stage.cleanup:
            self.remove(path)

    def sweep(self, name: str, live: set[str]) -> None:
        """Remove what interrupted runs left behind: hidden staging of runs no longer live."""
        with contextlib.suppress(Exception):
            places = [self.root, self.dataset_path(name)]
            for place in places:
                if not self.fs.isdir(place):
                    continue
                for entry in self.fs.ls(place, detail=False):
                    base = str(entry).rstrip("/").rsplit("/", 1)[-1]
                    run_id = _staged_run(base)
                    if run_id is not None and run_id not in live:
                        self.remove(str(entry))


class LocalPool(Pool):
    """A local directory: directories and files rename atomically."""

    def stage(self, run_id: str, name: str, append: bool, current: str | None) -> Stage:
        target = self.dataset_path(name)
        if append and os.path.isdir(target):
            part = f"{target}/_tmp-{run_id}.parquet"
            return Stage(run_id, name, "append", part, self.dataset_url(name), cleanup=[part])
        staging = f"{self.root}/_tmp-{run_id}"
        part = f"{staging}/{name}/part-{run_id}.parquet"
        return Stage(run_id, name, "replace", part, self.dataset_url(name), cleanup=[staging])

    def publish(self, stage: Stage) -> None:
        target = self.dataset_path(stage.name)
        with self.explained("publish into"):
            if stage.mode == "append":
                os.rename(stage.part, f"{target}/part-{stage.run_id}.parquet")
            else:
                fresh = stage.part.rsplit("/", 1)[0]
                if os.path.isdir(target):
                    _exchange(fresh, target)  # ``fresh`` now holds the previous version
                    stage.retired = fresh
                else:
                    os.rename(fresh, target)
        stage.published = True

    def unpublish(self, stage: Stage) -> None:
        if not stage.published:
            return
        target = self.dataset_path(stage.name)
        with contextlib.suppress(OSError):
            if stage.mode == "append":
                os.remove(f"{target}/part-{stage.run_id}.parquet")
            elif stage.retired is not None:
                _exchange(stage.retired, target)
                stage.retired = None
            else:
                os.rename(target, stage.part.rsplit("/", 1)[0])
        stage.published = False

    def retire(self, stage: Stage, live: set[str]) -> None:
        for path in stage.cleanup:
            self.remove(path)


class ObjectStorePool(Pool):
    """An object store: single objects appear whole, but nothing renames. Every write is a
    new version prefix, published by switching the catalog's location."""

    def stage(self, run_id: str, name: str, append: bool, current: str | None) -> Stage:
        version = f"{self.dataset_path(name)}/v-{run_id}"
        stage = Stage(
            run_id,
            name,
            "append" if append and current else "replace",
            f"{version}/part-{run_id}.parquet",
            self.store.url_for(version),
            cleanup=[version],
        )
        if stage.mode == "append" and current is not None:
            with self.explained("copy within"):
                for source in self._parts(current):
                    self.fs.copy(source, f"{version}/{source.rsplit('/', 1)[-1]}")
        return stage

    def _parts(self, location: str) -> list[str]:
        path = self.store.path_for(location)
        if not self.fs.isdir(path):
            return [path] if self.fs.exists(path) else []
        return [
            p for p in sorted(self.fs.find(path)) if not p.rsplit("/", 1)[-1].startswith((".", "_"))
        ]

    def publish(self, stage: Stage) -> None:
        stage.published = True  # the catalog's new location is the publication

    def unpublish(self, stage: Stage) -> None:
        stage.published = False

    def retire(self, stage: Stage, live: set[str]) -> None:
        """Delete every object of the dataset outside the new version and live runs' ones."""
        base = self.dataset_path(stage.name)
        keep = [self.store.path_for(stage.location).rstrip("/") + "/"]
        keep += [f"{base}/v-{run_id}/" for run_id in live]
        with contextlib.suppress(Exception):
            stale = [p for p in self.fs.find(base) if not p.startswith(tuple(keep))]
            if stale:
                self.fs.rm(stale)


# -- helpers ----------------------------------------------------------------------------


def _staged_run(name: str) -> str | None:
    """The run that staged ``name`` (``_tmp-<run>``, ``_probe-<run>``, ``_tmp-<run>.parquet``)."""
    for prefix in ("_tmp-", "_probe-"):
        if name.startswith(prefix):
            return name[len(prefix) :].removesuffix(".parquet")
    return None


def _exchange(a: str, b: str) -> None:
    """Swap two directories atomically (Linux renameat2); else two renames in a row."""
    if _renameat2(a, b):
        return
    parked = f"{a}.old"
    os.rename(b, parked)
    try:
        os.rename(a, b)
    except OSError:
        os.rename(parked, b)
        raise
    os.rename(parked, a)


def _renameat2(a: str, b: str) -> bool:
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if call(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the filesystem or kernel cannot exchange: fall back
    raise OSError(code, os.strerror(code), a)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch in the stream's declared types (a source may hand back a narrower type,
    e.g. SQLite's integer SUM of a decimal column)."""
    arrays = []
    for array, target in zip(batch.columns, schema, strict=True):
        if array.type != target.type:
            try:
                array = array.cast(target.type, safe=False)
            except pa.ArrowInvalid:
                if not (pa.types.is_integer(array.type) and pa.types.is_decimal(target.type)):
                    raise
                wide = pa.decimal128(38, target.type.scale)
                array = array.cast(wide).cast(target.type, safe=False)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _discard(handle: Any) -> None:
    """Close a half-written file without committing it (an S3 upload is aborted)."""
    with contextlib.suppress(Exception):
        discard = getattr(handle, "discard", None)
        if callable(discard):
            discard()
            handle.closed = True
            return
    with contextlib.suppress(Exception):
        handle.close()


class _Bounds:
    """Null counts and min/max per column, gathered while the rows stream past."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.nulls = [0] * len(schema)
        self.low: list[Any] = [None] * len(schema)
        self.high: list[Any] = [None] * len(schema)
        self.orderable = [_orderable(f.type) for f in schema]

    def add(self, batch: pa.RecordBatch) -> None:
        for i, column in enumerate(batch.columns):
            self.nulls[i] += column.null_count
            if not self.orderable[i] or column.null_count == len(column):
                continue
            try:
                bounds = pc.min_max(column)
            except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
                self.orderable[i] = False
                continue
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if self.low[i] is None or low < self.low[i]:
                self.low[i] = low
            if self.high[i] is None or high > self.high[i]:
                self.high[i] = high

    def stats(self, rows: int) -> dict[str, ColumnStats]:
        out: dict[str, ColumnStats] = {}
        for i, f in enumerate(self.schema):
            if not rows:
                out[f.name] = ColumnStats()
                continue
            out[f.name] = ColumnStats(
                null_fraction=round(self.nulls[i] / rows, 6),
                min=_text(self.low[i]),
                max=_text(self.high[i]),
            )
        return out


def _orderable(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_temporal(t)
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
