"""Random scalar expressions over the sample city give the reference engine's answer.

The companion of ``test_federation_properties``: there the generator varies the shape of a
query (joins, grouping, filters, order); here it varies what a query computes. Each query
selects a few expressions over one dataset's columns — string functions, arithmetic,
rounding, date parts, CASE, COALESCE, casts — filters on expressions too, and sometimes
aggregates them with a HAVING. Whatever a source runs of them must mean there what it
means in Trino's SQL: MariaDB's collations, SQLite's ASCII-only case mapping and loose
types, PostgreSQL's GREATEST skipping NULLs. The reference is DuckDB over the generator's
own Arrow tables, the query transpiled from Trino by sqlglot.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import test_federation_properties as props

embedded = props.embedded
on_servers = props.on_servers
reference = props.reference
city_columns = props.city_columns
Ref = props.Ref
literal = props.literal


def _pieces(values: tuple[Any, ...]) -> list[str]:
    """Short substrings of real values, for LIKE, strpos and replace."""
    out = []
    for v in values:
        text = str(v)
        if len(text) >= 2 and "%" not in text and "_" not in text:
            out.append(text[len(text) // 2 : len(text) // 2 + 2])
    return out


@st.composite
def scalar(draw: st.DrawFn, refs: list[Ref]) -> str:
    """One expression over one column."""
    ref = draw(st.sampled_from(refs))
    c, x = ref.column, ref.sql
    forms: list[str] = [f"coalesce({x}, {literal(c.values[0], c.kind)})"]
    if c.kind == "string":
        n = draw(st.integers(1, 4))
        forms += [
            f"upper({x})",
            f"lower({x})",
            f"length({x})",
            f"substr({x}, {n})",
            f"substr({x}, 1, {n})",
            f"concat({x}, '-', {x})",
            f"{x} || '/'",
            f"trim({x})",
            f"reverse({x})",
        ]
        pieces = _pieces(c.values)
        if pieces:
            piece = literal(draw(st.sampled_from(pieces)), "string")
            forms += [f"strpos({x}, {piece})", f"replace({x}, {piece}, '*')"]
    elif c.kind in ("int", "decimal", "float"):
        v = literal(draw(st.sampled_from(c.values)), c.kind)
        forms += [f"{x} + 1", f"{x} * 2", f"abs({x})", f"-{x}", f"{x} - {v}"]
        forms += [f"greatest({x}, {v})", f"least({x}, {v})"]
        if c.kind != "float":
            # No division: the reference, transpiled without types, divides integers as
            # doubles and decimals unrounded (tests/test_decimals.py and the live-Trino
            # templates check division instead).
            forms += [f"round({x}, 1)", f"round({x})"]
        if c.kind == "int":
            # A decimal's text depends on its scale, which a CSV crawl may not see.
            forms += [f"{x} % 7", f"CAST({x} AS DOUBLE) / 4", f"CAST({x} AS VARCHAR)"]
    elif c.kind == "date":
        forms += [
            f"year({x})",
            f"month({x})",
            f"day({x})",
            f"date_trunc('month', {x})",
            f"date_add('day', 3, {x})",
            f"CAST({x} AS VARCHAR)",
        ]
    elif c.kind == "timestamp":
        forms += [f"year({x})", f"hour({x})", f"date_trunc('day', {x})", f"CAST({x} AS DATE)"]
    elif c.kind == "bool":
        forms += [f"NOT {x}", f"CASE WHEN {x} THEN 'yes' ELSE 'no' END"]
    return draw(st.sampled_from(forms))


@st.composite
def case_expression(draw: st.DrawFn, refs: list[Ref]) -> str:
    condition = draw(props.conditions(refs))
    then, otherwise = draw(st.sampled_from([("1", "0"), ("'a'", "'b'"), ("1.5", "NULL")]))
    return f"CASE WHEN {condition} THEN {then} ELSE {otherwise} END"


@st.composite
def expression_filter(draw: st.DrawFn, refs: list[Ref]) -> str:
    """A WHERE over expressions: string lengths and cases, contained substrings, sums."""
    ref = draw(st.sampled_from(refs))
    c, x = ref.column, ref.sql
    if c.kind == "string":
        pieces = _pieces(c.values)
        value = str(draw(st.sampled_from(c.values)))
        forms = [
            f"length({x}) > {draw(st.integers(0, 8))}",
            f"upper({x}) = {literal(value.upper(), 'string')}",
            f"lower({x}) <> {literal(value.lower(), 'string')}",
        ]
        if pieces:
            piece = draw(st.sampled_from(pieces))
            forms += [f"{x} LIKE {literal('%' + piece + '%', 'string')}"]
            forms += [f"{x} LIKE {literal('_' + piece[1:] + '%', 'string')}"]
        return draw(st.sampled_from(forms))
    if c.kind in ("int", "decimal", "float"):
        v = literal(draw(st.sampled_from(c.values)), c.kind)
        return draw(st.sampled_from([f"{x} * 2 > {v}", f"abs({x} - {v}) < 100"]))
    if c.kind == "date":
        return f"year({x}) = {draw(st.sampled_from(c.values)).year}"
    return draw(props.comparisons([ref]))


@st.composite
def expression_queries(draw: st.DrawFn, columns: dict[str, list[props.ColumnSpec]]) -> str:
    table = draw(st.sampled_from(props.DATASETS))
    refs = [Ref("a", c) for c in columns[table] if c.filterable]
    exprs = draw(st.lists(st.one_of(scalar(refs), case_expression(refs)), min_size=1, max_size=3))
    where = f" WHERE {draw(expression_filter(refs))}" if draw(st.booleans()) else ""
    if draw(st.booleans()):
        # Grouped by the first expression, the others aggregated.
        key, *rest = exprs
        aggregates = ["count(*) AS n"]
        aggregates += [
            f"{draw(st.sampled_from(['count', 'min', 'max']))}({e}) AS agg{i}"
            for i, e in enumerate(rest)
        ]
        numeric = [r for r in refs if r.column.numeric]
        if numeric:
            arg = draw(st.sampled_from(numeric)).sql
            aggregates.append(f"sum({arg} * 2) AS doubled")
        aggregates.append(f"count(DISTINCT {key}) AS distinct_keys")
        having = f" HAVING count(*) > {draw(st.integers(0, 3))}" if draw(st.booleans()) else ""
        return (
            f"SELECT {key} AS k, {', '.join(aggregates)} FROM {table} AS a{where} "
            f"GROUP BY {key}{having}"
        )
    selects = ", ".join(f"{e} AS e{i}" for i, e in enumerate(exprs))
    return f"SELECT {selects} FROM {table} AS a{where}"


@settings(max_examples=80, **props.COMMON)
@given(data=st.data())
def test_random_expressions_match_the_reference_embedded(embedded, reference, city_columns, data):
    props.check_sql(embedded, reference, data.draw(expression_queries(city_columns), label="query"))


@pytest.mark.servers
@settings(max_examples=40, **props.COMMON)
@given(data=st.data())
def test_random_expressions_match_the_reference_on_servers(
    on_servers, reference, city_columns, data
):
    props.check_sql(
        on_servers, reference, data.draw(expression_queries(city_columns), label="query")
    )


# -- differences the generator found, pinned by their smallest queries -------------------


@pytest.mark.parametrize(
    "sql",
    [
        # SQLite holds decimals as binary doubles: its round(34.55, 1) is 34.5.
        "SELECT round(registered_capital, 1) AS r FROM market.enterprise",
        # SQLite's % truncates both operands to integers: 80.75 % 7 would be 3.
        "SELECT registered_capital % 7 AS m FROM market.enterprise",
        # In doubles 624.16 - 524.16 is 99.99999999999994, and passes "< 100".
        "SELECT credit_code FROM hrss.social_insurance_monthly AS a "
        'WHERE abs(a."unemployment_contribution" - 524.16) < 100',
        # A sum of doubles may order exact ties apart, before the next key breaks them.
        "SELECT district, sum(registered_capital) AS s FROM market.enterprise "
        "GROUP BY district ORDER BY s, district",
    ],
)
def test_sqlite_decimal_arithmetic_is_computed_locally(embedded, reference, sql):
    plan = embedded.plan(sql)
    assert plan.residual is not None  # not pushed whole
    props._same_as_reference(embedded, reference, sql)


def test_sqlite_changes_the_case_of_ascii_letters_only(tmp_path):
    import sqlite3

    from guajie.api import Session
    from guajie.catalog.ledger import Catalog

    path = tmp_path / "names.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE shop (product TEXT)")
        conn.executemany("INSERT INTO shop VALUES (?)", [("ａｂｃ咖啡",), ("Café",)])
    catalog = Catalog.open(str(tmp_path / "ws"))
    catalog.add_source("lite", f"sqlite://{path}")
    catalog.crawl(sample=False)
    session = Session(catalog)
    got = session.query("SELECT upper(product) AS u, lower(product) AS l FROM lite.shop ORDER BY 1")
    assert got.column("u").to_pylist() == ["CAFÉ", "ＡＢＣ咖啡"]
    assert got.column("l").to_pylist() == ["café", "ａｂｃ咖啡"]


@pytest.mark.servers
def test_date_parts_pushed_to_a_server_keep_their_values(on_servers, reference):
    # sqlglot types year() as TINYINT: 2022 must not come back wrapped to -26.
    sql = (
        'SELECT year(a."month") AS y, month(a."month") AS m, day(a."month") AS d '
        "FROM hrss.social_insurance_monthly AS a"
    )
    assert on_servers.plan(sql).residual is None  # MariaDB computes them
    props._same_as_reference(on_servers, reference, sql)
    # PostgreSQL's EXTRACT is a numeric; aggregated, it is typed as narrowly.
    grouped = (
        "SELECT district, min(year(founded_on)) AS first, max(year(founded_on)) + 1 AS next "
        "FROM market.enterprise GROUP BY district"
    )
    assert on_servers.plan(grouped).residual is None
    props._same_as_reference(on_servers, reference, grouped)


def test_a_value_wider_than_its_planned_type_is_never_wrapped():
    import pyarrow as pa

    from guajie.federation.executor import conform

    fetched = pa.table(
        {
            "y": pa.array([2022, 7], pa.int32()),
            "n": pa.array([7, 8], pa.int64()),
            "e": pa.array([2022, 7], pa.decimal128(10, 0)),  # PostgreSQL's EXTRACT
        }
    )
    got = conform(fetched, {"y": "int8", "n": "int8", "e": "int8"})
    assert got.column("y").to_pylist() == [2022, 7]  # kept as it came
    assert [int(v) for v in got.column("e").to_pylist()] == [2022, 7]
    assert got.column("n").type == pa.int8() and got.column("n").to_pylist() == [7, 8]


@pytest.mark.servers
@pytest.mark.parametrize("unit", ["month", "year", "day"])
def test_a_date_truncated_in_a_server_stays_a_date(on_servers, reference, unit):
    # PostgreSQL's date_trunc turns a date into a timestamp with time zone.
    sql = f"SELECT date_trunc('{unit}', founded_on) AS t, credit_code FROM market.enterprise"
    props._same_as_reference(on_servers, reference, sql)
    hrss = f"SELECT date_trunc('{unit}', \"month\") AS t FROM hrss.social_insurance_monthly"
    props._same_as_reference(on_servers, reference, hrss)


def test_a_bound_both_strict_and_inclusive_keeps_the_rows_at_the_bound(embedded, reference):
    # sqlglot 30.30 simplified this condition to credit_code <> X (see sqlglot_fixes.py).
    [(code,)] = reference.sql(
        "SELECT min(credit_code) FROM market.enterprise WHERE credit_code > "
        "(SELECT min(credit_code) FROM market.enterprise)"
    ).fetchall()
    x = literal(code, "string")
    sql = (
        f"SELECT credit_code, CASE WHEN (NOT credit_code < {x}) OR "
        f"(NOT credit_code BETWEEN {x} AND {x}) THEN 1 ELSE 0 END AS kept "
        "FROM market.enterprise"
    )
    props._same_as_reference(embedded, reference, sql)
    got = embedded.query(f"SELECT credit_code FROM market.enterprise WHERE credit_code = {x}")
    assert got.num_rows == 1
    kept = embedded.query(f"SELECT kept FROM ({sql}) WHERE credit_code = {x}")
    assert kept.column("kept").to_pylist() == [1]


@pytest.mark.servers
def test_decimal_quotients_pushed_to_postgresql_are_rounded_as_computed_locally(
    on_servers, embedded
):
    # PostgreSQL keeps 16 digits or more; Trino rounds to the larger scale (see decimals.py).
    sql = (
        "SELECT district, avg(registered_capital) AS a, "
        "sum(registered_capital) / count(*) AS q, sum(registered_capital) / 7 AS s "
        "FROM market.enterprise GROUP BY district"
    )
    pushed = on_servers.plan(sql)
    assert pushed.residual is None and "ROUND(" in (pushed.fragments[0].sql() or "")
    got = on_servers.query(sql).sort_by("district")
    local = embedded.query(sql).sort_by("district")
    assert got.to_pylist() == local.to_pylist()
    assert got.schema.field("a").type == pa.decimal128(18, 2)
    windowed = (
        "SELECT credit_code, avg(registered_capital) OVER (PARTITION BY district) AS w "
        "FROM market.enterprise"
    )
    got = on_servers.query(windowed).sort_by("credit_code")
    assert got.to_pylist() == embedded.query(windowed).sort_by("credit_code").to_pylist()
