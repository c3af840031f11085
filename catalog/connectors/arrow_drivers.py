"""Columnar drivers behind :meth:`PostgresConnector.fetch` and :meth:`MySQLConnector.fetch`.

Both connectors read a pushed-down fragment with a driver that decodes rows into Arrow in
native code, and keep their row-by-row path (psycopg, pymysql) for what such a driver cannot
type exactly and for installations without it:

* PostgreSQL: ``adbc-driver-postgresql`` (``COPY ... TO STDOUT (FORMAT binary)`` decoded by
  the driver), streamed batch by batch;
* MySQL / MariaDB: ``connectorx``, read whole into Arrow (its streaming mode holds the GIL
  while it waits for the server and has no back-pressure), then handed out in batches.

This module holds what the two have in common: optional imports, a cache of ADBC database
handles, error-text clean-up, vectorised conversions and re-batching.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from decimal import Context, Decimal, InvalidOperation
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    import pyarrow as pa

# --------------------------------------------------------------------------------------------
# Optional drivers


@functools.cache
def optional_module(name: str) -> ModuleType | None:
    """``name`` imported, or None when it is not installed (or fails to load)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def adbc_postgresql() -> tuple[ModuleType, ModuleType] | None:
    """``(adbc_driver_manager, adbc_driver_postgresql)``, or None without them."""
    manager = optional_module("adbc_driver_manager")
    driver = optional_module("adbc_driver_postgresql")
    if manager is None or driver is None:
        return None
    return manager, driver


def connectorx() -> ModuleType | None:
    return optional_module("connectorx")


class IdleConnections:
    """Open connections waiting, per key, for their next use: a login costs about 12 ms on
    loopback and several round trips over a slow link. Kept for ``IDLE_SECONDS`` at most;
    a forked child never takes its parent's. What may be kept is the caller's decision."""

    IDLE_SECONDS = 30.0
    MAX_IDLE = 4

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[Hashable, list[tuple[float, Any]]] = {}
        self._pid = os.getpid()

    def take(self, key: Hashable) -> Any | None:
        """An idle connection for ``key``, or None."""
        stale: list[Any] = []
        found = None
        with self._lock:
            if self._pid != os.getpid():  # a forked child never shares its parent's sockets
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.get(key, [])
            now = time.monotonic()
            while idle and found is None:
                since, conn = idle.pop()
                if now - since <= self.IDLE_SECONDS:
                    found = conn
                else:
                    stale.append(conn)
        _close_quietly(stale)
        return found

    def keep(self, key: Hashable, conn: Any) -> None:
        """Keep ``conn`` for the next :meth:`take` (closed when enough wait already)."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if self._pid == os.getpid() and len(idle) < self.MAX_IDLE:
                idle.append((time.monotonic(), conn))
                return
        _close_quietly([conn])

    def drop(self, key: Hashable) -> None:
        with self._lock:
            idle = self._idle.pop(key, [])
        _close_quietly([conn for _, conn in idle])


def _close_quietly(connections: Iterable[Any]) -> None:
    for conn in connections:
        with contextlib.suppress(Exception):
            conn.close()


class AdbcDatabases:
    """ADBC database handles, one per connection URI, kept for the life of the process.

    Initialising a PostgreSQL database handle opens a connection of its own to load the
    server's type catalogue (about 80 ms on loopback); connections made from a kept handle
    cost one login (about 12 ms). Handles are not safe for concurrent use, so connections
    are made under a lock. A handle whose type catalogue went stale (a type created since)
    is dropped with :meth:`forget`.

    Connections are pooled: :meth:`checkout` hands out one that finished a fetch cleanly
    (rolled back by :meth:`checkin`, which undoes whatever settings its statement changed),
    so a fetch costs no login and, over a slow link, none of a login's round trips.
    """

    MAX_HANDLES = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handles: OrderedDict[str, Any] = OrderedDict()
        self._idle = IdleConnections()
        self._pid = os.getpid()

    def checkout(self, uri: str) -> tuple[Any, bool]:
        """A connection to ``uri``: an idle one (True) or a new one (False), not in
        autocommit. The caller starts each use with its own transaction settings."""
        found = self._idle.take(uri)
        if found is not None:
            return found, True
        conn = self.connect(uri)
        try:
            conn.set_options(**{"adbc.connection.autocommit": "false"})
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()
            raise
        return conn, False

    def checkin(self, uri: str, conn: Any) -> None:
        """Give back a connection whose fetch ended cleanly. Its transaction is rolled
        back, which also undoes any setting the fetch's statement changed."""
        try:
            conn.rollback()
        except Exception:
            _close_quietly([conn])
            return
        self._idle.keep(uri, conn)

    def connect(self, uri: str) -> Any:
        """A new ``AdbcConnection`` (autocommit) to ``uri``; raises the driver's errors."""
        found = adbc_postgresql()
        assert found is not None
        manager, driver = found
        with self._lock:
            if self._pid != os.getpid():  # a forked child never shares its parent's sockets
                self._handles, self._pid = OrderedDict(), os.getpid()
            database = self._handles.get(uri)
            if database is None:
                database = driver.connect(uri)
                self._handles[uri] = database
                while len(self._handles) > self.MAX_HANDLES:
                    self._handles.popitem(last=False)  # open connections keep theirs alive
            else:
                self._handles.move_to_end(uri)
            try:
                return manager.AdbcConnection(database)
            except Exception:
                self._handles.pop(uri, None)  # e.g. a changed password: start afresh
                raise

    def forget(self, uri: str) -> None:
        with self._lock:
            self._handles.pop(uri, None)
        self._idle.drop(uri)


ADBC_DATABASES = AdbcDatabases()


# --------------------------------------------------------------------------------------------
# Error texts


def redact_secret(text: str, secret: str | None) -> str:
    """``text`` without ``secret``, whether written plainly or percent-encoded in a URI."""
    if not secret:
        return text
    for form in {secret, quote(secret, safe=""), quote(secret)}:
        text = text.replace(form, "***")
    return text


_ADBC_PREFIX_RE = re.compile(r"^(?:[A-Z_]+: )?(?:\[libpq\] )?")
_SERVER_MESSAGE_RE = re.compile(r"\b(?:ERROR|FATAL|PANIC):\s+(.+)")


def adbc_server_message(exc: BaseException) -> str:
    """The server's own one-line message inside an ADBC PostgreSQL error."""
    details = dict(getattr(exc, "details", None) or [])
    primary = details.get(b"PG_DIAG_MESSAGE_PRIMARY")
    if primary:
        return bytes(primary).decode("utf-8", "replace").strip()
    text = str(exc)
    if m := _SERVER_MESSAGE_RE.search(text):
        return m.group(1).strip()
    text = _ADBC_PREFIX_RE.sub("", text.strip())
    return text.splitlines()[0].strip() if text else "unknown error"


def adbc_connect_text(exc: BaseException) -> str:
    """An ADBC connection error's libpq text, without the driver's prefixes."""
    text = _ADBC_PREFIX_RE.sub("", str(exc).strip())
    return text.removeprefix("Failed to connect: ")


def is_rust_panic(exc: BaseException) -> bool:
    """Whether ``exc`` is a Rust panic surfaced by a native extension (pyo3)."""
    return type(exc).__name__ == "PanicException"


# --------------------------------------------------------------------------------------------
# Arrow helpers


def rebatch(batches: Iterable[pa.RecordBatch], max_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of ``batches`` in batches of at most ``max_rows`` (zero-copy slices)."""
    for batch in batches:
        if batch.num_rows <= max_rows:
            if batch.num_rows:
                yield batch
            continue
        for start in range(0, batch.num_rows, max_rows):
            yield batch.slice(start, max_rows)


_NUMERIC_CONTEXT = Context(prec=80)
_NON_FINITE = ("nan", "inf", "-inf", "NaN", "Infinity", "-Infinity")
# Wide enough for every unconstrained numeric PostgreSQL prints for usual data; values with
# more digits go through Python's decimal module.
_WIDE_DECIMAL = (76, 30)


def numeric_text_to_decimal(
    values: pa.Array, target: pa.DataType, *, round_places: int | None = None
) -> pa.Array:
    """Decimal text (PostgreSQL numeric output) as ``target``; NaN and infinities -> null.

    With ``round_places`` the values are first rounded half-to-even to that many places
    (as :meth:`decimal.Decimal.quantize` does by default); otherwise they must fit exactly.
    Raises ``pyarrow.ArrowInvalid`` for a value that does not fit ``target``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    values = values.cast(pa.string())
    special = pc.is_in(values, value_set=pa.array(_NON_FINITE, pa.string()))
    if pc.any(special).as_py():
        values = pc.if_else(special, pa.scalar(None, pa.string()), values)
    try:
        return values.cast(target)
    except pa.ArrowInvalid:
        if round_places is None:
            raise
    try:
        wide = values.cast(pa.decimal256(*_WIDE_DECIMAL))
        rounded = pc.round(wide, ndigits=round_places, round_mode="half_to_even")
        return rounded.cast(target)
    except pa.ArrowInvalid:
        pass
    quantum = Decimal(1).scaleb(-round_places)

    def exact(text: str | None) -> Decimal | None:
        if text is None:
            return None
        try:
            return Decimal(text).quantize(quantum, context=_NUMERIC_CONTEXT)
        except InvalidOperation:
            raise pa.ArrowInvalid(f"numeric value {text[:40]} does not fit {target}") from None

    return pa.array([exact(v) for v in values.to_pylist()], type=target)


def map_values(values: pa.Array, target: pa.DataType, convert: Callable[[Any], Any]) -> pa.Array:
    """``convert`` applied to every Python value of ``values`` (for rare types only)."""
    import pyarrow as pa

    return pa.array([convert(v) for v in values.to_pylist()], type=target)


def map_list_values(values: pa.Array, convert: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """A list array whose child values went through ``convert`` (offsets and nulls kept)."""
    import pyarrow as pa

    assert isinstance(values, pa.ListArray)
    child = convert(values.values)
    return pa.ListArray.from_arrays(values.offsets, child, mask=values.is_null())


__all__ = [
    "ADBC_DATABASES",
    "AdbcDatabases",
    "IdleConnections",
    "adbc_connect_text",
    "adbc_postgresql",
    "adbc_server_message",
    "connectorx",
    "is_rust_panic",
    "map_list_values",
    "map_values",
    "numeric_text_to_decimal",
    "optional_module",
    "rebatch",
    "redact_secret",
]
