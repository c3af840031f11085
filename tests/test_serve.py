"""`guajie serve` as a real process on a loopback port: queries, catalog reads, errors, limits,
audit, and concurrent clients of several scenarios that never see each other's answers."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guajie.api import Session
from guajie.catalog.ledger import Catalog
from guajie.catalog.tokens import Tokens
from guajie.lineage.audit import AuditLog
from tests.lineage_support import register_city
from tests.support.guajie_server import GuajieServer, request
from tests.support.policies import open_scenario
from tests.support.serve_load import (
    WORKLOAD,
    apply_scenarios,
    expected_json_rows,
    prepare,
    run_load,
)

DISTRICTS = (
    "SELECT district, count(*) AS n FROM market.enterprise GROUP BY district ORDER BY district"
)


@pytest.fixture(scope="module")
def served_home(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("serve") / "ws"
    register_city(home, city_dir)
    catalog = Catalog.open(str(home))
    apply_scenarios(catalog)
    open_scenario(catalog, "workers_check")
    catalog.workspace.close()
    return home


def _token(home: Path, scenario: str, **options) -> tuple[str, str]:
    catalog = Catalog.open(str(home))
    try:
        made, secret = Tokens(catalog.store).create(scenario, **options)
    finally:
        catalog.workspace.close()
    return made.id, secret


@pytest.fixture(scope="module")
def server(served_home: Path) -> Iterator[GuajieServer]:
    with GuajieServer(served_home, ["--sessions", "6"]) as running:
        yield running


@pytest.fixture(scope="module")
def limited(served_home: Path) -> Iterator[GuajieServer]:
    options = ["--max-rows", "50", "--max-bytes", "4000", "--max-body", "4096"]
    with GuajieServer(served_home, options) as running:
        yield running


@pytest.fixture(scope="module")
def token(served_home: Path) -> str:
    return _token(served_home, "policy_direct", name="policy-app")[1]


def _audit(home: Path, **filters) -> list:
    catalog = Catalog.open(str(home))
    try:
        return AuditLog(catalog.store).search(limit=None, **filters)
    finally:
        catalog.workspace.close()


def _expected(home: Path, sql: str, scenario: str) -> pa.Table:
    with Session(Catalog.open(str(home))) as session:
        return session.query(sql, scenario=scenario, user="expectation")


def _error(data: bytes) -> dict:
    doc = json.loads(data)
    assert set(doc) == {"error"}
    assert "Traceback" not in data.decode() and 'File "' not in data.decode()
    return doc["error"]


# -- answers --------------------------------------------------------------------------------


def test_health_and_openapi_docs(server):
    status, _, data = request(server, "GET", "/v1/health")
    assert status == 200 and json.loads(data)["status"] == "ok"
    status, _, data = request(server, "GET", "/openapi.json")
    paths = json.loads(data)["paths"]
    assert {
        "/v1/query",
        "/v1/health",
        "/v1/catalog/datasets",
        "/v1/catalog/datasets/{qualified_name}",
        "/v1/lineage/{qualified_name}",
    } <= set(paths)
    status, headers, data = request(server, "GET", "/docs")
    assert status == 200 and headers["content-type"].startswith("text/html")


def test_a_query_answers_in_arrow_and_json_as_the_session_does(server, served_home, token):
    expected = _expected(served_home, DISTRICTS, "policy_direct")
    status, headers, data = request(
        server, "POST", "/v1/query", body={"sql": DISTRICTS, "format": "arrow"}, token=token
    )
    assert status == 200 and headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert pa.ipc.open_stream(data).read_all().equals(expected)

    status, headers, data = request(
        server, "POST", "/v1/query", body={"sql": DISTRICTS, "format": "json"}, token=token
    )
    doc = json.loads(data)
    assert status == 200 and headers["content-type"] == "application/json"
    assert [c["name"] for c in doc["columns"]] == ["district", "n"]
    assert doc["rows"] == expected_json_rows(expected) and doc["row_count"] == expected.num_rows


def test_every_http_query_is_audited_as_its_token(server, served_home):
    token_id, secret = _token(served_home, "smart_parking", name="audited-app")
    sql = "SELECT lot_id FROM transport.parking_lots ORDER BY lot_id"
    status, _, data = request(server, "POST", "/v1/query", body={"sql": sql}, token=secret)
    assert status == 200
    status, _, _ = request(
        server, "POST", "/v1/query", body={"sql": "DROP TABLE market.enterprise"}, token=secret
    )
    assert status == 403
    allowed, denied = sorted(
        _audit(served_home, user=f"token:{token_id}"), key=lambda e: e.decision
    )
    assert allowed.decision == "allowed" and allowed.client == "http"
    assert allowed.scenario == "smart_parking" and allowed.complete
    assert allowed.rows == json.loads(data)["row_count"]
    assert allowed.datasets == ["transport.default.parking_lots"]
    assert denied.decision == "denied" and denied.client == "http" and denied.rows is None
    assert denied.datasets == ["market.main.enterprise"]
    assert secret not in json.dumps([allowed.to_dict(), denied.to_dict()])


def test_catalog_and_lineage_endpoints(server, served_home, token):
    status, _, data = request(server, "GET", "/v1/catalog/datasets", token=token)
    names = [d["qualified_name"] for d in json.loads(data)]
    catalog = Catalog.open(str(served_home))
    with catalog.store.read() as txn:
        assert status == 200 and names == txn.dataset_names()
    catalog.workspace.close()

    status, _, data = request(
        server, "GET", "/v1/catalog/datasets/market.main.enterprise", token=token
    )
    doc = json.loads(data)
    assert status == 200 and doc["qualified_name"] == "market.main.enterprise"
    assert {"credit_code", "legal_rep_id_number"} <= {c["name"] for c in doc["columns"]}
    for column in doc["columns"]:  # smallest and largest values are data: not served
        assert "min" not in (column.get("stats") or {}) and "max" not in (column.get("stats") or {})

    status, _, data = request(server, "GET", "/v1/lineage/market.main.enterprise", token=token)
    assert status == 200 and json.loads(data)["dataset"] == "market.main.enterprise"

    status, _, data = request(server, "GET", "/v1/catalog/datasets/market.main.nope", token=token)
    assert status == 404 and _error(data)["code"] == "not_found"


# -- errors ---------------------------------------------------------------------------------


def test_tokens_missing_unknown_revoked_or_expired_get_401(server, served_home):
    body = {"sql": DISTRICTS}
    revoked_id, revoked = _token(served_home, "policy_direct")
    catalog = Catalog.open(str(served_home))
    Tokens(catalog.store).revoke(revoked_id)
    catalog.workspace.close()
    _, expiring = _token(served_home, "policy_direct", days=1e-5)  # under a second
    time.sleep(1.2)
    for secret in (None, "gjt_" + "x" * 43, "not-a-token", revoked, expiring):
        status, headers, data = request(server, "POST", "/v1/query", body=body, token=secret)
        error = _error(data)
        assert status == 401 and error["code"] == "unauthorized", secret
        assert headers["www-authenticate"] == "Bearer"
        if secret:
            assert secret not in data.decode()
    status, _, _ = request(server, "GET", "/v1/catalog/datasets", token=revoked)
    assert status == 401
    refused = _audit(served_home, user="unauthenticated")
    assert len(refused) >= 5 and {e.decision for e in refused} == {"denied"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"sql": "DELETE FROM market.enterprise"}, 403, "denied"),
        ({"sql": "SELECT 1; SELECT 2"}, 403, "denied"),
        ({"sql": "SELEC name FROM market.enterprise"}, 400, "bad_query"),
        ({"sql": "SELECT nope FROM market.enterprise"}, 400, "bad_query"),
        ({"sql": "SELECT * FROM civil.main.nobody"}, 400, "bad_query"),
        ({"sql": DISTRICTS, "dialect": "klingon"}, 422, "invalid_request"),
        ({"sql": DISTRICTS, "engine": "spark"}, 422, "invalid_request"),
        ({"sql": DISTRICTS, "format": "xml"}, 422, "invalid_request"),
        ({"sql": ""}, 422, "invalid_request"),
        ({"query": DISTRICTS}, 422, "invalid_request"),
        ('{"sql": "SELECT', 422, "invalid_request"),
        ("[1, 2]", 422, "invalid_request"),
    ],
)
def test_bad_requests_get_a_json_error_with_the_right_status(server, token, body, status, code):
    headers = {"Content-Type": "application/json"}
    got, _, data = request(server, "POST", "/v1/query", body=body, token=token, headers=headers)
    error = _error(data)
    assert got == status and error["code"] == code and error["status"] == status
    assert error["message"]


def test_errors_carry_no_values(server, token):
    secret_value = "350102199001011234"
    sql = f"SELECT CAST('{secret_value}' AS INTEGER) AS x FROM market.enterprise"
    status, _, data = request(server, "POST", "/v1/query", body={"sql": sql}, token=token)
    assert status in (400, 502) and secret_value not in data.decode()
    sql = (
        f"SELECT * FROM market.enterprise WHERE legal_rep_id_number = '{secret_value}' AND nope = 1"
    )
    status, _, data = request(server, "POST", "/v1/query", body={"sql": sql}, token=token)
    assert status == 400 and secret_value not in data.decode()


def test_a_failing_source_gets_502_without_its_values(server, served_home, token, tmp_path):
    import sqlite3

    path = tmp_path / "scratch.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE people (id_number TEXT)")
        db.execute("INSERT INTO people VALUES ('350102199001011234')")
    db.close()
    catalog = Catalog.open(str(served_home))
    catalog.add_source("scratch", f"sqlite://{path}")
    catalog.crawl(["scratch"])
    open_scenario(catalog, "policy_direct")  # its data list now holds scratch.people too
    catalog.workspace.close()
    path.unlink()  # the department's database goes away
    sql = "SELECT id_number FROM scratch.people WHERE id_number = '350102199001011234'"
    status, _, data = request(server, "POST", "/v1/query", body={"sql": sql}, token=token)
    error = _error(data)
    assert status == 502 and error["code"] == "engine_failed" and "scratch" in error["message"]
    assert "350102199001011234" not in data.decode()


def test_limits_on_body_rows_and_bytes(limited, token):
    status, _, data = request(
        limited, "POST", "/v1/query", body={"sql": "SELECT " + "1 + " * 5000 + "1"}, token=token
    )
    assert status == 413 and _error(data)["code"] == "body_too_large"

    # Without a Content-Length (chunked), the body is counted as it arrives.
    big = json.dumps({"sql": "SELECT " + "1 + " * 5000 + "1"}).encode()
    conn = http.client.HTTPConnection(limited.host, limited.port, timeout=30)
    conn.request(
        "POST",
        "/v1/query",
        body=(big[i : i + 1000] for i in range(0, len(big), 1000)),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 413 and _error(response.read())["code"] == "body_too_large"
    conn.close()

    status, _, data = request(
        limited, "POST", "/v1/query", body={"sql": "SELECT * FROM market.district"}, token=token
    )
    assert status == 200
    status, _, data = request(
        limited,
        "POST",
        "/v1/query",
        body={"sql": "SELECT credit_code FROM market.enterprise"},
        token=token,
    )
    error = _error(data)
    assert status == 413 and error["code"] == "result_too_large" and "50 rows" in error["message"]
    status, _, data = request(
        limited,
        "POST",
        "/v1/query",
        body={"sql": "SELECT * FROM market.enterprise LIMIT 45"},
        token=token,
    )
    assert status == 413 and "bytes" in _error(data)["message"]


def test_a_query_over_the_time_limit_gets_408(served_home, token):
    with GuajieServer(served_home, ["--timeout", "0.3"]) as slow:
        sql = (
            "SELECT count(*) AS n FROM tax.filings a JOIN tax.filings b "
            "ON a.month = b.month AND a.total_tax < b.total_tax"
        )
        status, _, data = request(slow, "POST", "/v1/query", body={"sql": sql}, token=token)
        assert status == 408 and _error(data)["code"] == "timeout"
        status, _, _ = request(slow, "POST", "/v1/query", body={"sql": DISTRICTS}, token=token)
        assert status == 200  # the service goes on serving


# -- concurrency ----------------------------------------------------------------------------


def test_fifty_concurrent_clients_of_three_scenarios_each_get_their_own_answers(
    server, served_home
):
    tokens = {s: _token(served_home, s, name=f"load-{s}") for s in WORKLOAD}
    calls = prepare(served_home, {s: secret for s, (_, secret) in tokens.items()})
    result = run_load(server, calls, clients=50, seconds=3)
    assert not result.failures, result.failures[:5]
    assert set(result.by_scenario) == set(WORKLOAD), result.summary()
    for scenario, (token_id, _) in tokens.items():
        entries = _audit(served_home, user=f"token:{token_id}")
        assert len(entries) == result.by_scenario[scenario]
        assert {(e.scenario, e.client, e.decision, e.complete) for e in entries} == {
            (scenario, "http", "allowed", True)
        }
    catalog = Catalog.open(str(served_home))
    assert AuditLog(catalog.store).verify().ok
    catalog.workspace.close()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    sql=st.one_of(
        st.text(max_size=200),
        st.sampled_from(["SELECT", "FROM", "market.enterprise", "'", '"', ";", "--", "(", ")"])
        .map(str)
        .flatmap(
            lambda w: st.lists(st.just(w) | st.sampled_from(["name", "*", ",", "1"]), max_size=12)
        )
        .map(" ".join),
    )
)
def test_fuzzed_sql_never_crashes_the_service(server, token, sql):
    status, _, data = request(server, "POST", "/v1/query", body={"sql": sql}, token=token)
    if status != 200:
        error = _error(data)
        assert status in (400, 403, 413, 422) and error["code"] != "internal", error


def test_several_worker_processes_serve_and_audit(served_home):
    token_id, secret = _token(served_home, "workers_check")
    with GuajieServer(served_home, ["--workers", "2", "--sessions", "2"]) as server:
        for _ in range(6):
            status, _, _ = request(
                server, "POST", "/v1/query", body={"sql": DISTRICTS}, token=secret
            )
            assert status == 200
    entries = _audit(served_home, user=f"token:{token_id}")
    assert len(entries) == 6 and {e.scenario for e in entries} == {"workers_check"}


def test_json_has_no_spelling_for_nan_so_it_is_null():
    from guajie.server.app import render

    table = pa.table({"x": [1.5, float("nan"), float("-inf"), None], "n": [1, 2, 3, 4]})
    doc = json.loads(render(table, "json").body)
    assert doc["rows"] == [[1.5, 1], [None, 2], [None, 3], [None, 4]]
