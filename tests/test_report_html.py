"""The governance report: one self-contained HTML file, checked in real headless Chromium.

Chromium (Debian's ``chromium``) renders the file from disk with networking disabled: the
rendered DOM must hold the lineage graph's nodes and edges at dataset and column level, and
a screenshot must come out.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from guajie.api import Session
from guajie.catalog.ledger import Catalog
from guajie.lineage.recorder import execute, run_query
from guajie.lineage.report import write_report
from tests.lineage_support import copy_workspace, register_city
from tests.support.policies import open_scenario

SCENARIOS = Path(__file__).parents[1] / "sample_sources" / "scenarios"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
]


@pytest.fixture(scope="module")
def workspace(city_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    register_city(root / "base", city_dir)
    ws = copy_workspace(root / "base", root / "ws")
    with Session(Catalog.open(str(ws))) as session:
        for name in ("policy_direct", "subsidy_check", "smart_parking"):
            open_scenario(session.catalog, name)
            run_query(session, (SCENARIOS / f"{name}.sql").read_text(), into=name, scenario=name)
        open_scenario(session.catalog, "report")
        run_query(
            session,
            "SELECT district, count(*) AS n, max(name) AS an_enterprise "
            "FROM pool.policy_direct GROUP BY district",
            into="policy_by_district",
            scenario="report",
        )
        open_scenario(session.catalog, "dashboard")
        execute(session, "SELECT * FROM pool.policy_by_district", scenario="dashboard").read_all()
        with pytest.raises(Exception, match="already exists"):
            run_query(session, "SELECT name FROM market.district", into="policy_direct")
    return ws


@pytest.fixture(scope="module")
def report(workspace: Path) -> Path:
    catalog = Catalog.open(str(workspace))
    path = write_report(catalog, workspace.parent / "report.html")
    catalog.workspace.close()
    return path


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, (
        "the report test renders the page in headless Chromium: install Debian's chromium "
        "(scripts/install-system-deps.sh does)"
    )
    return found


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
    )


class _Elements(HTMLParser):
    """Every element with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def _elements(html: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.found


def test_the_report_is_self_contained(report: Path):
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "@import" not in html
    for tag, attrs in _elements(html):
        for name in ("src", "href"):
            value = attrs.get(name, "")
            assert not value or value.startswith("#"), (tag, name, value)
    assert not re.search(r"url\((?!#)", html)  # no fetched fonts or images


def test_chromium_renders_the_graph_with_its_nodes_and_edges(report: Path, tmp_path: Path):
    done = _run_chromium(tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _elements(done.stdout)
    nodes = {a["data-dataset"] for t, a in dom if t == "g" and "node" in a.get("class", "")}
    assert nodes == {
        "civil.main.subsidy_recipient",
        "hrss.main.social_insurance_monthly",
        "market.main.district",
        "market.main.enterprise",
        "tax.default.filings",
        "transport.default.parking_events",
        "transport.default.parking_lots",
        "pool.default.policy_direct",
        "pool.default.subsidy_check",
        "pool.default.smart_parking",
        "pool.default.policy_by_district",
    }
    edges = {
        (a["data-from"], a["data-to"]) for t, a in dom if t == "path" and a.get("class") == "edge"
    }
    assert ("market.main.enterprise", "pool.default.policy_direct") in edges
    assert ("pool.default.policy_direct", "pool.default.policy_by_district") in edges
    assert ("civil.main.subsidy_recipient", "pool.default.subsidy_check") in edges
    assert len(edges) == 9
    pi_nodes = {a["data-dataset"] for t, a in dom if t == "g" and a.get("data-pi") == "true"}
    assert "civil.main.subsidy_recipient" in pi_nodes
    column_edges = {
        (a["data-from"], a["data-to"], a["data-subtype"])
        for t, a in dom
        if t == "path" and a.get("class") == "col-edge"
    }
    assert (
        "tax.default.filings.total_tax",
        "pool.default.policy_direct.tax_h1",
        "AGGREGATION",
    ) in column_edges
    assert (
        "pool.default.policy_direct.name",
        "pool.default.policy_by_district.an_enterprise",
        "AGGREGATION",
    ) in column_edges
    columns = {a["data-column"] for t, a in dom if t == "text" and "data-column" in a}
    assert "pool.default.policy_by_district.an_enterprise" in columns
    impacts = {a["data-impact"] for t, a in dom if t == "tr" and "data-impact" in a}
    assert "market.main.enterprise" in impacts
    pi_rows = {a["data-pi-column"] for t, a in dom if t == "tr" and "data-pi-column" in a}
    assert "civil.main.subsidy_recipient.person_id" in pi_rows
    runs = [a for t, a in dom if t == "tr" and "data-run" in a]
    assert len(runs) == 6
    text = done.stdout
    assert "数据应用渗透率" in text and "failed" in text and "already exists" in text


def test_chromium_takes_a_screenshot(report: Path, tmp_path: Path):
    shot = tmp_path / "report.png"
    done = _run_chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1400,2200", report.as_uri()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1400, 2200)


def test_report_command_writes_the_file(workspace: Path, tmp_path: Path):
    from click.testing import CliRunner

    from guajie.cli import main

    target = tmp_path / "out" / "governance.html"
    target.parent.mkdir()
    result = CliRunner().invoke(main, ["--home", str(workspace), "report", "--html", str(target)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {target}" in result.output
    assert "<svg" in target.read_text(encoding="utf-8")
