"""The HTTP service for scenario apps: federated queries and catalog reads over one workspace.

An app authenticates with a scenario's API token (``guajie token create``) and queries as
that scenario; every query is audited with client ``http``. Answers come back whole, as an
Arrow IPC stream or JSON, within the service's row, byte and time limits. Errors are JSON
``{"error": {"status", "code", "message", "hint"}}``, without data values, secrets or
tracebacks.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from guajie import __version__
from guajie.catalog.errors import GuajieError, NotFoundError, SourceError
from guajie.catalog.tokens import Token, TokenError, Tokens
from guajie.federation.errors import ExecutionError
from guajie.lineage.audit import DENIED, audited, decision_for, public_reason, referenced

from .limits import BodyLimit
from .sessions import Busy, SessionPool

log = logging.getLogger("guajie.server")

ARROW_STREAM = "application/vnd.apache.arrow.stream"
SETTINGS_ENV = "GUAJIE_SERVE_SETTINGS"


@dataclass
class ServeSettings:
    """What `guajie serve` is started with."""

    home: str
    max_rows: int = 1_000_000
    max_bytes: int = 256 * 1024 * 1024  # Arrow in-memory size of the answer
    timeout: float = 60.0  # seconds per query, waiting for a free session included
    max_body: int = 1024 * 1024  # bytes of a request body
    sessions: int = 8  # queries running at once in one worker

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1, max_length=200_000, description="One read-only SELECT.")
    format: Literal["arrow", "json"] = Field(
        "json", description=f"`arrow`: an Arrow IPC stream ({ARROW_STREAM}); `json`: columns+rows."
    )
    dialect: str | None = Field(
        None, max_length=32, description="SQL dialect of `sql` (default: trino)."
    )
    engine: Literal["embedded", "trino"] | None = Field(
        None, description="Where the query runs (default: embedded)."
    )

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str | None) -> str | None:
        import sqlglot

        if value is not None and sqlglot.Dialect.get(value.lower()) is None:
            raise ValueError("not a SQL dialect guajie reads (e.g. trino, mysql, postgres)")
        return value.lower() if value is not None else None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.hint:
            body["hint"] = self.hint
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse({"error": body}, status_code=self.status, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown, revoked or expired token"},
    403: {"description": "Refused by the scenario's policy"},
    400: {"description": "The SQL cannot be run as written"},
    408: {"description": "The query ran past the time limit"},
    413: {"description": "The request body or the result is over a limit"},
    422: {"description": "The request body is not valid JSON of the expected shape"},
    502: {"description": "A source or the engine failed"},
    503: {"description": "Every query session stayed busy"},
}


def _api_error(exc: BaseException, known: set[str] | None = None) -> ApiError:
    """The HTTP form of an exception raised while serving a request."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, TokenError):
        return ApiError(401, "unauthorized", exc.message, exc.hint)
    if isinstance(exc, GuajieError):
        message = public_reason(GuajieError(exc.message), known or ())
        if decision_for(exc) == DENIED:
            return ApiError(403, "denied", message, exc.hint)
        if isinstance(exc, Busy):
            return ApiError(503, "busy", message, exc.hint)
        if isinstance(exc, NotFoundError):
            return ApiError(404, "not_found", message, exc.hint)
        if isinstance(exc, ExecutionError) and "timed out" in exc.message:
            return ApiError(408, "timeout", message, exc.hint)
        if isinstance(exc, SourceError | ExecutionError):
            return ApiError(502, "engine_failed", message, exc.hint)
        return ApiError(400, "bad_query", message, exc.hint)
    log.exception("guajie serve: unexpected failure", exc_info=exc)
    return ApiError(500, "internal", "The service failed unexpectedly; its log has the details.")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date | clock):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(type(value).__name__)


def render(table: pa.Table, fmt: str) -> Response:
    if fmt == "arrow":
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(sink.getvalue(), media_type=ARROW_STREAM)
    table = _without_nonfinite(table)
    body = {
        "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema],
        "rows": [list(r.values()) for r in table.to_pylist()],
        "row_count": table.num_rows,
    }
    text = json.dumps(
        body, ensure_ascii=False, default=_jsonable, separators=(",", ":"), allow_nan=False
    )
    return Response(text.encode(), media_type="application/json")


def _without_nonfinite(table: pa.Table) -> pa.Table:
    """NaN and infinities become null: JSON has no spelling for them."""
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            column = table.column(i)
            bad = pc.or_kleene(pc.is_nan(column), pc.is_inf(column))
            if pc.any(bad).as_py():
                fixed = pc.if_else(bad, pa.scalar(None, field.type), column)
                table = table.set_column(i, field, fixed)
    return table


def collect(
    reader: pa.RecordBatchReader, settings: ServeSettings, deadline: float
) -> tuple[list[pa.RecordBatch], ApiError | None]:
    """Read the answer within the limits; on a limit, what was read and the error to send."""
    batches: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in reader:
        rows += batch.num_rows
        size += batch.nbytes
        if rows > settings.max_rows:
            return batches, ApiError(
                413,
                "result_too_large",
                f"The answer has more than {settings.max_rows:,} rows, this service's limit.",
                "Aggregate, filter or add a LIMIT.",
            )
        if size > settings.max_bytes:
            return batches, ApiError(
                413,
                "result_too_large",
                f"The answer is larger than {settings.max_bytes:,} bytes, this service's limit.",
                "Select fewer columns, filter or add a LIMIT.",
            )
        if time.monotonic() > deadline:
            return batches, _timed_out(settings)
        batches.append(batch)
    return batches, None


def _timed_out(settings: ServeSettings) -> ApiError:
    return ApiError(
        408,
        "timeout",
        f"The query ran longer than {settings.timeout:g} s, this service's limit.",
        "Make the query cheaper (filter, aggregate) or ask for a longer --timeout.",
    )


_bearer = HTTPBearer(auto_error=False, description="A scenario's token from `guajie token create`.")


def _token_of(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    return creds.credentials if creds is not None else None


#: The bearer token of a request, checked inside the request's session.
Secret = Annotated[str | None, Depends(_token_of)]


def create_app(settings: ServeSettings) -> FastAPI:
    pool = SessionPool(settings.home, settings.sessions, timeout=settings.timeout)
    app = FastAPI(
        title="guajie",
        version=__version__,
        description="Federated SQL over a city's catalog for scenario apps, with per-scenario "
        "tokens and an audit log of every query.",
    )
    app.add_middleware(BodyLimit, max_body=settings.max_body)
    app.state.pool = pool
    app.state.settings = settings
    app.router.add_event_handler("shutdown", pool.close)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # The default body echoes the input back; only where and what is said here.
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse(
            {
                "error": {
                    "status": 422,
                    "code": "invalid_request",
                    "message": "The request body is not valid: "
                    + "; ".join(f"{'.'.join(p['loc'])}: {p['msg']}" for p in problems),
                    "hint": 'Send JSON like {"sql": "SELECT ...", "format": "json"}.',
                    "problems": problems,
                }
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return ApiError(exc.status_code, "http", str(exc.detail)).response()

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _api_error(exc).response()

    @app.get("/v1/health", summary="Whether the service and its catalog store answer")
    def health() -> dict[str, Any]:
        try:
            with pool.session(wait=settings.timeout) as session, session.catalog.store.read():
                pass
        except Exception as exc:
            raise ApiError(503, "unhealthy", "The catalog store does not answer.") from exc
        return {"status": "ok", "version": __version__}

    @app.post(
        "/v1/query",
        summary="Run one read-only SELECT as the token's scenario",
        responses={
            200: {
                "content": {ARROW_STREAM: {}, "application/json": {}},
                "description": "The whole answer, as an Arrow IPC stream or JSON",
            },
            **_ERRORS,
        },
    )
    def query(body: QueryRequest, secret: Secret) -> Response:
        deadline = time.monotonic() + settings.timeout
        try:
            with pool.session(wait=settings.timeout) as session:
                with audited(  # a refused token is audited as well
                    session,
                    body.sql,
                    dialect=body.dialect,
                    scenario=None,
                    user="unauthenticated",
                    engine=body.engine or "embedded",
                ):
                    token = Tokens(session.catalog.store).authenticate(secret)
                table = _run(session, token, body, settings, deadline)
        except Exception as exc:
            # Names the caller wrote may be repeated in the message; any other quoted text goes.
            tables, names = referenced(body.sql, body.dialect)
            raise _api_error(exc, names | set(tables)) from None
        return render(table, body.format)

    @contextlib.contextmanager
    def token_session(secret: str | None, known: set[str] | None = None) -> Iterator[Any]:
        """A session for a caller whose token holds; any failure becomes its HTTP error."""
        try:
            with pool.session(wait=settings.timeout) as session:
                Tokens(session.catalog.store).authenticate(secret)
                yield session
        except Exception as exc:
            raise _api_error(exc, known) from None

    @app.get("/v1/catalog/datasets", summary="Datasets in the catalog", responses=_ERRORS)
    def datasets(secret: Secret, source: str | None = None) -> list[dict[str, Any]]:
        with token_session(secret) as session:
            return [_summary(d) for d in session.catalog.datasets(source=source)]

    @app.get(
        "/v1/catalog/datasets/{qualified_name}",
        summary="One dataset with its columns",
        responses=_ERRORS,
    )
    def dataset(qualified_name: str, secret: Secret) -> dict[str, Any]:
        with token_session(secret, _parts(qualified_name)) as session:
            found, _ = session.catalog.resolve(qualified_name)
            return _detail(found)

    @app.get(
        "/v1/lineage/{qualified_name}",
        summary="Where a dataset comes from, what derives from it, who uses it",
        responses=_ERRORS,
    )
    def lineage(qualified_name: str, secret: Secret) -> dict[str, Any]:
        from guajie.lineage.governance import Governance

        with token_session(secret, _parts(qualified_name)) as session:
            shown: dict[str, Any] = Governance(session.catalog).show(qualified_name)
            return json.loads(json.dumps(shown, default=_jsonable))  # type: ignore[no-any-return]

    return app


def _run(
    session: Any, token: Token, body: QueryRequest, settings: ServeSettings, deadline: float
) -> pa.Table:
    session.timeout = max(0.001, deadline - time.monotonic())  # what is left of the limit
    result = session.execute(
        body.sql,
        scenario=token.scenario,
        user=token.user,
        dialect=body.dialect,
        engine=body.engine,
    )
    batches, problem = collect(result.reader, settings, deadline)
    if problem is not None:
        # Audit and end the run now, while this request still holds the session.
        result.audit.abandon(problem.message, rows=0)  # nothing is returned
        result.close()
        raise problem
    return pa.Table.from_batches(batches, schema=result.reader.schema)


def _parts(name: str) -> set[str]:
    """A name the caller sent, and its parts: fit to repeat in an error message."""
    parts = name.split(".")
    return {name, *parts, *(".".join(parts[i:]) for i in range(len(parts)))}


def _summary(d: Any) -> dict[str, Any]:
    return {
        "qualified_name": d.qualified_name,
        "source": d.source,
        "schema": d.schema_name,
        "name": d.name,
        "kind": d.kind,
        "title": d.title,
        "resource_code": d.resource_code,
        "row_count": d.row_count,
        "columns": len(d.columns),
    }


def _detail(d: Any) -> dict[str, Any]:
    doc: dict[str, Any] = d.model_dump(mode="json", by_alias=True, exclude_none=True)
    doc["qualified_name"] = d.qualified_name
    for column in doc.get("columns", []):
        stats = column.get("stats")
        if stats:
            # Smallest and largest values are data values: not served.
            stats.pop("min", None)
            stats.pop("max", None)
    return doc


def app_from_environment() -> FastAPI:
    """The app for each worker process of ``guajie serve --workers N``."""
    return create_app(ServeSettings(**json.loads(os.environ[SETTINGS_ENV])))
