"""Command line: ``python -m guajie.sample_sources generate|load-postgres|load-mysql``."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .plan import DEFAULT_SEED
from .servers import DEFAULT_MYSQL_TABLES, DEFAULT_POSTGRES_TABLES, load_mysql, load_postgres
from .writers import generate

_scale = click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Size multiplier; 1 is about 2,000 enterprises.",
)
_seed = click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)


@click.group()
def main() -> None:
    """Generate and load the deterministic 福州市 sample city."""


@main.command("generate")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write into; previous sample outputs there are replaced.",
)
@_scale
@_seed
def generate_cmd(out_dir: Path, scale: float, seed: int) -> None:
    """Write all departments' sources under --out."""
    manifest = generate(out_dir, scale=scale, seed=seed)
    click.echo(
        f"sample city 福州市  scale={manifest.scale:g}  seed={manifest.seed}  -> {manifest.out_dir}"
    )
    header = ("department", "table", "format", "rows", "files", "path")
    rows = [
        (t.department, t.table, t.format, f"{t.rows:,}", str(t.files), t.path)
        for t in manifest.tables
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        click.echo(
            "  ".join(
                v.rjust(w) if i in (3, 4) else v.ljust(w)
                for i, (v, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    click.echo(f"{manifest.total_rows:,} rows in {manifest.elapsed_seconds:.1f}s")


@main.command("load-postgres")
@click.option("--dsn", required=True, help="libpq connection string or URI.")
@click.option("--schema", default="public", show_default=True)
@click.option(
    "--table",
    "tables",
    multiple=True,
    default=DEFAULT_POSTGRES_TABLES,
    show_default=True,
    help="Table to load; repeat for several.",
)
@_scale
@_seed
def load_postgres_cmd(
    dsn: str, schema: str, tables: tuple[str, ...], scale: float, seed: int
) -> None:
    """Create and COPY-load tables into PostgreSQL."""
    counts = load_postgres(dsn, scale=scale, seed=seed, schema=schema, tables=tables)
    for name, rows in counts.items():
        click.echo(f"{schema}.{name}: {rows:,} rows")


@main.command("load-mysql")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=3306, show_default=True)
@click.option("--user", required=True)
@click.option(
    "--password-env",
    default="MYSQL_PWD",
    show_default=True,
    help="Name of the environment variable holding the password.",
)
@click.option("--database", required=True)
@click.option(
    "--table",
    "tables",
    multiple=True,
    default=DEFAULT_MYSQL_TABLES,
    show_default=True,
    help="Table to load; repeat for several.",
)
@_scale
@_seed
def load_mysql_cmd(
    host: str,
    port: int,
    user: str,
    password_env: str,
    database: str,
    tables: tuple[str, ...],
    scale: float,
    seed: int,
) -> None:
    """Create and load tables into MariaDB/MySQL."""
    password = os.environ.get(password_env)
    if password is None:
        raise click.UsageError(f"environment variable {password_env} is not set")
    counts = load_mysql(host, port, user, password, database, scale=scale, seed=seed, tables=tables)
    for name, rows in counts.items():
        click.echo(f"{database}.{name}: {rows:,} rows")


if __name__ == "__main__":
    main()
