"""``guajie export`` and ``guajie apply``: the catalog as a reviewed file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from guajie.cli.output import json_option, print_json


@click.command("export")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="File to write (default stdout)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json", "dcat"]),
    default="yaml",
    show_default=True,
    help="dcat: W3C DCAT JSON-LD for open-data portals.",
)
@click.option("--open-only", is_flag=True, help="dcat: only datasets open to the public.")
@click.pass_context
def export(ctx: click.Context, output: str | None, fmt: str, open_only: bool) -> None:
    """Write the catalog as metadata-as-code (YAML/JSON) or DCAT."""
    from guajie.catalog.manifest import dump_yaml, export_manifest
    from guajie.cli import open_catalog

    catalog = open_catalog(ctx)
    if fmt == "dcat":
        from guajie.catalog.dcat import dcat_catalog

        text = json.dumps(
            dcat_catalog(catalog.sources(), catalog.datasets(), open_only=open_only),
            ensure_ascii=False,
            indent=2,
        )
    else:
        data = export_manifest(catalog.store)
        text = dump_yaml(data) if fmt == "yaml" else json.dumps(data, ensure_ascii=False, indent=2)
    if output is None:
        click.echo(text)
        return
    path = Path(output)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    click.echo(f"Wrote {path}.", err=True)


@click.command("apply")
@click.option(
    "-f",
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Catalog file written by `guajie export` (YAML or JSON).",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@json_option
@click.pass_context
def apply(ctx: click.Context, path: Path, dry_run: bool, as_json: bool) -> None:
    """Make the catalog match a file, in one transaction (idempotent)."""
    from guajie.catalog.manifest import apply_manifest, load_manifest
    from guajie.cli import open_catalog

    manifest = load_manifest(path)
    result = apply_manifest(open_catalog(ctx).store, manifest, dry_run=dry_run)
    if as_json:
        print_json(
            {
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "dry_run": dry_run,
            }
        )
        return
    verb = "Would change" if dry_run else "Changed"
    click.echo(f"{verb} {result.changed} record(s); {result.unchanged} unchanged.")
    for name in result.created:
        click.echo(f"  + {name}")
    for name in result.updated:
        click.echo(f"  ~ {name}")


COMMANDS = [export, apply]
