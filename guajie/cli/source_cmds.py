"""``guajie init``, ``guajie source ...`` and ``guajie crawl``."""

from __future__ import annotations

import click

from guajie.cli.output import fields, json_option, print_json, progress_bar, table


@click.command()
@click.option(
    "--store",
    metavar="URL",
    help="Keep the catalog in PostgreSQL "
    "(postgresql://user@host:port/db) instead of the embedded SQLite file.",
)
@click.option(
    "--store-password-env", metavar="VAR", help="Environment variable holding the store's password."
)
@json_option
@click.pass_context
def init(
    ctx: click.Context, store: str | None, store_password_env: str | None, as_json: bool
) -> None:
    """Create (or re-configure) a workspace."""
    from guajie.catalog.workspace import Workspace

    ws = Workspace.init(ctx.find_root().obj.get("home"), store, store_password_env)
    info = {"home": str(ws.home.resolve()), "store": ws.store.backend.description}
    ws.close()
    if as_json:
        print_json(info)
    else:
        click.echo(f"Workspace ready at {info['home']} (catalog store: {info['store']}).")


@click.group()
def source() -> None:
    """Register and manage departmental sources."""


def _options(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        out[key.strip()] = value.strip()
    return out


@source.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--password-env", metavar="VAR", help="Environment variable holding the password.")
@click.option("--password-file", type=click.Path(dir_okay=False), help="File holding the password.")
@click.option("--department", help="Provider department (提供方), e.g. 市场监督管理局.")
@click.option("--department-code", help="Provider code (提供方代码).")
@click.option("--contact", "contacts", multiple=True, help='"Name <email> phone"; repeatable.')
@click.option("--description", help="What this system is.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv", "json"]),
    help="File format when the extension does not tell.",
)
@click.option(
    "--option",
    "opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Connector option, e.g. endpoint_url=http://127.0.0.1:9000 for S3.",
)
@click.option("--no-check", is_flag=True, help="Register without checking that it answers.")
@click.option("--replace", is_flag=True, help="Replace an existing source of that name.")
@json_option
@click.pass_context
def source_add(
    ctx: click.Context,
    name: str,
    url: str,
    password_env: str | None,
    password_file: str | None,
    department: str | None,
    department_code: str | None,
    contacts: tuple[str, ...],
    description: str | None,
    fmt: str | None,
    opts: tuple[str, ...],
    no_check: bool,
    replace: bool,
    as_json: bool,
) -> None:
    """Register source NAME at URL (checked first; nothing is copied).

    \b
    URL forms:
      postgresql://user@host:port/db     mysql://user@host:port/db
      sqlite:///abs/path.db              duckdb:///abs/path.duckdb
      file:///abs/dir_or_file            s3://bucket/prefix   https://host/file.parquet
    """
    from guajie.cli import open_catalog

    options = _options(opts)
    if fmt:
        options["format"] = fmt
    src, answered = open_catalog(ctx).add_source(
        name,
        url,
        password_env=password_env,
        password_file=password_file,
        department=department,
        department_code=department_code,
        contacts=contacts,
        description=description,
        options=options,
        check=not no_check,
        replace=replace,
    )
    if as_json:
        print_json({"source": src, "answered": answered})
    else:
        click.echo(
            f"Registered source '{src.name}' ({src.kind})"
            + (f": {answered}." if answered else " without checking it.")
        )
        click.echo(f"Next: `guajie crawl {src.name}` to read its schemas.")


@source.command("list")
@json_option
@click.pass_context
def source_list(ctx: click.Context, as_json: bool) -> None:
    """List registered sources."""
    from guajie.cli import open_catalog

    catalog = open_catalog(ctx)
    sources = catalog.sources()
    counts: dict[str, int] = {}
    for d in catalog.datasets():
        counts[d.source] = counts.get(d.source, 0) + 1
    if as_json:
        print_json(
            [
                {**s.model_dump(mode="json", exclude_none=True), "datasets": counts.get(s.name, 0)}
                for s in sources
            ]
        )
        return
    table(
        None,
        ["name", "kind", "url", "department", "datasets"],
        [(s.name, s.kind, s.url, s.department, counts.get(s.name, 0)) for s in sources],
        empty="No sources yet. Register one with `guajie source add NAME URL`.",
    )


@source.command("show")
@click.argument("name")
@json_option
@click.pass_context
def source_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show one source and what it holds."""
    from guajie.cli import open_catalog

    catalog = open_catalog(ctx)
    src = catalog.source(name)
    datasets = catalog.datasets(name)
    with catalog.store.read() as txn:
        last = txn.last_crawl(name)
    if as_json:
        print_json(
            {"source": src, "datasets": [d.qualified_name for d in datasets], "last_crawl": last}
        )
        return
    fields(
        [
            ("name", src.name),
            ("kind", src.kind),
            ("url", src.url),
            ("password", f"${src.password_env}" if src.password_env else src.password_file),
            ("department", src.department),
            ("department code", src.department_code),
            (
                "contacts",
                "; ".join(
                    c.name
                    + (f" <{c.email}>" if c.email else "")
                    + (f" {c.phone}" if c.phone else "")
                    for c in src.contacts
                ),
            ),
            ("description", src.description),
            ("options", ", ".join(f"{k}={v}" for k, v in src.options.items())),
            ("last crawl", last["finished_at"] if last else "never"),
            ("datasets", len(datasets)),
        ]
    )
    for d in datasets:
        click.echo(f"  {d.qualified_name}")


@source.command("test")
@click.argument("name")
@json_option
@click.pass_context
def source_test(ctx: click.Context, name: str, as_json: bool) -> None:
    """Check that a registered source answers."""
    from guajie.cli import open_catalog

    answered = open_catalog(ctx).test_source(name)
    if as_json:
        print_json({"source": name, "ok": True, "answered": answered})
    else:
        click.echo(f"Source '{name}' answers: {answered}.")


@source.command("remove")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@click.pass_context
def source_remove(ctx: click.Context, name: str, yes: bool, as_json: bool) -> None:
    """Remove a source and its datasets from the catalog (the source itself is untouched)."""
    import sys

    from guajie.cli import open_catalog

    catalog = open_catalog(ctx)
    catalog.source(name)
    if not yes and sys.stdin.isatty():
        click.confirm(
            f"Remove source '{name}' and everything the catalog says about it?", abort=True
        )
    removed = catalog.remove_source(name)
    if as_json:
        print_json({"source": name, "removed": True, "datasets": removed})
    else:
        click.echo(f"Removed source '{name}' and {removed} datasets from the catalog.")


@click.command()
@click.argument("names", nargs=-1)
@click.option(
    "--no-sample", is_flag=True, help="Suggest sensitivity from names only; read no sample values."
)
@json_option
@click.pass_context
def crawl(ctx: click.Context, names: tuple[str, ...], no_sample: bool, as_json: bool) -> None:
    """Read schemas and statistics of sources (all, or NAMES) into the catalog.

    Reads system catalogs, file footers and bounded samples only; never copies data.
    Unchanged datasets are skipped; schema changes are recorded as drift.
    """
    from guajie.catalog.errors import GuajieError
    from guajie.cli import open_catalog

    catalog = open_catalog(ctx)
    reports, failures = [], []
    for name in names or [s.name for s in catalog.sources()]:
        try:
            reports.extend(
                catalog.crawl(
                    [name], sample=not no_sample, progress=progress_bar(f"sampling {name}")
                )
            )
        except GuajieError as exc:
            failures.append((name, str(exc)))
    if as_json:
        print_json(
            {
                "reports": [r.summary() for r in reports],
                "drift": [c for r in reports for c in r.drift],
                "failed": [{"source": n, "error": e} for n, e in failures],
            }
        )
    else:
        table(
            None,
            [
                "source",
                "added",
                "changed",
                "refreshed",
                "unchanged",
                "vanished",
                "drift",
                "breaking",
                "seconds",
            ],
            [
                (
                    s["source"],
                    s["added"],
                    s["changed"],
                    s["refreshed"],
                    s["unchanged"],
                    s["vanished"],
                    s["drift"],
                    s["breaking"],
                    s["seconds"],
                )
                for s in (r.summary() for r in reports)
            ],
            empty="No sources to crawl.",
        )
        for r in reports:
            for change in r.drift:
                mark = "BREAKING " if change.breaking else ""
                click.echo(f"  {mark}{change.dataset}: {change.describe()}")
        for _name, error in failures:
            click.secho(f"Error: {error}", err=True, fg="red")
    if failures:
        ctx.exit(1)


COMMANDS = [init, source, crawl]
