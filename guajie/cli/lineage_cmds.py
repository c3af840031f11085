"""``guajie lineage ...``: run records, lineage, impact, usage and personal-information flows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from guajie.cli.output import json_option, print_json, table


@click.group()
def lineage() -> None:
    """Who uses what, and what derives from what (数据血缘).

    Every query run is recorded with what it read, and results written back with
    `guajie query ... --into NAME` carry column-level lineage to their inputs.
    """


def _governance(ctx: click.Context) -> Any:
    from guajie.cli import open_catalog
    from guajie.lineage.governance import Governance

    return Governance(open_catalog(ctx))


def _when(stamp: str | None) -> str:
    return (stamp or "")[:19].replace("T", " ")


def _how(edge: dict[str, Any]) -> str:
    text = edge["subtype"].lower()
    return f"{text}, masked" if edge.get("masking") else text


@lineage.command("show")
@click.argument("dataset")
@json_option
@click.pass_context
def lineage_show(ctx: click.Context, dataset: str, as_json: bool) -> None:
    """Where a dataset's columns come from, its recipe, what derives from it, who uses it."""
    found = _governance(ctx).show(dataset)
    if as_json:
        print_json(found)
        return
    click.echo(f"dataset     {found['dataset']}")
    usage = found["usage"]
    click.echo(
        f"usage       {usage['runs']} run(s)"
        + (f", scenarios {', '.join(usage['scenarios'])}" if usage["scenarios"] else "")
        + (f", last {_when(usage['last_used'])}" if usage["last_used"] else "")
    )
    if found["upstream"]:
        click.echo(f"derived from {', '.join(found['upstream'])}")
    if found["downstream"]:
        click.echo(f"feeds       {', '.join(found['downstream'])}")
    recipe = found.get("recipe")
    if recipe:
        click.echo(
            f"recipe      run {recipe['run_id']}"
            + (f" (scenario {recipe['scenario']})" if recipe["scenario"] else "")
            + f"; rebuild with `guajie lineage rerun {found['dataset']}`"
        )
    rows = [
        (column, f"{e['dataset']}.{e['column']}", _how(e))
        for column, edges in found["columns"].items()
        for e in edges
    ]
    if rows:
        click.echo("")
        table("column lineage", ["column", "from", "how"], rows)
    if found["dataset_lineage"]:
        click.echo("")
        table(
            "rows decided by (filters, joins, grouping, sorting)",
            ["from", "how"],
            [(f"{e['dataset']}.{e['column']}", _how(e)) for e in found["dataset_lineage"]],
        )
    sensitive = found.get("sensitive_columns") or []
    if sensitive:
        click.echo("")
        table(
            "personal information",
            ["column", "kind", "review", "reason"],
            [(s["column"], s["kind"], s["review"], s["reason"]) for s in sensitive],
        )
    if recipe:
        click.echo("\nSQL:\n  " + recipe["sql"])


@lineage.command("impact")
@click.argument("target")
@click.option(
    "--runs", "recent", type=int, default=10, show_default=True, help="Recent runs listed."
)
@json_option
@click.pass_context
def lineage_impact(ctx: click.Context, target: str, recent: int, as_json: bool) -> None:
    """Everything downstream of SOURCE.SCHEMA.TABLE[.COLUMN], transitively.

    Derived datasets (and which of their columns), the scenarios that read any of it, and
    the runs that did.
    """
    impact = _governance(ctx).impact(target, recent=recent)
    if as_json:
        print_json(impact.to_dict())
        return
    click.echo(f"Impact of {impact.target}:")
    table(
        "derived datasets",
        ["dataset", "depth", "columns", "via"],
        [
            (
                d["dataset"],
                d["depth"],
                "(all)" if d["columns"] is None else ", ".join(d["columns"]),
                ", ".join(d["via"]),
            )
            for d in impact.derived
        ],
        empty="No derived dataset depends on it.",
    )
    click.echo("")
    table(
        "scenarios",
        ["scenario", "runs", "last use", "reads"],
        [
            (s["scenario"], s["runs"], _when(s["last_used"]), ", ".join(s["datasets"]))
            for s in impact.scenarios
        ],
        empty="No scenario reads it.",
    )
    click.echo(f"\n{impact.run_count:,} completed run(s) read it or something derived from it.")
    if impact.recent_runs:
        _runs_table(impact.recent_runs)


@lineage.command("usage")
@click.option("--limit", type=int, default=30, show_default=True, help="Datasets listed.")
@click.option("--unused", "only_unused", is_flag=True, help="List only the datasets nobody uses.")
@json_option
@click.pass_context
def lineage_usage(ctx: click.Context, limit: int, only_unused: bool, as_json: bool) -> None:
    """Runs, scenarios and last use per dataset; unused datasets; 数据应用渗透率."""
    usage = _governance(ctx).usage(top=limit)
    if as_json:
        print_json(usage)
        return
    if only_unused:
        for name in usage["unused"]:
            click.echo(name)
        return
    click.echo(
        f"数据应用渗透率 penetration rate: {usage['penetration']:.1%} "
        f"({usage['used']:,} of {usage['datasets']:,} datasets read by a completed run)"
    )
    click.echo("")
    table(
        "by source",
        ["source", "used", "datasets", "rate"],
        [
            (s["source"], s["used"], s["datasets"], f"{s['penetration']:.1%}")
            for s in usage["by_source"]
        ],
    )
    click.echo("")
    table(
        "most used",
        ["dataset", "runs", "scenarios", "last use"],
        [
            (
                u["dataset"] + (" (derived)" if u.get("derived") else ""),
                u["runs"],
                ", ".join(u.get("top_scenarios", []))
                or (f"{u['scenarios']} scenario(s)" if u["scenarios"] else "(ad hoc only)"),
                _when(u["last_used"]),
            )
            for u in usage["usage"][:limit]
        ],
        empty="No dataset has been used by a completed run yet.",
    )
    if usage["scenarios"]:
        click.echo("")
        table(
            "scenarios",
            ["scenario", "runs", "datasets", "last use"],
            [
                (s["scenario"], s["runs"], s["datasets"], _when(s["last_used"]))
                for s in usage["scenarios"]
            ],
        )
    unused = usage["unused"]
    click.echo(f"\n{len(unused):,} dataset(s) nobody uses" + (":" if unused else "."))
    for name in unused[:limit]:
        click.echo(f"  {name}")
    if len(unused) > limit:
        click.echo(f"  ... {len(unused) - limit:,} more (`guajie lineage usage --unused`)")


@lineage.command("pii")
@json_option
@click.pass_context
def lineage_pii(ctx: click.Context, as_json: bool) -> None:
    """Where personal information flows: derived columns, scenarios, values in results."""
    report = _governance(ctx).pii()
    if as_json:
        print_json(report)
        return
    rows = []
    for c in report["columns"]:
        flows = ", ".join(f"{f['dataset']}.{f['column']}" for f in c["flows_to"])
        scenarios = ", ".join(f"{s['scenario'] or 'ad hoc'} ×{s['runs']}" for s in c["scenarios"])
        rows.append(
            (
                f"{c['dataset']}.{c['column']}",
                f"{c['label']}{'?' if c['review'] == 'suggested' else ''}",
                flows or "-",
                scenarios or "-",
                c["exposed_runs"],
            )
        )
    table(
        "personal information",
        ["column", "kind", "values flow into", "read by", "runs with values out"],
        rows,
        empty="No personal information is recorded in the catalog.",
    )
    click.echo(
        f"\n{report['pi_columns']} column(s) hold personal information; {report['flowing']} "
        f"flow into derived datasets; {report['exposed_runs']} run(s) returned their values."
        "\n? = suggested by the detector (confirm with `guajie catalog confirm`)."
    )


def _runs_table(runs: list[Any]) -> None:
    table(
        "runs",
        ["run", "started", "scenario/job", "user", "status", "rows", "output", "error"],
        [
            (
                r.id[:13],
                r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.scenario or r.job,
                r.user,
                r.status,
                r.row_count,
                r.output_dataset or "",
                (r.error or "")[:80],
            )
            for r in runs
        ],
        empty="No runs recorded.",
    )


@lineage.command("runs")
@click.option("--scenario", help="Only runs of this scenario.")
@click.option(
    "--status",
    type=click.Choice(["running", "completed", "failed", "aborted"]),
    help="Only runs with this status.",
)
@click.option("--user", help="Only runs by this user.")
@click.option("--dataset", help="Only runs that read or wrote this dataset.")
@click.option("--since", type=click.DateTime(), help="Only runs started since (UTC).")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--id", "run_id", help="Show one run in full (an id or its first characters).")
@json_option
@click.pass_context
def lineage_runs(
    ctx: click.Context,
    scenario: str | None,
    status: str | None,
    user: str | None,
    dataset: str | None,
    since: datetime | None,
    limit: int,
    run_id: str | None,
    as_json: bool,
) -> None:
    """Recent runs, newest first: who ran what, when, how it ended."""
    from datetime import UTC

    gov = _governance(ctx)
    if run_id:
        run = gov.run(run_id)
        if as_json:
            print_json(run.to_dict())
            return
        for key, value in run.to_dict().items():
            if value not in (None, "", [], {}):
                click.echo(f"{key:<15} {value}")
        return
    runs = gov.runs(
        limit=limit,
        scenario=scenario,
        status=status,
        user=user,
        dataset=dataset,
        since=since.replace(tzinfo=UTC) if since else None,
    )
    if as_json:
        print_json([r.to_dict() for r in runs])
        return
    _runs_table(runs)


@lineage.command("rerun")
@click.argument("dataset")
@click.option("--user", help="Record the runs under this user (default: $GUAJIE_USER or you).")
@json_option
@click.pass_context
def lineage_rerun(ctx: click.Context, dataset: str, user: str | None, as_json: bool) -> None:
    """Rebuild a dataset written back into the pool from its recorded SQL and inputs."""
    from guajie.api import Session
    from guajie.cli import open_catalog

    outcomes = Session(open_catalog(ctx), client="cli").rerun(dataset, user=user)
    if as_json:
        print_json([o.to_dict() for o in outcomes])
        return
    for o in outcomes:
        click.echo(f"Run {o.run.id} ({o.run.mode}): {o.rows:,} rows into {o.run.output_dataset}.")
    final = outcomes[-1].dataset
    if final is not None:
        click.echo(f"{final.qualified_name} now holds {final.row_count:,} rows.")


COMMANDS = [lineage]
