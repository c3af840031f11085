"""Errors in scenario SQL. Each says where (line, column, token) and what to do."""

from __future__ import annotations

from guajie.catalog.errors import GuajieError


class QueryError(GuajieError):
    """The query cannot be planned as written."""


class QuerySyntaxError(QueryError):
    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        token: str | None = None,
    ) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        near = f" near {token!r}" if token else ""
        super().__init__(
            f"Syntax error{where}{near}: {message}",
            "Check the SQL; guajie reads ANSI/Trino SQL unless --dialect says otherwise.",
        )
        self.line, self.column, self.token = line, column, token


class ReadOnlyError(QueryError):
    """Anything but one read-only query is refused before any source is touched."""


class ExecutionError(GuajieError):
    """A source or the local engine failed while running a plan."""


class PolicyError(QueryError):
    """The query asks for data its scenario (or the workspace's default policy) does not
    grant. Raised while planning, before any source is touched."""
