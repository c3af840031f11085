"""``guajie token``: API tokens of the HTTP service, one scenario each.

\b
guajie token create policy_direct --name policy-app --expires 90
guajie token list
guajie token revoke 3f9a0c1d2e4b
"""

from __future__ import annotations

import click

from guajie.cli.output import json_option, print_json, table


@click.group()
def token() -> None:
    """API tokens for `guajie serve`: each lets an app query as one scenario."""


def _tokens(ctx: click.Context):  # type: ignore[no-untyped-def]
    from guajie.catalog.tokens import Tokens
    from guajie.cli import open_catalog

    return Tokens(open_catalog(ctx).store)


@token.command("create")
@click.argument("scenario")
@click.option("--name", help="A label for the token (default: the scenario's name).")
@click.option("--expires", "days", type=float, metavar="DAYS", help="Expire after this many days.")
@json_option
@click.pass_context
def token_create(
    ctx: click.Context, scenario: str, name: str | None, days: float | None, as_json: bool
) -> None:
    """Create a token for SCENARIO and print its secret, shown only this once."""
    from guajie.lineage.recorder import current_user

    made, secret = _tokens(ctx).create(scenario, name=name, days=days, created_by=current_user())
    if as_json:
        print_json({**made.to_dict(), "secret": secret})
        return
    click.echo(
        f"Token {made.id} for scenario {made.scenario}"
        + (f", expires {made.expires_at}." if made.expires_at else ", no expiry.")
    )
    click.echo(secret)
    click.echo(
        "Keep the secret now: guajie stores only its hash. "
        "Send it as 'Authorization: Bearer <secret>'.",
        err=True,
    )


@token.command("list")
@json_option
@click.pass_context
def token_list(ctx: click.Context, as_json: bool) -> None:
    """Every token with its scenario and status (never the secrets)."""
    tokens = _tokens(ctx).list()
    if as_json:
        print_json([t.to_dict() for t in tokens])
        return
    table(
        None,
        ["id", "name", "scenario", "status", "created", "expires", "by"],
        [
            (t.id, t.name, t.scenario, t.status(), t.created_at, t.expires_at or "", t.created_by)
            for t in tokens
        ],
        empty="No tokens yet; create one with `guajie token create SCENARIO`.",
    )


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Refuse the token with this ID from now on."""
    revoked = _tokens(ctx).revoke(token_id)
    click.echo(f"Token {revoked.id} ({revoked.name}) is revoked since {revoked.revoked_at}.")


COMMANDS = [token]
