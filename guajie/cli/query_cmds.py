"""``guajie query`` and ``guajie explain``: federated SQL from the command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from guajie.cli.output import print_json

_FORMATS = ("table", "csv", "json", "jsonl", "arrow", "parquet")
_BY_EXTENSION = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".arrow": "arrow",
    ".arrows": "arrow",
    ".ipc": "arrow",
}


def _sql_argument(sql: str | None, file: str | None) -> str:
    if file:
        if file == "-":
            return sys.stdin.read()
        try:
            return Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(
                f"cannot read {file}: {exc.strerror}", param_hint="-f"
            ) from None
    if sql == "-":
        return sys.stdin.read()
    if not sql:
        raise click.UsageError("Give the SQL as an argument, '-' for stdin, or -f FILE.")
    return sql


sql_options = [
    click.argument("sql", required=False),
    click.option(
        "-f",
        "--file",
        "sql_file",
        type=click.Path(dir_okay=False),
        help="Read the SQL from a file ('-' for stdin).",
    ),
    click.option(
        "--dialect",
        default="trino",
        show_default=True,
        help="SQL dialect of the input (any sqlglot dialect).",
    ),
]


def with_sql_options(f: Any) -> Any:
    for option in reversed(sql_options):
        f = option(f)
    return f


def with_engine_options(f: Any) -> Any:
    """``--engine embedded|trino`` and the Trino connection options."""
    from guajie.cli.trino_cmds import with_connection_options

    f = with_connection_options(f)
    return click.option(
        "--engine",
        type=click.Choice(["embedded", "trino"]),
        default="embedded",
        show_default=True,
        help="Where the query runs: in-process, or on a Trino cluster (see `guajie trino`).",
    )(f)


def _session(
    ctx: click.Context,
    timeout: float | None = None,
    *,
    engine: str = "embedded",
    trino_options: dict[str, Any] | None = None,
) -> Any:
    from guajie.api import Session
    from guajie.cli import open_catalog
    from guajie.cli.trino_cmds import trino_overrides

    overrides = trino_overrides(**(trino_options or {}))
    return Session(open_catalog(ctx), timeout=timeout, engine=engine, trino=overrides, client="cli")


@click.command()
@with_sql_options
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the result to a file: .parquet, .csv, .json, .jsonl or .arrow.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default=None,
    help="Format on stdout (default: a table on a terminal).",
)
@click.option(
    "--max-rows", type=int, default=50, show_default=True, help="Rows shown in the human table."
)
@click.option("--timeout", type=float, help="Give up after this many seconds.")
@click.option(
    "--into",
    metavar="NAME",
    help="Write the result back into the pool as dataset pool.default.NAME (反哺), "
    "registered with its lineage.",
)
@click.option(
    "--replace", "mode", flag_value="replace", help="With --into: overwrite an existing dataset."
)
@click.option(
    "--append",
    "mode",
    flag_value="append",
    help="With --into: add the rows to an existing dataset (same columns).",
)
@click.option(
    "--scenario",
    help="Run as this scenario: only its data list, with its masks and row filters "
    "(default: the workspace's default policy).",
)
@click.option("--user", help="Record the run under this user (default: $GUAJIE_USER or you).")
@with_engine_options
@click.pass_context
def query(
    ctx: click.Context,
    sql: str | None,
    sql_file: str | None,
    dialect: str,
    output: str | None,
    fmt: str | None,
    max_rows: int,
    timeout: float | None,
    into: str | None,
    mode: str | None,
    scenario: str | None,
    user: str | None,
    engine: str,
    **trino_options: Any,
) -> None:
    """Run federated SQL over catalog datasets (source.schema.table) and print the answer.

    Every run is recorded (`guajie lineage runs`). With --into NAME the answer goes back
    into the shared pool as a dataset, with column lineage to its inputs.

    \b
    guajie query "SELECT district, count(*) FROM market.enterprise GROUP BY 1"
    guajie query -f scenario.sql -o result.parquet
    guajie query -f policy_direct.sql --into eligible --replace
    """
    text = _sql_argument(sql, sql_file)
    if into and (output or fmt):
        raise click.UsageError("--into writes into the pool; drop --output and --format.")
    if mode and not into:
        raise click.UsageError("--replace and --append go with --into NAME.")
    path = Path(output) if output else None
    kind = _BY_EXTENSION.get(path.suffix.lower()) if path else None
    if path is not None and kind is None:
        raise click.BadParameter(
            f"cannot tell the format of {path.name}; use .parquet, .csv, .json, .jsonl or .arrow",
            param_hint="--output",
        )
    session = _session(ctx, timeout, engine=engine, trino_options=trino_options)
    if into:
        outcome = session.write_back(
            text,
            into,
            mode=mode or "fail",
            scenario=scenario,
            user=user,
            dialect=dialect,
            engine=engine,
        )
        click.echo(
            f"Wrote {outcome.rows:,} rows into {outcome.run.output_dataset} "
            f"(run {outcome.run.id}).",
            err=True,
        )
        return
    result = session.execute(text, dialect=dialect, scenario=scenario, user=user, engine=engine)
    if path is not None and kind is not None:
        rows = write_result(result.reader, path, kind)
        click.echo(f"Wrote {rows:,} rows to {path}.", err=True)
        return
    if fmt is None or fmt == "table":
        _print_table(result.read_all(), max_rows)
    else:
        write_result(result.reader, None, fmt)


def write_result(reader: Any, path: Path | None, kind: str) -> int:
    """Write a stream to ``path`` (atomically) or stdout; returns rows written."""
    import pyarrow as pa

    target = path.with_name(f".{path.name}.tmp") if path else None
    rows = 0
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetWriter(target or sys.stdout.buffer, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        elif kind == "arrow":
            sink = pa.OSFile(str(target), "wb") if target else sys.stdout.buffer
            with pa.ipc.new_stream(sink, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        elif kind == "csv":
            import pyarrow.csv as pacsv

            sink = str(target) if target else sys.stdout.buffer
            with pacsv.CSVWriter(sink, reader.schema) as writer:
                for batch in reader:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        else:
            out = open(target, "w", encoding="utf-8") if target else sys.stdout  # noqa: SIM115
            try:
                if kind == "json":
                    out.write("[")
                first = True
                for batch in reader:
                    for row in batch.to_pylist():
                        text = json.dumps(row, ensure_ascii=False, default=str)
                        if kind == "json":
                            out.write(("" if first else ",") + "\n  " + text)
                        else:
                            out.write(text + "\n")
                        first = False
                        rows += 1
                if kind == "json":
                    out.write("\n]\n")
            finally:
                if target:
                    out.close()
        if target and path:
            os.replace(target, path)
    finally:
        if target and target.exists():
            target.unlink()
    return rows


def _print_table(table: Any, max_rows: int) -> None:
    from guajie.cli.output import table as render

    shown = table.slice(0, max_rows).to_pylist()
    render(None, table.column_names, [list(r.values()) for r in shown], empty="(no rows)")
    if table.num_rows > max_rows:
        click.echo(
            f"... {table.num_rows - max_rows:,} more rows ({table.num_rows:,} in all; "
            "use --output or --format to get them all)"
        )
    else:
        click.echo(f"({table.num_rows:,} rows)")


@click.command()
@with_sql_options
@click.option("--analyze", is_flag=True, help="Run the query and show actual rows and bytes.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--scenario", help="Plan as this scenario (its data list, masks, row filters).")
@with_engine_options
@click.pass_context
def explain(
    ctx: click.Context,
    sql: str | None,
    sql_file: str | None,
    dialect: str,
    analyze: bool,
    as_json: bool,
    scenario: str | None,
    engine: str,
    **trino_options: Any,
) -> None:
    """Show the pushdown plan: each source's fragment (SQL sent) and the local residual.

    With --engine trino: the SQL sent to Trino and Trino's own plan (EXPLAIN, or EXPLAIN
    ANALYZE with --analyze).
    """
    text = _sql_argument(sql, sql_file)
    session = _session(ctx)
    if engine == "trino":
        from guajie.cli.trino_cmds import trino_engine

        explanation = trino_engine(ctx, **trino_options).explain(
            text, dialect=dialect, analyze=analyze, policy=session.policy(scenario)
        )
        if as_json:
            print_json(explanation.to_dict())
        else:
            click.echo(explanation.text())
        return
    if analyze:
        result = session.execute(text, dialect=dialect, scenario=scenario)
        result.read_all()
        plan, stats = result.plan, result.stats
    else:
        plan, stats = session.plan(text, dialect=dialect, scenario=scenario), None
    if as_json:
        print_json(plan.to_dict(stats))
    else:
        click.echo(plan.explain(stats))


COMMANDS = [query, explain]
