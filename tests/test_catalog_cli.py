"""The steward's workflow through the CLI, on real SQLite and DuckDB files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest


@pytest.fixture
def registry_db(tmp_path: Path) -> Path:
    path = tmp_path / "registry.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE enterprise (
            credit_code TEXT PRIMARY KEY, name TEXT NOT NULL, legal_rep_name TEXT,
            legal_rep_id_number TEXT, registered_capital DECIMAL(18, 2), founded_on DATE,
            status TEXT);
        CREATE TABLE district (district_code TEXT NOT NULL, name TEXT);
        CREATE VIEW active AS SELECT * FROM enterprise WHERE status = '存续';
        INSERT INTO enterprise VALUES
          ('91350102MA2Y00001A', '福州闽江云图科技有限公司', '王芳', '350102198001011234', 100.5,
           '2015-03-01', '存续'),
          ('91350102MA2Y00002B', '福州榕城物流有限公司', '李强', '35010219750505432X', 50,
           '2012-07-09', '注销');
        INSERT INTO district VALUES ('350102', '鼓楼区');
        """
    )
    conn.commit()
    conn.close()
    return path


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def add(cli, name: str, url: str, *extra: str):
    return ok(cli("source", "add", name, url, *extra))


def test_register_crawl_and_browse(cli, registry_db):
    out = add(
        cli,
        "market",
        f"sqlite:///{registry_db}",
        "--department",
        "市场监督管理局",
        "--contact",
        "林晓 <lx@example.gov.cn> 0591-87000001",
    ).output
    assert "Registered source 'market'" in out and "SQLite" in out

    crawl = json.loads(ok(cli("crawl", "--json")).output)
    assert crawl["reports"][0]["added"] == 3
    assert crawl["failed"] == []

    listed = json.loads(ok(cli("catalog", "list", "--json")).output)
    assert {d["qualified_name"] for d in listed} == {
        "market.main.enterprise",
        "market.main.district",
        "market.main.active",
    }

    shown = json.loads(ok(cli("catalog", "show", "market.enterprise", "--json")).output)
    types = {c["name"]: c["type"] for c in shown["columns"]}
    assert types["registered_capital"] == "decimal128(18, 2)"
    assert types["founded_on"] == "date32[day]"
    assert shown["row_count"] == 2
    nullable = {c["name"]: c["nullable"] for c in shown["columns"]}
    assert nullable["name"] is False and nullable["status"] is True

    human = ok(cli("catalog", "show", "market.main.enterprise")).output
    assert "信息资源代码" in human and "registered_capital" in human

    sources = json.loads(ok(cli("source", "list", "--json")).output)
    assert sources[0]["datasets"] == 3 and sources[0]["department"] == "市场监督管理局"


def test_sensitivity_is_suggested_then_confirmed_or_overridden(cli, registry_db):
    add(cli, "market", f"sqlite:///{registry_db}")
    ok(cli("crawl"))
    pending = json.loads(ok(cli("catalog", "sensitive", "--pending", "--json")).output)
    found = {(p["dataset"], p["column"]): p["sensitivity"] for p in pending}
    assert found[("market.main.enterprise", "legal_rep_id_number")] == "id_number"
    assert found[("market.main.enterprise", "legal_rep_name")] == "name"
    assert ("market.main.enterprise", "credit_code") not in found

    ok(cli("catalog", "confirm", "market.enterprise.legal_rep_id_number"))
    ok(cli("catalog", "classify", "market.enterprise.legal_rep_name", "--sensitivity", "none"))
    ok(cli("catalog", "classify", "market.enterprise.credit_code", "--grade", "重要"))
    col = json.loads(
        ok(cli("catalog", "show", "market.enterprise.legal_rep_id_number", "--json")).output
    )
    assert (col["sensitivity"], col["sensitivity_source"]) == ("id_number", "steward")

    # A re-crawl after a schema change keeps every steward decision.
    conn = sqlite3.connect(registry_db)
    conn.execute("ALTER TABLE enterprise ADD COLUMN contact_phone TEXT")
    conn.commit()
    conn.close()
    ok(cli("crawl"))
    shown = json.loads(ok(cli("catalog", "show", "market.enterprise", "--json")).output)
    cols = {c["name"]: c for c in shown["columns"]}
    assert cols["legal_rep_id_number"]["sensitivity_source"] == "steward"
    assert "sensitivity" not in cols["legal_rep_name"]
    assert cols["legal_rep_name"]["sensitivity_source"] == "steward"
    assert cols["contact_phone"]["sensitivity"] == "phone"
    assert shown["effective_grade"] == "important"


def test_describe_tag_classify_and_search(cli, registry_db):
    add(cli, "market", f"sqlite:///{registry_db}")
    ok(cli("crawl"))
    ok(cli("catalog", "describe", "market.enterprise", "全市企业登记注册信息"))
    ok(cli("catalog", "describe", "market.enterprise.status", "登记状态"))
    ok(cli("catalog", "tag", "market.enterprise", "法人", "政策直达"))
    ok(cli("catalog", "tag", "market.enterprise", "政策直达", "--remove"))
    ok(
        cli(
            "catalog",
            "classify",
            "market.enterprise",
            "--sharing",
            "有条件共享",
            "--sharing-condition",
            "用于政务服务",
            "--update-cycle",
            "每日",
            "--owner",
            "林晓",
        )
    )
    shown = json.loads(ok(cli("catalog", "show", "market.enterprise", "--json")).output)
    assert shown["description"] == "全市企业登记注册信息"
    assert shown["tags"] == ["法人"]
    assert shown["sharing_type"] == "conditional" and shown["update_cycle"] == "daily"
    assert {c["name"]: c.get("description") for c in shown["columns"]}["status"] == "登记状态"

    found = json.loads(ok(cli("catalog", "search", "登记", "--json")).output)
    assert [d["qualified_name"] for d in found] == ["market.main.enterprise"]
    assert (
        json.loads(ok(cli("catalog", "list", "--tag", "法人", "--json")).output)[0]["name"]
        == "enterprise"
    )
    assert len(json.loads(ok(cli("catalog", "list", "--unclassified", "--json")).output)) == 2


def test_invalid_classification_names_the_field_and_rule(cli, registry_db):
    add(cli, "market", f"sqlite:///{registry_db}")
    ok(cli("crawl"))
    result = cli("catalog", "classify", "market.enterprise", "--sharing", "不予共享")
    assert result.exit_code == 1
    assert "legal_basis" in result.output and "Traceback" not in result.output
    result = cli("catalog", "classify", "market.enterprise", "--grade", "绝密")
    assert result.exit_code == 1 and "grade" in result.output and "核心" in result.output


def test_drift_is_typed_and_history_kept(cli, registry_db):
    add(cli, "market", f"sqlite:///{registry_db}")
    ok(cli("crawl"))
    conn = sqlite3.connect(registry_db)
    conn.executescript(
        """
        ALTER TABLE district ADD COLUMN population INTEGER;
        ALTER TABLE enterprise DROP COLUMN founded_on;
        DROP VIEW active;
        CREATE TABLE permit (id INTEGER PRIMARY KEY, credit_code TEXT);
        """
    )
    conn.commit()
    conn.close()
    report = json.loads(ok(cli("crawl", "--json")).output)["reports"][0]
    assert (report["added"], report["changed"], report["vanished"]) == (1, 2, 1)

    drift = json.loads(ok(cli("catalog", "diff", "--json")).output)
    kinds = {(d["dataset"], d["change"], d.get("column"), d["breaking"]) for d in drift}
    assert kinds == {
        ("market.main.district", "added", "population", False),
        ("market.main.enterprise", "removed", "founded_on", True),
        ("market.main.active", "dataset_vanished", None, True),
        ("market.main.permit", "dataset_added", None, False),
    }
    breaking = json.loads(ok(cli("catalog", "diff", "market", "--breaking", "--json")).output)
    assert len(breaking) == 2
    shown = json.loads(
        ok(cli("catalog", "show", "market.enterprise", "--history", "--json")).output
    )
    assert len(shown["history"]) == 2

    # Nothing changed: nothing is written, nothing is reported.
    again = json.loads(ok(cli("crawl", "--json")).output)["reports"][0]
    assert again["unchanged"] == 3 and again["drift"] == 0


def test_stale_lists_overdue_datasets(cli, registry_db):
    import os

    add(cli, "market", f"sqlite:///{registry_db}")
    old = 1_600_000_000  # 2020: the file has not changed for years
    os.utime(registry_db, (old, old))
    ok(cli("crawl"))
    ok(cli("catalog", "classify", "market.enterprise", "--update-cycle", "每月"))
    ok(cli("catalog", "classify", "market.district", "--update-cycle", "不定期"))
    stale = json.loads(ok(cli("catalog", "stale", "--json")).output)
    assert [s["dataset"] for s in stale] == ["market.main.enterprise"]
    assert stale[0]["overdue_seconds"] > 365 * 86400


def test_duckdb_source(cli, tmp_path):
    import duckdb

    path = tmp_path / "transport.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE SCHEMA parking")
    conn.execute(
        "CREATE TABLE parking.lots (lot_id INTEGER NOT NULL, name VARCHAR, "
        "capacity SMALLINT, rate DECIMAL(8, 2), opened TIMESTAMP)"
    )
    conn.execute("COMMENT ON TABLE parking.lots IS '停车场'")
    conn.execute("INSERT INTO parking.lots VALUES (1, '五一广场停车场', 300, 5.00, NOW())")
    conn.close()
    add(cli, "transport", f"duckdb:///{path}")
    ok(cli("crawl"))
    shown = json.loads(ok(cli("catalog", "show", "transport.parking.lots", "--json")).output)
    types = {c["name"]: c["type"] for c in shown["columns"]}
    assert types == {
        "lot_id": "int32",
        "name": "string",
        "capacity": "int16",
        "rate": "decimal128(8, 2)",
        "opened": "timestamp[us]",
    }
    assert shown["description"] == "停车场"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["source", "add", "x", "sqlite:///nowhere/at/all.db"], "does not exist"),
        (["source", "add", "x", "sqlite://relative.db"], "absolute path"),
        (["source", "add", "x", "ftp://host/file"], "unknown URL scheme"),
        (["source", "add", "Bad-Name", "sqlite:///x.db", "--no-check"], "lowercase"),
        (["source", "add", "x", "postgresql://u:pw@h/db"], "contains a password"),
        (["source", "show", "nope"], "No source named 'nope'"),
        (["catalog", "show", "nope.main.t"], "No source named 'nope'"),
        (["catalog", "show", "justaname"], "qualified name"),
    ],
)
def test_bad_input_gives_one_paragraph_and_registers_nothing(cli, args, expected):
    result = cli(*args)
    assert result.exit_code != 0
    assert expected in result.output
    assert "Traceback" not in result.output
    assert json.loads(ok(cli("source", "list", "--json")).output) == []


def test_not_a_sqlite_file(cli, tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not a database, just text long enough " * 20)
    result = cli("source", "add", "notes", f"sqlite:///{bogus}")
    assert result.exit_code == 1 and "not a readable SQLite database" in result.output


def test_name_clash_and_did_you_mean(cli, registry_db):
    add(cli, "market", f"sqlite:///{registry_db}")
    clash = cli("source", "add", "market", f"sqlite:///{registry_db}")
    assert clash.exit_code == 1 and "already registered" in clash.output
    ok(cli("crawl"))
    typo = cli("catalog", "show", "market.main.enterprize")
    assert typo.exit_code == 1 and "enterprise" in typo.output
    typo = cli("catalog", "show", "market.enterprise.legal_rep_nme")
    assert typo.exit_code == 1 and "legal_rep_name" in typo.output
    assert "Did you mean" in cli("source", "show", "markte").output


def test_remove_source_removes_its_datasets(cli, registry_db):
    add(cli, "market", f"sqlite:///{registry_db}")
    ok(cli("crawl"))
    out = ok(cli("source", "remove", "market", "--yes")).output
    assert "3 datasets" in out
    assert json.loads(ok(cli("catalog", "list", "--json")).output) == []


def test_password_env_unset_is_reported_without_secrets(cli, monkeypatch, registry_db):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    result = cli(
        "source",
        "add",
        "pg",
        "postgresql://guajie@127.0.0.1:1/db",
        "--password-env",
        "NOT_SET_ANYWHERE",
    )
    assert result.exit_code == 1
    assert "NOT_SET_ANYWHERE" in result.output and "not set" in result.output


def test_every_command_has_help(cli):
    from guajie.cli import main

    def walk(group, path):
        for name, cmd in group.commands.items():
            yield [*path, name], cmd
            if hasattr(cmd, "commands"):
                yield from walk(cmd, [*path, name])

    for path, cmd in walk(main, []):
        result = ok(cli(*path, "--help"))
        assert cmd.help or cmd.short_help, path
        assert "Usage:" in result.output


def test_a_bug_is_reported_in_one_line_without_values_or_traceback(cli, monkeypatch):
    from guajie.catalog.ledger import Catalog

    def broken(self):  # stands for any unexpected failure inside guajie
        raise RuntimeError("boom while reading '350102199001011234'")

    monkeypatch.setattr(Catalog, "sources", broken)
    result = cli("source", "list")
    assert result.exit_code == 70
    assert "Internal error: RuntimeError: boom while reading '…'" in result.output
    assert "GUAJIE_DEBUG=1" in result.output
    assert "Traceback" not in result.output and "350102199001011234" not in result.output
