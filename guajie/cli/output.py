"""Rendering for the CLI: human tables by default, ``--json`` for machines."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(width=width, soft_wrap=False, highlight=False)


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value: Any) -> None:
    click.echo(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2))


def table(
    title: str | None,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    empty: str = "Nothing to show.",
) -> None:
    if not rows:
        click.echo(empty)
        return
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False, box=None, pad_edge=False)
    for h in headers:
        t.add_column(h, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console().print(t)


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    from rich.cells import cell_len  # CJK characters take two cells

    width = max(cell_len(k) for k, _ in pairs)
    for key, value in pairs:
        if value not in (None, "", []):
            click.echo(f"{key}{' ' * (width - cell_len(key))}  {value}")


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def human_delta(d: timedelta) -> str:
    days = d.days
    if days >= 2:
        return f"{days} days"
    hours = int(d.total_seconds() // 3600)
    return f"{hours} h" if hours else f"{int(d.total_seconds() // 60)} min"


def progress_bar(label: str) -> Callable[[int, int], None] | None:
    """A progress callback for long work, shown only on a terminal."""
    if not sys.stderr.isatty():
        return None
    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state.get("done", 0))
        state["done"] = done
        if done >= total:
            state.pop("bar").__exit__(None, None, None)
            state.pop("done", None)

    return update
