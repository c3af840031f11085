"""API tokens on both store backends: created with a secret shown once, kept hashed, revoked,
expired; and the `guajie token` commands."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from guajie.catalog.errors import InvalidInputError, NotFoundError
from guajie.catalog.tokens import TokenError, Tokens
from guajie.catalog.workspace import Workspace
from tests.support.policies import bare_scenario


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def workspace(request, tmp_path: Path) -> Workspace:
    home = tmp_path / "ws"
    if request.param == "sqlite":
        workspace = Workspace.init(home)
        for name in ("policy_direct", "smart_parking", "s"):
            bare_scenario(workspace.store, name)
        return workspace
    server = request.getfixturevalue("postgres_server")
    import psycopg

    db = f"tokens_{abs(hash(str(tmp_path))) % 10**8}"
    with psycopg.connect(server.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    url = f"postgresql://{server.user}@{server.host}:{server.port}/{db}"
    workspace = Workspace.init(home, store=url, store_password_env=server.env_var_name)
    for name in ("policy_direct", "smart_parking", "s"):
        bare_scenario(workspace.store, name)
    return workspace


def test_a_token_authenticates_as_its_scenario_and_only_its_hash_is_kept(workspace):
    tokens = Tokens(workspace.store)
    made, secret = tokens.create("policy_direct", name="policy-app", created_by="steward")
    assert secret.startswith("gjt_") and len(secret) >= 40
    found = tokens.authenticate(secret)
    assert (found.id, found.scenario, found.name) == (made.id, "policy_direct", "policy-app")
    assert found.user == f"token:{made.id}" and found.status() == "active"
    with workspace.store.read() as txn:
        stored = [str(v) for row in txn.db.execute("SELECT * FROM api_tokens") for v in row]
    assert secret not in stored
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    _, other_secret = tokens.create("smart_parking")
    assert other_secret != secret and tokens.authenticate(other_secret).scenario == "smart_parking"


def test_revoked_expired_and_unknown_tokens_are_refused(workspace):
    tokens = Tokens(workspace.store)
    made, secret = tokens.create("s")
    tokens.revoke(made.id)
    first = tokens.get(made.id).revoked_at
    assert tokens.revoke(made.id).revoked_at == first  # revoking twice keeps the first time
    with pytest.raises(TokenError, match="revoked") as refused:
        tokens.authenticate(secret)
    assert secret not in str(refused.value)

    _, expiring = tokens.create("s", days=1e-5)  # under a second
    time.sleep(1.2)
    with pytest.raises(TokenError, match="expired"):
        tokens.authenticate(expiring)
    for bad in (None, "", "gjt_unknown", "Bearer x", "gjt_" + "a" * 300):
        with pytest.raises(TokenError):
            tokens.authenticate(bad)
    with pytest.raises(NotFoundError):
        tokens.revoke("nope")


@pytest.mark.parametrize(
    ("scenario", "options"),
    [("", {}), ("x" * 201, {}), ("s", {"days": 0}), ("s", {"days": -3}), ("s", {"days": 5000})],
)
def test_bad_token_settings_are_refused(workspace, scenario, options):
    with pytest.raises(InvalidInputError):
        Tokens(workspace.store).create(scenario, **options)
    assert Tokens(workspace.store).list() == []


def test_token_commands(cli, home):
    for name in ("policy_direct", "smart_parking", "s"):
        bare_scenario(Workspace.init(home).store, name)
    unknown = cli("token", "create", "policy_drect")
    assert unknown.exit_code == 1 and "did you mean" in unknown.output.lower()
    created = cli("token", "create", "policy_direct", "--name", "policy-app", "--expires", "30")
    assert created.exit_code == 0
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("gjt_") and "only its hash" in created.stderr
    listed = cli("token", "list", "--json")
    (token,) = json.loads(listed.output)
    assert token["scenario"] == "policy_direct" and token["name"] == "policy-app"
    assert token["status"] == "active" and token["expires_at"] is not None
    assert secret not in listed.output and "secret" not in token
    table = cli("token", "list")
    assert "policy-app" in table.output and secret not in table.output

    revoked = cli("token", "revoke", token["id"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert json.loads(cli("token", "list", "--json").output)[0]["status"] == "revoked"

    unknown = cli("token", "revoke", "nope")
    assert unknown.exit_code == 1 and "No token 'nope'" in unknown.output
    bad = cli("token", "create", "s", "--expires", "0")
    assert bad.exit_code == 1 and "--expires" in bad.output

    made = json.loads(cli("token", "create", "smart_parking", "--json").output)
    assert made["secret"].startswith("gjt_") and made["name"] == "smart_parking"
