"""Where file sources live: local paths, S3-compatible buckets and HTTP(S) servers.

:class:`FileStore` turns a file source's URL into an fsspec filesystem, tells a file from a
directory, lists the files below a directory with their sizes and modification times, reads
byte ranges (a Parquet footer, the head of a CSV file) and explains failures in terms of the
URL and what to do about them. Nothing here reads a whole file.

URLs and the paths fsspec uses for them:

* ``file:///abs/path`` -> ``/abs/path``
* ``s3://bucket/prefix`` -> ``bucket/prefix`` (a prefix is a directory)
* ``http(s)://host/path`` -> the URL itself; a directory is a page of links (an index page
  such as nginx's ``autoindex`` or Python's ``http.server`` writes).

S3 settings come from the source's options: ``endpoint_url`` for S3-compatible stores (MinIO,
Ceph, moto; else ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``), ``region`` and ``anon=true``
for public buckets. Credentials are never kept in the catalog: when the source has a password
(``--password-env`` / ``--password-file``) it is the secret access key and the option
``access_key_id`` names the key id; otherwise the standard AWS chain applies
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, profiles, instance roles).
"""

from __future__ import annotations

import bz2
import importlib.util
import os
import zlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    import pyarrow.fs as pafs

SCHEMES = ("file", "s3", "http", "https")

#: Names pyarrow and Spark treat as bookkeeping rather than data (_SUCCESS, .crc, _metadata).
IGNORED_PREFIXES = (".", "_")

#: Data formats by file extension (after any compression extension is removed).
FORMAT_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "json",
    ".ndjson": "json",
    ".json": "json",
}

#: Compression by extension, as pyarrow names the codec: the extensions pyarrow's datasets
#: recognise too (they do not take ".zst" for zstd, only ".zstd").
COMPRESSION_EXTENSIONS = {".gz": "gzip", ".bz2": "bz2", ".zstd": "zstd", ".lz4": "lz4"}

#: Optional packages each remote scheme needs: (module, pip requirement, guajie extra).
_DEPENDENCIES = {
    "s3": ("s3fs", "s3fs", "s3"),
    "http": ("aiohttp", "aiohttp", "http"),
    "https": ("aiohttp", "aiohttp", "http"),
}

#: Index pages fetched at once when listing an HTTP directory, and how deep to follow them.
LISTING_WORKERS = 16
MAX_DEPTH = 32

_TRUE = {"1", "true", "yes", "on"}
_S3_CONFIG = {
    "connect_timeout": 10,
    "read_timeout": 60,
    "retries": {"max_attempts": 2, "mode": "standard"},
    "max_pool_connections": 32,
}


class LocationError(Exception):
    """A failure put in the user's terms: what went wrong with which URL, and what to do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class FileName:
    """A file name split into stem, data extension and compression."""

    stem: str
    extension: str  # lowercased, with its dot: ".csv"; "" when there is none
    compression: str | None  # pyarrow codec name: "gzip", "bz2", "zstd"

    @classmethod
    def parse(cls, name: str) -> FileName:
        base = name.rstrip("/").rsplit("/", 1)[-1]
        compression = None
        root, ext = _split_ext(base)
        if ext in COMPRESSION_EXTENSIONS:
            compression = COMPRESSION_EXTENSIONS[ext]
            base = root
            root, ext = _split_ext(base)
        return cls(stem=root if ext else base, extension=ext, compression=compression)

    @property
    def format(self) -> str | None:
        return FORMAT_EXTENSIONS.get(self.extension)


def _split_ext(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    if dot <= 0:
        return name, ""
    return name[:dot], name[dot:].lower()


@dataclass(frozen=True)
class FileEntry:
    """One file below a source's root."""

    path: str  # the filesystem's name for it (for HTTP: the URL)
    url: str  # the full URL recorded in the catalog
    parts: tuple[str, ...]  # decoded path components below the listed directory
    size: int | None
    modified: datetime | None

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else unquote(self.path.rstrip("/").rsplit("/", 1)[-1])


def canonical_url(url: str) -> str:
    """The URL in the one form the catalog keeps; raise LocationError when it cannot work."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise LocationError(
            f"{url!r} is not a file source URL.",
            "Write file:///abs/dir_or_file, s3://bucket/prefix or https://host/path/file.parquet.",
        )
    if scheme == "file":
        if not rest.startswith("/"):
            raise LocationError(
                f"file URL {url!r} must hold an absolute path.",
                "Write file:///abs/path (three slashes, then the absolute path).",
            )
        path = rest.rstrip("/") or "/"
        return f"file://{path}"
    if scheme == "s3":
        bucket = rest.split("/", 1)[0]
        if not bucket:
            raise LocationError(
                f"S3 URL {url!r} names no bucket.", "Write s3://bucket or s3://bucket/prefix."
            )
        return f"s3://{rest.rstrip('/')}"
    parts = urlsplit(url)
    if not parts.netloc:
        raise LocationError(f"{url!r} names no host.", "Write http(s)://host/path/file.parquet.")
    if not parts.path.strip("/"):
        return f"{scheme}://{parts.netloc}/"
    return f"{scheme}://{rest.rstrip('/')}"


def modified_of(info: Mapping[str, Any]) -> datetime | None:
    """A file's modification time as an aware UTC datetime, from any fsspec info dict."""
    for key in ("mtime", "LastModified", "last_modified", "Last-Modified", "updated"):
        value = info.get(key)
        if value is None:
            continue
        stamp: datetime
        if isinstance(value, datetime):
            stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, int | float):
            stamp = datetime.fromtimestamp(value, UTC)
        else:
            try:
                stamp = parsedate_to_datetime(str(value))
            except (TypeError, ValueError):
                try:
                    stamp = datetime.fromisoformat(str(value))
                except ValueError:
                    continue
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).replace(microsecond=0)
    return None


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


class FileStore:
    """One file source's filesystem, addressed by the URLs the catalog records."""

    def __init__(self, url: str, options: Mapping[str, str], secret: str | None = None) -> None:
        self.url = canonical_url(url)
        self.scheme = self.url.split("://", 1)[0]
        self.options = dict(options)
        self._secret = secret
        self._fs: Any = None

    # -- the filesystem ----------------------------------------------------------------------

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = self._make_filesystem()
        return self._fs

    def _make_filesystem(self) -> Any:
        import fsspec

        if self.scheme == "file":
            return fsspec.filesystem("file")
        module, requirement, extra = _DEPENDENCIES[self.scheme]
        if not module_available(module):
            raise LocationError(
                f"reading {self.scheme}:// URLs needs the Python package {requirement}, "
                "which is not installed.",
                f"Install it with: pip install {requirement} (or pip install 'guajie[{extra}]').",
            )
        # Fresh instances without listing caches: a long-lived process must see new files.
        common: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
        if self.scheme == "s3":
            return fsspec.filesystem("s3", **common, **self._s3_options())
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15, sock_read=60)
        return fsspec.filesystem(self.scheme, **common, client_kwargs={"timeout": timeout})

    def _s3_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {"config_kwargs": dict(_S3_CONFIG)}
        if endpoint := self._s3_endpoint():
            opts["endpoint_url"] = endpoint
        if region := self.options.get("region"):
            opts["client_kwargs"] = {"region_name": region}
        if _truthy(self.options.get("anon")):
            opts["anon"] = True
        elif self._secret:
            key_id = self.options.get("access_key_id")
            if not key_id:
                raise LocationError(
                    "its password is used as the S3 secret access key, but the source has no "
                    "access_key_id option naming the key id.",
                    "Set the source option access_key_id (it is not secret), or drop the "
                    "password and use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
                )
            opts["key"] = key_id
            opts["secret"] = self._secret
        return opts

    @property
    def endpoint(self) -> str:
        """Who answers for this source, for messages."""
        if self.scheme == "s3":
            return str(self._s3_endpoint() or "AWS S3")
        if self.scheme == "file":
            return "the local filesystem"
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def _s3_endpoint(self) -> str | None:
        return (
            self.options.get("endpoint_url")
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )

    def arrow_filesystem(self) -> pafs.FileSystem:
        """The same filesystem for pyarrow.dataset (pyarrow's own for local paths)."""
        import pyarrow.fs as pafs

        if self.scheme == "file":
            return pafs.LocalFileSystem()
        return pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))

    # -- URLs and paths ----------------------------------------------------------------------

    def path_for(self, url: str) -> str:
        url = canonical_url(url)
        if not url.startswith(f"{self.scheme}://"):
            raise LocationError(
                f"{url} is not on the same kind of storage as the source ({self.url}).",
                "Locations must use the source's own URL scheme.",
            )
        if self.scheme in ("file", "s3"):
            return url.split("://", 1)[1]
        return url

    def url_for(self, path: str) -> str:
        if self.scheme == "file":
            return f"file://{path}"
        if self.scheme == "s3":
            return f"s3://{path}"
        return path

    # -- metadata ----------------------------------------------------------------------------

    def stat(self, url: str) -> tuple[bool, FileEntry]:
        """Whether ``url`` is a directory, and its entry; raises what fsspec raises."""
        path = self.path_for(url)
        info = self.fs.info(path)
        is_dir = info.get("type") == "directory"
        if self.scheme in ("http", "https"):
            # An HTTP server answers a directory with its index page.
            mimetype = str(info.get("mimetype") or "")
            is_dir = url.endswith("/") or (
                mimetype.startswith("text/html") and FileName.parse(path).format is None
            )
        name = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        entry = FileEntry(
            path=path,
            url=canonical_url(url),
            parts=(name,),
            size=None if is_dir else _size(info),
            modified=modified_of(info),
        )
        return is_dir, entry

    def list_files(self, url: str) -> list[FileEntry]:
        """Every file below directory ``url``, in path order, bookkeeping files left out."""
        root = self.path_for(url).rstrip("/")
        prefix = root + "/"
        if self.scheme in ("http", "https"):
            found = self._find_http(prefix)
        else:
            found = self.fs.find(root, detail=True)
        entries = []
        for name, info in sorted(found.items()):
            if info.get("type") == "directory" or name.endswith("/") or not name.startswith(prefix):
                continue
            rel = name[len(prefix) :]
            if self.scheme in ("http", "https"):
                if "?" in rel or "#" in rel:
                    continue  # sorting links of an index page
                parts = tuple(unquote(p) for p in rel.split("/"))
            else:
                parts = tuple(rel.split("/"))
            if any(not p or p.startswith(IGNORED_PREFIXES) for p in parts):
                continue
            entries.append(
                FileEntry(
                    path=name,
                    url=self.url_for(name),
                    parts=parts,
                    size=_size(info),
                    modified=modified_of(info),
                )
            )
        return entries

    def _find_http(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Follow an HTTP directory's index pages down, one level at a time, concurrently.

        fsspec's own ``find`` lists one page after another and drops the trailing slash of
        each directory, which costs every directory a redirect.
        """
        found: dict[str, dict[str, Any]] = {}
        seen = {prefix}
        level = [prefix]
        with ThreadPoolExecutor(
            max_workers=LISTING_WORKERS, thread_name_prefix="guajie-list"
        ) as pool:
            for _ in range(MAX_DEPTH):
                if not level:
                    break
                following: list[str] = []
                for listing in pool.map(lambda u: self.fs.ls(u, detail=True), level):
                    for info in listing:
                        name = str(info["name"])
                        if not name.startswith(prefix) or name in seen:
                            continue
                        seen.add(name)
                        if info.get("type") != "directory":
                            found[name] = info
                        elif not unquote(name.rstrip("/").rsplit("/", 1)[-1]).startswith(
                            IGNORED_PREFIXES
                        ):
                            following.append(name if name.endswith("/") else name + "/")
                level = following
        return found

    def complete(self, entry: FileEntry) -> FileEntry:
        """The entry with size and modification time (an HTTP index page gives neither)."""
        if entry.size is not None:
            return entry
        info = self.fs.info(entry.path)
        return replace(entry, size=_size(info), modified=entry.modified or modified_of(info))

    # -- bytes -------------------------------------------------------------------------------

    def tail(self, entry: FileEntry, length: int) -> bytes:
        """The last ``length`` bytes (the whole file when it is shorter): one request."""
        if entry.size == 0:
            return b""
        if entry.size is not None and entry.size <= length:
            return bytes(self.fs.cat_file(entry.path))
        return bytes(self.fs.cat_file(entry.path, start=-length))

    def read_range(self, entry: FileEntry, start: int, end: int) -> bytes:
        return bytes(self.fs.cat_file(entry.path, start=start, end=end))

    def head(self, entry: FileEntry, length: int) -> tuple[bytes, bool, int]:
        """Up to ``length`` bytes from the start, decompressed.

        Returns the bytes, whether they are the whole file, and how many stored (compressed)
        bytes they took, for scaling estimates to the file's size.
        """
        if entry.size == 0:
            return b"", True, 0
        compression = FileName.parse(entry.name).compression
        if compression is None:
            data = bytes(self.fs.cat_file(entry.path, start=0, end=length + 1))
            return data[:length], len(data) <= length, min(len(data), length)
        with self.fs.open(entry.path, "rb", block_size=256 * 1024) as raw:
            data, consumed = _decompress_head(raw, compression, length + 1)
        # The stored bytes behind the part returned, for scaling to the file's stored size.
        kept = data[:length]
        stored = round(consumed * len(kept) / len(data)) if data else consumed
        return kept, len(data) <= length, stored

    # -- errors ------------------------------------------------------------------------------

    def explain(self, exc: BaseException, url: str) -> LocationError:
        """``exc``, raised while reading ``url``, as a message and what to do."""
        if isinstance(exc, LocationError):
            return exc
        chain = _chain(exc)
        names = {type(e).__name__ for e in chain}
        text = " ".join(str(e) for e in chain)
        where = url.removeprefix("file://") if self.scheme == "file" else url
        if isinstance(exc, ImportError):
            return LocationError(
                f"reading {where} needs a package that is not installed ({exc.name or exc}).",
                f"Install it with: pip install {exc.name or 'the missing package'}.",
            )
        if self.scheme == "s3":
            return self._explain_s3(exc, names, text, where)
        if self.scheme in ("http", "https"):
            return self._explain_http(chain, names, where)
        if isinstance(exc, FileNotFoundError):
            return LocationError(
                f"the file or directory {where} does not exist.",
                "Check the path, or re-register the source with the right file:/// URL.",
            )
        if isinstance(exc, PermissionError):
            return LocationError(
                f"permission to read {where} was denied.",
                "Check that the user running guajie may read it (and list its directories).",
            )
        return LocationError(
            f"cannot read {where} ({type(exc).__name__}: {exc}).",
            "Check that the path is a readable file or directory.",
        )

    def _explain_s3(
        self, exc: BaseException, names: set[str], text: str, where: str
    ) -> LocationError:
        bucket = where.removeprefix("s3://").split("/", 1)[0]
        endpoint = self.endpoint
        lowered = text.lower()
        if names & {"NoCredentialsError", "PartialCredentialsError"}:
            return LocationError(
                f"no S3 credentials were found for {where}.",
                "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the source a "
                "--password-env holding the secret key plus the option access_key_id, or set "
                "the option anon=true for a public bucket.",
            )
        if names & {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ConnectionClosedError",
            "ClientConnectorError",
            "ConnectionRefusedError",
            "ServerDisconnectedError",
        }:
            return LocationError(
                f"cannot reach the S3 endpoint {endpoint} to read {where}.",
                "Check that the object store is running and that the endpoint_url option (or "
                "AWS_ENDPOINT_URL) points at it.",
            )
        if isinstance(exc, PermissionError) or any(
            code in text
            for code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden")
        ):
            return LocationError(
                f"access to {where} was denied by {endpoint} ({_first_line(exc)}).",
                "Check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or the "
                "source's password and access_key_id option) and the bucket's policy.",
            )
        if (
            "nosuchbucket" in lowered
            or "bucket does not exist" in lowered
            or (isinstance(exc, FileNotFoundError) and not self._bucket_exists(bucket))
        ):
            return LocationError(
                f"the bucket {bucket} does not exist at {endpoint}.",
                "Check the bucket name in the URL (s3://bucket/prefix) and the endpoint_url "
                "and region options.",
            )
        if isinstance(exc, FileNotFoundError):
            return LocationError(
                f"nothing exists at {where} (no object and no prefix of that name).",
                "Check the key or prefix in the URL; listing the bucket shows what it holds.",
            )
        return LocationError(
            f"cannot read {where} from {endpoint} ({type(exc).__name__}: {_first_line(exc)}).",
            "Check the URL, the endpoint_url and region options, and the credentials.",
        )

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.fs.ls(bucket)
        except Exception:
            return False
        return True

    def _explain_http(
        self, chain: list[BaseException], names: set[str], where: str
    ) -> LocationError:
        status = next((s for e in chain if isinstance(s := getattr(e, "status", None), int)), None)
        if status is None and names & {
            "ClientConnectorError",
            "ConnectionRefusedError",
            "ServerDisconnectedError",
            "ClientOSError",
            "TimeoutError",
            "ServerTimeoutError",
        }:
            return LocationError(
                f"cannot reach {self.endpoint} to read {where}.",
                "Check that the server is running and the host and port in the URL.",
            )
        if status in (401, 403):
            return LocationError(
                f"{where} answered {status} {'Unauthorized' if status == 401 else 'Forbidden'}.",
                "guajie reads HTTP sources without credentials; publish the file where it may "
                "be read, or serve it from S3 instead.",
            )
        if status == 404 or (status is None and isinstance(chain[0], FileNotFoundError)):
            return LocationError(
                f"{where} answered 404 Not Found.",
                "Check the URL; a directory URL must lead to an index page listing its files.",
            )
        return LocationError(
            f"cannot read {where} ({type(chain[0]).__name__}: {_first_line(chain[0])}).",
            "Check the URL and that the server supports HEAD and byte-range requests.",
        )


def _decompress_head(raw: Any, compression: str, length: int) -> tuple[bytes, int]:
    """At least ``length`` decompressed bytes (fewer at the end), and the stored bytes read.

    gzip and bz2 are fed in small steps so that the ratio of output to input stays exact;
    other codecs go through pyarrow, whose read-ahead makes the ratio approximate.
    """
    if compression not in ("gzip", "bz2"):
        import pyarrow as pa

        stream = pa.CompressedInputStream(raw, compression)
        return bytes(stream.read(length)), raw.tell()

    def decompressor() -> Any:
        return zlib.decompressobj(wbits=47) if compression == "gzip" else bz2.BZ2Decompressor()

    out: list[bytes] = []
    produced = consumed = 0
    engine = decompressor()
    while produced < length:
        chunk = raw.read(16 * 1024)
        if not chunk:
            break
        consumed += len(chunk)
        while chunk:
            piece = engine.decompress(chunk)
            out.append(piece)
            produced += len(piece)
            chunk = engine.unused_data if engine.eof else b""
            if engine.eof:  # a concatenated (multi-member) file goes on
                engine = decompressor()
    return b"".join(out)[:length], consumed


def module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _size(info: Mapping[str, Any]) -> int | None:
    size = info.get("size")
    return int(size) if isinstance(size, int | float) else None


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 8:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
