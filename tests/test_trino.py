"""Trino as the second engine: the same catalog, the same SQL, the same answers.

A real single-node Trino (:class:`tests.support.trino_server.TrinoServer`, fetched from Maven
Central into a cache on first use) is started once for the session, after PostgreSQL,
MariaDB and S3, so that it inherits their passwords and credentials for ``${ENV:VAR}``.

Placements differ from the embedded suites where Trino cannot read a source:

* TPC-H: orders, customer, nation and region in PostgreSQL; partsupp and supplier in
  MariaDB; lineitem (a directory of four parts) and part (one file) as Parquet. The
  embedded suite keeps nation, region and part in SQLite, which Trino has no connector for.
* The city: the registry and the district dimension in PostgreSQL, social insurance in
  MariaDB, tax filings as hive-partitioned Parquet in S3, parking as CSV on the local disk,
  and subsidy recipients in PostgreSQL instead of SQLite.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from guajie.api import Session
from guajie.catalog.ledger import Catalog
from guajie.federation.trino import (
    NotServedError,
    TrinoAuthError,
    TrinoCatalogError,
    TrinoEngine,
    TrinoQueryError,
    TrinoUnreachableError,
    load_settings,
    sync_catalogs,
)
from guajie.lineage.governance import Governance
from tests.lineage_support import copy_workspace, read_events, validate_event
from tests.support.policies import open_scenario, raw_personal_information
from tests.support.servers import free_port
from tests.support.trino_server import TrinoServer
from tests.test_federation_city import (
    ORDER_KEYS,
    QUERIES,
    REFERENCE_SQL,
    SCALE,
    SCENARIOS,
    SEED,
)
from tests.tpch import ORDER_BY, QUERY_NUMBERS, is_ordered, load_query
from tests.tpch.compare import assert_same_result
from tests.tpch.data import (
    default_cache_dir,
    generate_tpch,
    load_mysql,
    load_postgres,
    reference_connection,
    write_parquet,
)

# Tests that need the servers carry this; the rest run in `make test-fast`.
SERVERS = [pytest.mark.servers, pytest.mark.slow]


def needs_servers(f):
    for mark in SERVERS:
        f = mark(f)
    return f


TPCH_SCALE = 0.01
TPCH_PLACEMENT = {
    "orders": "tpg",
    "customer": "tpg",
    "nation": "tpg",
    "region": "tpg",
    "partsupp": "tmy",
    "supplier": "tmy",
    "lineitem": "tfiles",
    "part": "tfiles",
}


# --------------------------------------------------------------------------------------------
# Servers and workspaces


@pytest.fixture(scope="module")
def s3_env(s3_server) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in s3_server.env()}
    os.environ.update(s3_server.env())
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def tpch_files() -> dict[str, Path]:
    return generate_tpch(default_cache_dir(), TPCH_SCALE)


@pytest.fixture(scope="module")
def tpch_trino(tpch_files, postgres_server, mariadb_server, trino_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("tpch-trino")
    pick = lambda source: {t: tpch_files[t] for t, s in TPCH_PLACEMENT.items() if s == source}  # noqa: E731
    load_postgres(postgres_server.conninfo, pick("tpg"), schema="tpch_trino")
    load_mysql(mariadb_server.connect_kwargs, pick("tmy"), database="guajie_tpch_trino")
    write_parquet(root / "files", pick("tfiles"))
    catalog = raw_personal_information(Catalog.open(str(root / "ws")))
    m = mariadb_server
    catalog.add_source(
        "tpg",
        postgres_server.url + "?schemas=tpch_trino",
        password_env=postgres_server.env_var_name,
    )
    catalog.add_source(
        "tmy", f"mysql://{m.user}@{m.host}:{m.port}/guajie_tpch_trino", password_env=m.env_var_name
    )
    catalog.add_source("tfiles", f"file://{root}/files")
    catalog.crawl(sample=False)
    report = sync_catalogs(catalog, load_settings(catalog.workspace, url=trino_server.url))
    assert report.ok, report.to_dict()
    return TrinoEngine.for_catalog(catalog, url=trino_server.url)


@pytest.fixture(scope="module")
def tpch_reference(tpch_files):
    return reference_connection(tpch_files)


def tpch_sql(n: int) -> str:
    tree = sqlglot.parse_one(load_query(n), read="trino")
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.name in TPCH_PLACEMENT and table.name not in ctes:
            table.set("db", exp.to_identifier(TPCH_PLACEMENT[table.name]))
    return tree.sql(dialect="trino")


@pytest.fixture(scope="module")
def city_reference() -> duckdb.DuckDBPyConnection:
    from guajie.sample_sources import city_tables

    con = duckdb.connect()
    for department, tables in city_tables(SCALE, SEED).items():
        con.execute(f"CREATE SCHEMA {department}")
        for name, source in tables.items():
            con.register("incoming", source.read_all())
            con.execute(f"CREATE TABLE {department}.{name} AS SELECT * FROM incoming")
            con.unregister("incoming")
    return con


@pytest.fixture(scope="module")
def city_catalog(
    city_dir, postgres_server, mariadb_server, s3_server, s3_env, trino_server, tmp_path_factory
) -> Catalog:
    import fsspec

    from guajie.sample_sources import load_mysql as city_mysql
    from guajie.sample_sources import load_postgres as city_postgres

    pg, m = postgres_server, mariadb_server
    city_postgres(
        pg.conninfo,
        scale=SCALE,
        seed=SEED,
        schema="market_trino",
        tables=("enterprise", "district"),
    )
    city_postgres(
        pg.conninfo, scale=SCALE, seed=SEED, schema="civil_trino", tables=("subsidy_recipient",)
    )
    with m.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS guajie_city_trino")
    city_mysql(
        m.host,
        m.port,
        m.user,
        m.password,
        "guajie_city_trino",
        scale=SCALE,
        seed=SEED,
        tables=("social_insurance_monthly",),
    )
    # A bucket per fixture instance: other modules build their own copy of this city.
    bucket = f"trino-pool-{os.urandom(4).hex()}"
    s3_server.make_bucket(bucket)
    fs = fsspec.filesystem("s3", **s3_server.storage_options)
    fs.put(str(city_dir / "tax" / "filings"), f"{bucket}/tax/filings", recursive=True)

    catalog = raw_personal_information(
        Catalog.open(str(tmp_path_factory.mktemp("city-trino") / "ws"))
    )
    catalog.add_source("market", pg.url + "?schemas=market_trino", password_env=pg.env_var_name)
    catalog.add_source("civil", pg.url + "?schemas=civil_trino", password_env=pg.env_var_name)
    catalog.add_source(
        "hrss", f"mysql://{m.user}@{m.host}:{m.port}/guajie_city_trino", password_env=m.env_var_name
    )
    catalog.add_source(
        "tax", f"s3://{bucket}/tax", options={"endpoint_url": s3_server.endpoint_url}
    )
    catalog.add_source("transport", f"file://{city_dir}/transport")
    catalog.crawl(sample=False)
    # The server is shared by the session: another module's copy of this workspace may
    # have registered the same catalogs already.
    settings = load_settings(catalog.workspace, url=trino_server.url)
    report = sync_catalogs(catalog, settings, force=True)
    assert report.ok, report.to_dict()
    return catalog


@pytest.fixture(scope="module")
def city_trino(city_catalog, trino_server) -> TrinoEngine:
    return TrinoEngine.for_catalog(city_catalog, url=trino_server.url)


# --------------------------------------------------------------------------------------------
# Correctness: TPC-H and the city


@needs_servers
@pytest.mark.parametrize("n", QUERY_NUMBERS)
def test_tpch_query_matches_the_reference(tpch_trino, tpch_reference, n):
    actual = tpch_trino.query(tpch_sql(n))
    expected = tpch_reference.sql(sqlglot.transpile(load_query(n), read="trino", write="duckdb")[0])
    assert_same_result(
        actual,
        expected.to_arrow_table(),
        ordered=is_ordered(n),
        order_by=ORDER_BY.get(n),
    )


def trino_reference_answer(con: duckdb.DuckDBPyConnection, sql: str):
    """The reference in Trino's semantics: ``date_diff(unit, a, b)`` counts whole units
    elapsed in Trino, where DuckDB's ``date_diff`` counts unit boundaries crossed (00:03:52 to
    00:50:16 is 46 minutes in Trino, 47 in DuckDB); DuckDB's ``date_sub`` is Trino's."""
    duck = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    duck = re.sub(r"\bDATE_DIFF\(", "DATE_SUB(", duck, flags=re.IGNORECASE)
    return con.sql(duck).to_arrow_table()


@needs_servers
@pytest.mark.parametrize("scenario", sorted(ORDER_KEYS))
def test_city_scenarios_match_the_reference(city_trino, city_reference, scenario):
    sql = (SCENARIOS / f"{scenario}.sql").read_text()
    actual = city_trino.query(sql)
    expected = trino_reference_answer(city_reference, sql)
    assert expected.num_rows > 0
    assert_same_result(actual, expected, ordered=True, order_by=ORDER_KEYS[scenario])


@needs_servers
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_city_queries_match_the_reference(city_trino, city_reference, name):
    sql = QUERIES[name]
    actual = city_trino.query(sql)
    if name in REFERENCE_SQL:
        expected = city_reference.sql(REFERENCE_SQL[name]).to_arrow_table()
    else:
        expected = trino_reference_answer(city_reference, sql)
    assert_same_result(actual, expected, ordered="ORDER BY" in sql and name != "cte_window")


@needs_servers
def test_results_have_the_embedded_engines_types(city_catalog, city_trino):
    """Booleans from MariaDB, padded chars, CSV columns: the catalog's types, not Trino's."""
    from guajie.api import Session

    sql = (
        "SELECT s.arrears, s.month, e.registered_capital, ev.entered_at, ev.fee, l.capacity "
        "FROM hrss.social_insurance_monthly s "
        "JOIN market.enterprise e ON e.credit_code = s.credit_code "
        "JOIN transport.parking_lots l ON l.operator_credit_code = e.credit_code "
        "JOIN transport.parking_events ev ON ev.lot_id = l.lot_id LIMIT 5"
    )
    trino_types = city_trino.query(sql).schema.types
    embedded = Session(city_catalog).query(sql).schema.types
    assert trino_types == embedded


@needs_servers
def test_char_padding_and_booleans_are_cast(tpch_trino, city_trino):
    query = tpch_trino.prepare("SELECT c_mktsegment FROM tpg.customer LIMIT 3")
    casts = query.casts["tpg.tpch_trino.customer"]
    assert {c.column for c in casts} >= {"c_mktsegment", "c_phone"}
    assert "TRIM(TRAILING ' ' FROM" in query.trino_sql
    values = tpch_trino.query("SELECT DISTINCT c_mktsegment AS s FROM tpg.customer").column("s")
    assert all(v == v.rstrip() for v in values.to_pylist())
    arrears = city_trino.prepare("SELECT count(*) FROM hrss.social_insurance_monthly WHERE arrears")
    assert any(
        c.column == "arrears"
        for c in arrears.casts["hrss.guajie_city_trino.social_insurance_monthly"]
    )


@needs_servers
def test_stream_returns_record_batches(city_trino):
    reader = city_trino.stream("SELECT credit_code, month FROM tax.filings")
    rows = sum(batch.num_rows for batch in reader)
    count = city_trino.query("SELECT count(*) AS n FROM tax.filings").column("n")[0].as_py()
    assert rows == count > 0


@needs_servers
@pytest.mark.parametrize("n", [3, 9, 10, 13, 18])
def test_parquet_transfer_gives_the_json_answer(tpch_trino, n):
    """Large answers can come back as Parquet written by Trino; order and types are kept."""
    sql = tpch_sql(n)
    via_json = tpch_trino.execute(sql)
    expected = via_json.read_all()
    via_parquet = tpch_trino.execute(sql, transfer="parquet")
    actual = via_parquet.read_all()
    assert via_parquet.stats.transfer == "parquet" and via_json.stats.transfer == "json"
    assert actual.schema == expected.schema
    assert_same_result(actual, expected, ordered=is_ordered(n), order_by=ORDER_BY.get(n))


@needs_servers
def test_parquet_transfer_falls_back_to_json_for_other_orderings(tpch_trino):
    sql = "SELECT o_orderkey FROM tpg.orders ORDER BY o_totalprice DESC LIMIT 5"
    result = tpch_trino.execute(sql, transfer="parquet")
    assert result.read_all().num_rows == 5 and result.stats.transfer == "json"


@needs_servers
def test_explain_shows_the_sql_sent_and_trinos_plan(tpch_trino):
    explanation = tpch_trino.explain(tpch_sql(5))
    text = explanation.text()
    assert '"tpg"."tpch_trino"."customer"' in text or "tpg.tpch_trino.customer" in text
    assert "Fragment" in explanation.plan
    doc = explanation.to_dict()
    json.dumps(doc)
    assert doc["engine"] == "trino" and doc["sql_sent"] and doc["trino_plan"]


# --------------------------------------------------------------------------------------------
# Sync: idempotent, removal, secrets, what is not served


@pytest.fixture
def sync_workspace(tmp_path, postgres_server, city_dir, trino_server):
    catalog = Catalog.open(str(tmp_path / "ws"))
    pg = postgres_server
    catalog.add_source("syncpg", pg.url + "?schemas=market_trino", password_env=pg.env_var_name)
    catalog.add_source("synclite", f"sqlite://{city_dir}/civil.sqlite")
    catalog.add_source("syncfiles", f"file://{city_dir}/transport")
    catalog.crawl(sample=False)
    settings = load_settings(catalog.workspace, url=trino_server.url)
    yield catalog, settings
    for name in ("syncpg", "syncfiles"):
        with contextlib.suppress(Exception):
            TrinoEngine(catalog, settings).client.execute(f'DROP CATALOG IF EXISTS "{name}"')


@needs_servers
def test_sync_is_idempotent_and_lists_what_trino_cannot_serve(sync_workspace, city_catalog):
    catalog, settings = sync_workspace
    first = sync_catalogs(catalog, settings)
    actions = {r.source: r.action for r in first.results}
    assert actions == {"syncpg": "created", "syncfiles": "created", "synclite": "skipped"}
    lite = next(r for r in first.results if r.source == "synclite")
    assert "SQLite" in (lite.reason or "")
    files = sorted(p.name for p in Path(first.catalog_dir).glob("*.properties"))
    again = sync_catalogs(catalog, settings)
    assert {r.source: r.action for r in again.results} == {
        "syncpg": "unchanged",
        "syncfiles": "unchanged",
        "synclite": "skipped",
    }
    assert all(not r.changed_tables for r in again.results)
    assert sorted(p.name for p in Path(again.catalog_dir).glob("*.properties")) == files
    engine = TrinoEngine(catalog, settings)
    assert engine.query("SELECT count(*) AS n FROM syncfiles.parking_lots").num_rows == 1
    with pytest.raises(NotServedError, match="synclite"):
        engine.query("SELECT count(*) FROM synclite.subsidy_recipient")


@needs_servers
def test_removing_a_source_removes_its_catalog(sync_workspace):
    catalog, settings = sync_workspace
    sync_catalogs(catalog, settings)
    catalog.remove_source("syncfiles")
    report = sync_catalogs(catalog, settings)
    assert {r.source: r.action for r in report.results}["syncfiles"] == "removed"
    assert not (Path(report.catalog_dir) / "syncfiles.properties").exists()
    engine = TrinoEngine(catalog, settings)
    names = {r[0] for r in engine.client.rows("SHOW CATALOGS")}
    assert "syncfiles" not in names and "syncpg" in names


@needs_servers
def test_passwords_are_referenced_never_written(sync_workspace, postgres_server, trino_server):
    catalog, settings = sync_workspace
    report = sync_catalogs(catalog, settings)
    text = (Path(report.catalog_dir) / "syncpg.properties").read_text()
    assert f"connection-password=${{ENV:{postgres_server.env_var_name}}}" in text
    written = [p for p in Path(report.catalog_dir).parent.rglob("*") if p.is_file()]
    written += [p for p in trino_server.catalog_dir.rglob("*") if p.is_file()]
    for path in written:
        assert postgres_server.password not in path.read_text(errors="replace"), path
    assert report.server_env[postgres_server.env_var_name]


def test_files_only_writes_catalogs_without_trino(tmp_path):
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source(
        "offline", "postgresql://reader@127.0.0.1:5/city", password_env="CITY_PW", check=False
    )
    settings = load_settings(catalog.workspace, url=f"http://127.0.0.1:{free_port()}")
    report = sync_catalogs(catalog, settings, apply=False)
    assert report.mode == "files" and report.restart_needed
    text = (Path(report.catalog_dir) / "offline.properties").read_text()
    assert text.startswith("# Written by `guajie trino sync`")
    assert "connection-password=${ENV:CITY_PW}" in text
    assert "jdbc:postgresql://127.0.0.1:5/city" in text
    again = sync_catalogs(catalog, settings, apply=False)
    assert [r.action for r in again.results] == ["unchanged"] and not again.restart_needed
    catalog.remove_source("offline")
    gone = sync_catalogs(catalog, settings, apply=False)
    assert [r.action for r in gone.results] == ["removed"]
    assert not (Path(report.catalog_dir) / "offline.properties").exists()


@needs_servers
def test_dropping_a_file_table_keeps_the_files(sync_workspace, city_dir):
    catalog, settings = sync_workspace
    sync_catalogs(catalog, settings)
    before = sorted(p.name for p in (city_dir / "transport").rglob("*"))
    catalog.remove_source("syncfiles")
    sync_catalogs(catalog, settings)
    assert sorted(p.name for p in (city_dir / "transport").rglob("*")) == before


# --------------------------------------------------------------------------------------------
# Lineage: runs on Trino are recorded like embedded runs

POLICY_SQL = (SCENARIOS / "policy_direct.sql").read_text()


@pytest.fixture
def trino_ws(city_catalog, tmp_path) -> Path:
    """A private copy of the city workspace (Trino-served) that writes OpenLineage events."""
    return copy_workspace(
        Path(city_catalog.workspace.home),
        tmp_path / "ws",
        openlineage={"transport": "file", "path": "events.jsonl"},
    )


@pytest.fixture
def trino_session(trino_ws, trino_server) -> Iterator[Session]:
    session = Session(Catalog.open(str(trino_ws)), engine="trino", trino={"url": trino_server.url})
    _STARTED[session] = datetime.now(UTC)
    yield session
    session.close()
    _STARTED.pop(session, None)


def _runs(session: Session):
    """Runs of this test: the copied workspace may hold earlier tests' runs."""
    return Governance(session.catalog).runs(since=_STARTED[session])


_STARTED: dict[Session, datetime] = {}


def _input_columns(catalog: Catalog, run_id: str) -> dict[tuple[str, str], str]:
    with catalog.store.read() as txn:
        return {
            (d, c): how
            for d, c, how in txn.db.execute(
                "SELECT dataset, column_name, how FROM run_input_columns WHERE run_id = ?",
                (run_id,),
            )
        }


@needs_servers
def test_a_trino_run_is_recorded_with_what_trino_read(trino_session, trino_ws):
    session = trino_session
    open_scenario(session.catalog, "policy_direct")
    result = session.execute(POLICY_SQL, scenario="policy_direct", user="lin")
    (running,) = _runs(session)
    assert running.status == "running" and running.engine == "trino"
    table = result.read_all()
    (run,) = _runs(session)
    assert run.status == "completed" and run.engine == "trino" and run.user == "lin"
    assert run.row_count == table.num_rows > 0
    assert run.inputs == [
        "hrss.guajie_city_trino.social_insurance_monthly",
        "market.market_trino.enterprise",
        "tax.default.filings",
    ]
    # Rows per source as Trino counted them; bytes only where the connector measures them
    # (Hive reading Parquet), not for the JDBC connectors.
    assert set(run.fetched) == {"market", "hrss", "tax"}
    datasets = {d: session.catalog.dataset(d) for d in run.inputs}
    for source, dataset in (
        ("market", "market.market_trino.enterprise"),
        ("hrss", "hrss.guajie_city_trino.social_insurance_monthly"),
        ("tax", "tax.default.filings"),
    ):
        assert 0 < run.fetched[source]["rows"] <= datasets[dataset].row_count
    assert "bytes" not in run.fetched["market"] and "bytes" not in run.fetched["hrss"]
    assert 0 < run.fetched["tax"]["bytes"] <= datasets["tax.default.filings"].size_bytes
    used = _input_columns(session.catalog, run.id)
    assert used[("market.market_trino.enterprise", "name")] == "IDENTITY"
    assert used[("tax.default.filings", "total_tax")].startswith("AGGREGATION")
    assert "JOIN" in used[("hrss.guajie_city_trino.social_insurance_monthly", "credit_code")]
    events = read_events(trino_ws / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)
    complete = events[-1]
    assert len(complete["inputs"]) == 3


@needs_servers
def test_a_failed_trino_run_is_recorded_without_values(trino_session, trino_ws):
    session = trino_session
    with pytest.raises(TrinoQueryError, match="Division by zero"):
        session.query(
            "SELECT credit_code, headcount / (headcount - headcount) AS x "
            "FROM hrss.social_insurance_monthly"
        )
    (run,) = _runs(session)
    assert run.status == "failed" and run.engine == "trino"
    assert "Division by zero" in (run.error or "")
    assert "Traceback" not in (run.error or "")
    events = read_events(trino_ws / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for event in events:
        validate_event(event)


@needs_servers
def test_a_failing_cast_on_trino_keeps_values_out_of_the_record(trino_session):
    session = trino_session
    with pytest.raises(TrinoQueryError):
        session.query("SELECT CAST(name AS integer) AS n FROM market.enterprise")
    (run,) = _runs(session)
    names = session.query("SELECT name FROM market.enterprise", engine="embedded").column(0)
    assert run.status == "failed" and run.error
    assert not any(str(v) in run.error for v in names.to_pylist()[:200])


@needs_servers
def test_a_trino_stream_dropped_unread_is_aborted_and_cancelled(trino_session, trino_ws):
    session = trino_session
    recorded = session.execute("SELECT * FROM tax.filings")
    query_id = recorded.result.stats.query_id
    client = session.trino().client
    recorded.close()
    del recorded
    gc.collect()
    (run,) = _runs(session)
    assert run.status == "aborted" and run.engine == "trino" and run.row_count == 0
    assert [e["eventType"] for e in read_events(trino_ws / "events.jsonl")] == ["START", "ABORT"]
    info = client.query_info(query_id) or {}
    assert info.get("state") in ("FAILED", "FINISHED")  # cancelled, or done before the cancel


@needs_servers
def test_write_back_on_trino_registers_the_dataset_with_lineage(trino_session, trino_ws):
    session = trino_session
    open_scenario(session.catalog, "policy_direct")
    outcome = session.write_back(POLICY_SQL, "eligible", scenario="policy_direct")
    assert outcome.run.engine == "trino" and outcome.run.status == "completed"
    expected = session.query(POLICY_SQL)
    written = session.query("SELECT * FROM pool.eligible", engine="embedded")
    assert outcome.rows == written.num_rows == expected.num_rows > 0
    key = ["tax_h1", "credit_code"]
    assert (
        written.sort_by([(k, "descending") for k in key]).to_pylist()
        == expected.sort_by([(k, "descending") for k in key]).to_pylist()
    )
    shown = Governance(session.catalog).show("pool.eligible")
    assert shown["recipe"]["run_id"] == outcome.run.id
    with session.catalog.store.read() as txn:
        edges = {
            (c, d, ic)
            for c, d, ic in txn.db.execute(
                "SELECT output_column, input_dataset, input_column FROM column_lineage "
                "WHERE output_dataset = 'pool.default.eligible'"
            )
        }
    assert ("tax_h1", "tax.default.filings", "total_tax") in edges
    assert ("name", "market.market_trino.enterprise", "name") in edges
    # Rebuilt on Trino too.
    (again,) = session.rerun("pool.eligible")
    assert again.run.engine == "trino" and again.rows == outcome.rows
    for event in read_events(trino_ws / "events.jsonl"):
        validate_event(event)


@needs_servers
def test_cli_query_on_trino_into_the_pool(cli, home, city_catalog, trino_server):
    copy_workspace(Path(city_catalog.workspace.home), home)
    time.sleep(1.01 - time.time() % 1)  # --since has whole seconds: start on a fresh one
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    url = trino_server.url
    policy = str(SCENARIOS / "policy_direct.sql")
    open_scenario(Catalog.open(str(home)), "policy_direct")
    into = ("--into", "eligible", "--scenario", "policy_direct")
    result = cli("query", "--engine", "trino", "--trino-url", url, *into, "-f", policy)
    assert result.exit_code == 0, result.output
    shown = cli(
        "query",
        "--engine",
        "trino",
        "--trino-url",
        url,
        "--format",
        "json",
        "SELECT count(*) AS n FROM pool.eligible",
    )
    assert shown.exit_code == 1 and "Trino" in shown.output  # the pool is not synced yet
    count = cli("query", "--format", "json", "SELECT count(*) AS n FROM pool.eligible")
    assert count.exit_code == 0, count.output
    runs = json.loads(cli("lineage", "runs", "--since", since, "--json").output)
    runs = runs["runs"] if isinstance(runs, dict) else runs
    # Newest first; a query Trino could not take is a failed run on Trino.
    assert [(r["engine"], r["status"]) for r in runs] == [
        ("embedded", "completed"),
        ("trino", "failed"),
        ("trino", "completed"),
    ]
    assert "Trino" in runs[1]["error"] and "pool" in runs[1]["error"]
    assert runs[2]["output_dataset"] == "pool.default.eligible"
    assert runs[2]["scenario"] == "policy_direct"


# --------------------------------------------------------------------------------------------
# Bad input: errors that name the source and the cause


@needs_servers
def test_unreachable_trino_says_where_and_what_to_do(city_catalog):
    engine = TrinoEngine.for_catalog(city_catalog, url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TrinoUnreachableError) as caught:
        engine.query("SELECT count(*) FROM market.enterprise")
    message = str(caught.value)
    assert "No Trino answers at http://127.0.0.1:" in message and "make trino" in message


@needs_servers
def test_a_catalog_trino_rejects_names_the_source(tmp_path, postgres_server, trino_server):
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source(
        "badpw", postgres_server.url, password_env="GUAJIE_TRINO_TEST_UNSET", check=False
    )
    report = sync_catalogs(catalog, load_settings(catalog.workspace, url=trino_server.url))
    (result,) = report.results
    assert result.action == "failed" and not report.ok
    assert "badpw" in (result.reason or "") and "GUAJIE_TRINO_TEST_UNSET" in (result.reason or "")
    assert not (Path(report.catalog_dir) / "badpw.properties").exists()


@needs_servers
def test_a_query_trino_fails_on_names_the_cause(city_trino):
    with pytest.raises(TrinoQueryError) as caught:
        city_trino.query(
            "SELECT credit_code, headcount / (headcount - headcount) AS x "
            "FROM hrss.social_insurance_monthly"
        )
    assert "Division by zero" in str(caught.value)
    assert "Traceback" not in str(caught.value)


@needs_servers
def test_unreachable_source_is_named(tmp_path, trino_server, postgres_server):
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source(
        "gone",
        f"postgresql://nobody@127.0.0.1:{free_port()}/nothing",
        password_env=postgres_server.env_var_name,
        check=False,
    )
    report = sync_catalogs(catalog, load_settings(catalog.workspace, url=trino_server.url))
    (result,) = report.results
    assert result.action == "failed"
    assert "Source 'gone'" in (result.reason or "")
    with contextlib.suppress(Exception):
        TrinoEngine(catalog, load_settings(catalog.workspace, url=trino_server.url)).client.execute(
            'DROP CATALOG IF EXISTS "gone"'
        )


@needs_servers
def test_cli_sync_status_query_and_errors(cli, home, city_dir, trino_server):
    from guajie.cli import main
    from guajie.cli.trino_cmds import trino

    main.add_command(trino)  # as guajie/cli/__init__.py does with trino_cmds.COMMANDS
    url = trino_server.url
    assert cli("source", "add", "clifiles", f"file://{city_dir}/transport").exit_code == 0
    assert cli("crawl", "--no-sample").exit_code == 0
    result = cli("trino", "sync", "--trino-url", url)
    assert result.exit_code == 0, result.output
    assert "clifiles" in result.output and "created" in result.output
    doc = json.loads(cli("trino", "sync", "--trino-url", url, "--json").output)
    assert doc["sources"][0]["action"] == "unchanged"
    status = cli("trino", "status", "--trino-url", url)
    assert status.exit_code == 0 and "clifiles" in status.output
    down = cli("trino", "status", "--trino-url", f"http://127.0.0.1:{free_port()}")
    assert down.exit_code == 1 and "No Trino answers" in down.output
    assert "Traceback" not in down.output
    with contextlib.suppress(Exception):
        TrinoEngine(Catalog.open(str(home)), load_settings(url=url)).client.execute(
            'DROP CATALOG IF EXISTS "clifiles"'
        )


# --------------------------------------------------------------------------------------------
# A cluster that wants a password over HTTPS, with a certificate from a private CA

SECURE_USER = "steward"
SECURE_PASSWORD_ENV = "GUAJIE_TEST_TRINO_PASSWORD"


@pytest.fixture(scope="module")
def secure_trino(postgres_server) -> Iterator[tuple[TrinoServer, str]]:
    """A second Trino, started once for the tests below: HTTPS and a password file."""
    import secrets

    password = "pw-" + secrets.token_urlsafe(18)
    with TrinoServer(passwords={SECURE_USER: password}, heap="1G", query_memory="512MB") as server:
        yield server, password


@pytest.fixture
def secure_catalog(secure_trino, postgres_server, tmp_path, monkeypatch) -> Catalog:
    import psycopg

    _, password = secure_trino
    monkeypatch.setenv(SECURE_PASSWORD_ENV, password)
    with psycopg.connect(postgres_server.conninfo, autocommit=True) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS secure_trino")
        con.execute("DROP TABLE IF EXISTS secure_trino.permit")
        con.execute("CREATE TABLE secure_trino.permit (id int PRIMARY KEY, district text)")
        con.execute("INSERT INTO secure_trino.permit VALUES (1, '鼓楼'), (2, '台江'), (3, '鼓楼')")
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source(
        "permits",
        postgres_server.url + "?schemas=secure_trino",
        password_env=postgres_server.env_var_name,
    )
    catalog.crawl(sample=False)
    return catalog


def _secure_settings(catalog: Catalog, server: TrinoServer, **overrides):
    values = {
        "url": server.url,
        "user": SECURE_USER,
        "password_env": SECURE_PASSWORD_ENV,
        "verify": str(server.tls.ca),
        **overrides,
    }
    return load_settings(catalog.workspace, **values)


@needs_servers
def test_password_over_tls_with_a_private_ca(secure_trino, secure_catalog, caplog):
    server, password = secure_trino
    assert server.url.startswith("https://")
    settings = _secure_settings(secure_catalog, server)
    report = sync_catalogs(secure_catalog, settings)
    assert report.ok, report.to_dict()
    session = Session(
        secure_catalog,
        engine="trino",
        trino={
            "url": server.url,
            "user": SECURE_USER,
            "password_env": SECURE_PASSWORD_ENV,
            "verify": str(server.tls.ca),
        },
    )
    table = session.query(
        "SELECT district, count(*) AS n FROM permits.permit GROUP BY district ORDER BY district"
    )
    embedded = session.query(
        "SELECT district, count(*) AS n FROM permits.permit GROUP BY district ORDER BY district",
        engine="embedded",
    )
    assert (
        table.to_pylist()
        == embedded.to_pylist()
        == [
            {"district": "台江", "n": 1},
            {"district": "鼓楼", "n": 2},
        ]
    )
    (_, run) = Governance(secure_catalog).runs()  # newest first
    assert run.engine == "trino" and run.status == "completed"
    assert run.fetched == {"permits": {"rows": 3}}
    # The password is nowhere guajie writes: workspace files, the catalog store, catalog
    # properties, logs; Trino's own catalog store holds a reference for the source password.
    home = Path(secure_catalog.workspace.home)
    for path in [*home.rglob("*"), *server.catalog_dir.rglob("*")]:
        if path.is_file():
            assert password.encode() not in path.read_bytes(), path
    assert password not in caplog.text
    with contextlib.suppress(Exception):
        TrinoEngine(secure_catalog, settings).client.execute('DROP CATALOG IF EXISTS "permits"')


@needs_servers
def test_a_wrong_password_names_trino_and_what_to_do(secure_trino, secure_catalog, monkeypatch):
    server, password = secure_trino
    monkeypatch.setenv(SECURE_PASSWORD_ENV, "not-" + password)
    engine = TrinoEngine(secure_catalog, _secure_settings(secure_catalog, server))
    with pytest.raises(TrinoAuthError) as caught:
        engine.client.rows("SELECT 1")
    message = str(caught.value)
    assert f"Trino at {server.url} refused user '{SECURE_USER}'" in message
    assert "trino.password_env" in message
    assert password not in message and "not-" not in message
    # Through the front door: the CLI prints the same paragraph and no traceback.
    monkeypatch.setenv("GUAJIE_HOME", str(secure_catalog.workspace.home))
    from click.testing import CliRunner

    from guajie.cli import main

    result = CliRunner().invoke(
        main,
        [
            "query",
            "--engine",
            "trino",
            "--trino-url",
            server.url,
            "--trino-user",
            SECURE_USER,
            "--trino-password-env",
            SECURE_PASSWORD_ENV,
            "--trino-verify",
            str(server.tls.ca),
            "SELECT count(*) FROM permits.permit",
        ],
    )
    assert result.exit_code == 1 and "refused user" in result.output
    assert "Traceback" not in result.output and password not in result.output


@needs_servers
def test_an_unknown_ca_fails_the_tls_handshake_clearly(secure_trino, secure_catalog):
    server, _ = secure_trino
    engine = TrinoEngine(secure_catalog, _secure_settings(secure_catalog, server, verify="true"))
    with pytest.raises(TrinoAuthError) as caught:
        engine.client.rows("SELECT 1")
    message = str(caught.value)
    assert f"The TLS handshake with {server.url} failed" in message
    assert "trino.verify" in message
    with pytest.raises(TrinoAuthError, match="TLS handshake"):
        engine.client.ping()


@needs_servers
def test_a_missing_password_is_refused_by_trino(secure_trino, secure_catalog):
    server, _ = secure_trino
    settings = _secure_settings(secure_catalog, server).with_overrides()
    from dataclasses import replace

    engine = TrinoEngine(secure_catalog, replace(settings, password_env=None))
    with pytest.raises(TrinoAuthError, match="refused user"):
        engine.client.rows("SELECT 1")


def test_trino_catalog_error_is_a_source_error():
    from guajie.catalog.errors import SourceError

    assert issubclass(TrinoCatalogError, SourceError)


# --------------------------------------------------------------------------------------------
# Without servers: settings, planning, types


def _source(name: str, url: str, **kw: object):
    from guajie.catalog.models import Source, SourceKind

    kind = {"postgresql": "postgresql", "mysql": "mysql", "sqlite": "sqlite", "duckdb": "duckdb"}
    scheme = url.split("://", 1)[0]
    return Source(name=name, kind=SourceKind(kind.get(scheme, "file")), url=url, **kw)


def _dataset(source: str, name: str, location: str, fmt: str, kind: str, columns, parts=()):
    from guajie.catalog.models import Column, Dataset

    return Dataset(
        source=source,
        schema="default",
        name=name,
        resource_code="GJ-1",
        kind=kind,
        format=fmt,
        location=location,
        partitioning=list(parts),
        columns=[Column(name=n, type=t) for n, t in columns],
    )


def test_settings_refuse_a_password_over_http_and_read_the_workspace(tmp_path, monkeypatch):
    from guajie.catalog.workspace import Workspace
    from guajie.federation.trino import TrinoConfigError

    with pytest.raises(TrinoConfigError, match="https"):
        load_settings(url="http://trino:8080", password_env="TRINO_PW")
    with pytest.raises(TrinoConfigError, match="must not carry"):
        load_settings(url="https://me:secret@trino:8443")
    home = tmp_path / "ws"
    home.mkdir()
    (home / "guajie.yaml").write_text(
        "trino:\n  url: https://trino.city.gov.cn:8443\n  user: steward\n  verify: 'false'\n"
    )
    monkeypatch.delenv("GUAJIE_TRINO_URL", raising=False)
    settings = load_settings(Workspace.open(home))
    assert (settings.url, settings.user, settings.verify) == (
        "https://trino.city.gov.cn:8443",
        "steward",
        False,
    )
    assert settings.catalog_dir == home / "trino" / "catalog"
    monkeypatch.setenv("GUAJIE_TRINO_URL", "http://127.0.0.1:9999")
    assert load_settings(Workspace.open(home)).url == "http://127.0.0.1:9999"
    assert load_settings(Workspace.open(home), url="http://h:1").url == "http://h:1"


def test_plan_serves_what_trino_reads_and_says_why_not_the_rest(tmp_path):
    from guajie.federation.trino.sync import FileListing, plan_sync

    sources = [
        _source("pg", "postgresql://reader@db:5432/city?sslmode=require", password_env="PG_PW"),
        _source(
            "my",
            "mysql://reader@db:3306/hr",
            password_file="/run/secrets/my",
            options={"trino_connector": "mysql"},
        ),
        _source("lite", "sqlite:///data/civil.sqlite"),
        _source("duck", "duckdb:///data/x.duckdb"),
        _source("web", "https://open.example.gov.cn/data"),
        _source("files", "file:///data/city"),
    ]
    datasets = [
        _dataset(
            "files",
            "lots",
            "file:///data/city/lots.csv",
            "CSV",
            "file",
            [("lot_id", "string"), ("capacity", "int64"), ("opened", "timestamp[s]")],
        ),
        _dataset(
            "files",
            "alone",
            "file:///data/city/alone/alone.parquet",
            "Parquet",
            "file",
            [("id", "int64")],
        ),
        _dataset(
            "files",
            "filings",
            "file:///data/city/filings",
            "Parquet",
            "files",
            [("tax", "decimal128(18, 2)"), ("month", "string")],
            parts=["month"],
        ),
        _dataset(
            "files", "nested", "file:///data/city/nested", "Parquet", "files", [("id", "int64")]
        ),
    ]
    listing = FileListing(
        root="/data/city",
        files=[
            "/data/city/lots.csv",
            "/data/city/readme.txt",
            "/data/city/alone/alone.parquet",
            "/data/city/filings/month=2024-01/part-0.parquet",
            "/data/city/nested/2024/01/part-0.parquet",
        ],
        siblings={
            "/data/city": ["lots.csv", "readme.txt"],
            "/data/city/alone": ["alone.parquet"],
        },
    )
    settings = load_settings(url="http://127.0.0.1:8080").with_overrides(
        catalog_dir=tmp_path / "c", hive_dir=tmp_path / "h"
    )
    plan = plan_sync(
        sources,
        datasets,
        settings,
        mysql_probe=lambda s: pytest.fail("the option decides"),
        file_lister=lambda s: listing,
    )
    unserved = {u.source: u.reason for u in plan.unserved}
    assert set(unserved) == {"lite", "duck", "web"}
    assert "SQLite" in unserved["lite"] and "HTTP" in unserved["web"]
    specs = {c.name: c for c in plan.catalogs}
    pg = specs["pg"].properties
    assert pg["connection-url"] == "jdbc:postgresql://db:5432/city?sslmode=require"
    assert pg["connection-password"] == "${ENV:PG_PW}" and pg["connection-user"] == "reader"
    my = specs["my"]
    assert my.connector == "mysql" and my.properties["connection-url"] == "jdbc:mysql://db:3306"
    assert my.properties["connection-password"] == "${ENV:GUAJIE_MY_PASSWORD}"
    assert "GUAJIE_MY_PASSWORD" in my.env
    files = specs["files"]
    assert {t.name for t in files.tables} == {"alone", "filings"}
    assert "readme.txt" in files.unserved["files.default.lots"]
    assert "not a partition" in files.unserved["files.default.nested"]
    filings = next(t for t in files.tables if t.name == "filings")
    assert filings.partitioned_by == ["month"] and filings.columns[-1] == ("month", "varchar")
    assert filings.location == "local:///data/filings/filings"
    assert filings.link == ("filings", "/data/city")


def test_csv_tables_are_varchar_with_a_typed_view():
    from guajie.federation.trino.sync import FileListing, plan_sync

    source = _source("parking", "file:///data/parking")
    dataset = _dataset(
        "parking",
        "events",
        "file:///data/parking/events",
        "CSV",
        "files",
        [("id", "string"), ("fee", "double"), ("at", "timestamp[s]"), ("paid", "bool")],
    )
    listing = FileListing("/data/parking", ["/data/parking/events/a.csv"], {})
    settings = load_settings(url="http://127.0.0.1:8080").with_overrides(hive_dir="/tmp/h")
    (spec,) = plan_sync([source], [dataset], settings, file_lister=lambda s: listing).catalogs
    (table,) = spec.tables
    assert table.table_schema == "guajie_csv" and table.format == "CSV"
    assert all(t == "varchar" for _, t in table.columns)
    view = dict(table.view)
    assert view["id"].startswith("CASE WHEN \"id\" IN ('', ") and "'NULL'" in view["id"]
    assert view["fee"].startswith("CAST(CASE") and view["fee"].endswith("AS double)")
    assert "replace(" in view["at"] and view["at"].endswith("AS timestamp(0))")
    assert view["paid"].endswith("AS boolean)")


def test_types_between_the_catalog_trino_and_arrow():
    import pyarrow as pa

    from guajie.federation.trino.types import (
        cast_sql,
        column_to_arrow,
        hive_type_for,
        needs_cast,
        trino_type_for,
    )

    assert trino_type_for("decimal128(15, 2)") == "decimal(15,2)"
    assert trino_type_for("timestamp[us, tz=UTC]") == "timestamp(6) with time zone"
    assert trino_type_for("list<item: int32>") == "array(integer)"
    assert hive_type_for("timestamp[ms]") == "timestamp" and hive_type_for("time64[us]") is None
    assert not needs_cast("varchar(25)", "varchar")
    assert needs_cast("char(10)", "varchar") and needs_cast("tinyint", "boolean")
    assert needs_cast("timestamp(0)", "timestamp(6)") and not needs_cast(
        "decimal(15,2)", "decimal(15,2)"
    )
    assert (
        cast_sql('"c"', "char(10)", "varchar") == "TRIM(TRAILING ' ' FROM CAST(\"c\" AS varchar))"
    )
    assert column_to_arrow(["1.50", None], "decimal(15,2)").type == pa.decimal128(15, 2)
    assert column_to_arrow(["2024-06-01"], "date").to_pylist()[0].isoformat() == "2024-06-01"
    stamps = column_to_arrow(["2024-06-01 08:00:00.000000"], "timestamp(6)")
    assert stamps.type == pa.timestamp("us")
    aware = column_to_arrow(["2024-06-01 08:00:00.000 UTC"], "timestamp(3) with time zone")
    assert aware.type == pa.timestamp("ms", tz="UTC")
    floats = column_to_arrow([1.5, "NaN", "Infinity"], "double").to_pylist()
    assert floats[0] == 1.5 and floats[1] != floats[1] and floats[2] == float("inf")


def test_query_reads_follow_scans_to_their_tables():
    from guajie.federation.trino.query_stats import data_size, reads_of

    def scan(node_id: str) -> dict:
        return {"@type": "tableScan", "id": node_id}

    def stage(fragment: str, root: dict, *subs: dict) -> dict:
        return {"stageId": f"q1.{fragment}", "plan": {"root": root}, "subStages": list(subs)}

    info = {
        "queryId": "q1",
        "state": "FINISHED",
        "finalQueryInfo": True,
        "inputs": [
            {
                "catalogName": "market",
                "schema": "s",
                "table": "enterprise",
                "connectorName": "postgresql",
                "fragmentId": "1",
                "planNodeId": "0",
            },
            {
                "catalogName": "tax",
                "schema": "default",
                "table": "filings",
                "connectorName": "hive",
                "fragmentId": "2",
                "planNodeId": "5",
            },
            {
                "catalogName": "hrss",
                "schema": "s",
                "table": "a",
                "connectorName": "mariadb",
                "fragmentId": "3",
                "planNodeId": "7",
            },
            {
                "catalogName": "hrss",
                "schema": "s",
                "table": "b",
                "connectorName": "mariadb",
                "fragmentId": "3",
                "planNodeId": "8",
            },
        ],
        "outputStage": stage(
            "0",
            {"@type": "output", "id": "9", "source": {"@type": "remoteSource", "id": "10"}},
            # A filter fused into the scan carries the filter's id (as ScanFilterAndProject).
            stage("1", {"@type": "filter", "id": "278", "source": scan("0")}),
            stage("2", {"@type": "project", "id": "6", "source": scan("5")}),
            # Two scans under one union: an operator above both is not attributed.
            stage("3", {"@type": "union", "id": "11", "sources": [scan("7"), scan("8")]}),
        ),
        "queryStats": {
            "physicalInputPositions": 180,
            "physicalInputDataSize": "2.50kB",
            "peakUserMemoryReservation": "1MB",
            "operatorSummaries": [
                {
                    "stageId": 1,
                    "planNodeId": "278",
                    "operatorType": "ScanFilterAndProjectOperator",
                    "physicalInputPositions": 100,
                    "physicalInputDataSize": "0B",
                },
                {
                    "stageId": 2,
                    "planNodeId": "5",
                    "operatorType": "TableScanOperator",
                    "physicalInputPositions": 50,
                    "physicalInputDataSize": "2.50kB",
                },
                {
                    "stageId": 3,
                    "planNodeId": "11",
                    "operatorType": "ScanFilterAndProjectOperator",
                    "physicalInputPositions": 30,
                    "physicalInputDataSize": "0B",
                },
                {
                    "stageId": 0,
                    "planNodeId": "9",
                    "operatorType": "TaskOutputOperator",
                    "physicalInputPositions": 0,
                    "physicalInputDataSize": "0B",
                },
            ],
        },
    }
    reads = reads_of(info)
    assert reads.by_source() == {
        "market": {"rows": 100},  # JDBC: rows, and no byte count rather than a false zero
        "tax": {"rows": 50, "bytes": 2560},
    }
    assert reads.totals == {"rows": 180, "bytes": 2560, "peak_memory_bytes": 1 << 20}
    assert [t["table"] for t in reads.to_dict()["tables"]] == [
        "market.s.enterprise",
        "tax.default.filings",
    ]
    assert data_size("1.5GB") == 3 << 29 and data_size("12B") == 12 and data_size("?") is None


def test_the_function_list_is_trinos(trino_server):
    # Planning refuses functions that are not Trino's (a source would run its own under the
    # name); the list it checks against is this Trino's own.
    import trino

    from guajie.federation.validate import trino_functions

    conn = trino.dbapi.connect(host=trino_server.host, port=trino_server.port, user="guajie")
    cur = conn.cursor()
    cur.execute("SHOW FUNCTIONS")
    rows = cur.fetchall()
    # Catalogs add table functions (system.query), which no select list calls.
    assert {r[0].lower() for r in rows if r[3] != "table"} <= trino_functions()
    assert trino_functions() <= {r[0].lower() for r in rows}


# Expressions the local engine (DuckDB) and the sources compute differently from Trino:
# guajie's answer over a one-row SQLite table must be this Trino's answer over the same
# values. {x} is a double, {d} a decimal(18,2), {day} a date, {s} text.
TRINO_MEANINGS = [
    "CAST({x} AS BIGINT)",
    "CAST(-{x} AS BIGINT)",
    "round({x} + 32.05, 1)",
    "round(-{x} - 32.05, 1)",
    "round({x})",
    "round({d}, 1)",
    "{d} % 7",
    "date_trunc('month', {day})",
    "year({day})",
    "length(trim({s}))",
    "length(ltrim({s}))",
    "length(rtrim({s}))",
    "upper({s})",
    "format('%.2f', {x})",
    "date_add('month', 1, {day})",
    "substr({s}, 0, 2)",
    # Trino rounds a decimal quotient half away from zero to the larger scale (26.92).
    "{d} / 3",
    "-{d} / 2",
    "3 / {d}",
    "100.00 * {d} / 7",
    "{d} / 2 + 1",
    "avg({d} / 2)",
    "sign(-{d})",
]
VALUES = {"x": 2.5, "d": "80.75", "day": "2022-07-15", "s": "\t ａｂé\u3000\n\u00a0"}
VALUES_AS_COLUMNS = {name: name if name != "day" else '"day"' for name in VALUES}


@needs_servers
@pytest.mark.parametrize("template", TRINO_MEANINGS)
def test_expressions_mean_what_they_mean_in_trino(trino_server, tmp_path, template):
    import sqlite3

    import trino

    path = tmp_path / "values.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE v (x DOUBLE, d DECIMAL(18,2), day DATE, s TEXT)")
        conn.execute("INSERT INTO v VALUES (?, ?, ?, ?)", tuple(VALUES.values()))
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source("lite", f"sqlite://{path}")
    catalog.crawl(sample=False)
    ours = Session(catalog).query(f"SELECT {template.format(**VALUES_AS_COLUMNS)} AS r FROM lite.v")

    cur = trino.dbapi.connect(host=trino_server.host, port=trino_server.port, user="g").cursor()
    cur.execute(f"SELECT {template.format(**_trino_literals())} AS r")
    theirs = cur.fetchall()[0][0]
    got = ours.column("r")[0].as_py()
    if isinstance(theirs, float):
        assert got == pytest.approx(theirs), template
    else:
        assert (type(got), got) == (type(theirs), theirs), template


@needs_servers
def test_averages_of_decimals_are_rounded_as_in_trino(trino_server, tmp_path):
    import sqlite3

    import trino

    rows = [("a", "1.15"), ("a", "1.20"), ("b", "-1.15"), ("b", "-1.20"), ("c", "0.05")]
    rows += [("c", "0.00"), ("d", None)]
    path = tmp_path / "values.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE v (g TEXT, d DECIMAL(15,2))")
        conn.executemany("INSERT INTO v VALUES (?, ?)", rows)
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source("lite", f"sqlite://{path}")
    catalog.crawl(sample=False)
    select = (
        "SELECT g, avg(d) AS a, sum(d) / count(d) AS q, max(avg(d)) OVER () AS w "
        "FROM {table} GROUP BY g ORDER BY g"
    )
    ours = Session(catalog).query(select.format(table="lite.v"))
    values = ", ".join(
        f"('{g}', {'NULL' if d is None else f'DECIMAL {chr(39)}{d}{chr(39)}'})" for g, d in rows
    )
    cur = trino.dbapi.connect(host=trino_server.host, port=trino_server.port, user="g").cursor()
    cur.execute(select.format(table=f"(VALUES {values}) AS v(g, d)"))
    theirs = cur.fetchall()
    assert [tuple(r.values()) for r in ours.to_pylist()] == [tuple(r) for r in theirs]
    assert ours.column("a").to_pylist()[:3] == [Decimal("1.18"), Decimal("-1.18"), Decimal("0.03")]


def _trino_literals() -> dict[str, str]:
    text = " || ".join(f"chr({ord(c)})" for c in VALUES["s"])
    return {
        "x": f"DOUBLE '{VALUES['x']}'",
        "d": f"DECIMAL '{VALUES['d']}'",
        "day": f"DATE '{VALUES['day']}'",
        "s": f"({text})",
    }
