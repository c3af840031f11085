"""``guajie report``: the governance report as one self-contained HTML file."""

from __future__ import annotations

import click


@click.command("report")
@click.option(
    "--html",
    "path",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="Write the report to this HTML file (self-contained: it works opened from disk).",
)
@click.option(
    "--runs", type=int, default=50, show_default=True, help="Recent runs listed in the report."
)
@click.pass_context
def report(ctx: click.Context, path: str, runs: int) -> None:
    """Write the lineage and governance report: the lineage graph by dataset and by column,
    impact, usage and 数据应用渗透率, personal-information flows and recent runs.

    \b
    guajie report --html report.html
    """
    from guajie.cli import open_catalog
    from guajie.lineage.report import write_report

    written = write_report(open_catalog(ctx), path, runs=runs)
    click.echo(f"Wrote {written}.", err=True)


COMMANDS = [report]
