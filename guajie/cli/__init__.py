"""The ``guajie`` command: a thin click layer over the Python API.

Each command opens the workspace, calls one method, and renders the answer as a table or,
with ``--json``, as JSON. Errors on bad input print one paragraph and exit non-zero.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from guajie import __version__
from guajie.catalog.errors import GuajieError, without_values


class GuajieGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GuajieError as exc:
            click.secho(f"Error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; nothing half-written was kept.", err=True)
            ctx.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("GUAJIE_DEBUG"):
                raise
            # A bug, not bad input: say so plainly; the traceback is one variable away.
            message = without_values(f"{type(exc).__name__}: {exc}".splitlines()[0])
            click.secho(f"Internal error: {message}", err=True, fg="red")
            click.echo(
                "This is a bug in guajie, not in your input; nothing half-written was kept. "
                "Run again with GUAJIE_DEBUG=1 for the traceback and report it.",
                err=True,
            )
            ctx.exit(70)


@click.group(cls=GuajieGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    envvar="GUAJIE_HOME",
    type=click.Path(file_okay=False),
    help="Workspace directory (default: $GUAJIE_HOME or ./.guajie).",
)
@click.version_option(__version__, prog_name="guajie")
@click.pass_context
def main(ctx: click.Context, home: str | None) -> None:
    """guajie (挂接): a catalog of a city's data sources, and federated SQL over them.

    Register departmental sources, crawl their schemas without copying data, and
    describe them the way the government resource catalog asks.
    """
    ctx.obj = {"home": home}


def open_catalog(ctx: click.Context):  # type: ignore[no-untyped-def]
    from guajie.catalog.ledger import Catalog

    root = ctx.find_root()
    catalog = Catalog.open(root.obj.get("home") if root.obj else None)
    root.call_on_close(catalog.workspace.close)
    return catalog


from guajie.cli import (  # noqa: E402
    audit_cmds,
    catalog_cmds,
    lineage_cmds,
    metadata_cmds,
    query_cmds,
    report_cmds,
    scenario_cmds,
    serve_cmds,
    source_cmds,
    token_cmds,
    trino_cmds,
)

for command in (
    *source_cmds.COMMANDS,
    *catalog_cmds.COMMANDS,
    *metadata_cmds.COMMANDS,
    *query_cmds.COMMANDS,
    *lineage_cmds.COMMANDS,
    *scenario_cmds.COMMANDS,
    *report_cmds.COMMANDS,
    *trino_cmds.COMMANDS,
    *token_cmds.COMMANDS,
    *audit_cmds.COMMANDS,
    *serve_cmds.COMMANDS,
):
    main.add_command(command)


def run() -> None:  # pragma: no cover - console entry point alias
    sys.exit(main())
