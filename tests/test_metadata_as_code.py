"""export -> apply round trips, idempotence, DCAT, and malformed files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.test_catalog_cli import ok, registry_db  # noqa: F401 - fixture reuse


@pytest.fixture
def described(cli, registry_db):  # noqa: F811
    ok(
        cli(
            "source",
            "add",
            "market",
            f"sqlite:///{registry_db}",
            "--department",
            "市场监督管理局",
            "--department-code",
            "11350100MB0000001X",
            "--contact",
            "林晓 <lx@example.gov.cn>",
        )
    )
    ok(cli("crawl"))
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
            "--open",
            "有条件开放",
            "--open-condition",
            "脱敏后开放",
        )
    )
    ok(cli("catalog", "tag", "market.enterprise", "法人"))
    ok(cli("catalog", "describe", "market.enterprise.status", "登记状态"))
    ok(cli("catalog", "confirm", "market.enterprise"))
    return cli


def test_export_apply_round_trip_into_a_fresh_workspace(described, tmp_path, monkeypatch):
    cli = described
    first = tmp_path / "catalog.yaml"
    ok(cli("export", "-o", str(first)))
    data = yaml.safe_load(first.read_text())
    assert data["sources"][0]["department"] == "市场监督管理局"
    assert "password" not in first.read_text().lower() or "password_env" in first.read_text()

    monkeypatch.setenv("GUAJIE_HOME", str(tmp_path / "other"))
    applied = json.loads(ok(cli("apply", "-f", str(first), "--json")).output)
    assert len(applied["created"]) == 4  # one source, three datasets
    second = tmp_path / "again.yaml"
    ok(cli("export", "-o", str(second)))
    assert yaml.safe_load(second.read_text()) == data


def test_apply_is_idempotent_and_applies_edits(described, tmp_path):
    cli = described
    path = tmp_path / "catalog.yaml"
    ok(cli("export", "-o", str(path)))
    again = json.loads(ok(cli("apply", "-f", str(path), "--json")).output)
    assert again["created"] == [] and again["updated"] == []

    data = yaml.safe_load(path.read_text())
    entry = next(d for d in data["datasets"] if d["name"] == "market.main.district")
    entry["description"] = "行政区划"
    entry["update_cycle"] = "每年"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    dry = json.loads(ok(cli("apply", "-f", str(path), "--dry-run", "--json")).output)
    assert dry["updated"] == ["market.main.district"]
    shown = json.loads(ok(cli("catalog", "show", "market.district", "--json")).output)
    assert "description" not in shown  # dry run changed nothing
    ok(cli("apply", "-f", str(path)))
    shown = json.loads(ok(cli("catalog", "show", "market.district", "--json")).output)
    assert (shown["description"], shown["update_cycle"]) == ("行政区划", "yearly")
    # statistics only a crawl knows survive an apply
    assert shown["row_count"] == 1


def test_apply_rejects_bad_files_and_changes_nothing(described, tmp_path):
    cli = described
    path = tmp_path / "catalog.yaml"
    ok(cli("export", "-o", str(path)))
    before = ok(cli("export")).output

    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("sources:\n  - name: x\n   url: [unclosed\n")
    result = cli("apply", "-f", str(bad_yaml))
    assert result.exit_code == 1 and "line" in result.output and "Traceback" not in result.output

    data = yaml.safe_load(path.read_text())
    data["datasets"][0]["sharing_type"] = "不予共享"  # no legal basis: invalid
    data["datasets"][1]["description"] = "this edit must not land either"
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = cli("apply", "-f", str(invalid))
    assert result.exit_code == 1 and "legal_basis" in result.output
    assert ok(cli("export")).output == before

    data = yaml.safe_load(path.read_text())
    data["datasets"].append({"name": "ghost.main.t"})
    orphan = tmp_path / "orphan.yaml"
    orphan.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = cli("apply", "-f", str(orphan))
    assert result.exit_code == 1 and "ghost" in result.output

    missing = cli("apply", "-f", str(tmp_path / "absent.yaml"))
    assert missing.exit_code != 0


def test_dcat_export(described, tmp_path):
    cli = described
    doc = json.loads(ok(cli("export", "--format", "dcat")).output)
    assert doc["@type"] == "dcat:Catalog"
    assert "dcat" in doc["@context"]
    by_title = {d["dct:title"]: d for d in doc["dcat:dataset"]}
    ent = by_title["enterprise"]
    assert ent["dct:identifier"].startswith("11350100MB0000001X-")
    assert ent["dct:accrualPeriodicity"]["@id"].endswith("/DAILY")
    assert ent["dct:accessRights"]["@id"].endswith("/RESTRICTED")
    assert ent["dct:publisher"]["foaf:name"] == "市场监督管理局"
    assert ent["dcat:keyword"] == ["法人"]
    assert len(by_title) == 3
    open_only = json.loads(ok(cli("export", "--format", "dcat", "--open-only")).output)
    assert len(open_only["dcat:dataset"]) == 1
    out = tmp_path / "dcat.jsonld"
    ok(cli("export", "--format", "dcat", "-o", str(out)))
    assert json.loads(Path(out).read_text())["@type"] == "dcat:Catalog"
