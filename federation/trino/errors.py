"""Errors of the Trino engine, each naming what failed (the server, a source) and what to do.

Everything raised to callers is a :class:`~guajie.catalog.errors.GuajieError`, so the CLI
prints one paragraph and no traceback. Messages never carry secrets: a password a driver
may echo is removed with :func:`~guajie.catalog.errors.redact`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from guajie.catalog.errors import (
    GuajieError,
    InvalidInputError,
    SourceError,
    redact,
    without_values,
)


class TrinoError(GuajieError):
    """Something about the Trino server or a query on it."""


class TrinoUnreachableError(TrinoError):
    """No Trino answers at the configured URL."""


class TrinoAuthError(TrinoError):
    """Trino refused the user, the password or the TLS handshake."""


class TrinoQueryError(TrinoError):
    """Trino accepted the query and failed while planning or running it."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        error_name: str | None = None,
        query_id: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.error_name = error_name
        self.query_id = query_id


class TrinoCatalogError(SourceError):
    """Trino rejected the catalog guajie wrote for a source, or lacks one."""


class NotServedError(SourceError):
    """A query names a dataset that Trino cannot serve (an SQLite source, say)."""


class TrinoConfigError(InvalidInputError):
    """The Trino settings (workspace file, environment, options) do not work."""


# Trino's error names that mean "the catalog or its remote system is the problem".
_SOURCE_ERRORS = {
    "JDBC_ERROR",
    "JDBC_NON_TRANSIENT_ERROR",
    "HIVE_CANNOT_OPEN_SPLIT",
    "HIVE_BAD_DATA",
    "HIVE_CURSOR_ERROR",
    "HIVE_FILESYSTEM_ERROR",
    "HIVE_METASTORE_ERROR",
    "HIVE_PARTITION_SCHEMA_MISMATCH",
    "HIVE_UNKNOWN_ERROR",
    "HIVE_INVALID_METADATA",
    "HIVE_FILE_NOT_FOUND",
    "CATALOG_NOT_AVAILABLE",
    "CONNECTOR_INITIALIZATION_ERROR",
}

_CATALOG_IN_MESSAGE = re.compile(r"[Cc]atalog '([a-z][a-z0-9_]*)'")


def _first_line(text: str, limit: int = 400) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= limit else line[: limit - 1] + "…"


def query_failure(
    exc: BaseException,
    sources: Iterable[str],
    *,
    url: str,
    secrets: Iterable[str | None] = (),
) -> GuajieError:
    """Turn a failure of the ``trino`` client into an error naming the source and the cause."""
    known = sorted(set(sources))
    secret_values = tuple(secrets)
    name = getattr(exc, "error_name", None)
    message = without_values(redact(str(getattr(exc, "message", None) or exc), *secret_values))
    query_id = getattr(exc, "query_id", None)
    text = _first_line(message)
    lowered = message.lower()
    if _is_connection_error(exc):
        return unreachable(url, exc)
    if name in ("CATALOG_NOT_FOUND", "SCHEMA_NOT_FOUND", "TABLE_NOT_FOUND"):
        missing = _named_source(message, known)
        what = f"source '{missing}'" if missing else "a source of this query"
        return TrinoQueryError(
            f"Trino does not know {what}: {text}",
            "Run `guajie trino sync` so that Trino has a catalog for every source it can serve "
            "(and, after a static deployment, restart Trino).",
            error_name=name,
            query_id=query_id,
        )
    if name in _SOURCE_ERRORS or "connection refused" in lowered:
        culprit = _named_source(message, known)
        where = f"source '{culprit}'" if culprit else f"one of its sources ({', '.join(known)})"
        return TrinoQueryError(
            f"Trino could not read {where}: {text}",
            "Check that the source answers from the Trino server (host, port, network), and "
            "that the server has the source's password variable in its environment; "
            "`guajie trino status` lists the catalogs Trino has.",
            error_name=name,
            query_id=query_id,
        )
    if name in (
        "EXCEEDED_LOCAL_MEMORY_LIMIT",
        "EXCEEDED_GLOBAL_MEMORY_LIMIT",
        "CLUSTER_OUT_OF_MEMORY",
    ):
        return TrinoQueryError(
            f"Trino ran out of memory for this query: {text}",
            "Filter earlier, or raise query.max-memory(-per-node) on the Trino cluster.",
            error_name=name,
            query_id=query_id,
        )
    if name == "EXCEEDED_TIME_LIMIT" or "timed out" in lowered:
        return TrinoQueryError(
            f"The query took too long on Trino: {text}",
            "Raise the timeout, or narrow the query.",
            error_name=name,
            query_id=query_id,
        )
    if name in ("PERMISSION_DENIED", "ACCESS_DENIED"):
        return TrinoAuthError(
            f"Trino refused the query: {text}",
            "Ask the Trino administrator for access to these catalogs.",
        )
    kind = "Trino could not plan the query" if _is_user_error(exc) else "Trino failed"
    return TrinoQueryError(
        f"{kind} ({name or type(exc).__name__}): {text}",
        "The SQL guajie sent is shown by `guajie explain --engine trino`; "
        + (f"Trino query id {query_id}." if query_id else "see the Trino server log."),
        error_name=name,
        query_id=query_id,
    )


def _named_source(message: str, sources: list[str]) -> str | None:
    for source in sources:
        if re.search(rf"(?<![a-z0-9_]){re.escape(source)}(?![a-z0-9_])", message):
            return source
    m = _CATALOG_IN_MESSAGE.search(message)
    return m.group(1) if m else None


def _is_user_error(exc: BaseException) -> bool:
    return type(exc).__name__ == "TrinoUserError"


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and _is_connection_error(cause)


def unreachable(url: str, exc: BaseException | None = None) -> TrinoUnreachableError:
    detail = f" ({_first_line(_root_cause(exc), 200)})" if exc is not None else ""
    return TrinoUnreachableError(
        f"No Trino answers at {url}{detail}.",
        "Start one with `make trino` (or `python scripts/trino.py start`), or point guajie at "
        "your cluster: `trino: {url: ...}` in guajie.yaml, $GUAJIE_TRINO_URL or --trino-url.",
    )


def _root_cause(exc: BaseException | None) -> str:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    text = str(exc) if exc is not None else ""
    m = re.search(r"\[Errno -?\d+\] [^'\")]+|Connection refused|Name or service not known", text)
    return m.group(0) if m else text
