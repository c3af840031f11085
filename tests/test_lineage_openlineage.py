"""OpenLineage RunEvents: sent through the official client to a file, the console or an HTTP
endpoint, valid against the official JSON Schemas (offline), with the facets' contents right."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from guajie.api import Session
from guajie.catalog.errors import InvalidInputError
from guajie.catalog.ledger import Catalog
from guajie.catalog.models import Dataset, Source
from guajie.lineage.events import dataset_name, location_name
from guajie.lineage.recorder import execute, run_query
from tests.lineage_support import copy_workspace, read_events, register_city, validate_event
from tests.support.policies import open_scenario

SCENARIOS = Path(__file__).parents[1] / "sample_sources" / "scenarios"
POLICY = (SCENARIOS / "policy_direct.sql").read_text()


@pytest.fixture(scope="module")
def base(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("openlineage") / "ws"
    register_city(home, city_dir)
    return home


def _session(ws: Path) -> Session:
    return Session(Catalog.open(str(ws)))


def test_file_events_validate_and_carry_schema_source_sql_and_column_lineage(
    base, tmp_path, city_dir
):
    ws = copy_workspace(
        base, tmp_path / "ws", openlineage={"transport": "file", "path": "ol/events.jsonl"}
    )
    with _session(ws) as session:
        open_scenario(session.catalog, "policy_direct")
        outcome = run_query(session, POLICY, into="eligible", scenario="policy_direct")
    events = read_events(ws / "ol" / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)
        assert event["run"]["runId"] == outcome.run.id
        assert event["job"] == {**event["job"], "namespace": "guajie", "name": "policy_direct"}
        assert event["job"]["facets"]["sql"]["query"] == outcome.run.sql
        assert event["job"]["facets"]["jobType"]["jobType"] == "QUERY"
        assert event["run"]["facets"]["processing_engine"]["name"] == "guajie"
    complete = events[-1]
    inputs = {(i["namespace"], i["name"]): i for i in complete["inputs"]}
    market = inputs[(f"sqlite://{city_dir}/market.sqlite", "main.enterprise")]
    assert market["facets"]["dataSource"]["name"] == "market"
    assert {"name": "credit_code", "type": "string", "ordinal_position": 1}.items() <= market[
        "facets"
    ]["schema"]["fields"][0].items()
    assert market["facets"]["symlinks"]["identifiers"][0]["name"] == "market.main.enterprise"
    assert ("file", f"{city_dir}/tax/filings") in inputs
    (output,) = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("file", f"{(ws / 'pool').resolve()}/eligible")
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == [
        "credit_code",
        "name",
        "district",
        "headcount",
        "tax_h1",
    ]
    assert output["facets"]["lifecycleStateChange"]["lifecycleStateChange"] == "CREATE"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == outcome.rows
    lineage = output["facets"]["columnLineage"]
    (tax,) = lineage["fields"]["tax_h1"]["inputFields"]
    assert tax["namespace"] == "file" and tax["name"] == f"{city_dir}/tax/filings"
    assert tax["field"] == "total_tax"
    assert tax["transformations"] == [
        {"type": "DIRECT", "subtype": "AGGREGATION", "description": "", "masking": True}
    ]
    (name,) = lineage["fields"]["name"]["inputFields"]
    assert name["name"] == "main.enterprise" and name["transformations"][0]["subtype"] == "IDENTITY"
    whole = {
        (f["name"], f["field"], f["transformations"][0]["subtype"]) for f in lineage["dataset"]
    }
    assert ("main.enterprise", "status", "FILTER") in whole
    assert ("main.enterprise", "credit_code", "JOIN") in whole
    # START announces the output before anything is written.
    (announced,) = events[0]["outputs"]
    assert announced["name"] == output["name"] and "columnLineage" not in announced["facets"]


def test_a_failed_query_sends_fail_with_the_scrubbed_error(base, tmp_path):
    path = tmp_path / "lite.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (id INTEGER, x INTEGER)")
    con.executemany(
        "INSERT INTO t VALUES (?, ?)",
        [(i, -9223372036854775808 if i == 100_000 else i) for i in range(120_000)],
    )
    con.commit()
    con.close()
    ws = copy_workspace(base, tmp_path / "ws", openlineage={"transport": "file", "path": "e.jsonl"})
    with _session(ws) as session:
        session.catalog.add_source("lite", f"sqlite://{path}")
        session.catalog.crawl(["lite"])
        open_scenario(session.catalog, "probe")
        result = execute(session, "SELECT id, abs(x) AS y FROM lite.t", scenario="probe")
        with pytest.raises(Exception, match="integer overflow"):
            result.read_all()
    events = read_events(ws / "e.jsonl")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for event in events:
        validate_event(event)
    message = events[-1]["run"]["facets"]["errorMessage"]["message"]
    assert "Source 'lite'" in message and "integer overflow" in message
    assert events[-1]["run"]["facets"]["errorMessage"]["programmingLanguage"] == "python"


def test_console_transport_prints_events_to_stderr(base, tmp_path, capfd):
    ws = copy_workspace(base, tmp_path / "ws", openlineage={"transport": "console"})
    with _session(ws) as session:
        execute(session, "SELECT count(*) AS n FROM market.enterprise").read_all()
    err = capfd.readouterr().err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)
    # Stdout stays clean for the query's own output.
    assert "eventType" not in capfd.readouterr().out


class _Marquez(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, dict]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers.get("Authorization", ""), json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def marquez():
    _Marquez.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Marquez)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_http_transport_posts_to_a_marquez_compatible_endpoint(
    base, tmp_path, marquez, monkeypatch
):
    monkeypatch.setenv("TEST_MARQUEZ_KEY", "k-123")
    url = f"http://127.0.0.1:{marquez.server_address[1]}"
    ws = copy_workspace(
        base,
        tmp_path / "ws",
        openlineage={"transport": "http", "url": url, "api_key_env": "TEST_MARQUEZ_KEY"},
    )
    with _session(ws) as session:
        run_query(session, "SELECT name, district FROM market.enterprise", into="names")
    assert [p for p, _, _ in _Marquez.received] == ["/api/v1/lineage", "/api/v1/lineage"]
    assert {a for _, a, _ in _Marquez.received} == {"Bearer k-123"}
    events = [e for _, _, e in _Marquez.received]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)


def test_an_unreachable_endpoint_never_fails_the_run(base, tmp_path, caplog):
    ws = copy_workspace(
        base,
        tmp_path / "ws",
        openlineage={"transport": "http", "url": "http://127.0.0.1:9", "timeout": 1},
    )
    with _session(ws) as session, caplog.at_level(logging.WARNING, logger="guajie.lineage"):
        table = execute(session, "SELECT count(*) AS n FROM market.enterprise").read_all()
    assert table.num_rows == 1
    assert "could not send the OpenLineage" in caplog.text


def test_nothing_is_sent_without_settings(base, tmp_path):
    ws = copy_workspace(base, tmp_path / "ws")
    with _session(ws) as session:
        run_query(session, "SELECT name FROM market.district", into="districts")
    assert not list(ws.rglob("*.json*"))


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"transport": "kafka"}, "transport"),
        ({"transport": "file"}, "no path"),
        ({"transport": "http"}, "no url"),
        ({"transport": "file", "path": "x", "colour": "red"}, "colour"),
        (
            {"transport": "http", "url": "http://127.0.0.1:9", "api_key_env": "GUAJIE_NO_SUCH_KEY"},
            "GUAJIE_NO_SUCH_KEY, which is not set",
        ),
    ],
)
def test_bad_settings_are_a_clear_error(base, tmp_path, settings, problem):
    from guajie.lineage.governance import Governance

    ws = copy_workspace(base, tmp_path / "ws", openlineage=settings)
    with _session(ws) as session:
        with pytest.raises(InvalidInputError, match=problem):
            execute(session, "SELECT 1 AS one FROM market.district")
        assert Governance(session.catalog).runs() == []  # refused before anything ran


def _dataset(source: str, schema: str, name: str, location: str | None = None) -> Dataset:
    return Dataset(source=source, schema=schema, name=name, resource_code="X", location=location)


def test_dataset_names_follow_the_openlineage_conventions():
    pg = Source(name="market", kind="postgresql", url="postgresql://scjg@10.1.2.3:5433/registry")
    assert dataset_name(pg, _dataset("market", "public", "enterprise")).__dict__ == {
        "namespace": "postgres://10.1.2.3:5433",
        "name": "registry.public.enterprise",
    }
    my = Source(name="hrss", kind="mysql", url="mysql://u@db.example:3306/si")
    assert dataset_name(my, _dataset("hrss", "si", "monthly")).__dict__ == {
        "namespace": "mysql://db.example:3306",
        "name": "si.monthly",
    }
    lite = Source(name="civil", kind="sqlite", url="sqlite:////data/civil.sqlite")
    assert dataset_name(lite, _dataset("civil", "main", "person")).name == "main.person"
    files = Source(name="tax", kind="file", url="s3://city-pool/tax")
    located = _dataset("tax", "default", "filings", "s3://city-pool/tax/filings")
    assert dataset_name(files, located).__dict__ == {
        "namespace": "s3://city-pool",
        "name": "tax/filings",
    }
    assert location_name("file:///srv/pool/x").__dict__ == {
        "namespace": "file",
        "name": "/srv/pool/x",
    }
