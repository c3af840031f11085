"""Column-level lineage from SQL: each output column's inputs and how, in OpenLineage terms.

Pure: a hand-made catalog view, no source. Each case is one query and the edges expected.
"""

from __future__ import annotations

import pytest

from guajie.federation import CatalogView, ColumnInfo, TableInfo
from guajie.federation.errors import QueryError
from guajie.lineage.columns import analyze


def _view() -> CatalogView:
    view = CatalogView(source_kinds={"civil": "sqlite", "market": "postgresql", "tax": "file"})
    view.add(
        TableInfo(
            "civil",
            "main",
            "person",
            "sqlite",
            (
                ColumnInfo("id_number", "string"),
                ColumnInfo("name", "string"),
                ColumnInfo("phone", "string"),
                ColumnInfo("district", "string"),
                ColumnInfo("amount", "decimal128(18, 2)"),
                ColumnInfo("poor", "bool"),
            ),
        )
    )
    view.add(
        TableInfo(
            "market",
            "public",
            "enterprise",
            "postgresql",
            (
                ColumnInfo("credit_code", "string"),
                ColumnInfo("name", "string"),
                ColumnInfo("rep_id", "string"),
                ColumnInfo("capital", "decimal128(18, 2)"),
                ColumnInfo("status", "string"),
            ),
        )
    )
    view.add(
        TableInfo(
            "tax",
            "default",
            "filings",
            "file",
            (
                ColumnInfo("credit_code", "string"),
                ColumnInfo("month", "string"),
                ColumnInfo("total_tax", "decimal128(18, 2)"),
            ),
        )
    )
    return view


P, E, F = "civil.main.person", "market.public.enterprise", "tax.default.filings"


def edges(sql: str) -> dict[str | None, set[tuple[str, str, str, str, bool]]]:
    """output column (None: whole dataset) -> {(dataset, column, type, subtype, masking)}."""
    found = analyze(sql, _view())
    out: dict[str | None, set[tuple[str, str, str, str, bool]]] = {}
    for column, f in found.fields():
        t = f.transformation
        out.setdefault(column, set()).add((f.dataset, f.column, t.type, t.subtype, t.masking))
    for name in found.output_columns:
        out.setdefault(name, set())
    return out


def test_copies_and_transformations():
    found = edges(
        "SELECT id_number, upper(name) AS name_upper, amount * 12 AS yearly, "
        "CAST(amount AS VARCHAR) AS text FROM civil.person"
    )
    assert found["id_number"] == {(P, "id_number", "DIRECT", "IDENTITY", False)}
    assert found["name_upper"] == {(P, "name", "DIRECT", "TRANSFORMATION", False)}
    assert found["yearly"] == {(P, "amount", "DIRECT", "TRANSFORMATION", False)}
    assert found["text"] == {(P, "amount", "DIRECT", "TRANSFORMATION", False)}


def test_aggregates_mask_or_keep_values():
    found = edges(
        "SELECT district, count(id_number) AS people, count(*) AS n, sum(amount) AS total, "
        "avg(amount) AS mean, min(name) AS first_name, max(phone) AS some_phone "
        "FROM civil.person GROUP BY district"
    )
    assert found["people"] == {(P, "id_number", "DIRECT", "AGGREGATION", True)}
    assert found["n"] == set()
    assert found["total"] == {(P, "amount", "DIRECT", "AGGREGATION", True)}
    assert found["mean"] == {(P, "amount", "DIRECT", "AGGREGATION", True)}
    assert found["first_name"] == {(P, "name", "DIRECT", "AGGREGATION", False)}
    assert found["some_phone"] == {(P, "phone", "DIRECT", "AGGREGATION", False)}
    assert (P, "district", "INDIRECT", "GROUP_BY", False) in found[None]


def test_hash_is_a_masking_transformation():
    found = edges("SELECT md5(id_number) AS pseudonym FROM civil.person")
    assert found["pseudonym"] == {(P, "id_number", "DIRECT", "TRANSFORMATION", True)}


def test_conditions_and_windows_are_indirect():
    found = edges("SELECT CASE WHEN poor THEN amount ELSE 0 END AS paid FROM civil.person")
    assert found["paid"] == {
        (P, "poor", "INDIRECT", "CONDITIONAL", False),
        (P, "amount", "DIRECT", "TRANSFORMATION", False),
    }
    found = edges(
        "SELECT rank() OVER (PARTITION BY district ORDER BY amount DESC) AS place, "
        "sum(amount) OVER (PARTITION BY district) AS district_total FROM civil.person"
    )
    assert found["place"] == {
        (P, "district", "INDIRECT", "WINDOW", False),
        (P, "amount", "INDIRECT", "WINDOW", False),
    }
    assert found["district_total"] == {
        (P, "amount", "DIRECT", "AGGREGATION", True),
        (P, "district", "INDIRECT", "WINDOW", False),
    }


def test_filters_joins_grouping_and_sorting_are_whole_dataset_lineage():
    found = edges(
        "SELECT e.name, sum(f.total_tax) AS tax FROM market.enterprise e "
        "JOIN tax.filings f ON f.credit_code = e.credit_code AND f.month >= '2024-01' "
        "WHERE e.status = '存续' GROUP BY e.name HAVING sum(f.total_tax) > 100 ORDER BY tax DESC"
    )
    assert found["name"] == {(E, "name", "DIRECT", "IDENTITY", False)}
    assert found["tax"] == {(F, "total_tax", "DIRECT", "AGGREGATION", True)}
    whole = {(d, c, s) for d, c, _, s, _ in found[None]}
    assert {
        (E, "credit_code", "JOIN"),
        (F, "credit_code", "JOIN"),
        (F, "month", "FILTER"),  # a one-table predicate in ON filters
        (E, "status", "FILTER"),
        (E, "name", "GROUP_BY"),
        (F, "total_tax", "FILTER"),  # HAVING
        (F, "total_tax", "SORT"),  # ORDER BY the output alias
    } <= whole
    assert all(t == "INDIRECT" for _, _, t, _, _ in found[None])


def test_lineage_runs_through_ctes_subqueries_and_unions():
    found = edges(
        "WITH t AS (SELECT credit_code, sum(total_tax) AS tax FROM tax.filings GROUP BY 1) "
        "SELECT e.credit_code AS code, t.tax FROM market.enterprise e "
        "JOIN t ON t.credit_code = e.credit_code "
        "UNION ALL SELECT credit_code, 0 FROM tax.filings"
    )
    assert found["code"] == {
        (E, "credit_code", "DIRECT", "IDENTITY", False),
        (F, "credit_code", "DIRECT", "IDENTITY", False),
    }
    assert found["tax"] == {(F, "total_tax", "DIRECT", "AGGREGATION", True)}
    assert (F, "credit_code", "INDIRECT", "GROUP_BY", False) in found[None]


def test_subquery_predicates_filter():
    found = edges(
        "SELECT name FROM market.enterprise WHERE credit_code IN "
        "(SELECT credit_code FROM tax.filings WHERE total_tax > 0)"
    )
    assert found["name"] == {(E, "name", "DIRECT", "IDENTITY", False)}
    whole = {(d, c) for d, c, *_ in found[None]}
    assert {(E, "credit_code"), (F, "credit_code"), (F, "total_tax")} <= whole


def test_stars_are_expanded_against_the_catalog():
    found = analyze("SELECT * FROM tax.filings", _view())
    assert found.output_columns == ["credit_code", "month", "total_tax"]
    assert [f.column for f in found.columns["month"]] == ["month"]


def test_input_columns_say_how_each_is_used_and_whether_values_leave():
    uses = analyze(
        "SELECT district, count(id_number) AS n, max(phone) AS p FROM civil.person "
        "WHERE name <> '' GROUP BY district",
        _view(),
    ).input_columns()
    assert uses[(P, "id_number")].exposed is False
    assert uses[(P, "phone")].exposed is True
    assert uses[(P, "name")].how == "FILTER" and not uses[(P, "name")].exposed
    assert uses[(P, "district")].how == "IDENTITY,GROUP_BY"


def test_bad_sql_is_the_planner_error():
    with pytest.raises(QueryError, match="Unknown column"):
        analyze("SELECT nope FROM civil.person", _view())


def test_a_query_traced_again_gets_its_own_lists():
    sql = "SELECT id_number, upper(name) AS n FROM civil.person WHERE poor"
    first = analyze(sql, _view())
    first.columns["n"].clear()
    first.dataset.clear()
    first.inputs.append("changed")
    again = analyze(sql, _view())
    assert again.columns["n"] and again.dataset and again.inputs == [P]
