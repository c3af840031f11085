"""``guajie query`` and ``guajie explain`` on the sample city, registered through the CLI.

Every output format is parsed back and compared with what the Python API returns for the
same SQL in the same workspace; files written with ``--output`` hold the same rows as
``--format json``.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest

import guajie.api
from guajie.api import Session
from guajie.catalog.ledger import Catalog
from tests.tpch.compare import assert_same_result


def ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def city(cli, city_dir: Path, home: Path):
    """The sample city registered with `guajie source add` and crawled with `guajie crawl`."""
    for name in ("market", "hrss", "civil"):
        ok(cli("source", "add", name, f"sqlite://{city_dir}/{name}.sqlite"))
    for name in ("tax", "transport"):
        ok(cli("source", "add", name, f"file://{city_dir}/{name}"))
    crawled = json.loads(ok(cli("crawl", "--no-sample", "--json")).output)
    assert crawled["failed"] == []
    return cli


def api_answer(home: Path, sql: str, dialect: str = "trino") -> pa.Table:
    with Session(Catalog.open(str(home))) as session:
        return session.query(sql, dialect=dialect)


# Strings (CJK included), a decimal from Parquet, dates with NULLs, across two sources.
MIXED = (
    "SELECT e.credit_code, e.name, e.deregistered_on, t.month, t.total_tax "
    "FROM market.enterprise e JOIN tax.filings t ON t.credit_code = e.credit_code "
    "WHERE t.month = '2024-06' AND e.district_code = '350102' "
    "ORDER BY e.credit_code LIMIT 25"
)
DISTRICTS = "SELECT district_code, name, population FROM market.district ORDER BY district_code"


def same_rows(actual: pa.Table, expected: pa.Table) -> None:
    assert actual.num_rows > 0
    assert_same_result(actual, expected, ordered=True)


# -- the human table ---------------------------------------------------------------------------


def test_human_table(city):
    out = ok(city("query", DISTRICTS)).output
    lines = out.splitlines()
    assert lines[0].split() == ["district_code", "name", "population"]
    assert lines[1].split() == ["350102", "鼓楼区", "907000"]
    assert lines[-1] == "(13 rows)"
    assert len(lines) == 1 + 13 + 1


def test_human_table_cut_at_max_rows(city):
    out = ok(city("query", DISTRICTS, "--max-rows", "3")).output
    lines = out.splitlines()
    assert len(lines) == 1 + 3 + 1
    assert lines[-1].startswith("... 10 more rows (13 in all;")
    assert "--output" in lines[-1]


def test_human_table_shows_nulls_as_blanks_and_empty_results(city):
    out = ok(
        city(
            "query",
            "SELECT credit_code, deregistered_on FROM market.enterprise "
            "WHERE deregistered_on IS NULL ORDER BY credit_code LIMIT 2",
            "--format",
            "table",
        )
    ).output
    rows = out.splitlines()[1:3]
    assert all(len(r.split()) == 1 for r in rows), out
    assert "None" not in out
    empty = ok(city("query", "SELECT name FROM market.district WHERE name = 'nowhere'")).output
    assert empty.splitlines() == ["(no rows)", "(0 rows)"]


# -- formats on stdout ----------------------------------------------------------------------------


def parse(fmt: str, data: bytes) -> pa.Table:
    if fmt == "csv":
        options = pacsv.ConvertOptions(
            column_types={"credit_code": pa.string(), "month": pa.string()},
            strings_can_be_null=True,
        )
        return pacsv.read_csv(io.BytesIO(data), convert_options=options)
    if fmt == "json":
        return pa.Table.from_pylist(json.loads(data))
    if fmt == "jsonl":
        return pa.Table.from_pylist([json.loads(line) for line in data.splitlines()])
    if fmt == "arrow":
        return pyarrow.ipc.open_stream(io.BytesIO(data)).read_all()
    if fmt == "parquet":
        return pq.read_table(io.BytesIO(data))
    raise AssertionError(fmt)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "arrow", "parquet"])
def test_format_on_stdout(city, home, fmt):
    result = ok(city("query", MIXED, "--format", fmt))
    expected = api_answer(home, MIXED)
    table = parse(fmt, result.stdout_bytes)
    assert table.column_names == expected.column_names
    same_rows(table, expected)
    if fmt in ("arrow", "parquet"):  # typed formats keep the types and values exactly
        assert table.schema.remove_metadata() == expected.schema.remove_metadata()
        assert table.to_pylist() == expected.to_pylist()


def test_json_formats_keep_cjk_text_and_nulls(city):
    rows = json.loads(ok(city("query", MIXED, "--format", "json")).stdout_bytes)
    assert any(r["deregistered_on"] is None for r in rows)
    assert all(isinstance(r["name"], str) and r["name"] for r in rows)
    raw = ok(city("query", MIXED, "--format", "jsonl")).stdout_bytes.decode("utf-8")
    assert rows[0]["name"] in raw  # UTF-8, not \\u escapes
    assert [json.loads(line) for line in raw.splitlines()] == rows


def test_empty_result_in_every_format(city):
    sql = "SELECT name, population FROM market.district WHERE name = 'nowhere'"
    assert json.loads(ok(city("query", sql, "--format", "json")).output) == []
    assert ok(city("query", sql, "--format", "jsonl")).output == ""
    arrow = parse("arrow", ok(city("query", sql, "--format", "arrow")).stdout_bytes)
    assert arrow.num_rows == 0 and arrow.column_names == ["name", "population"]
    parquet = parse("parquet", ok(city("query", sql, "--format", "parquet")).stdout_bytes)
    assert parquet.num_rows == 0 and parquet.column_names == ["name", "population"]


# -- files -------------------------------------------------------------------------------------


def read_file(path: Path) -> pa.Table:
    suffix = path.suffix
    fmt = {
        ".parquet": "parquet",
        ".csv": "csv",
        ".json": "json",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".arrow": "arrow",
        ".arrows": "arrow",
        ".ipc": "arrow",
    }[suffix]
    return parse(fmt, path.read_bytes())


@pytest.mark.parametrize(
    "extension", [".parquet", ".csv", ".json", ".jsonl", ".ndjson", ".arrow", ".arrows", ".ipc"]
)
def test_output_file_holds_the_rows_of_format_json(city, tmp_path, extension):
    out = tmp_path / "out" / f"result{extension}"
    out.parent.mkdir()
    result = ok(city("query", MIXED, "--output", str(out)))
    as_json = parse("json", ok(city("query", MIXED, "--format", "json")).stdout_bytes)
    assert result.stdout == ""
    assert result.stderr.strip() == f"Wrote {as_json.num_rows:,} rows to {out}."
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temporary file left
    same_rows(read_file(out), as_json)


def test_output_replaces_an_existing_file(city, tmp_path):
    out = tmp_path / "districts.csv"
    out.write_text("old content\n")
    ok(city("query", DISTRICTS, "-o", str(out)))
    assert read_file(out).num_rows == 13
    assert "old content" not in out.read_text()


def test_unknown_output_extension_is_refused(city, tmp_path):
    out = tmp_path / "result.xlsx"
    result = city("query", DISTRICTS, "--output", str(out))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "--output" in result.stderr and "result.xlsx" in result.stderr
    for extension in (".parquet", ".csv", ".json", ".jsonl", ".arrow"):
        assert extension in result.stderr
    assert not out.exists()
    assert not (tmp_path / ".result.xlsx.tmp").exists()


def test_unknown_output_extension_is_refused_before_the_query_runs(city, tmp_path, monkeypatch):
    opened: list[str] = []
    real = guajie.api.open_connector

    def spy(source):  # type: ignore[no-untyped-def]
        opened.append(source.name)
        return real(source)

    monkeypatch.setattr(guajie.api, "open_connector", spy)
    result = city("query", MIXED, "--output", str(tmp_path / "result.xlsx"))
    assert result.exit_code != 0
    assert opened == []


# -- where the SQL comes from -------------------------------------------------------------------


def test_sql_from_a_file_and_from_stdin(city, home, tmp_path):
    script = tmp_path / "scenario.sql"
    script.write_text(f"-- districts by code\n{DISTRICTS}\n", encoding="utf-8")
    expected = ok(city("query", DISTRICTS, "--format", "json")).output
    assert ok(city("query", "-f", str(script), "--format", "json")).output == expected
    assert ok(city("query", "--file", str(script), "--format", "json")).output == expected
    assert ok(city("query", "-", "--format", "json", input=DISTRICTS)).output == expected
    assert ok(city("query", "-f", "-", "--format", "json", input=DISTRICTS)).output == expected
    plan = ok(city("explain", "-f", str(script))).output
    assert "Fragment f1 -> market (sqlite)" in plan


def test_no_sql_is_a_usage_error(city):
    result = city("query")
    assert result.exit_code == 2
    assert "Give the SQL as an argument, '-' for stdin, or -f FILE." in result.stderr


def test_missing_sql_file(city, tmp_path):
    result = city("query", "-f", str(tmp_path / "nope.sql"))
    assert result.exit_code != 0
    assert "nope.sql" in result.stderr


def test_mysql_dialect_with_backticks(city, home):
    mysql = (
        "SELECT `d`.`name`, `d`.`population` FROM `market`.`district` AS `d` "
        "WHERE `d`.`population` > 1000000 ORDER BY `d`.`population` DESC"
    )
    trino = (
        'SELECT "d"."name", "d"."population" FROM "market"."district" AS "d" '
        'WHERE "d"."population" > 1000000 ORDER BY "d"."population" DESC'
    )
    rows = json.loads(ok(city("query", "--dialect", "mysql", mysql, "--format", "json")).output)
    assert rows == json.loads(ok(city("query", trino, "--format", "json")).output)
    populations = [r["population"] for r in rows]
    assert populations and all(p > 1_000_000 for p in populations)
    assert populations == sorted(populations, reverse=True)
    same_rows(pa.Table.from_pylist(rows), api_answer(home, mysql, dialect="mysql"))
    # Backticks mean nothing to Trino's grammar.
    refused = city("query", mysql)
    assert refused.exit_code != 0 and "Syntax error" in refused.stderr
    plan = ok(city("explain", "--dialect", "mysql", mysql)).output
    assert "Fragment f1 -> market (sqlite)" in plan


# -- explain ---------------------------------------------------------------------------------------

FEDERATED = (
    "SELECT e.district, count(*) AS filings, sum(t.total_tax) AS tax "
    "FROM market.enterprise e JOIN tax.filings t ON t.credit_code = e.credit_code "
    "JOIN hrss.social_insurance_monthly s ON s.credit_code = e.credit_code "
    "AND s.month = DATE '2024-06-01' "
    "WHERE t.month = '2024-06' AND e.status = '存续' GROUP BY e.district"
)


def test_explain_shows_each_fragment_source_and_sql(city, home):
    out = ok(city("explain", FEDERATED)).output
    with Session(Catalog.open(str(home))) as session:
        plan = session.plan(FEDERATED)
    assert {f.source for f in plan.fragments} == {"market", "tax", "hrss"}
    for f in plan.fragments:
        assert f"Fragment {f.id} -> {f.source} ({f.kind})" in out
        if f.query is not None:
            for line in (f.sql() or "").splitlines():
                assert line in out
        else:
            assert f"scan {f.format} {f.location}" in out
    assert 'FROM "main"."enterprise"' in out
    assert "scan Parquet" in out and "month" in out
    assert "Local (DuckDB over Arrow):" in out
    assert "actual:" not in out  # nothing ran


def test_explain_of_a_query_pushed_whole(city):
    out = ok(city("explain", DISTRICTS)).output
    assert out.splitlines()[0].startswith("Fragment f1 -> market (sqlite)")
    assert "ORDER BY" in out
    assert "Local: none (the fragment's rows are the answer)" in out


def test_explain_json_is_the_plan(city):
    doc = json.loads(ok(city("explain", "--json", FEDERATED)).output)
    assert sorted(doc["datasets"]) == [
        "hrss.main.social_insurance_monthly",
        "market.main.enterprise",
        "tax.default.filings",
    ]
    assert doc["output_columns"] == ["district", "filings", "tax"]
    assert doc["residual"]
    assert "actual" not in doc
    for f in doc["fragments"]:
        assert "actual" not in f
        assert ("sql" in f) != ("scan" in f)


def test_explain_analyze_json_has_actual_rows_and_bytes(city):
    doc = json.loads(ok(city("explain", "--analyze", "--json", FEDERATED)).output)
    answer = json.loads(ok(city("query", FEDERATED, "--format", "json")).output)
    assert doc["actual"]["rows"] == len(answer) > 0
    by_source: dict[str, dict[str, int]] = {}
    for f in doc["fragments"]:
        actual = f["actual"]
        assert actual["rows"] > 0 and actual["bytes"] > 0, f
        assert actual["seconds"] >= 0
        totals = by_source.setdefault(f["source"], {"rows": 0, "bytes": 0})
        totals["rows"] += actual["rows"]
        totals["bytes"] += actual["bytes"]
    assert doc["actual"]["by_source"] == by_source
    assert set(by_source) == {"market", "tax", "hrss"}
    assert doc["actual"]["bytes_fetched"] == sum(v["bytes"] for v in by_source.values())


def test_explain_analyze_text_has_actuals(city):
    out = ok(city("explain", "--analyze", FEDERATED)).output
    assert out.count("    actual: ") == len(
        json.loads(ok(city("explain", "--json", FEDERATED)).output)["fragments"]
    )
    last = out.splitlines()[-1]
    assert last.startswith("Result: ") and "bytes fetched" in last


def test_explain_does_not_run_the_query(city, monkeypatch):
    opened: list[str] = []
    real = guajie.api.open_connector

    def spy(source):  # type: ignore[no-untyped-def]
        opened.append(source.name)
        return real(source)

    monkeypatch.setattr(guajie.api, "open_connector", spy)
    ok(city("explain", FEDERATED))
    ok(city("explain", "--json", FEDERATED))
    assert opened == []
    ok(city("explain", "--analyze", FEDERATED))
    assert sorted(set(opened)) == ["hrss", "market", "tax"]
