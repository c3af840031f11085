"""``guajie serve``: the HTTP service for scenario apps (needs the ``serve`` extra)."""

from __future__ import annotations

import click


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=8000, show_default=True)
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="Largest answer served, in rows (more: HTTP 413).",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=256 * 1024 * 1024,
    show_default=True,
    help="Largest answer served, in bytes of Arrow memory (more: HTTP 413).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds a query may take (longer: HTTP 408).",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=1024 * 1024,
    show_default=True,
    help="Largest request body, in bytes (more: HTTP 413).",
)
@click.option(
    "--sessions",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Queries run at once per worker; each has its own catalog connection.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Processes."
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn's log level.")
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    max_rows: int,
    max_bytes: int,
    timeout: float,
    max_body: int,
    sessions: int,
    workers: int,
    log_level: str,
) -> None:
    """Serve federated queries and catalog reads over HTTP to scenario apps.

    Apps send a scenario's token (`guajie token create`) as 'Authorization: Bearer ...';
    every query is audited. API docs at http://HOST:PORT/docs.

    \b
    guajie serve --port 8000 --max-rows 100000 --timeout 30
    """
    import os

    from guajie.catalog.errors import GuajieError
    from guajie.cli import open_catalog

    try:
        import uvicorn

        from guajie.server.app import SETTINGS_ENV, ServeSettings, create_app
    except ImportError:
        raise GuajieError(
            "guajie serve needs FastAPI and uvicorn.", "Install them: pip install 'guajie[serve]'."
        ) from None
    catalog = open_catalog(ctx)  # created and migrated once, before any worker starts
    settings = ServeSettings(
        home=str(catalog.workspace.home.resolve()),
        max_rows=max_rows,
        max_bytes=max_bytes,
        timeout=timeout,
        max_body=max_body,
        sessions=sessions,
    )
    click.echo(f"guajie serves {settings.home} on http://{host}:{port} (docs: /docs).", err=True)
    if workers > 1:
        os.environ[SETTINGS_ENV] = settings.to_json()
        uvicorn.run(
            "guajie.server.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
        )
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)


COMMANDS = [serve]
