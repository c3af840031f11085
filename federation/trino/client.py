"""A connection to Trino: statements, small answers, and results streamed as Arrow.

Built on the ``trino`` client's DB-API with raw JSON values (``legacy_primitive_types``):
the per-value Python mapping is skipped and each page is turned into Arrow column by column
(:func:`~.types.column_to_arrow`). Every failure becomes a :class:`~.errors.TrinoError`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from .errors import TrinoAuthError, TrinoConfigError, query_failure, unreachable
from .settings import TrinoSettings
from .types import column_to_arrow

BATCH_ROWS = 65_536
# How the client reports a 401: "error 401: b'Access Denied: Invalid credentials'" (476),
# "401 Client Error: Unauthorized" (requests).
_UNAUTHORIZED = re.compile(
    r"\b(error 401|401 Client Error|401 Unauthorized)\b|\b401\b.*Unauthorized"
)


def _import_trino() -> Any:
    try:
        import trino
        import trino.dbapi
    except ImportError:
        raise TrinoConfigError(
            "The Trino engine needs the Python package 'trino', which is not installed.",
            "Install it with: pip install 'guajie[trino]' (or pip install trino).",
        ) from None
    return trino


def _http_session(verify: bool | str) -> Any:
    """A requests session that keeps the configured ``verify``.

    requests lets ``$REQUESTS_CA_BUNDLE`` / ``$CURL_CA_BUNDLE`` replace a session's own
    ``verify`` on every request, which would drop a private CA given in trino.verify (or
    turn verification back on). Only the default, ``true``, follows the environment.
    """
    import requests

    class PinnedVerify(requests.Session):
        def merge_environment_settings(self, *args: Any, **kwargs: Any) -> Any:
            merged = super().merge_environment_settings(*args, **kwargs)
            if self.verify is not True:
                merged["verify"] = self.verify
            return merged

    session = PinnedVerify()
    session.verify = verify
    return session


@dataclass
class TrinoClient:
    """Statements on one Trino server, as one user; thread-safe for separate cursors."""

    settings: TrinoSettings
    sources: Sequence[str] = ()  # for messages: the sources a failure may concern
    _connection: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- connections ----------------------------------------------------------------------

    def connect(self, **session: str) -> Any:
        trino = _import_trino()
        s = self.settings
        auth = None
        password = s.password()
        if password is not None:
            auth = trino.auth.BasicAuthentication(s.user, password)
        properties = {**s.session_properties, **session}
        kwargs: dict[str, Any] = {
            "host": s.host,
            "port": s.port,
            "user": s.user,
            "http_scheme": s.http_scheme,
            "source": "guajie",
            "auth": auth,
            "verify": s.verify,
            "request_timeout": s.request_timeout,
            "legacy_primitive_types": True,
            "timezone": "UTC",
            "session_properties": properties or None,
            "max_attempts": 2,
            "http_session": _http_session(s.verify),
        }
        if s.encoding:
            kwargs["encoding"] = s.encoding
        return trino.dbapi.connect(**kwargs)

    def _secrets(self) -> tuple[str | None, ...]:
        try:
            return (self.settings.password(),)
        except TrinoConfigError:
            return ()

    def failure(self, exc: BaseException, sources: Iterable[str] | None = None) -> Exception:
        text = str(exc)
        if (
            _UNAUTHORIZED.search(text)
            or "Authentication failed" in text
            or "Invalid credentials" in text
        ):
            return TrinoAuthError(
                f"Trino at {self.settings.url} refused user '{self.settings.user}': "
                "wrong or missing password.",
                "Check trino.user and the variable named by trino.password_env.",
            )
        if "SSL" in text or "CERTIFICATE_VERIFY_FAILED" in text:
            return TrinoAuthError(
                f"The TLS handshake with {self.settings.url} failed: {text.splitlines()[0][:200]}",
                "Set trino.verify to the CA bundle that signed the server's certificate.",
            )
        return query_failure(
            exc,
            self.sources if sources is None else sources,
            url=self.settings.url,
            secrets=self._secrets(),
        )

    # -- statements -----------------------------------------------------------------------

    def rows(
        self, sql: str, *, sources: Iterable[str] | None = None, **session: str
    ) -> list[list[Any]]:
        """Run ``sql`` and return all its rows (raw JSON values); for small answers."""
        cursor = self._cursor(**session)
        try:
            cursor.execute(sql)
            return [list(r) for r in cursor.fetchall()]
        except Exception as exc:
            raise self.failure(exc, sources) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def execute(self, sql: str, *, sources: Iterable[str] | None = None) -> None:
        self.rows(sql, sources=sources)

    def ping(self) -> dict[str, Any]:
        """The server's ``/v1/info``; raises TrinoUnreachableError when nobody answers."""
        import requests

        try:
            response = requests.get(
                f"{self.settings.url}/v1/info",
                timeout=min(self.settings.request_timeout, 10),
                verify=self.settings.verify,
            )
            response.raise_for_status()
            info: dict[str, Any] = response.json()
        except requests.exceptions.SSLError as exc:
            raise self.failure(exc) from None
        except (requests.exceptions.RequestException, ValueError) as exc:
            raise unreachable(self.settings.url, exc) from None
        if info.get("starting"):
            raise unreachable(self.settings.url, RuntimeError("the server is still starting"))
        return info

    def query_info(self, query_id: str, *, wait: float = 2.0) -> dict[str, Any] | None:
        """Trino's ``QueryInfo`` of a query (``/v1/query/{id}``), once final if that comes
        within ``wait`` seconds; None when the server no longer has it or does not answer.

        Statistics are bookkeeping: their absence never fails the query they describe.
        """
        import time

        import requests

        secrets = self._secrets()
        password = secrets[0] if secrets else None
        auth = (self.settings.user, password) if password is not None else None
        deadline = time.monotonic() + wait
        info: dict[str, Any] | None = None
        while True:
            try:
                response = requests.get(
                    f"{self.settings.url}/v1/query/{query_id}",
                    headers={"X-Trino-User": self.settings.user},
                    auth=auth,
                    verify=self.settings.verify,
                    timeout=min(self.settings.request_timeout, 10),
                )
                if response.status_code != 200:
                    return info
                info = dict(response.json())
            except (requests.exceptions.RequestException, ValueError):
                return info
            if info.get("finalQueryInfo") or time.monotonic() >= deadline:
                return info
            time.sleep(0.05)

    def _cursor(self, **session: str) -> Any:
        if session:
            return self.connect(**session).cursor()
        with self._lock:
            if self._connection is None:
                self._connection = self.connect()
            return self._connection.cursor()

    # -- results as Arrow -----------------------------------------------------------------

    def stream(
        self,
        sql: str,
        names: Sequence[str] | None = None,
        *,
        sources: Iterable[str] | None = None,
        batch_rows: int = BATCH_ROWS,
    ) -> ArrowStream:
        """Start ``sql``; its rows stream as Arrow record batches (see :class:`ArrowStream`)."""
        cursor = self.connect().cursor()
        try:
            cursor.execute(sql)
            description = cursor.description
        except Exception as exc:
            with contextlib.suppress(Exception):
                cursor.close()
            raise self.failure(exc, sources) from None
        return ArrowStream(self, cursor, description, names, sources, batch_rows)


class ArrowStream:
    """The rows of one running query, page by page, as Arrow; cancels the query when closed
    before the end."""

    def __init__(
        self,
        client: TrinoClient,
        cursor: Any,
        description: Sequence[Any],
        names: Sequence[str] | None,
        sources: Iterable[str] | None,
        batch_rows: int,
    ) -> None:
        self.client = client
        self.cursor = cursor
        self.types = [d[1] for d in description]
        trino_names = [d[0] for d in description]
        self.names = (
            list(names) if names is not None and len(names) == len(trino_names) else trino_names
        )
        self.sources = list(sources) if sources is not None else None
        self.batch_rows = batch_rows
        self.rows = 0
        self.done = False
        self._first: pa.RecordBatch | None = None
        self.schema = self._peek_schema()

    @property
    def query_id(self) -> str | None:
        return getattr(self.cursor, "query_id", None)

    def _fetch(self) -> list[Any]:
        try:
            return list(self.cursor.fetchmany(self.batch_rows))
        except Exception as exc:
            self.close()
            raise self.client.failure(exc, self.sources) from None

    def _batch(self, rows: list[Any]) -> pa.RecordBatch:
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in self.types]
        arrays = [
            column_to_arrow(list(values), trino_type)
            for values, trino_type in zip(columns, self.types, strict=True)
        ]
        return pa.RecordBatch.from_arrays(arrays, names=self.names)

    def _peek_schema(self) -> pa.Schema:
        rows = self._fetch()
        if not rows:
            self.done = True
        batch = self._batch(rows)
        self._first = batch
        return batch.schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            if self._first is not None:
                first, self._first = self._first, None
                if first.num_rows:
                    self.rows += first.num_rows
                    yield first
            while not self.done:
                rows = self._fetch()
                if not rows:
                    self.done = True
                    break
                batch = self._batch(rows)
                if batch.schema != self.schema:
                    batch = _conform(batch, self.schema)
                self.rows += batch.num_rows
                yield batch
        finally:
            self.close()

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())

    def close(self) -> None:
        if not self.done:
            with contextlib.suppress(Exception):
                self.cursor.cancel()
        self.done = True
        with contextlib.suppress(Exception):
            self.cursor.close()

    @property
    def stats(self) -> dict[str, Any]:
        return dict(getattr(self.cursor, "stats", None) or {})


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A later page whose values made Arrow infer another type: cast it to the first's."""
    arrays = []
    for column, target in zip(batch.columns, schema, strict=True):
        if column.type == target.type:
            arrays.append(column)
            continue
        try:
            arrays.append(column.cast(target.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            arrays.append(
                pa.array([None if v is None else str(v) for v in column.to_pylist()], target.type)
            )
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
