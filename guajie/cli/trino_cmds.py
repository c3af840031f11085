"""``guajie trino``: catalogs for a Trino cluster, and the connection options of ``--engine trino``.

\b
guajie trino sync                 # one Trino catalog per source; Hive tables for files
guajie trino sync --files-only    # only write the catalog files (deploy them yourself)
guajie trino status               # the server, its catalogs, what is not served and why
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from guajie.cli.output import json_option, print_json, table

connection_options = [
    click.option(
        "--trino-url",
        help="Trino coordinator URL (default: trino.url in guajie.yaml, $GUAJIE_TRINO_URL, "
        "http://127.0.0.1:8080).",
    ),
    click.option("--trino-user", help="User the queries run as (default: trino.user or guajie)."),
    click.option(
        "--trino-password-env",
        metavar="VAR",
        help="Environment variable holding the Trino password (https only).",
    ),
    click.option(
        "--trino-verify",
        metavar="true|false|CA.pem",
        help="Verify the server's TLS certificate (or with this CA bundle).",
    ),
]


def with_connection_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--trino-url/--trino-user/--trino-password-env/--trino-verify`` to a command."""
    for option in reversed(connection_options):
        f = option(f)
    return f


def trino_settings(ctx: click.Context, **options: Any) -> Any:
    """The workspace's Trino settings with the command-line options applied."""
    from guajie.cli import open_catalog
    from guajie.federation.trino import load_settings

    catalog = open_catalog(ctx)
    return catalog, load_settings(catalog.workspace, **trino_overrides(**options))


def trino_overrides(**options: Any) -> dict[str, Any]:
    """The settings given by ``--trino-*`` options (those not given are left out)."""
    given = {
        "url": options.get("trino_url"),
        "user": options.get("trino_user"),
        "password_env": options.get("trino_password_env"),
        "verify": options.get("trino_verify"),
    }
    return {k: v for k, v in given.items() if v is not None}


def trino_engine(ctx: click.Context, **options: Any) -> Any:
    """A :class:`~guajie.federation.trino.TrinoEngine` for ``guajie query/explain --engine trino``."""
    from guajie.federation.trino import TrinoEngine

    catalog, settings = trino_settings(ctx, **options)
    return TrinoEngine(catalog, settings)


@click.group()
def trino() -> None:
    """Run scenarios on a Trino cluster: one Trino catalog per source, the same SQL."""


@trino.command("sync")
@with_connection_options
@click.option(
    "--files-only",
    is_flag=True,
    help="Only write the catalog files; do not contact Trino (a static cluster loads them "
    "from etc/catalog after a restart).",
)
@click.option(
    "--dir",
    "catalog_dir",
    type=click.Path(file_okay=False),
    help="Where the catalog files go (default: trino.catalog_dir, <workspace>/trino/catalog).",
)
@click.option(
    "--force", is_flag=True, help="Replace catalogs and files of the same name not made by guajie."
)
@json_option
@click.pass_context
def trino_sync(
    ctx: click.Context,
    files_only: bool,
    catalog_dir: str | None,
    force: bool,
    as_json: bool,
    **options: Any,
) -> None:
    """Write a Trino catalog for every source Trino can serve, and load them.

    PostgreSQL and MySQL/MariaDB sources get a JDBC catalog whose password is a
    ${ENV:VAR} reference, never the password; file sources (Parquet, CSV, local or S3) a
    Hive catalog with one external table per dataset. Catalogs are named after sources, so
    source.schema.table means the same on both engines. Running it again changes only what
    changed; a removed source loses its catalog.
    """
    from guajie.federation.trino import sync_catalogs

    catalog, settings = trino_settings(ctx, **options)
    if catalog_dir:
        settings = settings.with_overrides(catalog_dir=catalog_dir)
    report = sync_catalogs(catalog, settings, apply=not files_only, force=force)
    if as_json:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        ctx.exit(1)


def _print_report(report: Any) -> None:
    rows = []
    for r in report.results:
        what = r.action
        if r.action in ("created", "updated", "unchanged") and r.connector == "hive":
            changed = [t for t in r.changed_tables if not t.startswith("-")]
            what += f", {r.tables} tables" + (f" ({len(changed)} registered)" if changed else "")
        rows.append([r.source, r.kind, r.connector or "", what, r.reason or ""])
    table(None, ["source", "kind", "trino connector", "catalog", "note"], rows)
    for r in report.results:
        for dataset, why in sorted(r.unserved.items()):
            click.echo(f"not served: {dataset}: {why}")
    click.echo(f"Catalog files: {report.catalog_dir}")
    env = report.server_env
    if env:
        click.echo("The Trino server needs these environment variables:")
        for var, purpose in env.items():
            click.echo(f"  {var}  ({purpose})")
    if report.restart_needed:
        click.echo(
            "Trino loads catalog files at start: copy them to the cluster's etc/catalog and "
            "restart it, then run `guajie trino sync` again to register the file tables."
        )


@trino.command("status")
@with_connection_options
@json_option
@click.pass_context
def trino_status(ctx: click.Context, as_json: bool, **options: Any) -> None:
    """Show the Trino server, its catalogs, and each source's catalog (or why it has none)."""
    status = trino_engine(ctx, **options).status()
    if as_json:
        print_json(status)
        return
    click.echo(f"Trino {status['version']} at {status['url']}, up {status['uptime']}")
    rows = [
        [name, s["kind"], s["catalog"] or "-", s["unserved"] or ""]
        for name, s in status["sources"].items()
    ]
    table(None, ["source", "kind", "trino catalog", "not served because"], rows)
    others = sorted(set(status["catalogs"]) - set(status["sources"]) - {"system"})
    if others:
        click.echo(f"Other catalogs on the server: {', '.join(others)}")


COMMANDS = [trino]
