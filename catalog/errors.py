"""Errors a user can act on.

Every error guajie raises on bad input is a :class:`GuajieError`: one paragraph that says
what went wrong and what to do. The CLI prints it without a traceback and exits non-zero.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


class GuajieError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class NotFoundError(GuajieError):
    """A named source, dataset or column is not in the catalog."""


class ConflictError(GuajieError):
    """A name is already taken."""


class InvalidInputError(GuajieError):
    """A file, flag or value does not pass validation."""


class SourceError(GuajieError):
    """A source could not be reached or read; always names the source."""

    def __init__(self, source: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"Source '{source}': {message}", hint)
        self.source = source


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f"Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def redact(text: str, *secrets: str | None) -> str:
    """Remove secret values from a message that a driver may have echoed them into."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


_SINGLE_QUOTED_RE = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE_QUOTED_RE = re.compile(r'"([^"]*)"')
# Quoted names (sources, tables, columns) stay; anything starting with a digit, or holding
# a space, a mask character or a non-ASCII letter, is treated as a value.
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_LONG_NUMBER_RE = re.compile(r"\d{7,}")  # phone, card and ID numbers; not ports


def without_values(text: str) -> str:
    """A query engine's message with the data values it may quote replaced by '…'.

    Engines quote the offending value ("could not convert string '3501...' to INT64"); a
    value may be personal information the caller was never meant to see. Identifiers stay.
    """
    text = _SINGLE_QUOTED_RE.sub(
        lambda m: m.group(0) if _NAME_RE.fullmatch(m.group(1)) else "'…'", text
    )
    text = _DOUBLE_QUOTED_RE.sub(
        lambda m: m.group(0) if _NAME_RE.fullmatch(m.group(1)) else '"…"', text
    )
    return _LONG_NUMBER_RE.sub("…", text)


def scrub_values(exc: GuajieError) -> GuajieError:
    """``exc`` with :func:`without_values` applied to its message, in place."""
    exc.message = without_values(exc.message)
    exc.args = (exc.message, *exc.args[1:])
    return exc


_PASSWORD_IN_URL_RE = re.compile(r"^([^:/]+://[^/@:]*):[^/@]*@")


def url_without_password(url: str) -> str:
    """A URL fit for a message: any password in it replaced by ***."""
    return _PASSWORD_IN_URL_RE.sub(r"\1:***@", url)
