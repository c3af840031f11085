"""The audit log on both store backends: every query path audited, the hash chain, the CLI."""

from __future__ import annotations

import csv
import io
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from guajie.api import Session
from guajie.catalog.errors import GuajieError
from guajie.catalog.ledger import Catalog
from guajie.catalog.workspace import Workspace
from guajie.lineage.audit import AuditLog
from guajie.lineage.governance import Governance
from tests.lineage_support import register_city
from tests.support.policies import open_scenario
from tests.test_trino import city_catalog, s3_env  # noqa: F401 - fixtures

DISTRICTS = (
    "SELECT district, count(*) AS n FROM market.enterprise GROUP BY district ORDER BY district"
)
ID_NUMBER = "350102199001011234"


@pytest.fixture(scope="module")
def city_home(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("audit") / "ws"
    register_city(home, city_dir)
    return home


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def home(request, city_home: Path, city_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """The sample city in a fresh workspace whose store is SQLite or PostgreSQL."""
    path = tmp_path / "ws"
    if request.param == "sqlite":
        shutil.copytree(city_home, path)
    else:
        server = request.getfixturevalue("postgres_server")
        import psycopg

        db = f"audit_{abs(hash(str(tmp_path))) % 10**8}"
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
        url = f"postgresql://{server.user}@{server.host}:{server.port}/{db}"
        Workspace.init(path, store=url, store_password_env=server.env_var_name).close()
        register_city(path, city_dir)
    catalog = Catalog.open(str(path))
    for name in ("market_watch", "s", "w", "s1", "s2"):
        open_scenario(catalog, name)
    catalog.workspace.close()
    monkeypatch.setenv("GUAJIE_HOME", str(path))
    return path


@pytest.fixture
def session(home: Path):
    s = Session(Catalog.open(str(home)))
    yield s
    s.close()


def entries(session: Session, **filters) -> list:
    return AuditLog(session.catalog.store).search(limit=None, oldest_first=True, **filters)


def invoke(*args: str):
    from guajie.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# -- what is audited ------------------------------------------------------------------------


def test_an_allowed_query_is_audited_with_its_rows_when_the_stream_ends(session):
    table = session.query(DISTRICTS, scenario="market_watch", user="lin")
    (entry,) = entries(session)
    assert (entry.decision, entry.user, entry.scenario) == ("allowed", "lin", "market_watch")
    assert (entry.client, entry.engine, entry.complete) == ("python", "embedded", True)
    assert entry.rows == table.num_rows and entry.reason is None
    assert entry.datasets == ["market.main.enterprise"]
    assert '"market"."main"."enterprise"' in entry.sql  # normalized
    (run,) = Governance(session.catalog).runs()
    assert entry.run_id == run.id and entry.started_at <= entry.ended_at


def test_a_stream_is_audited_at_its_end_or_when_dropped_early(session):
    reader = session.stream("SELECT credit_code FROM market.enterprise", user="lin")
    assert entries(session) == []  # the rows are not known yet
    total = sum(batch.num_rows for batch in reader)
    (done,) = entries(session)
    assert done.complete and done.rows == total

    reader = session.stream("SELECT credit_code FROM market.enterprise", user="early")
    first = reader.read_next_batch()
    del reader
    (early,) = entries(session, user="early")
    assert early.decision == "allowed" and not early.complete
    assert early.rows == first.num_rows and "not read to its end" in early.reason

    result = session.execute("SELECT name FROM market.district", user="never")
    result.close()
    del result
    (never,) = entries(session, user="never")
    assert not never.complete and never.rows == 0


def test_refusals_and_failures_are_audited_before_any_source_is_touched(session):
    refused = {
        "DELETE FROM market.enterprise": "denied",
        "SELECT 1; SELECT 2": "denied",
        "SELECT * FROM nowhere.t": "failed",
        f"SELECT nope FROM market.enterprise WHERE legal_rep_id_number = '{ID_NUMBER}'": "failed",
    }
    for sql in refused:
        with pytest.raises(GuajieError):
            session.query(sql, user="mallory", scenario="s")
    got = entries(session, user="mallory")
    assert [e.decision for e in got] == list(refused.values())
    for entry in got:
        assert entry.reason and entry.rows is None and not entry.complete and entry.run_id is None
        assert ID_NUMBER not in entry.reason  # the reason carries no values
    assert got[0].datasets == ["market.main.enterprise"]  # resolved for search by dataset
    assert got[2].datasets == ["nowhere.t"]  # not in the catalog: as written


def test_a_failure_while_streaming_is_audited_as_failed(session):
    with pytest.raises(GuajieError):
        # Planned and started; the cast fails on the first name, while rows stream.
        session.query("SELECT CAST(name AS integer) AS r FROM market.enterprise", user="f")
    (entry,) = entries(session, user="f")
    assert entry.decision == "failed" and "INT32" in entry.reason


def test_secrets_in_sql_never_reach_the_log(session):
    sql = "SELECT * FROM read_csv('s3://AKIAEXAMPLE:VerySecretKey123@bucket/x.csv')"
    with pytest.raises(GuajieError):
        session.query(sql, user="m")
    (entry,) = entries(session, user="m")
    text = json.dumps(entry.to_dict())
    assert "VerySecretKey123" not in text and entry.decision == "failed"
    assert entry.datasets == []  # a file path is not a dataset


def test_write_back_and_rerun_are_audited(session):
    outcome = session.write_back(DISTRICTS, "district_counts", scenario="w", user="writer")
    (entry,) = entries(session, user="writer")
    assert entry.decision == "allowed" and entry.rows == outcome.rows and entry.complete
    assert entry.run_id == outcome.run.id and entry.scenario == "w"
    with pytest.raises(GuajieError):
        session.write_back(DISTRICTS, "district_counts", user="writer")  # exists: mode fail
    assert [e.decision for e in entries(session, user="writer")] == ["allowed", "failed"]
    session.rerun("district_counts", user="rerunner")
    (rerun,) = entries(session, user="rerunner")
    assert rerun.decision == "allowed" and rerun.datasets == ["market.main.enterprise"]


def test_the_cli_is_audited_as_cli(home):
    assert invoke("query", DISTRICTS, "--format", "json", "--user", "cli-user").exit_code == 0
    result = invoke("query", DISTRICTS, "--into", "by_district", "--user", "cli-user")
    assert result.exit_code == 0
    result = invoke("query", "DROP TABLE market.enterprise", "--user", "cli-user")
    assert result.exit_code != 0
    with Session(Catalog.open(str(home))) as s:
        got = entries(s, user="cli-user")
    assert [(e.client, e.decision) for e in got] == [
        ("cli", "allowed"),
        ("cli", "allowed"),
        ("cli", "denied"),
    ]


# -- the hash chain -------------------------------------------------------------------------


def _three(session: Session) -> list:
    for user in ("a", "b", "c"):
        session.query(DISTRICTS, user=user)
    return entries(session)


def test_the_chain_verifies_and_each_entry_follows_the_one_before(session):
    first, second, third = _three(session)
    assert first.prev_hash == "0" * 64
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    found = AuditLog(session.catalog.store).verify()
    assert found.ok and found.entries == 3 and found.head == third.hash


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("UPDATE audit_log SET row_count = 0 WHERE seq = {second}", "changed"),
        ("UPDATE audit_log SET user_name = 'someone' WHERE seq = {second}", "changed"),
        ("DELETE FROM audit_log WHERE seq = {second}", "does not follow"),
    ],
)
def test_tampering_behind_guajies_back_breaks_the_chain(session, tamper, problem):
    _, second, _ = _three(session)
    with session.catalog.store.write() as txn:
        txn.db.execute(tamper.format(second=second.seq))
    found = AuditLog(session.catalog.store).verify()
    assert not found.ok and problem in found.problem
    result = invoke("audit", "verify")
    assert result.exit_code == 2 and "tampered" in result.output


def test_entries_removed_from_the_end_are_caught_against_a_noted_head(session):
    *_, third = _three(session)
    with session.catalog.store.write() as txn:
        txn.db.execute("DELETE FROM audit_log WHERE seq = ?", (third.seq,))
    log = AuditLog(session.catalog.store)
    assert log.verify().ok  # a shorter chain is still a chain
    assert not log.verify(head=third.hash).ok
    assert invoke("audit", "verify", "--head", third.hash).exit_code == 2


def _query_many(home: str, user: str, count: int) -> None:
    with Session(Catalog.open(home)) as s:
        for _ in range(count):
            s.query("SELECT count(*) AS n FROM market.district", user=user)


def test_two_writers_auditing_at_once_keep_one_chain(home, session):
    # Two sessions, each with its own store connection, append at the same time.
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(_query_many, str(home), u, 10) for u in ("p", "q")]:
            done.result(timeout=180)
    found = AuditLog(session.catalog.store).verify()
    assert found.ok and found.entries == 20
    assert len(entries(session, user="p")) == len(entries(session, user="q")) == 10


# -- the command line -----------------------------------------------------------------------


def test_audit_search_filters(session):
    session.query(DISTRICTS, user="ann", scenario="s1")
    session.query("SELECT name FROM market.district", user="bob", scenario="s2")
    with pytest.raises(GuajieError):
        session.query("DELETE FROM market.district", user="bob", scenario="s2")

    def search(*args: str) -> list[dict]:
        result = invoke("audit", "search", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    assert [e["user"] for e in search()] == ["bob", "bob", "ann"]  # newest first
    assert [e["user"] for e in search("--user", "ann")] == ["ann"]
    assert {e["scenario"] for e in search("--scenario", "s2")} == {"s2"}
    assert [e["decision"] for e in search("--decision", "denied")] == ["denied"]
    assert [e["user"] for e in search("--dataset", "market.main.enterprise")] == ["ann"]
    assert len(search("--limit", "1")) == 1
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert search("--since", later) == [] and len(search("--until", later)) == 3
    table = invoke("audit", "search")
    assert table.exit_code == 0 and "denied" in table.output and "ann" in table.output
    assert invoke("audit", "search", "--decision", "maybe").exit_code == 2


def test_audit_export_jsonl_and_csv(session, tmp_path):
    _three(session)
    result = invoke("audit", "export", "-o", str(tmp_path / "log.jsonl"))
    assert result.exit_code == 0 and "3 audit entries" in result.output
    lines = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [x["user"] for x in lines] == ["a", "b", "c"]  # oldest first, as the chain runs
    assert lines[1]["prev_hash"] == lines[0]["hash"]

    assert invoke("audit", "export", "-o", str(tmp_path / "log.csv"), "--user", "b").exit_code == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "log.csv").read_text())))
    assert [r["user"] for r in rows] == ["b"] and rows[0]["datasets"] == "market.main.enterprise"

    bad = invoke("audit", "export", "-o", str(tmp_path / "log.txt"))
    assert bad.exit_code != 0 and ".jsonl or .csv" in bad.output
    assert not (tmp_path / "log.txt").exists()


def test_guajie_has_no_way_to_change_the_log():
    commands = set(invoke("audit", "--help").output.split("Commands:")[1].split())
    assert {"search", "export", "verify"} <= commands
    assert not commands & {"delete", "remove", "edit", "update", "prune", "clear"}
    assert not [m for m in dir(AuditLog) if m.startswith(("delete", "update", "remove", "edit"))]


def test_a_refused_query_names_the_datasets_it_reached_for(session):
    sql = (
        "WITH recent AS (SELECT * FROM market.enterprise) "
        "SELECT * FROM recent JOIN civil.subsidy_recipient r ON true; DROP TABLE x"
    )
    with pytest.raises(GuajieError):
        session.query(sql, user="r")
    (entry,) = entries(session, user="r")
    # resolved to full names where the catalog knows them; the CTE is not a dataset
    assert entry.datasets == ["civil.main.subsidy_recipient", "market.main.enterprise", "x"]


def test_the_trino_engine_path_is_audited_too(home):
    with Session(Catalog.open(str(home)), engine="trino") as s:
        with pytest.raises(GuajieError):
            s.query("DELETE FROM market.enterprise", user="t")  # refused before Trino is asked
        (entry,) = entries(s, user="t")
    assert (entry.engine, entry.decision) == ("trino", "denied")


@pytest.mark.servers
def test_a_query_on_trino_is_audited_with_its_rows(city_catalog, trino_server):  # noqa: F811
    session = Session(city_catalog, engine="trino", trino={"url": trino_server.url})
    sql = "SELECT district, count(*) AS n FROM market.enterprise GROUP BY district"
    open_scenario(city_catalog, "t")
    table = session.query(sql, user="on-trino", scenario="t")
    (entry,) = AuditLog(city_catalog.store).search(user="on-trino")
    assert (entry.engine, entry.decision, entry.complete) == ("trino", "allowed", True)
    assert entry.rows == table.num_rows and entry.scenario == "t"
    assert entry.datasets == ["market.market_trino.enterprise"]

    home = str(city_catalog.workspace.home)
    args = ["--home", home, "query", sql, "--engine", "trino", "--trino-url", trino_server.url]
    result = invoke(*args, "--format", "json", "--user", "cli-trino")
    assert result.exit_code == 0, result.output
    (entry,) = AuditLog(city_catalog.store).search(user="cli-trino")
    assert (entry.client, entry.engine, entry.rows) == ("cli", "trino", table.num_rows)
