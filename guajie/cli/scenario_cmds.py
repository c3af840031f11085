"""``guajie scenario ...``: scenario manifests (场景), their data lists, queries and outputs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from guajie.cli.output import json_option, print_json, table


@click.group()
def scenario() -> None:
    """Scenarios: what each one may read (数据清单), its approvals, queries and outputs.

    A scenario reads only the datasets and columns its manifest lists; personal information
    is masked unless granted raw; 不予共享 datasets are never readable and 有条件共享 ones
    need an unexpired approval. Run ad-hoc SQL as a scenario with
    `guajie query --scenario NAME "SQL"`.
    """


def _catalog(ctx: click.Context) -> Any:
    from guajie.cli import open_catalog

    return open_catalog(ctx)


@scenario.command("apply")
@click.option(
    "-f",
    "--file",
    "manifest_file",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="The manifest (YAML); - reads standard input.",
)
@json_option
@click.pass_context
def scenario_apply(ctx: click.Context, manifest_file: str, as_json: bool) -> None:
    """Check a manifest against the catalog and store it (replacing one of the same name).

    Every dataset, column, row filter and approval is checked and every query is planned
    under the scenario's policy first; nothing is stored unless all of it holds.

    \b
    An example manifest:
      name: policy-direct
      owner_department: 福州市发展和改革委员会
      purpose: 惠企政策精准推送
      data_list:
        - dataset: market.enterprise
          columns: {credit_code: raw, name: raw, district: raw, legal_rep_id_number: masked}
          row_filter: "district_code = '350102'"
        - dataset: hrss.social_insurance_monthly
          columns: {credit_code: raw, month: raw, headcount: aggregate}
      approvals:
        - {dataset: market.enterprise, approved_by: 福州市市场监督管理局, until: 2027-06-30}
      queries:
        - name: by_district
          sql: SELECT district, count(*) AS n FROM market.enterprise GROUP BY district
        - name: eligible
          file: policy_direct.sql      # relative to the manifest
      outputs:
        - {query: by_district, into: enterprises_by_district, mode: replace}
    """
    from guajie.catalog.errors import InvalidInputError
    from guajie.catalog.scenarios import load_manifest
    from guajie.federation.access import apply_scenario

    if manifest_file == "-":
        text, origin, base = sys.stdin.read(), "the manifest on standard input", Path.cwd()
    else:
        path = Path(manifest_file)
        if not path.is_file():
            raise InvalidInputError(f"No manifest at {path}.", "Check the path.")
        text, origin, base = path.read_text(encoding="utf-8"), str(path), path.parent
    applied = apply_scenario(_catalog(ctx), load_manifest(text, origin, base))
    if as_json:
        print_json(applied)
        return
    click.echo(
        f"Applied scenario {applied.name}: {len(applied.data_list)} dataset(s), "
        f"{len(applied.queries)} query(ies), {len(applied.outputs)} output(s)."
    )


@scenario.command("list")
@json_option
@click.pass_context
def scenario_list(ctx: click.Context, as_json: bool) -> None:
    """Every scenario with its owner and data list size."""
    from guajie.catalog.scenarios import list_scenarios

    found = list_scenarios(_catalog(ctx).store)
    if as_json:
        print_json(
            [{"applied_at": at, **s.model_dump(mode="json", exclude_none=True)} for s, at in found]
        )
        return
    table(
        None,
        ["scenario", "owner", "datasets", "queries", "applied"],
        [
            (
                s.name,
                s.owner_department,
                len(s.data_list),
                len(s.queries),
                at[:19].replace("T", " "),
            )
            for s, at in found
        ],
        empty="No scenarios yet; add one with `guajie scenario apply -f manifest.yaml`.",
    )


@scenario.command("show")
@click.argument("name")
@json_option
@click.pass_context
def scenario_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """A scenario's manifest: data list with access per column, approvals, queries."""
    import yaml

    from guajie.catalog.scenarios import get_scenario

    found = get_scenario(_catalog(ctx).store, name)
    if as_json:
        print_json(found)
        return
    click.echo(
        yaml.safe_dump(
            found.model_dump(mode="json", exclude_none=True), allow_unicode=True, sort_keys=False
        ),
        nl=False,
    )


@scenario.command("remove")
@click.argument("name")
@click.pass_context
def scenario_remove(ctx: click.Context, name: str) -> None:
    """Remove a scenario; its recorded runs and outputs stay in lineage."""
    from guajie.catalog.scenarios import remove_scenario

    remove_scenario(_catalog(ctx).store, name)
    click.echo(f"Removed scenario {name}.")


@scenario.command("run")
@click.argument("name")
@click.option("--query", "only", multiple=True, help="Run only this named query (repeatable).")
@click.option("--user", help="Record the runs under this user (default: $GUAJIE_USER or you).")
@json_option
@click.pass_context
def scenario_run(
    ctx: click.Context, name: str, only: tuple[str, ...], user: str | None, as_json: bool
) -> None:
    """Run a scenario's queries: outputs are written back into the pool, the rest counted.

    Every run is recorded in lineage under the scenario.
    """
    from guajie.api import Session
    from guajie.catalog.scenarios import get_scenario

    catalog = _catalog(ctx)
    manifest = get_scenario(catalog.store, name)
    wanted = [manifest.query(q) for q in only] if only else manifest.queries
    session = Session(catalog, client="cli")
    outputs = {o.query: o for o in manifest.outputs}
    done = []
    for query in wanted:
        output = outputs.get(query.name)
        if output is not None:
            outcome = session.write_back(
                query.text, output.into, mode=output.mode, scenario=manifest.name, user=user
            )
            done.append(
                {
                    "query": query.name,
                    "rows": outcome.rows,
                    "into": outcome.run.output_dataset,
                    "run": outcome.run.id,
                }
            )
        else:
            result = session.execute(query.text, scenario=manifest.name, user=user)
            rows = result.read_all().num_rows
            done.append({"query": query.name, "rows": rows, "into": None, "run": result.run_id})
    if as_json:
        print_json(done)
        return
    for item in done:
        where = f" into {item['into']}" if item["into"] else ""
        click.echo(f"{item['query']}: {item['rows']:,} rows{where} (run {item['run']})")


COMMANDS = [scenario]
