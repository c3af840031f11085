"""``guajie audit``: search, export and verify the append-only audit log of queries.

\b
guajie audit search --decision denied --since 2026-11-01
guajie audit export -o audit.jsonl
guajie audit verify
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from guajie.cli.output import json_option, print_json, table

_DECISIONS = click.Choice(["allowed", "denied", "failed"])


@click.group()
def audit() -> None:
    """Every query, allowed, denied or failed: who, scenario, SQL, datasets, rows.

    The log is append-only: guajie has no way to change or remove an entry, and each entry
    holds the hash of the one before it, so tampering breaks the chain (`audit verify`).
    """


def _log(ctx: click.Context):  # type: ignore[no-untyped-def]
    from guajie.cli import open_catalog
    from guajie.lineage.audit import AuditLog

    return AuditLog(open_catalog(ctx).store)


def _utc(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def filter_options(f: Any) -> Any:
    for option in reversed(
        [
            click.option("--user", help="Only queries by this user (tokens: token:ID)."),
            click.option("--scenario", help="Only queries run as this scenario."),
            click.option("--decision", type=_DECISIONS, help="Only this decision."),
            click.option("--dataset", help="Only queries touching this dataset (full name)."),
            click.option(
                "--client", type=click.Choice(["python", "cli", "http"]), help="Only this client."
            ),
            click.option(
                "--since", type=click.DateTime(), help="Only queries started since (UTC)."
            ),
            click.option(
                "--until", type=click.DateTime(), help="Only queries started before (UTC)."
            ),
        ]
    ):
        f = option(f)
    return f


def _filters(options: dict[str, Any]) -> dict[str, Any]:
    return {
        **options,
        "since": _utc(options.get("since")),
        "until": _utc(options.get("until")),
    }


@audit.command("search")
@filter_options
@click.option("--limit", type=int, default=50, show_default=True)
@json_option
@click.pass_context
def audit_search(ctx: click.Context, limit: int, as_json: bool, **options: Any) -> None:
    """Audited queries, newest first."""
    entries = _log(ctx).search(limit=limit, **_filters(options))
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    table(
        None,
        ["seq", "started", "user", "scenario", "client", "decision", "rows", "datasets", "sql"],
        [
            (
                e.seq,
                e.started_at[:19],
                e.user,
                e.scenario or "",
                e.client,
                e.decision if e.complete or e.decision != "allowed" else "allowed (partial)",
                "" if e.rows is None else e.rows,
                ", ".join(e.datasets),
                e.sql if len(e.sql) <= 80 else e.sql[:79] + "…",
            )
            for e in entries
        ],
        empty="No audited queries match.",
    )


@audit.command("export")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), required=True, help="File to write, or -."
)
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "csv"]), help="Default: from the file name."
)
@filter_options
@click.pass_context
def audit_export(ctx: click.Context, output: str, fmt: str | None, **options: Any) -> None:
    """Write audited queries, oldest first, as JSON lines or CSV."""
    from guajie.lineage.audit import export_kind

    log = _log(ctx)
    entries = log.search(limit=None, oldest_first=True, **_filters(options))
    if output == "-":
        log.export(sys.stdout, fmt or "jsonl", entries)
        return
    path = Path(output)
    kind = export_kind(path, fmt)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        count = log.export(out, kind, entries)
    tmp.replace(path)
    click.echo(f"Wrote {count:,} audit entries to {path}.", err=True)


@audit.command("verify")
@click.option("--head", help="A head hash noted earlier: the chain must still contain it.")
@json_option
@click.pass_context
def audit_verify(ctx: click.Context, head: str | None, as_json: bool) -> None:
    """Check the hash chain: exit 0 when no entry was changed, removed or inserted."""
    found = _log(ctx).verify(head=head)
    if as_json:
        print_json(found.to_dict())
    elif found.ok:
        click.echo(f"The audit log is intact: {found.entries:,} entries, head {found.head}.")
    else:
        click.secho(f"The audit log was tampered with: {found.problem}.", fg="red", err=True)
    if not found.ok:
        ctx.exit(2)


COMMANDS = [audit]
