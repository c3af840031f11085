"""Passwords are referenced, never stored: by environment variable name or secret file."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SourceError
from .models import Source


def resolve_password(source: Source) -> str | None:
    if source.password_env:
        value = os.environ.get(source.password_env)
        if value is None:
            raise SourceError(
                source.name,
                f"its password is read from the environment variable {source.password_env}, "
                "which is not set.",
                f"Set {source.password_env} before running guajie, or change where the "
                f"password comes from with `guajie source add {source.name} ... --password-file`.",
            )
        return value
    if source.password_file:
        path = Path(source.password_file).expanduser()
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise SourceError(
                source.name,
                f"cannot read its password file {path} ({exc.strerror}).",
                "Check the path and that this user may read it.",
            ) from None
    return None
