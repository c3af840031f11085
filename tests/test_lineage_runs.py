"""Every run is recorded; governance reads the records: runs, show, impact, usage, pii.

Also the command line: ``guajie query --into`` and ``guajie lineage ...`` with ``--json``.
"""

from __future__ import annotations

import gc
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from guajie.api import Session
from guajie.catalog.ledger import Catalog
from guajie.lineage.governance import Governance
from guajie.lineage.recorder import execute, run_query
from guajie.lineage.runs import scrub_error
from tests.lineage_support import copy_workspace, read_events, register_city, validate_event
from tests.support.policies import open_scenario

SCENARIOS = Path(__file__).parents[1] / "sample_sources" / "scenarios"


@pytest.fixture(scope="module")
def base(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("runs") / "ws"
    register_city(home, city_dir)
    return home


@pytest.fixture
def ws(base: Path, tmp_path: Path) -> Path:
    return copy_workspace(
        base, tmp_path / "ws", openlineage={"transport": "file", "path": "events.jsonl"}
    )


@pytest.fixture
def session(ws: Path):
    s = Session(Catalog.open(str(ws)))
    yield s
    s.close()


def test_a_query_is_recorded_when_its_stream_ends(session, ws):
    sql = (
        "SELECT e.district, count(*) AS n, max(r.name) AS someone FROM market.enterprise e "
        "JOIN civil.subsidy_recipient r ON r.person_id = e.legal_rep_id_number GROUP BY 1"
    )
    open_scenario(session.catalog, "subsidy_check")
    result = execute(session, sql, scenario="subsidy_check", user="lin")
    gov = Governance(session.catalog)
    (running,) = gov.runs()
    assert running.status == "running" and running.user == "lin"
    table = result.read_all()
    (run,) = gov.runs()
    assert run.id == result.run_id and run.status == "completed"
    assert run.row_count == table.num_rows and run.ended_at >= run.started_at
    assert run.inputs == ["civil.main.subsidy_recipient", "market.main.enterprise"]
    assert set(run.fetched) == {"market", "civil"}
    assert run.job == "subsidy_check" and run.engine == "embedded"
    assert '"market"."main"."enterprise"' in run.sql  # the normalized query
    with session.catalog.store.read() as txn:
        used = {
            (d, c): (how, bool(exposed))
            for d, c, how, exposed in txn.db.execute(
                "SELECT dataset, column_name, how, exposed FROM run_input_columns WHERE run_id = ?",
                (run.id,),
            )
        }
    assert used[("civil.main.subsidy_recipient", "name")] == ("AGGREGATION", True)
    assert used[("civil.main.subsidy_recipient", "person_id")] == ("JOIN", False)
    assert used[("market.main.enterprise", "district")] == ("IDENTITY,GROUP_BY", True)
    events = read_events(ws / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)


@pytest.fixture
def big_table(session, tmp_path) -> str:
    """A SQLite source with 200,000 rows (several batches)."""
    path = tmp_path / "big.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER, x INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, i % 97) for i in range(200_000)])
    con.commit()
    con.close()
    session.catalog.add_source("big", f"sqlite://{path}")
    session.catalog.crawl(["big"])
    return "big.main.t"


def test_a_stream_closed_before_its_end_is_aborted(session, ws, big_table):
    result = execute(session, f"SELECT id, x FROM {big_table}")
    first = result.reader.read_next_batch()
    assert first.num_rows > 0
    result.close()
    (run,) = Governance(session.catalog).runs()
    assert run.status == "aborted" and run.row_count == first.num_rows
    events = read_events(ws / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "ABORT"]
    for event in events:
        validate_event(event)
    with session.catalog.store.read() as txn:  # an aborted run is no use of the data
        assert txn.db.execute("SELECT count(*) FROM run_inputs")[0][0] == 0


def test_a_stream_closed_unread_is_aborted(session, ws, big_table):
    result = execute(session, f"SELECT id, x FROM {big_table}")
    result.close()
    (run,) = Governance(session.catalog).runs()
    assert run.status == "aborted" and run.row_count == 0 and run.ended_at is not None
    assert run.error == "The reader was closed before the end of the result."
    events = read_events(ws / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "ABORT"]
    for event in events:
        validate_event(event)


@pytest.mark.parametrize("batches_read", [0, 1])
def test_a_stream_dropped_before_its_end_is_aborted(session, ws, big_table, batches_read):
    reader = session.stream(f"SELECT id, x FROM {big_table}")
    rows = sum(reader.read_next_batch().num_rows for _ in range(batches_read))
    (running,) = Governance(session.catalog).runs()
    assert running.status == "running"
    del reader  # no close(): the reader is garbage
    gc.collect()
    (run,) = Governance(session.catalog).runs()
    assert run.status == "aborted" and run.row_count == rows
    assert [e["eventType"] for e in read_events(ws / "events.jsonl")] == ["START", "ABORT"]


def test_a_stream_read_to_its_end_and_dropped_stays_completed(session, ws, big_table):
    reader = session.stream(f"SELECT id, x FROM {big_table}")
    table = reader.read_all()
    del reader
    gc.collect()
    (run,) = Governance(session.catalog).runs()
    assert run.status == "completed" and run.row_count == table.num_rows == 200_000
    assert [e["eventType"] for e in read_events(ws / "events.jsonl")] == ["START", "COMPLETE"]


def test_planning_errors_are_not_runs(session):
    from guajie.federation.errors import QueryError

    with pytest.raises(QueryError):
        execute(session, "SELECT nope FROM market.enterprise")
    assert Governance(session.catalog).runs() == []


def test_error_messages_keep_names_and_lose_values():
    known = ["civil", "person_id", "civil.main.subsidy_recipient"]
    text = scrub_error(
        "Source 'civil': invalid value '350102199001011234' for \"person_id\" in "
        "civil.main.subsidy_recipient (password=hunter2, phone 13800138000)",
        known,
    )
    assert "'civil'" in text and '"person_id"' in text and "civil.main.subsidy_recipient" in text
    assert "350102199001011234" not in text and "13800138000" not in text
    assert "hunter2" not in text and "password=***" in text


def test_runs_filters(session):
    open_scenario(session.catalog, "a")
    open_scenario(session.catalog, "b")
    execute(
        session, "SELECT count(*) AS n FROM market.district", scenario="a", user="u1"
    ).read_all()
    execute(session, "SELECT count(*) AS n FROM tax.filings", scenario="b", user="u2").read_all()
    run_query(session, "SELECT name FROM market.district", into="names", scenario="a")
    gov = Governance(session.catalog)
    assert [r.scenario for r in gov.runs()] == ["a", "b", "a"]
    assert [r.user for r in gov.runs(user="u2")] == ["u2"]
    assert len(gov.runs(scenario="a")) == 2
    assert [r.output_dataset for r in gov.runs(dataset="pool.names")] == ["pool.default.names"]
    assert len(gov.runs(dataset="market.district")) == 2
    assert gov.runs(since=datetime.now(UTC) + timedelta(hours=1)) == []
    assert gov.runs(status="failed") == []
    run = gov.runs(limit=1)[0]
    assert gov.run(run.id[:18]).id == run.id


@pytest.fixture
def derived(session):
    """Two levels of derivation over the city, by three scenarios."""
    for name in ("policy_direct", "subsidy_check", "smart_parking"):
        open_scenario(session.catalog, name)
        run_query(session, (SCENARIOS / f"{name}.sql").read_text(), into=name, scenario=name)
    open_scenario(session.catalog, "report")
    run_query(
        session,
        "SELECT district, count(*) AS n, max(name) AS an_enterprise FROM pool.policy_direct "
        "GROUP BY district",
        into="policy_by_district",
        scenario="report",
    )
    open_scenario(session.catalog, "dashboard")
    execute(session, "SELECT * FROM pool.policy_by_district", scenario="dashboard").read_all()
    return session


def test_impact_is_transitive_for_datasets_and_columns(derived):
    gov = Governance(derived.catalog)
    impact = gov.impact("market.enterprise")
    assert [(d["dataset"], d["depth"], d["columns"]) for d in impact.derived] == [
        ("pool.default.policy_direct", 1, None),
        ("pool.default.subsidy_check", 1, None),
        ("pool.default.policy_by_district", 2, None),
    ]
    assert {s["scenario"] for s in impact.scenarios} == {
        "policy_direct",
        "subsidy_check",
        "report",
        "dashboard",
    }
    assert impact.run_count == 4 and len(impact.recent_runs) == 4
    # A copied column reaches the copies, then what is computed from them.
    name = gov.impact("market.enterprise.name")
    assert [(d["dataset"], d["columns"]) for d in name.derived] == [
        ("pool.default.policy_direct", ["name"]),
        ("pool.default.subsidy_check", None),  # it also sorts by it: every row depends on it
        ("pool.default.policy_by_district", ["an_enterprise"]),
    ]
    # A column used only to filter affects whole outputs downstream.
    status = gov.impact("market.main.enterprise.status")
    assert [(d["dataset"], d["columns"]) for d in status.derived] == [
        ("pool.default.policy_direct", None),
        ("pool.default.subsidy_check", None),
        ("pool.default.policy_by_district", None),
    ]
    untouched = gov.impact("market.enterprise.founded_on")
    assert untouched.derived == [] and untouched.run_count == 0


def test_usage_and_penetration(derived):
    usage = Governance(derived.catalog).usage()
    used = {u["dataset"]: u for u in usage["usage"]}
    assert used["market.main.enterprise"]["runs"] == 2
    assert used["market.main.enterprise"]["scenarios"] == 2
    assert used["market.main.enterprise"]["top_scenarios"] == ["policy_direct", "subsidy_check"]
    assert used["pool.default.policy_by_district"]["derived"] is True
    assert "transport.default.parking_events" in used
    assert usage["unused"] == ["pool.default.smart_parking", "pool.default.subsidy_check"]
    assert usage["datasets"] == 11 and usage["used"] == 9 and usage["unused_count"] == 2
    assert usage["penetration"] == round(usage["used"] / usage["datasets"], 4)
    by_source = {s["source"]: s for s in usage["by_source"]}
    assert by_source["market"] == {"source": "market", "datasets": 2, "used": 2, "penetration": 1.0}
    scenarios = {s["scenario"]: s for s in usage["scenarios"]}
    assert scenarios["policy_direct"]["runs"] == 1 and scenarios["policy_direct"]["datasets"] == 3


def test_show_a_derived_dataset(derived):
    shown = Governance(derived.catalog).show("pool.policy_by_district")
    assert shown["upstream"] == ["pool.default.policy_direct"]
    assert shown["columns"]["an_enterprise"][0]["subtype"] == "AGGREGATION"
    assert shown["recipe"]["scenario"] == "report"
    assert shown["usage"]["runs"] == 1 and shown["usage"]["scenarios"] == ["dashboard"]
    source = Governance(derived.catalog).show("market.enterprise")
    assert source["derived"] is False and "pool.default.policy_direct" in source["downstream"]


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def run_cli(ws: Path):
    from guajie.cli import main

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(main, ["--home", str(ws), *args], catch_exceptions=False)

    return invoke


def test_query_into_and_lineage_commands(run_cli, ws):
    scenario = SCENARIOS / "policy_direct.sql"
    open_scenario(Catalog.open(str(ws)), "policy_direct")
    as_scenario = ("--scenario", "policy_direct")
    done = run_cli("query", "-f", str(scenario), "--into", "eligible", *as_scenario)
    assert done.exit_code == 0, done.output
    assert "rows into pool.default.eligible" in done.output
    clash = run_cli("query", "-f", str(scenario), "--into", "eligible", *as_scenario)
    assert clash.exit_code == 1
    assert "already exists" in clash.output and "--replace" in clash.output
    replace = ("--into", "eligible", "--replace", *as_scenario)
    assert run_cli("query", "-f", str(scenario), *replace).exit_code == 0
    append = ("--into", "eligible", "--append", *as_scenario)
    assert run_cli("query", "-f", str(scenario), *append).exit_code == 0
    misuse = run_cli("query", "SELECT 1 AS x FROM market.district", "--replace")
    assert misuse.exit_code == 2 and "--into" in misuse.output
    shown = json.loads(run_cli("lineage", "show", "pool.eligible", "--json").output)
    assert shown["recipe"]["scenario"] == "policy_direct"
    assert [c["mode"] for c in shown["recipe"]["contributions"]] == ["replace", "append"]
    rows = run_cli("query", "SELECT count(*) AS n FROM pool.eligible", "--format", "json")
    assert json.loads(rows.output)[0]["n"] > 0
    impact = json.loads(run_cli("lineage", "impact", "tax.filings.total_tax", "--json").output)
    assert impact["derived"] == [
        {
            "dataset": "pool.default.eligible",
            "depth": 1,
            "columns": None,  # tax_h1 > 50000 filters: every row depends on it
            "via": ["tax.default.filings.total_tax"],
        }
    ]
    credit = json.loads(run_cli("lineage", "impact", "market.enterprise.name", "--json").output)
    assert credit["derived"][0]["columns"] == ["name"]
    usage = json.loads(run_cli("lineage", "usage", "--json").output)
    assert usage["used"] >= 4
    pii = json.loads(run_cli("lineage", "pii", "--json").output)
    assert any(c["column"] == "legal_rep_id_number" for c in pii["columns"])
    runs = json.loads(run_cli("lineage", "runs", "--scenario", "policy_direct", "--json").output)
    assert [r["status"] for r in runs] == ["completed", "completed", "failed", "completed"]
    one = json.loads(run_cli("lineage", "runs", "--id", runs[2]["id"], "--json").output)
    assert "already exists" in one["error"]
    rebuilt = run_cli("lineage", "rerun", "pool.eligible")
    assert rebuilt.exit_code == 0 and "now holds" in rebuilt.output
    for command in (
        ["lineage", "show", "pool.eligible"],
        ["lineage", "impact", "market.enterprise"],
        ["lineage", "usage"],
        ["lineage", "pii"],
        ["lineage", "runs"],
    ):
        result = run_cli(*command)
        assert result.exit_code == 0, (command, result.output)
        assert result.output.strip()
    missing = run_cli("lineage", "impact", "market.nope")
    assert missing.exit_code == 1 and "No dataset" in missing.output
