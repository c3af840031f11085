"""The whole steward workflow over the sample city, embedded and on real servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_catalog_cli import ok

EXPECTED_PI = {
    ("market.main.enterprise", "legal_rep_name"): "name",
    ("market.main.enterprise", "legal_rep_id_number"): "id_number",
    ("civil.main.subsidy_recipient", "person_id"): "id_number",
    ("civil.main.subsidy_recipient", "name"): "name",
    ("civil.main.subsidy_recipient", "phone"): "phone",
    ("civil.main.subsidy_recipient", "address"): "address",
    ("civil.main.subsidy_recipient", "bank_card"): "bank_card",
    ("transport.default.parking_events", "plate_number"): "plate_number",
}
NOT_PI = [
    ("market.main.enterprise", "credit_code"),
    ("market.main.enterprise", "name"),
    ("hrss.main.social_insurance_monthly", "credit_code"),
    ("tax.default.filings", "credit_code"),
]


def register_embedded_city(cli, city: Path) -> None:
    ok(
        cli(
            "source",
            "add",
            "market",
            f"sqlite://{city}/market.sqlite",
            "--department",
            "市场监督管理局",
        )
    )
    ok(cli("source", "add", "hrss", f"sqlite://{city}/hrss.sqlite"))
    ok(cli("source", "add", "civil", f"sqlite://{city}/civil.sqlite"))
    ok(cli("source", "add", "tax", f"file://{city}/tax"))
    ok(cli("source", "add", "transport", f"file://{city}/transport"))


def sensitivity(cli) -> dict[tuple[str, str], str]:
    rows = json.loads(ok(cli("catalog", "sensitive", "--json")).output)
    return {(r["dataset"], r["column"]): r["sensitivity"] for r in rows}


def test_embedded_city(cli, city_dir):
    register_embedded_city(cli, city_dir)
    report = json.loads(ok(cli("crawl", "--json")).output)
    assert report["failed"] == []
    names = {d["qualified_name"] for d in json.loads(ok(cli("catalog", "list", "--json")).output)}
    assert names == {
        "market.main.enterprise",
        "market.main.district",
        "hrss.main.social_insurance_monthly",
        "civil.main.subsidy_recipient",
        "tax.default.filings",
        "transport.default.parking_lots",
        "transport.default.parking_events",
    }
    found = sensitivity(cli)
    for key, kind in EXPECTED_PI.items():
        assert found.get(key) == kind, key
    for key in NOT_PI:
        assert key not in found, key

    tax = json.loads(ok(cli("catalog", "show", "tax.filings", "--json")).output)
    assert tax["partitioning"] == ["month"] and tax["kind"] == "files"
    assert tax["row_count"] > 10_000 and tax["format"] == "Parquet"
    enterprise = json.loads(ok(cli("catalog", "show", "market.enterprise", "--json")).output)
    assert enterprise["description"] == "市场主体（企业）登记信息"
    assert {c["name"]: c.get("description") for c in enterprise["columns"]}["name"] == "企业名称"

    again = json.loads(ok(cli("crawl", "--json")).output)["reports"]
    assert sum(r["unchanged"] for r in again) == 7


@pytest.mark.servers
def test_city_on_real_servers(
    cli, city_dir, postgres_server, mariadb_server, s3_server, http_server, monkeypatch
):
    import fsspec

    from guajie.sample_sources import load_mysql, load_postgres

    load_postgres(postgres_server.conninfo, scale=1.0, schema="scjg")
    m = mariadb_server
    load_mysql(m.host, m.port, m.user, m.password, m.database, scale=1.0)

    s3_server.make_bucket("city-pool")
    fs = fsspec.filesystem("s3", **s3_server.storage_options)
    fs.put(str(city_dir / "tax" / "filings"), "city-pool/tax/filings", recursive=True)
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)

    ok(
        cli(
            "source",
            "add",
            "market",
            postgres_server.url,
            "--password-env",
            postgres_server.env_var_name,
            "--department",
            "市场监督管理局",
        )
    )
    ok(cli("source", "add", "hrss", m.url, "--password-env", m.env_var_name))
    ok(
        cli(
            "source",
            "add",
            "tax",
            "s3://city-pool/tax",
            "--option",
            f"endpoint_url={s3_server.endpoint_url}",
        )
    )
    ok(cli("source", "add", "lots", f"{http_server.base_url}/transport/parking_lots.csv"))
    report = json.loads(ok(cli("crawl", "--json")).output)
    assert report["failed"] == []

    enterprise = json.loads(ok(cli("catalog", "show", "market.scjg.enterprise", "--json")).output)
    assert enterprise["row_count"] == 2000
    cols = {c["name"]: c for c in enterprise["columns"]}
    assert cols["registered_capital"]["type"] == "decimal128(18, 2)"
    assert cols["status"]["stats"]["distinct_count"] >= 3  # pg_stats, read not computed
    assert cols["name"]["description"] == "企业名称"

    hrss = json.loads(
        ok(cli("catalog", "show", f"hrss.{m.database}.social_insurance_monthly", "--json")).output
    )
    assert hrss["row_count"] > 0 and hrss["columns"][0]["name"] == "credit_code"
    tax = json.loads(ok(cli("catalog", "show", "tax.default.filings", "--json")).output)
    assert tax["partitioning"] == ["month"] and tax["location"].startswith("s3://city-pool")
    lots = json.loads(ok(cli("catalog", "show", "lots.default.parking_lots", "--json")).output)
    assert lots["format"] == "CSV"

    found = sensitivity(cli)
    assert found[("market.scjg.enterprise", "legal_rep_id_number")] == "id_number"
    assert ("market.scjg.enterprise", "credit_code") not in found
    # The secrets never reach the catalog or its exports.
    exported = ok(cli("export", "--format", "json")).output
    assert postgres_server.password not in exported and m.password not in exported
