"""Run records and lineage on both store backends: the embedded SQLite file and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from guajie.api import Session
from guajie.catalog.errors import ConflictError
from guajie.catalog.ledger import Catalog
from guajie.catalog.workspace import Workspace
from guajie.lineage.governance import Governance
from guajie.lineage.recorder import execute, rerun, run_query
from tests.lineage_support import lineage_rows
from tests.support.policies import open_scenario

SCENARIOS = Path(__file__).parents[1] / "sample_sources" / "scenarios"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)])
def catalog(request, tmp_path: Path, city_dir: Path) -> Catalog:
    home = tmp_path / "ws"
    if request.param == "sqlite":
        Workspace.init(home)
    else:
        import psycopg

        server = request.getfixturevalue("postgres_server")
        db = f"lineage_{abs(hash(str(tmp_path))) % 10**8}"
        with psycopg.connect(server.conninfo, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
        url = f"postgresql://{server.user}@{server.host}:{server.port}/{db}"
        Workspace.init(home, store=url, store_password_env=server.env_var_name)
    cat = Catalog.open(str(home))
    cat.add_source("market", f"sqlite://{city_dir}/market.sqlite")
    cat.add_source("civil", f"sqlite://{city_dir}/civil.sqlite")
    cat.add_source("tax", f"file://{city_dir}/tax")
    cat.add_source("hrss", f"sqlite://{city_dir}/hrss.sqlite")
    cat.crawl(sample=False)
    yield cat
    cat.workspace.close()


def test_lineage_round_trips_on_the_store(catalog):
    session = Session(catalog)
    policy = (SCENARIOS / "policy_direct.sql").read_text()
    open_scenario(catalog, "policy_direct")
    first = run_query(session, policy, into="eligible", scenario="policy_direct")
    run_query(session, policy, into="eligible", mode="append", scenario="policy_direct")
    with pytest.raises(ConflictError):
        run_query(session, policy, into="eligible")
    open_scenario(catalog, "dashboard")
    open_scenario(catalog, "report")
    execute(session, "SELECT count(*) AS n FROM pool.eligible", scenario="dashboard").read_all()
    run_query(
        session,
        "SELECT district, max(name) AS someone FROM pool.eligible GROUP BY district",
        into="by_district",
        scenario="report",
    )
    gov = Governance(catalog)
    assert [r.status for r in gov.runs()] == [
        "completed",
        "completed",
        "failed",
        "completed",
        "completed",
    ]
    impact = gov.impact("market.enterprise.name")
    assert [(d["dataset"], d["columns"]) for d in impact.derived] == [
        ("pool.default.eligible", ["name"]),
        ("pool.default.by_district", ["someone"]),
    ]
    assert {s["scenario"] for s in impact.scenarios} == {"policy_direct", "report"}
    usage = gov.usage()
    used = {u["dataset"]: u for u in usage["usage"]}
    assert used["pool.default.eligible"]["runs"] == 2  # dashboard and report
    assert used["market.main.enterprise"]["runs"] == 2
    assert usage["unused"] == [
        "civil.main.subsidy_recipient",
        "market.main.district",
        "pool.default.by_district",
    ]
    shown = gov.show("pool.by_district")
    assert shown["columns"]["someone"][0]["dataset"] == "pool.default.eligible"
    assert any(c["column"] == "legal_rep_id_number" for c in gov.pii()["columns"])
    before = lineage_rows(catalog)
    outcomes = rerun(session, "pool.eligible")
    assert [o.run.mode for o in outcomes] == ["replace", "append"]
    assert outcomes[-1].dataset.row_count == 2 * first.rows
    after = lineage_rows(catalog)
    assert after["run_outputs"] == before["run_outputs"] + 2
    assert after["column_lineage"] == before["column_lineage"]  # replaced, not piled up
