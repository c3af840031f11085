"""Scenario policies hold on both engines: data lists, masks, row filters, aggregate-only
columns, sharing types and approvals — against every way around them we know of.

The city is classified as a steward would: 企业登记 is 有条件共享, 社保缴费 is 不予共享,
personal-information columns carry the crawler's suggestions. Scenario ``gulou`` may read
鼓楼区 (350102) only, sees ID numbers, names, phones and bank cards masked, and may only
sum or count registered capital.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guajie.api import Session
from guajie.catalog.errors import GuajieError
from guajie.catalog.ledger import Catalog
from guajie.catalog.scenarios import load_manifest
from guajie.federation.access import apply_scenario
from guajie.federation.errors import PolicyError
from guajie.sample_sources import city_tables

SCALE, SEED = 1.0, 20240601
DISTRICT = "350102"
FUTURE = (date.today() + timedelta(days=365)).isoformat()

GULOU = f"""
name: gulou
owner_department: 鼓楼区人民政府
purpose: 辖区企业与救助对象服务
data_list:
  - dataset: market.enterprise
    columns:
      credit_code: raw
      name: raw
      district: raw
      district_code: raw
      status: raw
      legal_rep_name:
      legal_rep_id_number:
      registered_capital: aggregate
    row_filter: "district_code = '{DISTRICT}'"
  - dataset: civil.subsidy_recipient
    columns: all
    row_filter: "district_code = '{DISTRICT}'"
approvals:
  - dataset: market.enterprise
    approved_by: 福州市市场监督管理局
    until: {FUTURE}
queries:
  - name: enterprises
    sql: SELECT district, count(*) AS n FROM market.enterprise GROUP BY district
"""


def _classify(catalog: Catalog) -> None:
    catalog.update(
        "market.enterprise", sharing_type="conditional", sharing_condition="经市场监管局审批"
    )
    catalog.update(
        "hrss.social_insurance_monthly", sharing_type="not-shared", legal_basis="《社会保险法》"
    )


@pytest.fixture(scope="module")
def raw_city() -> dict[str, pa.Table]:
    tables = city_tables(SCALE, SEED)
    return {
        "enterprise": tables["market"]["enterprise"].read_all(),
        "recipient": tables["civil"]["subsidy_recipient"].read_all(),
    }


@pytest.fixture(scope="module")
def protected(raw_city) -> dict[str, set[str]]:
    """Values no result or error of scenario gulou may contain."""
    e, r = raw_city["enterprise"].to_pydict(), raw_city["recipient"].to_pydict()
    outside = {
        c for c, d in zip(e["credit_code"], e["district_code"], strict=True) if d != DISTRICT
    }
    return {
        # Matched anywhere inside any text: long enough never to occur by chance.
        "substrings": {
            *(v for v in e["legal_rep_id_number"] if v),
            *(v for v in r["person_id"] if v),
            *(v for v in r["phone"] if v),
            *(v for v in r["bank_card"] if v),
            *outside,
        },
        # Matched as whole cells: short values (names) that may occur inside other text.
        "cells": {
            *(v for v in e["legal_rep_name"] if v),
            *(v for v in r["name"] if v),
            *(v for v in r["address"] if v),
        },
    }


@pytest.fixture(scope="module")
def embedded_policy(city_dir: Path, tmp_path_factory) -> Session:
    catalog = Catalog.open(str(tmp_path_factory.mktemp("policy") / "ws"))
    for name in ("market", "hrss", "civil"):
        catalog.add_source(name, f"sqlite://{city_dir}/{name}.sqlite")
    catalog.add_source("tax", f"file://{city_dir}/tax")
    catalog.add_source("transport", f"file://{city_dir}/transport")
    catalog.crawl()
    _classify(catalog)
    apply_scenario(catalog, load_manifest(GULOU))
    return Session(catalog)


# On Trino every source is a catalog of the shared test server: names of their own here.
_TRINO_NAMES = re.compile(r"\b(market|civil|hrss|tax)\.", re.IGNORECASE)


def on_trino(sql: str) -> str:
    return _TRINO_NAMES.sub(lambda m: f"p{m.group(1).lower()}.", sql)


class TrinoSession:
    """The policy tests' Session on Trino, with the city's source names prefixed by p."""

    def __init__(self, session: Session) -> None:
        self.session, self.catalog = session, session.catalog

    def query(self, sql: str, **options: Any) -> pa.Table:
        return self.session.query(on_trino(sql), **options)

    def plan(self, sql: str, **options: Any) -> Any:
        return self.session.plan(on_trino(sql), **options)


@pytest.fixture(scope="module")
def trino_policy(city_dir: Path, postgres_server, trino_server, tmp_path_factory) -> TrinoSession:
    from guajie.federation.trino import load_settings, sync_catalogs
    from guajie.sample_sources import load_postgres

    pg = postgres_server
    for name, table in (
        ("market", "enterprise"),
        ("civil", "subsidy_recipient"),
        ("hrss", "social_insurance_monthly"),
    ):
        load_postgres(pg.conninfo, scale=SCALE, seed=SEED, schema=f"{name}_policy", tables=(table,))
    catalog = Catalog.open(str(tmp_path_factory.mktemp("policy-trino") / "ws"))
    for name in ("market", "civil", "hrss"):
        url = f"{pg.url}?schemas={name}_policy"
        catalog.add_source(f"p{name}", url, password_env=pg.env_var_name)
    catalog.add_source("ptax", f"file://{city_dir}/tax")
    catalog.crawl()
    catalog.update(
        "pmarket.enterprise", sharing_type="conditional", sharing_condition="经市场监管局审批"
    )
    catalog.update(
        "phrss.social_insurance_monthly", sharing_type="not-shared", legal_basis="《社会保险法》"
    )
    report = sync_catalogs(catalog, load_settings(catalog.workspace, url=trino_server.url))
    assert report.ok, report.to_dict()
    apply_scenario(catalog, load_manifest(on_trino(GULOU)))
    return TrinoSession(Session(catalog, engine="trino", trino={"url": trino_server.url}))


@pytest.fixture(params=["embedded", pytest.param("trino", marks=[pytest.mark.servers])])
def session(request) -> Session | TrinoSession:
    return request.getfixturevalue(f"{request.param}_policy")


def _cells(table: pa.Table) -> list[Any]:
    out: list[Any] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)
        else:
            out.append(value)

    for column in table.columns:
        walk(column.to_pylist())
    return out


def _assert_nothing_leaks(texts: list[Any], protected: dict[str, set[str]]) -> None:
    strings = [str(t) for t in texts if t is not None]
    blob = "\n".join(strings)
    found = [v for v in protected["substrings"] if v in blob]
    assert not found, f"protected values leaked: {found[:3]}"
    cells = [s for s in strings if s in protected["cells"]]
    assert not cells, f"protected cells leaked: {cells[:3]}"


def attempt(
    session: Session | TrinoSession, sql: str, protected: dict[str, set[str]]
) -> pa.Table | GuajieError:
    """Run ``sql`` as scenario gulou; whatever comes back must hold no protected value."""
    try:
        table = session.query(sql, scenario="gulou")
    except GuajieError as exc:
        _assert_nothing_leaks([str(exc)], protected)
        return exc
    _assert_nothing_leaks(_cells(table), protected)
    return table


ID = "legal_rep_id_number"
E = "market.enterprise"
R = "civil.subsidy_recipient"

# Each is a way someone might try to see a masked, hidden or filtered value.
BYPASS_ATTEMPTS = [
    f"SELECT {ID} FROM {E}",
    f"SELECT * FROM {E}",
    f"SELECT e.* FROM {E} e",
    f'SELECT "{ID}" FROM {E}',
    f"SELECT {ID.upper()} FROM MARKET.ENTERPRISE",
    f"SELECT x FROM (SELECT {ID} AS x FROM {E}) t",
    f"WITH c AS (SELECT * FROM {E}) SELECT {ID} FROM c",
    f"WITH c AS (SELECT {ID} AS credit_code FROM {E}) SELECT credit_code FROM c",
    f"SELECT {ID} FROM {E} UNION SELECT person_id FROM {R}",
    f"SELECT {ID} FROM {E} INTERSECT SELECT {ID} FROM {E}",
    f"SELECT person_id FROM {R} EXCEPT SELECT {ID} FROM {E}",
    f"SELECT substr({ID}, 7, 8) AS s FROM {E}",
    f"SELECT CAST({ID} AS bigint) AS n FROM {E}",
    f"SELECT reverse({ID}) AS r FROM {E}",
    f"SELECT upper({ID}) || lower(legal_rep_name) AS u FROM {E}",
    f"SELECT regexp_extract({ID}, '[0-9]{{8}}') AS d FROM {E}",
    f"SELECT split_part({ID}, '*', 1) AS p FROM {E}",
    f"SELECT {ID} AS credit_code FROM {E}",
    f"SELECT e.credit_code, r.name, r.person_id FROM {E} e JOIN {R} r ON r.person_id = e.{ID}",
    f"SELECT e.credit_code FROM {E} e JOIN {R} r ON r.name = e.legal_rep_name",
    f"SELECT {ID}, count(*) AS n FROM {E} GROUP BY {ID}",
    f"SELECT {ID} FROM {E} ORDER BY {ID} LIMIT 3",
    f"SELECT DISTINCT {ID} FROM {E}",
    f"SELECT {ID}, row_number() OVER (ORDER BY {ID}) AS k FROM {E}",
    f"SELECT first_value({ID}) OVER (PARTITION BY district ORDER BY credit_code) AS f FROM {E}",
    f"SELECT max({ID}) AS a, min({ID}) AS b FROM {E}",
    f"SELECT array_agg({ID}) AS ids FROM {E}",
    f"SELECT array_join(array_agg(person_id), ',') AS ids FROM {R}",
    f"SELECT to_hex(sha256(to_utf8({ID}))) AS h FROM {E}",
    f"SELECT CASE WHEN {ID} LIKE '%1' THEN 'odd' END AS c FROM {E}",
    f"SELECT length({ID}) AS n FROM {E}",
    f"SELECT e FROM {E} e",
    f"SELECT ROW(e.*) AS r FROM {E} e",
    f"SELECT json_format(CAST(ROW({ID}) AS JSON)) AS j FROM {E}",
    f"SELECT {ID} FROM {E} TABLESAMPLE BERNOULLI (50)",
    f"SELECT (SELECT max(r.person_id) FROM {R} r WHERE r.name = e.legal_rep_name) AS p FROM {E} e",
    f"SELECT count(*) AS n FROM {E} e WHERE EXISTS "
    f"(SELECT 1 FROM {R} r WHERE r.person_id = e.{ID})",
    f"SELECT credit_code FROM {E} WHERE {ID} IN (SELECT person_id FROM {R})",
    f"SELECT coalesce(nullif({ID}, ''), 'x') AS c FROM {E}",
    f"SELECT market.enterprise.{ID} FROM {E}",
    f"SELECT {ID} FROM market.main.enterprise",
    f"SELECT name, phone, bank_card, address, birth_date FROM {R}",
    f"SELECT substr(phone, 4, 4) AS mid, substr(bank_card, 7, 6) AS card FROM {R}",
    f"SELECT CAST(birth_date AS varchar) AS b FROM {R}",
    # rows outside the row filter
    f"SELECT credit_code FROM {E} WHERE district_code <> '{DISTRICT}'",
    f"SELECT credit_code FROM {E} WHERE 1 = 1 OR district_code <> '{DISTRICT}'",
    f"SELECT credit_code FROM {E} UNION ALL SELECT credit_code FROM {E}",
    f"SELECT credit_code FROM {E} WHERE credit_code NOT IN (SELECT credit_code FROM {E})",
    f"SELECT person_id FROM {R} WHERE district_code = '350103'",
    # aggregate-only registered_capital
    f"SELECT registered_capital FROM {E}",
    f"SELECT credit_code, sum(registered_capital) AS s FROM {E} GROUP BY credit_code",
    f"SELECT sum(registered_capital) AS s FROM {E} WHERE credit_code = 'X'",
    f"SELECT sum(registered_capital * 1) AS s FROM {E}",
    f"SELECT max(registered_capital) AS s FROM {E}",
    f"SELECT sum(registered_capital) OVER () AS s FROM {E}",
    f"SELECT credit_code FROM {E} ORDER BY registered_capital DESC LIMIT 1",
    f"SELECT credit_code FROM {E} WHERE registered_capital > 1000",
    f"SELECT count(DISTINCT registered_capital) AS n FROM {E}",
    f"WITH c AS (SELECT registered_capital AS r FROM {E}) SELECT sum(r) AS s FROM c",
    f"SELECT avg(registered_capital) AS a FROM (SELECT * FROM {E}) t",
    # outside the data list, not shared, or not a dataset at all
    "SELECT * FROM hrss.social_insurance_monthly",
    "SELECT * FROM transport.parking_events",
    "SELECT * FROM tax.filings",
    "SELECT * FROM information_schema.tables",
    "SELECT * FROM system.runtime.nodes",
    "SELECT * FROM TABLE(system.query(query => 'SELECT 1'))",
    "SELECT * FROM read_parquet('/etc/passwd')",
    'SELECT * FROM "file:///etc/passwd"',
    f"SELECT * FROM {E} FOR VERSION AS OF 1",
    # not one read-only SELECT
    f"EXPLAIN SELECT {ID} FROM {E}",
    f"PREPARE p FROM SELECT {ID} FROM {E}",
    "ATTACH 'x.db' AS x",
    f"COPY {E} TO '/tmp/out.csv'",
    "SET SESSION query_max_run_time = '1h'",
    f"SELECT 1 AS one FROM {E}; SELECT {ID} FROM {E}",
    f"INSERT INTO {E} SELECT * FROM {E}",
    f"CREATE TABLE t AS SELECT {ID} FROM {E}",
    f"SELECT 1 AS one FROM {E} /* ; DROP TABLE x */",
]


def test_there_are_at_least_sixty_attempts():
    assert len(BYPASS_ATTEMPTS) >= 60


@pytest.mark.parametrize("sql", BYPASS_ATTEMPTS)
def test_no_bypass_reveals_a_protected_value(session, protected, sql):
    attempt(session, sql, protected)


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT count(*) AS n FROM {E} WHERE substr({ID}, 7, 1) = '1'",
        f"SELECT count(*) AS n FROM {E} WHERE {ID} LIKE '______1%'",
        f"SELECT count(*) AS n FROM {R} WHERE substr(phone, 5, 1) BETWEEN '0' AND '9'",
        f"SELECT count(*) AS n FROM {E} WHERE regexp_like({ID}, '^[0-9]{{18}}$')",
    ],
)
def test_comparisons_see_only_the_mask(session, protected, sql):
    """Bit-by-bit probes of the hidden middle find nothing: it is a constant pattern."""
    result = attempt(session, sql, protected)
    assert isinstance(result, pa.Table) and result.column("n").to_pylist() == [0]


def test_masks_keep_only_the_documented_parts(session, protected, raw_city):
    table = attempt(session, f"SELECT credit_code, {ID}, legal_rep_name FROM {E}", protected)
    assert isinstance(table, pa.Table) and table.num_rows > 0
    raw = raw_city["enterprise"].to_pydict()
    by_code = dict(
        zip(raw["credit_code"], zip(raw[ID], raw["legal_rep_name"], strict=True), strict=True)
    )
    for code, masked_id, masked_name in zip(*table.to_pydict().values(), strict=True):
        real_id, real_name = by_code[code]
        assert masked_id == f"{real_id[:6]}********{real_id[-4:]}"
        assert masked_name == f"{real_name[0]}**"


def test_row_filter_applies_before_anything_else(session, protected, raw_city):
    table = attempt(session, f"SELECT district_code, count(*) AS n FROM {E} GROUP BY 1", protected)
    assert isinstance(table, pa.Table)
    expected = sum(
        1 for d in raw_city["enterprise"].column("district_code").to_pylist() if d == DISTRICT
    )
    assert table.to_pydict() == {"district_code": [DISTRICT], "n": [expected]}


def test_star_expands_to_granted_columns_only(session, protected):
    table = attempt(session, f"SELECT * FROM {E}", protected)
    assert isinstance(table, pa.Table)
    assert table.column_names == [
        "credit_code",
        "name",
        "legal_rep_name",
        ID,
        "district",
        "district_code",
        "status",
    ]


def test_aggregate_only_columns_sum_with_small_groups_suppressed(session, protected, raw_city):
    sql = f"SELECT status, sum(registered_capital) AS s, count(*) AS n FROM {E} GROUP BY status"
    table = attempt(session, sql, protected)
    assert isinstance(table, pa.Table)
    raw = raw_city["enterprise"].to_pydict()
    groups: dict[str, int] = {}
    for status, district in zip(raw["status"], raw["district_code"], strict=True):
        if district == DISTRICT:
            groups[status] = groups.get(status, 0) + 1
    assert sorted(table.column("status").to_pylist()) == sorted(
        s for s, n in groups.items() if n >= 5
    )
    assert min(table.column("n").to_pylist()) >= 5


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        (f"SELECT registered_capital FROM {E}", "aggregate-only"),
        (f"SELECT deregistered_on FROM {E}", "not granted"),
        ("SELECT * FROM hrss.social_insurance_monthly", "不予共享"),
        ("SELECT * FROM tax.filings", "not in the data list"),
    ],
)
def test_refusals_say_why(session, protected, sql, says):
    result = attempt(session, sql, protected)
    assert isinstance(result, PolicyError), result
    assert says in str(result)


def test_default_policy_masks_personal_information_and_refuses_not_shared(embedded_policy):
    table = embedded_policy.query(f"SELECT {ID} FROM {E} LIMIT 5")
    assert all(re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", v) for v in table.column(ID).to_pylist())
    with pytest.raises(PolicyError, match="不予共享"):
        embedded_policy.query("SELECT count(*) AS n FROM hrss.social_insurance_monthly")
    assert embedded_policy.query("SELECT count(*) AS n FROM tax.filings").num_rows == 1


def test_an_expired_approval_is_refused_when_the_query_runs(embedded_policy):
    catalog = embedded_policy.catalog
    lapsed = GULOU.replace("name: gulou", "name: lapsed").replace(FUTURE, "2021-12-31")
    with pytest.raises(PolicyError, match="expired on 2021-12-31"):
        apply_scenario(catalog, load_manifest(lapsed))
    apply_scenario(catalog, load_manifest(lapsed), today=date(2021, 6, 1))
    with pytest.raises(PolicyError, match="expired on 2021-12-31"):
        embedded_policy.query(f"SELECT credit_code FROM {E}", scenario="lapsed")


@pytest.mark.parametrize(
    ("manifest", "says"),
    [
        ("name: x\n", "owner_department"),
        ("[1, 2]", "must be a mapping"),
        ("name: [unclosed", "not valid YAML"),
        (
            "name: x\nowner_department: d\npurpose: p\ndata_list:\n  - dataset: market.enterprize\n",
            "did you mean",
        ),
        (
            "name: x\nowner_department: d\npurpose: p\ndata_list:\n"
            "  - dataset: civil.subsidy_recipient\n    columns: {nam: raw}\n",
            "has no column 'nam'",
        ),
        (
            "name: x\nowner_department: d\npurpose: p\ndata_list:\n"
            "  - dataset: civil.subsidy_recipient\n    columns: {name: everything}\n",
            "columns",
        ),
        (
            "name: x\nowner_department: d\npurpose: p\ndata_list:\n  - dataset: market.enterprise\n",
            "has no approval",
        ),
        (
            "name: x\nowner_department: d\npurpose: p\ndata_list:\n"
            "  - dataset: hrss.social_insurance_monthly\n",
            "不予共享",
        ),
        (
            "name: x\nowner_department: d\npurpose: p\ndata_list:\n"
            '  - dataset: civil.subsidy_recipient\n    row_filter: "nope = 1"\n',
            "names 'nope'",
        ),
        (
            "name: x\nowner_department: d\npurpose: p\ndata_list:\n"
            "  - dataset: civil.subsidy_recipient\nqueries:\n  - name: q\n    sql: SELECT * FROM tax.filings\n",
            "query 'q'",
        ),
    ],
)
def test_bad_manifests_are_refused_with_the_reason(embedded_policy, manifest, says):
    from guajie.catalog.scenarios import list_scenarios

    before = [s.name for s, _ in list_scenarios(embedded_policy.catalog.store)]
    with pytest.raises(GuajieError) as caught:
        apply_scenario(embedded_policy.catalog, load_manifest(manifest))
    assert says.lower() in str(caught.value).lower()
    assert [s.name for s, _ in list_scenarios(embedded_policy.catalog.store)] == before


def test_scenario_cli_apply_list_show_run(cli, home, city_dir, tmp_path):
    for name in ("market", "civil", "hrss"):
        assert cli("source", "add", name, f"sqlite://{city_dir}/{name}.sqlite").exit_code == 0
    assert cli("crawl").exit_code == 0
    manifest = tmp_path / "gulou.yaml"
    manifest.write_text(
        GULOU + "outputs:\n  - {query: enterprises, into: gulou_enterprises}\n", encoding="utf-8"
    )
    assert (
        cli(
            "catalog",
            "classify",
            "market.enterprise",
            "--sharing",
            "有条件共享",
            "--sharing-condition",
            "审批",
        ).exit_code
        == 0
    )
    applied = cli("scenario", "apply", "-f", str(manifest))
    assert applied.exit_code == 0, applied.output
    assert "gulou" in cli("scenario", "list").output
    assert "row_filter" in cli("scenario", "show", "gulou").output
    ran = cli("scenario", "run", "gulou", "--json")
    assert ran.exit_code == 0, ran.output
    assert '"into": "pool.default.gulou_enterprises"' in ran.output
    runs = cli("lineage", "runs", "--scenario", "gulou", "--json")
    assert '"completed"' in runs.output
    denied = cli(
        "query", "--scenario", "gulou", f"SELECT {ID} || '' AS x, registered_capital FROM {E}"
    )
    assert denied.exit_code == 1 and "aggregate-only" in denied.output
    unknown = cli("query", "--scenario", "guluo", "SELECT 1 AS x FROM market.enterprise")
    assert unknown.exit_code == 1 and "did you mean" in unknown.output.lower()


# -- fuzzing the SQL entry point ---------------------------------------------------------


TOKENS = [
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "UNION",
    "ALL",
    "JOIN",
    "ON",
    "LEFT",
    "AS",
    "WITH",
    "(",
    ")",
    ",",
    "*",
    "=",
    "<>",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "CAST",
    "VARCHAR",
    "bigint",
    "'x'",
    "1",
    "0",
    "NULL",
    "CASE",
    "WHEN",
    "THEN",
    "END",
    "sum",
    "count",
    "max",
    "substr",
    "||",
    ";",
    "--",
    "/*",
    "*/",
    '"',
    "'",
    ".",
    E,
    R,
    ID,
    "registered_capital",
    "person_id",
    "name",
    "phone",
    "credit_code",
    "e",
    "r",
    "t",
    "OVER",
    "PARTITION",
    "TABLESAMPLE",
    "INSERT",
    "DROP",
    "EXPLAIN",
    "LIMIT",
    "DISTINCT",
]
COLUMNS = [ID, "legal_rep_name", "registered_capital", "credit_code", "district_code"]
WRAPPERS = [
    "{c}",
    "upper({c})",
    "substr({c}, 3, 9)",
    "CAST({c} AS varchar)",
    "coalesce({c}, 'x')",
    "length({c})",
    "reverse({c})",
    "concat({c}, '')",
    "max({c})",
    "sum({c})",
    "count({c})",
    "min({c}) OVER (PARTITION BY district)",
    "lower(CAST({c} AS varchar))",
]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25))
def test_fuzzed_text_is_refused_or_planned_never_a_crash(embedded_policy, protected, tokens):
    sql = " ".join(tokens)
    try:
        embedded_policy.plan(sql, scenario="gulou")
    except GuajieError as exc:
        _assert_nothing_leaks([str(exc)], protected)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(WRAPPERS),
    st.sampled_from(COLUMNS),
    st.sampled_from(["", " WHERE {c2} IS NOT NULL", " ORDER BY 1", " GROUP BY 1"]),
    st.sampled_from(COLUMNS),
)
def test_fuzzed_queries_never_leak(embedded_policy, protected, wrapper, column, tail, other):
    expression = wrapper.format(c=column)
    sql = f"SELECT {expression} AS v FROM {E}" + tail.format(c2=other)
    attempt(embedded_policy, sql, protected)


def test_masks_hide_short_values_whole_and_work_on_numbers_and_nulls(tmp_path):
    import sqlite3

    path = tmp_path / "people.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people (k INTEGER, id_number TEXT, phone BIGINT, name TEXT)")
    con.executemany(
        "INSERT INTO people VALUES (?, ?, ?, ?)",
        [
            (1, "350102199001011234", 13800138000, "欧阳娜娜"),
            (2, "12345", None, "王"),
            (3, None, 13912345678, None),
        ],
    )
    con.commit()
    con.close()
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source("lite", f"sqlite://{path}")
    catalog.crawl()
    for column, kind in (("id_number", "id_number"), ("phone", "phone"), ("name", "name")):
        catalog.update(f"lite.people.{column}", sensitivity=kind)
    table = Session(catalog).query("SELECT * FROM lite.people ORDER BY k")
    assert table.to_pydict() == {
        "k": [1, 2, 3],
        "id_number": ["350102********1234", "********", None],
        "phone": ["138****8000", None, "139****5678"],
        "name": ["欧**", "**", None],
    }
