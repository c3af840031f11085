"""Files as sources: Parquet, CSV and JSON lines on local disks, in S3 or over HTTP(S).

URLs: ``file:///abs/dir_or_file``, ``s3://bucket/prefix``, ``http(s)://host/path/file.parquet``
(an HTTP directory works when the server answers it with an index page of links). Where the
bytes come from, and the S3 settings and credentials, are :mod:`.filesystems`' business.

What a source holds:

* A URL naming one file holds one dataset, kind ``file``.
* A URL naming a directory holds one dataset per data file directly inside it (kind ``file``)
  and one per subdirectory (kind ``files``): every data file below a subdirectory, at any
  depth, is a part of that one dataset, and ``key=value`` directory names (hive
  partitioning, e.g. ``filings/month=2024-01/part-0.parquet``) become partition columns.
  A directory whose children are all ``key=value`` directories is itself one dataset.
* Names starting with ``.`` or ``_`` (``_SUCCESS``, ``.crc``, ``_metadata``) are ignored, as
  pyarrow does; files of no known format are skipped and counted by :meth:`check`. When a
  subdirectory mixes formats, the most common one is the dataset's and the rest are skipped.

Names: every dataset lives in schema ``default``. Its name is the file name without its
format and compression extensions, or the directory name, lowercased with every character
outside ``[a-z0-9_]`` replaced by ``_`` ("Tax Filings-2024.csv.gz" -> ``tax_filings_2024``);
a name that would start with a digit gets a leading ``_``, and a name already taken gets
``_2``, ``_3`` ... in path order.

Formats come from the extension -- ``.parquet``/``.pq``/``.parq``, ``.csv``/``.tsv``,
``.jsonl``/``.ndjson``/``.json``, each optionally compressed (``.gz``, ``.bz2``, ``.zstd``,
``.lz4``; pyarrow does not take ``.zst``) -- or from the source option ``format``
(``parquet``, ``csv``, ``tsv`` or ``json``), which then applies to every file. CSV options:
``delimiter`` (one character, or ``tab``) and ``encoding`` (default: UTF-8, or GB18030 when
the text is not valid UTF-8).

A crawl reads metadata, never the data:

* Parquet: only footers, for every part, concurrently (at most :data:`CRAWL_WORKERS` reads in
  flight, usually one ranged request each). Row counts are exact; column statistics come
  from the row groups' statistics (null fraction, min and max); distinct counts are unknown.
* CSV and JSON lines: the first :data:`HEAD_BYTES` of the dataset's first file. Types are
  inferred from those rows, statistics describe them (min, max and distinct count only when
  the whole file fitted), and up to :data:`SAMPLE_VALUES` distinct values of text and
  integer columns are handed on for sensitivity detection. The row count is exact when the
  whole file fitted; otherwise it is an estimate -- the files' size divided by the bytes per
  row of the head -- rounded to two significant figures so that it reads as one.
* Partition columns carry pyarrow's own inferred types (``int32`` when every value is an
  integer, else ``string``) and exact statistics, distinct count included.
"""

from __future__ import annotations

import json
import re
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import islice
from typing import Any, TypeVar
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from ..errors import InvalidInputError, SourceError
from ..lru import LruCache
from ..models import ColumnStats, Source
from .base import Capabilities, Connector, CrawledColumn, CrawledDataset
from .filesystems import FileEntry, FileName, FileStore, LocationError, canonical_url

#: How much of a CSV or JSON file a crawl or a sample reads.
HEAD_BYTES = 1 << 20
#: The bytes fetched from a Parquet file's end in the first request for its footer.
FOOTER_TAIL_BYTES = 64 * 1024
#: Files inspected at once (footer reads and HTTP HEADs); bounds threads and connections.
CRAWL_WORKERS = 16
#: Distinct values handed on per column for sensitivity detection.
SAMPLE_VALUES = 50
#: The directory value pyarrow and Hive write for a null partition key.
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"

LABELS = {"parquet": "Parquet", "csv": "CSV", "json": "JSON"}
_FORMAT_NAMES = {
    "parquet": "parquet",
    "pq": "parquet",
    "csv": "csv",
    "tsv": "csv",
    "json": "json",
    "jsonl": "json",
    "ndjson": "json",
}
_SAMPLED_TYPES = ("string", "large_string", "string_view", "int", "uint", "decimal")

T = TypeVar("T")
R = TypeVar("R")


def dataset_name(raw: str) -> str:
    """A file or directory name as a dataset name (see the module docstring)."""
    name = re.sub(r"[^a-z0-9_]", "_", raw.lower())
    return name if name and not name[0].isdigit() else f"_{name}"


def format_token(value: str | None) -> str | None:
    """``parquet``, ``csv`` or ``json`` for a format name or label; None if unknown."""
    return _FORMAT_NAMES.get(value.strip().lower()) if value else None


class _Unreadable(Exception):
    """A file that is there but is not what its format says."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# ------------------------------------------------------------------------------------------
# Layout: which files make which dataset


@dataclass
class _Group:
    """The files of one dataset."""

    raw_name: str
    kind: str  # "file" | "files"
    url: str
    format: str
    files: list[FileEntry]
    depth: int  # leading components of each file's parts that name the dataset's directory
    name: str = ""

    def partition_dirs(self, entry: FileEntry) -> tuple[str, ...]:
        return entry.parts[self.depth : -1]


@dataclass
class _Layout:
    is_dir: bool
    groups: list[_Group]
    skipped: list[FileEntry] = field(default_factory=list)

    @property
    def files(self) -> int:
        return sum(len(g.files) for g in self.groups)


def _is_hive(segment: str) -> bool:
    key, sep, _ = segment.partition("=")
    return bool(sep and key)


def _partition_values(dirs: Iterable[str]) -> dict[str, str | None]:
    """``key=value`` directory names as pyarrow reads them (URI-decoded; Hive's null)."""
    values: dict[str, str | None] = {}
    for segment in dirs:
        if _is_hive(segment):
            key, _, value = segment.partition("=")
            decoded = unquote(value)
            values.setdefault(unquote(key), None if decoded in ("", HIVE_NULL) else decoded)
    return values


def _discover_partitioning(dirs: Iterable[tuple[str, ...]]) -> list[pa.Field]:
    """Partition columns and their types, inferred by pyarrow's HivePartitioning from paths.

    No file is opened: the factory sees made-up paths with the real directory names.
    """
    distinct = sorted(set(dirs))
    if not any(_is_hive(s) for d in distinct for s in d):
        return []
    paths = ["/".join(("/p", *(s.replace("/", "%2F") for s in d), "f")) for d in distinct]
    options = ds.FileSystemFactoryOptions(partition_base_dir="/p")
    options.partitioning_factory = ds.HivePartitioning.discover(infer_dictionary=False)
    factory = ds.FileSystemDatasetFactory(
        pafs.LocalFileSystem(), paths, ds.ParquetFileFormat(), options
    )
    return [_plain_field(f) for f in factory.inspect(fragments=0)]


def _plain_type(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _plain_field(f: pa.Field) -> pa.Field:
    return f.with_type(_plain_type(f.type))


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([_plain_field(f) for f in schema])


# ------------------------------------------------------------------------------------------
# Parquet footers


@dataclass
class _Bounds:
    """One column's statistics, summed over row groups and files."""

    rows: int = 0
    nulls: int | None = 0
    low: Any = None
    high: Any = None
    bounded: bool = True  # min/max known for every row group holding values

    def add_values(self, low: Any, high: Any) -> None:
        try:
            if self.low is None or low < self.low:
                self.low = low
            if self.high is None or high > self.high:
                self.high = high
        except TypeError:  # the type changed between files
            self.bounded = False

    def merge(self, other: _Bounds) -> None:
        self.rows += other.rows
        self.nulls = None if self.nulls is None or other.nulls is None else self.nulls + other.nulls
        self.bounded = self.bounded and other.bounded
        if other.low is not None:
            self.add_values(other.low, other.high)

    def add_missing(self, rows: int) -> None:
        """A file without this column: its rows are nulls here."""
        self.rows += rows
        if self.nulls is not None:
            self.nulls += rows

    def stats(self) -> ColumnStats:
        if not self.rows:
            return ColumnStats()
        return ColumnStats(
            null_fraction=None if self.nulls is None else round(self.nulls / self.rows, 6),
            min=_text(self.low) if self.bounded else None,
            max=_text(self.high) if self.bounded else None,
        )


@dataclass
class _Part:
    """What inspecting one file found."""

    entry: FileEntry
    rows: int | None = None
    schema: pa.Schema | None = None
    bounds: dict[str, _Bounds] | None = None
    head: _Head | None = None


@dataclass
class _Head:
    """The parsed head of a CSV or JSON file."""

    table: pa.Table
    complete: bool  # the whole file
    parsed_bytes: int  # decompressed bytes the table came from
    expansion: float  # decompressed bytes per stored byte


def _read_footer(store: FileStore, entry: FileEntry) -> pq.FileMetaData:
    tail = store.tail(entry, FOOTER_TAIL_BYTES)
    if len(tail) < 12 or tail[-4:] != b"PAR1":
        if tail[-4:] == b"PARE":
            raise _Unreadable(
                "it is an encrypted Parquet file, which guajie cannot read.",
                "Register a decrypted copy.",
            )
        raise _Unreadable(
            "it is not a Parquet file (it does not end with the PAR1 footer).",
            "Check that the file is complete, or set --format if its extension misleads.",
        )
    need = int.from_bytes(tail[-8:-4], "little") + 8
    if need > len(tail):
        size = store.complete(entry).size
        if size is None or need > size:
            raise _Unreadable("its Parquet footer is damaged.", "Check that the file is complete.")
        tail = store.read_range(entry, size - need, size)
    try:
        return pq.read_metadata(pa.BufferReader(tail[-need:]))
    except (pa.ArrowException, OSError) as exc:
        raise _Unreadable(
            f"its Parquet footer cannot be read ({exc}).", "Check that the file is complete."
        ) from None


def _parquet_part(store: FileStore, entry: FileEntry) -> _Part:
    meta = _read_footer(store, entry)
    schema = meta.schema.to_arrow_schema().remove_metadata()
    leaves = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    bounds: dict[str, _Bounds] = {}
    for name in schema.names:
        b = bounds[name] = _Bounds()
        index = leaves.get(name)
        if index is None:  # nested: statistics are per leaf, not per column
            b.rows, b.nulls, b.bounded = meta.num_rows, None, False
            continue
        for r in range(meta.num_row_groups):
            group = meta.row_group(r)
            _add_chunk(b, group.num_rows, group.column(index).statistics)
    return _Part(entry, rows=meta.num_rows, schema=schema, bounds=bounds)


def _add_chunk(b: _Bounds, rows: int, s: Any) -> None:
    b.rows += rows
    has_nulls = s is not None and s.has_null_count
    if b.nulls is not None:
        b.nulls = b.nulls + s.null_count if has_nulls else None
    values = rows - s.null_count if has_nulls else rows
    if s is not None and s.has_min_max:
        try:
            b.add_values(s.min, s.max)
        except (pa.ArrowException, ValueError, OverflowError):
            b.bounded = False
    elif values > 0:
        b.bounded = False


def _unify(schemas: list[pa.Schema]) -> pa.Schema:
    distinct = list({s.to_string(): s for s in schemas}.values())
    if len(distinct) == 1:
        return distinct[0]
    for options in ("default", "permissive"):
        try:
            return pa.unify_schemas(distinct, promote_options=options)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
    return distinct[0]


# ------------------------------------------------------------------------------------------
# CSV and JSON heads


def _decode(data: bytes, encoding: str | None) -> bytes:
    """``data`` as UTF-8; without an encoding, GB18030 is tried when UTF-8 fails."""
    if encoding:
        try:
            return data.decode(encoding).encode()
        except LookupError:
            raise _Unreadable(
                f"the encoding {encoding!r} is unknown.",
                "Set the option encoding to e.g. utf-8, gb18030 or big5.",
            ) from None
        except UnicodeDecodeError as exc:
            raise _Unreadable(
                f"it is not {encoding} text ({exc.reason} at byte {exc.start}).",
                "Set the option encoding to the file's encoding.",
            ) from None
    try:
        data.decode()
        return data
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode()
    except UnicodeDecodeError:
        raise _Unreadable(
            "it is neither UTF-8 nor GB18030 text.",
            "Set the option encoding to the file's encoding.",
        ) from None


def _detect_encoding(data: bytes) -> str | None:
    cut = data.rfind(b"\n")
    data = data[: cut + 1] if cut >= 0 else data
    try:
        data.decode()
        return None
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        return None


def _parse_csv(data: bytes, complete: bool, delimiter: str) -> tuple[pa.Table, int]:
    problem: Exception | None = None
    for _ in range(1 if complete else 8):
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(block_size=len(data) + 1, use_threads=False),
                parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            )
            return table, len(data)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return pa.table({}), len(data)
            problem = exc
            # The cut may fall inside a quoted value that spans lines: drop one more line.
            cut = data.rfind(b"\n", 0, len(data) - 1)
            if cut < 0:
                break
            data = data[: cut + 1]
    raise _Unreadable(
        f"its first rows do not parse as CSV ({_first_line(problem)}).",
        "Check the file, or set the options delimiter, encoding or format.",
    )


def _parse_json(data: bytes, complete: bool) -> tuple[pa.Table, int]:
    body = data.removeprefix(b"\xef\xbb\xbf")
    if not body.strip():
        return pa.table({}), len(data)
    if body.lstrip().startswith(b"["):
        if not complete:
            raise _Unreadable(
                f"it is one JSON array larger than {HEAD_BYTES >> 20} MiB; beyond that size "
                "guajie reads JSON lines (one object per line).",
                "Convert it, e.g. jq -c '.[]' big.json > big.jsonl.",
            )
        try:
            rows = json.loads(body)
            if not all(isinstance(r, dict) for r in rows):
                raise ValueError("the array holds values that are not objects")
            return pa.Table.from_pylist(rows), len(data)
        except (ValueError, pa.ArrowException) as exc:
            raise _Unreadable(
                f"it is not an array of JSON objects ({exc}).",
                "Write one JSON object per line (JSON lines).",
            ) from None
    try:
        table = pajson.read_json(
            pa.BufferReader(body),
            read_options=pajson.ReadOptions(block_size=len(body) + 1, use_threads=False),
        )
    except pa.ArrowInvalid as exc:
        raise _Unreadable(
            f"its first lines are not JSON lines ({_first_line(exc)}).",
            "Write one JSON object per line, or set --format.",
        ) from None
    return table, len(data)


def _parse_head(
    data: bytes, complete: bool, stored: int, fmt: str, delimiter: str, encoding: str | None
) -> _Head:
    expansion = len(data) / stored if stored else 1.0
    if not complete:
        cut = data.rfind(b"\n")
        if cut < 0:
            raise _Unreadable(
                f"its first line is longer than {HEAD_BYTES >> 20} MiB.",
                "Check the format; guajie reads line-oriented text files.",
            )
        data = data[: cut + 1]
    text = _decode(data, encoding)
    table, used = (
        _parse_json(text, complete) if fmt == "json" else _parse_csv(text, complete, delimiter)
    )
    parsed = used * len(data) // len(text) if text else 0
    return _Head(
        table=table,
        complete=complete and used == len(text),
        parsed_bytes=parsed,
        expansion=expansion,
    )


# ------------------------------------------------------------------------------------------
# Statistics and values as text


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bytes | bytearray):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _orderable(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_temporal(t)
        or pa.types.is_boolean(t)
    )


def _column_stats(column: pa.ChunkedArray, exact: bool) -> ColumnStats:
    rows = len(column)
    if not rows:
        return ColumnStats()
    stats = ColumnStats(null_fraction=round(column.null_count / rows, 6))
    if exact and _orderable(column.type) and column.null_count < rows:
        bounds = pc.min_max(column)
        stats.min = _text(bounds["min"].as_py())
        stats.max = _text(bounds["max"].as_py())
        stats.distinct_count = pc.count_distinct(column, mode="only_valid").as_py()
    return stats


def _samples(column: pa.ChunkedArray) -> list[str] | None:
    if not str(column.type).startswith(_SAMPLED_TYPES):
        return None
    values = pc.unique(column.drop_null()).slice(0, SAMPLE_VALUES).to_pylist()
    return [t for v in values if (t := _text(v)) is not None]


def _partition_stats(f: pa.Field, values: list[str | None], rows: list[int | None]) -> ColumnStats:
    try:
        typed = pa.array(values, pa.string()).cast(f.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return ColumnStats()
    nulls = [r for v, r in zip(values, rows, strict=True) if v is None]
    total = sum(r or 0 for r in rows)
    if not nulls:
        null_fraction: float | None = 0.0
    elif None in rows or not total:
        null_fraction = None
    else:
        null_fraction = round(sum(r or 0 for r in nulls) / total, 6)
    bounds = pc.min_max(typed)
    return ColumnStats(
        null_fraction=null_fraction,
        distinct_count=pc.count_distinct(typed, mode="only_valid").as_py(),
        min=_text(bounds["min"].as_py()),
        max=_text(bounds["max"].as_py()),
    )


def _about(n: float) -> int:
    """An estimate rounded to two significant figures."""
    return int(n) if n < 100 else int(float(f"{n:.2g}"))


def _human_size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    amount = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{size} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} bytes"


def _first_line(exc: BaseException | None) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _ordered_map(fn: Callable[[T], R], items: list[T], workers: int) -> Generator[R, None, None]:
    """``map(fn, items)`` on a thread pool, in order, with a bounded number in flight."""
    if not items:
        return
    pool = ThreadPoolExecutor(
        max_workers=min(workers, len(items)), thread_name_prefix="guajie-files"
    )
    try:
        it = iter(items)
        pending: deque[Future[R]] = deque(pool.submit(fn, i) for i in islice(it, 4 * workers))
        while pending:
            done = pending.popleft()
            pending.extend(pool.submit(fn, i) for i in islice(it, 1))
            yield done.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ------------------------------------------------------------------------------------------
# The connector


class FileConnector(Connector):
    kind = "file"
    format_label = "文件"

    def __init__(self, source: Source, password: str | None = None) -> None:
        super().__init__(source, password)
        self.store = FileStore(source.url, source.options, password)

    @classmethod
    def normalize_url(cls, url: str) -> str:
        try:
            return canonical_url(url)
        except LocationError as exc:
            raise InvalidInputError(exc.message, exc.hint) from None

    # -- options -------------------------------------------------------------------------

    @property
    def _format_option(self) -> str | None:
        value = self.source.options.get("format")
        if value is None:
            return None
        token = format_token(value)
        if token is None:
            raise self.error(
                f"its format option {value!r} is not a format guajie reads.",
                "Use --format parquet, csv (or tsv) or json.",
            )
        return token

    def _format_of(self, name: str) -> str | None:
        return self._format_option or FileName.parse(name).format

    def _delimiter(self, name: str) -> str:
        value = self.source.options.get("delimiter")
        if value:
            value = "\t" if value.lower() in ("tab", "\\t") else value
            if len(value) != 1:
                raise self.error(
                    f"its delimiter option {value!r} is not one character.",
                    "Set delimiter to one character, e.g. ';' or tab.",
                )
            return value
        tsv = FileName.parse(name).extension == ".tsv" or (
            self.source.options.get("format", "").lower() == "tsv"
        )
        return "\t" if tsv else ","

    # -- errors --------------------------------------------------------------------------

    def _where(self, url: str) -> str:
        return url.removeprefix("file://") if url.startswith("file://") else url

    @contextmanager
    def _reading(self, url: str) -> Iterator[None]:
        """Turn whatever reading ``url`` raises into a SourceError naming it."""
        try:
            yield
        except SourceError:
            raise
        except _Unreadable as exc:
            raise self.error(f"cannot read {self._where(url)}: {exc.message}", exc.hint) from None
        except Exception as exc:
            problem = self.store.explain(exc, url)
            raise self.error(problem.message, problem.hint) from exc

    # -- layout --------------------------------------------------------------------------

    def _layout(self) -> _Layout:
        url = self.store.url
        with self._reading(url):
            is_dir, root = self.store.stat(url)
            entries = self.store.list_files(url) if is_dir else []
        if not is_dir:
            fmt = self._format_of(root.name)
            if fmt is None:
                ext = FileName.parse(root.name).extension
                what = (
                    f"{ext} is not a format guajie reads"
                    if ext
                    else "it has no file extension, so guajie cannot tell its format"
                )
                raise self.error(
                    f"{what} ({self._where(url)}).",
                    "Use Parquet, CSV or JSON lines, or set --format (parquet, csv or json).",
                )
            group = _Group(FileName.parse(root.name).stem, "file", url, fmt, [root], 0)
            return self._named(_Layout(False, [group]))
        return self._named(self._group(entries, root.name))

    def _group(self, entries: list[FileEntry], root_name: str) -> _Layout:
        layout = _Layout(True, [])
        top = [e for e in entries if len(e.parts) == 1]
        nested: dict[str, list[FileEntry]] = {}
        for e in entries:
            if len(e.parts) > 1:
                nested.setdefault(e.parts[0], []).append(e)
        top_data = [e for e in top if self._format_of(e.name)]
        if nested and not top_data and all(_is_hive(d) for d in nested):
            # The source URL names one partitioned dataset.
            layout.skipped.extend(top)
            self._add_dir_group(layout, root_name, self.store.url, entries, depth=0)
            return layout
        for e in top:
            fmt = self._format_of(e.name)
            if fmt is None:
                layout.skipped.append(e)
            else:
                layout.groups.append(
                    _Group(FileName.parse(e.name).stem, "file", e.url, fmt, [e], depth=0)
                )
        prefix = self.store.path_for(self.store.url).rstrip("/") + "/"
        for directory, files in nested.items():
            raw = files[0].path[len(prefix) :].split("/", 1)[0]
            url = self.store.url_for(prefix + raw)
            self._add_dir_group(layout, directory, url, files, depth=1)
        return layout

    def _add_dir_group(
        self, layout: _Layout, name: str, url: str, files: list[FileEntry], depth: int
    ) -> None:
        formats = [self._format_of(e.name) for e in files]
        counts = Counter(f for f in formats if f)
        if not counts:
            layout.skipped.extend(files)
            return
        fmt = max(counts, key=lambda f: (counts[f], f == "parquet", f == "csv"))
        layout.skipped.extend(e for e, f in zip(files, formats, strict=True) if f != fmt)
        kept = [e for e, f in zip(files, formats, strict=True) if f == fmt]
        layout.groups.append(_Group(name, "files", url, fmt, kept, depth))

    @staticmethod
    def _named(layout: _Layout) -> _Layout:
        layout.groups.sort(key=lambda g: (g.raw_name, g.url))
        taken: set[str] = set()
        for group in layout.groups:
            base = dataset_name(group.raw_name)
            name, n = base, 1
            while name in taken:
                n += 1
                name = f"{base}_{n}"
            taken.add(name)
            group.name = name
        return layout

    def _files_at(self, location: str, fmt: str) -> list[FileEntry]:
        """The data files of the dataset at ``location``, parts relative to it."""
        with self._reading(location):
            is_dir, entry = self.store.stat(location)
            if not is_dir:
                return [entry]
            files = [e for e in self.store.list_files(location) if self._format_of(e.name) == fmt]
        if not files:
            raise self.error(
                f"there are no {LABELS[fmt]} files under {self._where(location)}.",
                "Crawl the source again: the dataset may have moved or vanished.",
            )
        return files

    # -- the interface -------------------------------------------------------------------

    def check(self) -> str:
        layout = self._layout()
        if not layout.is_dir:
            group = layout.groups[0]
            entry = group.files[0]
            with self._reading(entry.url):
                if group.format == "parquet":
                    meta = _read_footer(self.store, entry)
                    size = self.store.complete(entry).size
                    return f"Parquet file, {meta.num_rows} rows, {_human_size(size)}"
                self.store.head(entry, 4096)
                size = self.store.complete(entry).size
            return f"{LABELS[group.format]} file, {_human_size(size)}"
        text = f"directory with {len(layout.groups)} datasets ({layout.files} files)"
        if layout.skipped:
            kinds = sorted(
                {FileName.parse(e.name).extension or "no extension" for e in layout.skipped}
            )
            text += (
                f"; {len(layout.skipped)} other files skipped "
                f"({', '.join(kinds[:5])}{', ...' if len(kinds) > 5 else ''})"
            )
        return text

    def crawl(self) -> Iterator[CrawledDataset]:
        layout = self._layout()
        tasks = [(g, i) for g in layout.groups for i in range(len(g.files))]
        parts = _ordered_map(self._inspect, tasks, CRAWL_WORKERS)
        try:
            for group in layout.groups:
                yield self._dataset(group, [next(parts) for _ in group.files])
        finally:
            parts.close()

    def _inspect(self, task: tuple[_Group, int]) -> _Part:
        group, index = task
        entry = group.files[index]
        with self._reading(entry.url):
            entry = self.store.complete(entry)
            if group.format == "parquet":
                return _parquet_part(self.store, entry)
            if index == 0:
                return _Part(entry, head=self._read_head(entry, group.format))
            return _Part(entry)

    def _read_head(self, entry: FileEntry, fmt: str) -> _Head:
        data, complete, stored = self.store.head(entry, HEAD_BYTES)
        return _parse_head(
            data,
            complete,
            stored,
            fmt,
            self._delimiter(entry.name),
            self.source.options.get("encoding"),
        )

    def _dataset(self, group: _Group, parts: list[_Part]) -> CrawledDataset:
        entries = [p.entry for p in parts]
        sizes = [e.size for e in entries]
        stamps = [e.modified for e in entries if e.modified is not None]
        rows: int | None
        if group.format == "parquet":
            columns, rows = self._parquet_columns(parts)
        else:
            columns, rows = self._text_columns(parts)
        partition_fields = _discover_partitioning(group.partition_dirs(e) for e in entries)
        values = [_partition_values(group.partition_dirs(e)) for e in entries]
        row_counts = [p.rows for p in parts]
        names = {c.name for c in columns}
        for f in partition_fields:
            if f.name not in names:
                column_values = [v.get(f.name) for v in values]
                columns.append(
                    CrawledColumn(
                        name=f.name,
                        type=str(f.type),
                        nullable=True,
                        stats=_partition_stats(f, column_values, row_counts),
                    )
                )
        return CrawledDataset(
            schema="default",
            name=group.name,
            columns=columns,
            kind=group.kind,
            row_count=rows,
            size_bytes=None if None in sizes else sum(s or 0 for s in sizes),
            last_modified=max(stamps) if stamps else None,
            location=group.url,
            format=LABELS[group.format],
            partitioning=[f.name for f in partition_fields],
        )

    @staticmethod
    def _parquet_columns(parts: list[_Part]) -> tuple[list[CrawledColumn], int]:
        schema = _unify([p.schema for p in parts if p.schema is not None])
        rows = sum(p.rows or 0 for p in parts)
        totals = {name: _Bounds() for name in schema.names}
        for part in parts:
            found = part.bounds or {}
            for name, total in totals.items():
                if name in found:
                    total.merge(found[name])
                else:
                    total.add_missing(part.rows or 0)
        columns = [
            CrawledColumn(
                name=f.name,
                type=str(_plain_type(f.type)),
                nullable=f.nullable,
                stats=totals[f.name].stats(),
            )
            for f in schema
        ]
        return columns, rows

    @staticmethod
    def _text_columns(parts: list[_Part]) -> tuple[list[CrawledColumn], int | None]:
        head = parts[0].head
        assert head is not None
        table = head.table
        exact = head.complete and len(parts) == 1
        columns = []
        for i, f in enumerate(table.schema):
            column = table.column(i)
            t = pa.string() if pa.types.is_null(f.type) else _plain_type(f.type)
            columns.append(
                CrawledColumn(
                    name=f.name,
                    type=str(t),
                    nullable=True,
                    stats=_column_stats(column, exact),
                    samples=_samples(column.cast(t)) if t != f.type else _samples(column),
                )
            )
        rows: int | None
        sizes = [p.entry.size for p in parts]
        if exact:
            rows = table.num_rows
        elif None in sizes or not head.parsed_bytes:
            rows = None
        else:
            per_byte = table.num_rows / head.parsed_bytes * head.expansion
            rows = _about(per_byte * sum(s or 0 for s in sizes))
        return columns, rows

    def capabilities(self) -> Capabilities:
        return Capabilities(
            dialect=None,
            joins=False,
            aggregates=False,
            window_functions=False,
            limit=True,
            projection=True,
            filters=True,
        )

    def sample(
        self, dataset: CrawledDataset, columns: list[str], limit: int = 100
    ) -> dict[str, list[str]]:
        """The first ``limit`` rows of the dataset's first file: for Parquet only the columns
        asked for, from as few leading row groups as hold them (usually the first); for CSV
        and JSON from the first MiB."""
        if not columns or not dataset.location:
            return {}
        fmt = format_token(dataset.format) or self._format_of(dataset.location)
        if fmt is None:
            raise self.error(
                f"the dataset {dataset.name} has no known format.", "Crawl the source again."
            )
        entry = self._files_at(dataset.location, fmt)[0]
        with self._reading(entry.url):
            if fmt == "parquet":
                table, rows = self._parquet_head(entry, columns, limit)
            else:
                table = self._read_head(entry, fmt).table.slice(0, limit)
                rows = table.num_rows
        partition = _partition_values(entry.parts[:-1])
        out: dict[str, list[str]] = {}
        for name in columns:
            if name in table.column_names:
                values = table.column(name).to_pylist()
                out[name] = [t for v in values if (t := _text(v)) is not None]
            elif (value := partition.get(name)) is not None:
                out[name] = [value] * rows
        return out

    def _parquet_head(
        self, entry: FileEntry, columns: list[str], limit: int
    ) -> tuple[pa.Table, int]:
        with self.store.fs.open(entry.path, "rb", block_size=1 << 20) as f:
            pf = pq.ParquetFile(f, buffer_size=1 << 16, pre_buffer=False)
            if pf.num_row_groups == 0:
                return pa.table({}), 0
            rows = min(limit, pf.metadata.num_rows)
            wanted = [c for c in columns if c in pf.schema_arrow.names]
            if not wanted:
                return pa.table({}), rows
            batches: list[pa.RecordBatch] = []
            got = 0
            # Row groups are read one at a time, and only until ``limit`` rows are in.
            for batch in pf.iter_batches(batch_size=limit, columns=wanted, use_threads=False):
                batches.append(batch.slice(0, limit - got))
                got += batches[-1].num_rows
                if got >= limit:
                    break
        if not batches:
            return pa.table({}), 0
        return pa.Table.from_batches(batches), got

    def dataset_for(
        self, location: str, format: str, partitioning: list[str], schema: pa.Schema | None = None
    ) -> ds.Dataset:
        """A pyarrow dataset over the files at ``location``, for projection and filter
        pushdown. Partition columns (hive ``key=value`` directories) are typed as a crawl
        types them, or as ``schema`` says when it is given (then it is the dataset's schema).
        """
        fmt = format_token(format)
        if fmt is None:
            raise self.error(
                f"{format!r} is not a format guajie reads.", "Use Parquet, CSV or JSON."
            )
        files = self._files_at(location, fmt)
        with self._reading(location):
            filesystem = self.store.arrow_filesystem()
            file_format = self._arrow_format(fmt, files[0])
            fields: list[pa.Field] = []
            if partitioning:
                discovered = {
                    f.name: f for f in _discover_partitioning(e.parts[:-1] for e in files)
                }
                for key in partitioning:
                    if schema is not None and key in schema.names:
                        fields.append(schema.field(key))
                    else:
                        fields.append(discovered.get(key, pa.field(key, pa.string())))
            if schema is None:
                schema = _first_file_schema(files[0], fmt, file_format, filesystem)
                for f in fields:
                    if f.name not in schema.names:
                        schema = schema.append(f)
            expressions = (
                [_partition_expression(_partition_values(e.parts[:-1]), fields) for e in files]
                if fields
                else None
            )
            return ds.FileSystemDataset.from_paths(
                [e.path for e in files],
                schema=schema,
                format=file_format,
                filesystem=filesystem,
                partitions=expressions,
            )

    def _arrow_format(self, fmt: str, first: FileEntry) -> ds.FileFormat:
        if fmt == "parquet":
            return ds.ParquetFileFormat()
        if fmt == "json":
            return ds.JsonFileFormat()
        encoding = self.source.options.get("encoding")
        if not encoding:
            data, _, _ = self.store.head(first, 64 * 1024)
            encoding = _detect_encoding(data)
        return ds.CsvFileFormat(
            parse_options=pacsv.ParseOptions(
                delimiter=self._delimiter(first.name), newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            read_options=pacsv.ReadOptions(encoding=encoding) if encoding else None,
        )

    def close(self) -> None:
        self.store = FileStore(self.source.url, self.source.options, self.password)


def _partition_expression(values: dict[str, str | None], fields: list[pa.Field]) -> ds.Expression:
    expression: ds.Expression = ds.scalar(True)
    for f in fields:
        if f.name not in values:
            continue
        value = values[f.name]
        if value is None:
            term = ds.field(f.name).is_null()
        else:
            term = ds.field(f.name) == pa.scalar(value, pa.string()).cast(f.type)
        expression = expression & term
    return expression


# A Parquet file's schema is in its footer: a query run again over the same files reads
# each footer once (a changed file has another size or modification time).
_PARQUET_SCHEMAS: LruCache[tuple[str, int, datetime], pa.Schema] = LruCache(1024)


def _first_file_schema(
    entry: FileEntry, fmt: str, file_format: ds.FileFormat, filesystem: pafs.FileSystem
) -> pa.Schema:
    """The schema the dataset takes from its first file (with the crawl's plain types)."""
    key = (
        (entry.url, entry.size, entry.modified)
        if fmt == "parquet" and entry.size is not None and entry.modified is not None
        else None
    )
    found = _PARQUET_SCHEMAS.get(key) if key is not None else None
    if found is None:
        # Through a factory rather than format.inspect(), which does not infer
        # compression from the extension.
        first = ds.dataset([entry.path], format=file_format, filesystem=filesystem)
        found = _plain_schema(first.schema)
        if key is not None:
            _PARQUET_SCHEMAS.put(key, found)
    return found
