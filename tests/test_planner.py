"""Planning is pure: SQL + a catalog snapshot -> a plan, with no source involved.

The SQL each source receives is snapshot-tested per dialect, like sqlglot's own fixtures.
"""

from __future__ import annotations

import pytest

from guajie.federation import CatalogView, ColumnInfo, TableInfo, plan_query
from guajie.federation.errors import QueryError


def table(source, kind, schema, table_name, rows, **columns) -> TableInfo:
    return TableInfo(
        source=source,
        schema=schema,
        name=table_name,
        kind=kind,
        row_count=rows,
        columns=tuple(ColumnInfo(c, t) for c, t in columns.items()),
        location=f"file:///pool/{table_name}" if kind == "file" else None,
        format="Parquet" if kind == "file" else None,
    )


@pytest.fixture
def view() -> CatalogView:
    v = CatalogView(
        source_kinds={"pg": "postgresql", "my": "mysql", "lite": "sqlite", "files": "file"}
    )
    v.add(
        table(
            "pg",
            "postgresql",
            "public",
            "enterprise",
            100_000,
            credit_code="string",
            name="string",
            district_code="string",
            capital="decimal128(18, 2)",
            founded="date32[day]",
        )
    )
    v.add(
        table("pg", "postgresql", "public", "district", 20, district_code="string", name="string")
    )
    v.add(
        table(
            "my",
            "mysql",
            "hrss",
            "insured",
            2_000_000,
            credit_code="string",
            month="date32[day]",
            headcount="int32",
        )
    )
    v.add(
        table(
            "lite",
            "sqlite",
            "main",
            "recipient",
            5_000,
            person_id="string",
            name="string",
            birth="date32[day]",
            amount="decimal128(10, 2)",
        )
    )
    v.add(
        table(
            "files",
            "file",
            "default",
            "filings",
            5_000_000,
            credit_code="string",
            month="string",
            total_tax="decimal128(18, 2)",
        )
    )
    return v


def sqls(plan) -> dict[str, str]:
    return {f.source: f.sql() or f.describe_scan() for f in plan.fragments}


def test_single_source_query_is_sent_whole(view):
    plan = plan_query(
        "SELECT d.name, count(*) AS n FROM pg.enterprise e JOIN pg.district d "
        "ON d.district_code = e.district_code GROUP BY d.name ORDER BY n DESC "
        "LIMIT 3",
        view,
    )
    assert plan.residual is None
    assert sqls(plan) == {
        "pg": (
            'SELECT "d"."name" AS "name", COUNT(*) AS "n" FROM "public"."enterprise" AS "e" '
            'JOIN "public"."district" AS "d" ON "d"."district_code" = "e"."district_code" '
            'GROUP BY "d"."name" ORDER BY "n" DESC NULLS LAST LIMIT 3'
        )
    }


def test_postgres_string_order_is_made_code_point_order(view):
    plan = plan_query("SELECT name FROM pg.enterprise ORDER BY name LIMIT 5", view)
    assert 'ORDER BY "enterprise"."name" COLLATE "C"' in plan.fragments[0].sql()


def test_cross_source_join_splits_and_filters_each_side(view):
    plan = plan_query(
        "SELECT e.name, i.headcount FROM pg.enterprise e "
        "JOIN my.insured i ON i.credit_code = e.credit_code "
        "WHERE e.capital > 1000 AND e.district_code = '350102' "
        "AND i.month = DATE '2024-06-01' "
        "AND i.headcount BETWEEN 10 AND 300",
        view,
    )
    assert plan.residual is not None
    # Each source computes its own filters exactly: the columns only they read stay there.
    assert sqls(plan) == {
        "pg": 'SELECT "e"."credit_code", "e"."name" FROM "public"."enterprise" AS "e" '
        """WHERE "e"."capital" > 1000 AND "e"."district_code" = '350102'""",
        "my": "SELECT `i`.`credit_code`, `i`.`headcount` FROM `hrss`.`insured` AS "
        "`i` WHERE `i`.`headcount` <= 300 AND `i`.`headcount` >= 10 AND `i`.`month` = "
        "CAST('2024-06-01' AS DATE)",
    }
    residual = plan.residual_sql or ""
    assert "capital" not in residual and "month" not in residual
    (mysql,) = [f for f in plan.fragments if f.source == "my"]
    assert [d.column for d in mysql.dynamic_filters] == ["i.credit_code"]


def test_mysql_string_semantics_stay_local(view):
    grouped = plan_query(
        "SELECT credit_code, count(*) AS n FROM my.insured GROUP BY credit_code", view
    )
    (fragment,) = grouped.fragments
    assert "GROUP BY" not in fragment.sql() and grouped.residual is not None
    filtered = plan_query("SELECT month FROM my.insured WHERE credit_code = 'x'", view)
    assert "`credit_code` = 'x'" in filtered.fragments[0].sql()  # a superset, re-checked
    assert "= 'x'" in filtered.residual_sql
    ordered = plan_query("SELECT month FROM my.insured WHERE credit_code > 'a'", view)
    assert "> 'a'" not in ordered.fragments[0].sql()  # order under a case-insensitive collation
    assert "> 'a'" in ordered.residual_sql


def test_sqlite_keeps_what_it_cannot_do_exactly(view):
    plan = plan_query(
        "SELECT name FROM lite.recipient WHERE extract(year FROM birth) < 1950 "
        "AND name LIKE '王%' AND birth >= DATE '1930-01-01'",
        view,
    )
    assert plan.residual is not None
    sql = plan.fragments[0].sql()
    assert "EXTRACT" not in sql
    assert "LIKE '王%'" in sql and "DATE('1930-01-01')" in sql
    assert "EXTRACT" in plan.residual_sql and "LIKE" in plan.residual_sql


def test_sqlite_takes_and_or_filters(view):
    plan = plan_query(
        "SELECT person_id FROM lite.recipient WHERE (name = 'a' OR name = 'b') AND person_id <> ''",
        view,
    )
    sent = plan.fragments[0].sql()
    assert "OR" in sent and "AND" in sent


@pytest.mark.parametrize(
    "call",
    [
        "reverse(name)",
        "regexp_extract(name, '[0-9]+')",
        "split_part(name, ' ', 1)",
        "to_hex(sha256(to_utf8(name)))",
        "array_join(array_agg(name), ',')",
    ],
)
def test_functions_sqlite_lacks_run_locally(view, call):
    plan = plan_query(f"SELECT {call} AS v FROM lite.recipient", view)
    assert plan.residual is not None
    sent = plan.fragments[0].sql().lower()
    assert "name" in sent
    assert not any(f in sent for f in ("reverse", "regexp", "split", "sha", "hex", "array"))


def test_file_scans_get_projection_filters_and_limit(view):
    plan = plan_query(
        "SELECT credit_code, total_tax FROM files.filings "
        "WHERE month = '2024-06' AND total_tax > 100 LIMIT 10",
        view,
    )
    (scan,) = plan.fragments
    assert scan.columns == ["credit_code", "month", "total_tax"]
    assert [p.sql() for p in scan.predicates] == ["\"month\" = '2024-06'", '"total_tax" > 100']
    assert scan.limit == 10


def test_same_source_tables_travel_as_one_joined_fragment(view):
    plan = plan_query(
        "SELECT d.name, sum(t.total_tax) AS tax FROM pg.enterprise e "
        "JOIN pg.district d ON d.district_code = e.district_code "
        "JOIN files.filings t ON t.credit_code = e.credit_code "
        "GROUP BY d.name",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    assert pg.pushed == ["join"] and sorted(pg.tables) == [
        "pg.public.district",
        "pg.public.enterprise",
    ]
    assert 'CROSS JOIN "public"."district"' in pg.sql()


def test_left_join_keeps_filters_on_the_null_supplying_side_local(view):
    plan = plan_query(
        "SELECT e.name FROM pg.enterprise e LEFT JOIN files.filings t "
        "ON t.credit_code = e.credit_code AND t.month = '2024-06' "
        "WHERE t.total_tax IS NULL",
        view,
    )
    scan = next(f for f in plan.fragments if f.source == "files")
    assert [p.sql() for p in scan.predicates] == ["\"month\" = '2024-06'"]
    assert not scan.dynamic_filters


@pytest.mark.parametrize("sql", ["SELECT 1", "SELECT * FROM nowhere.t"])
def test_queries_without_catalog_tables_are_refused(view, sql):
    with pytest.raises(QueryError):
        plan_query(sql, view)


def test_plan_prints_and_serializes(view):
    plan = plan_query(
        "SELECT e.name FROM pg.enterprise e JOIN my.insured i ON i.credit_code = e.credit_code",
        view,
    )
    text = plan.explain()
    assert "Fragment f1 -> pg (postgresql)" in text and "Local (DuckDB over Arrow)" in text
    doc = plan.to_dict()
    assert {f["source"] for f in doc["fragments"]} == {"pg", "my"}
    assert doc["datasets"] == ["my.hrss.insured", "pg.public.enterprise"]


def test_in_subquery_over_a_file_becomes_a_local_fragment_whose_keys_filter(view):
    plan = plan_query(
        "SELECT e.name FROM pg.enterprise e WHERE e.credit_code IN "
        "(SELECT credit_code FROM files.filings WHERE month = '2024-06' "
        "GROUP BY credit_code HAVING sum(total_tax) > 1000000)",
        view,
    )
    (local,) = [f for f in plan.fragments if f.is_local]
    scan = next(f for f in plan.fragments if f.source == "files")
    pg = next(f for f in plan.fragments if f.source == "pg")
    assert local.inputs == [scan.id]
    assert [(d.column, d.from_fragment) for d in pg.dynamic_filters] == [
        ("e.credit_code", local.id)
    ]
    assert "HAVING" in plan.explain() and local.relation in (plan.residual_sql or "")
    assert plan.to_dict()["fragments"][-1]["inputs"] == [scan.id]


def test_inner_joins_before_a_left_join_push_their_on_filters(view):
    plan = plan_query(
        "SELECT e.name, t.total_tax FROM pg.enterprise e "
        "JOIN my.insured i ON i.credit_code = e.credit_code AND i.headcount > 10 "
        "LEFT JOIN files.filings t ON t.credit_code = e.credit_code "
        "WHERE e.capital > 1000",
        view,
    )
    mysql = next(f for f in plan.fragments if f.source == "my")
    assert "`i`.`headcount` > 10" in (mysql.sql() or "")
    assert [d.column for d in mysql.dynamic_filters] == ["i.credit_code"]
    assert "LEFT JOIN" in (plan.residual_sql or "")


def test_left_join_required_by_where_is_an_inner_join(view):
    plan = plan_query(
        "SELECT e.name FROM pg.enterprise e LEFT JOIN my.insured i "
        "ON i.credit_code = e.credit_code WHERE i.headcount > 10",
        view,
    )
    mysql = next(f for f in plan.fragments if f.source == "my")
    assert "`i`.`headcount` > 10" in (mysql.sql() or "")
    assert "LEFT JOIN" not in (plan.residual_sql or "")


def test_single_source_subqueries_are_sent_as_written(view):
    plan = plan_query(
        "SELECT name FROM pg.enterprise e WHERE NOT EXISTS "
        "(SELECT 1 FROM pg.district d WHERE d.district_code = e.district_code)",
        view,
    )
    assert plan.residual is None
    assert "NOT EXISTS" in (plan.fragments[0].sql() or "")


def test_file_scans_carry_every_own_filter_for_the_in_place_read(view):
    plan = plan_query(
        "SELECT credit_code FROM files.filings WHERE month = '2024-06' "
        "AND upper(credit_code) <> credit_code",
        view,
    )
    (scan,) = plan.fragments
    assert [p.sql() for p in scan.predicates] == ["\"month\" = '2024-06'"]
    assert [p.sql() for p in scan.local_predicates] == ['"credit_code" <> UPPER("credit_code")']
    assert "in-place filter=" in plan.explain()


def test_plans_are_cached_and_handed_out_as_copies(view):
    sql = "SELECT name FROM pg.enterprise WHERE capital > 5"
    first, second = plan_query(sql, view), plan_query(sql, view)
    assert first is not second and first.fragments[0] is not second.fragments[0]
    assert first.fragments[0].sql() == second.fragments[0].sql()


def test_dynamic_filter_sql_per_source():
    import pyarrow as pa

    from guajie.federation.executor import IN_LIST_MAX_KEYS, MAX_LIST_KEYS, _key_predicate
    from guajie.federation.plan import DynamicFilter

    d = DynamicFilter("t.k", "f1", "k", "int64")
    many = pa.array(range(IN_LIST_MAX_KEYS + 1), pa.int64())
    assert "= ANY(CAST('{0,1,2," in _key_predicate(d, many, "postgres").sql("postgres")
    assert " IN (0, 1, 2," in _key_predicate(d, many, "mysql").sql("mysql")
    too_many = pa.array(range(MAX_LIST_KEYS + 1), pa.int64())
    assert "BETWEEN 0 AND" in _key_predicate(d, too_many, "mysql").sql("mysql")
    words = pa.array([f"w{i}" for i in range(IN_LIST_MAX_KEYS + 1)])
    assert " IN ('w0'," in _key_predicate(d, words, "postgres").sql("postgres")
    assert _key_predicate(d, pa.array([], pa.int64()), "postgres").sql() == "FALSE"


def test_ors_give_up_their_common_join_and_each_table_its_own_filters(view):
    plan = plan_query(
        "SELECT e.name FROM pg.enterprise e, my.insured i WHERE "
        "(i.credit_code = e.credit_code AND e.capital > 100 AND i.headcount < 10) OR "
        "(i.credit_code = e.credit_code AND e.capital < 5 AND i.headcount > 500)",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    mysql = next(f for f in plan.fragments if f.source == "my")
    assert '"e"."capital" > 100' in (pg.sql() or "") and '"e"."capital" < 5' in (pg.sql() or "")
    assert "`i`.`headcount` < 10" in (mysql.sql() or "")
    assert "`i`.`headcount` > 500" in (mysql.sql() or "")
    assert [d.column for d in mysql.dynamic_filters] == ["i.credit_code"]
    residual = plan.residual_sql or ""
    assert residual.count('"e"."credit_code" = "i"."credit_code"') == 1


def test_a_cte_reading_another_pushed_cte_carries_its_definition(view):
    plan = plan_query(
        "WITH big AS (SELECT DISTINCT credit_code, capital FROM pg.enterprise "
        "WHERE capital > 10), "
        "n AS (SELECT credit_code, count(*) AS k FROM big GROUP BY credit_code) "
        "SELECT i.headcount, n.k FROM my.insured i JOIN n ON n.credit_code = i.credit_code "
        "JOIN big ON big.credit_code = i.credit_code",
        view,
    )
    pushed = [f.sql() or "" for f in plan.fragments if f.source == "pg"]
    readers = [sql for sql in pushed if 'FROM "big"' in sql]
    assert readers and all(sql.startswith('WITH "big" AS (SELECT') for sql in readers), pushed


def test_exists_subqueries_stay_semi_and_anti_joins_in_the_residual(view):
    # sqlglot would decorrelate a correlated `<>` into ARRAY_AGG and list filters, which a
    # local engine runs far slower than the semi- and anti-joins it plans itself.
    plan = plan_query(
        "SELECT e.name FROM pg.enterprise e JOIN files.filings f ON f.credit_code = e.credit_code "
        "WHERE EXISTS (SELECT * FROM my.insured i WHERE i.credit_code = e.credit_code "
        "AND i.month <> e.founded) "
        "AND NOT EXISTS (SELECT 1 FROM lite.recipient r WHERE r.person_id = e.credit_code)",
        view,
    )
    residual = plan.residual_sql or ""
    assert "NOT EXISTS" in residual and residual.count("EXISTS") == 2
    assert "ARRAY_AGG" not in residual.upper() and "LIST_FILTER" not in residual.upper()
    insured = next(f for f in plan.fragments if f.source == "my")
    assert "headcount" not in (insured.sql() or "")  # SELECT * in EXISTS fetches no column


def test_joined_ctes_that_send_keys_are_computed_once(view):
    # The largest total and the rows that reach it are joined locally to find the keys to
    # send; the residual then reads that join instead of computing the CTEs again.
    plan = plan_query(
        "WITH totals AS (SELECT credit_code, sum(total_tax) AS tax FROM files.filings "
        "GROUP BY credit_code) "
        "SELECT e.name, t.tax FROM pg.enterprise e JOIN totals t ON t.credit_code = e.credit_code "
        "WHERE t.tax = (SELECT max(tax) FROM totals)",
        view,
    )
    (local,) = [f for f in plan.fragments if f.is_local]
    pg = next(f for f in plan.fragments if f.source == "pg")
    assert [d.from_fragment for d in pg.dynamic_filters] == [local.id]
    residual = plan.residual_sql or ""
    assert local.relation in residual
    assert "MAX(" not in residual.split("SELECT", 3)[-1].upper()


# A PostgreSQL table large enough to be fetched in slices.
FILING_LOG = table(
    "pg", "postgresql", "public", "filing_log", 3_000_000, credit_code="string", n="int64"
)


def test_large_postgres_scans_and_joins_are_fetched_in_slices(view):
    view.add(FILING_LOG)
    plan = plan_query(
        "SELECT e.name, sum(l.n) FROM pg.enterprise e JOIN pg.filing_log l "
        "ON l.credit_code = e.credit_code JOIN my.insured i ON i.credit_code = e.credit_code "
        "GROUP BY e.name",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    assert (pg.parts, pg.part_table) == (2, ("l", "public", "filing_log"))
    first, second = pg.sql(part=0) or "", pg.sql(part=1) or ""
    assert '"l"."ctid" <' in first and '"l"."ctid" >=' not in first
    assert '"l"."ctid" >=' in second and '"l"."ctid" <' not in second
    assert 'CAST(\'"public"."filing_log"\' AS REGCLASS)' in first
    assert "ctid" not in (pg.sql() or "") and "2 slices of l" in plan.explain()
    assert plan.to_dict()["fragments"][0]["parts"] == {"count": 2, "table": "l"}


@pytest.mark.parametrize(
    "sql",
    [
        # small tables, an aggregate the source computes, a fragment that is the answer
        "SELECT e.name FROM pg.enterprise e JOIN my.insured i ON i.credit_code = e.credit_code",
        "SELECT l.credit_code, count(*) FROM pg.filing_log l GROUP BY l.credit_code",
        "SELECT l.credit_code FROM pg.filing_log l WHERE l.n > 3",
    ],
)
def test_fetches_that_are_not_sliced(view, sql):
    view.add(FILING_LOG)
    plan = plan_query(sql, view)
    assert all(f.parts == 1 for f in plan.fragments)


def test_views_are_not_sliced(view):
    from dataclasses import replace

    view.add(replace(FILING_LOG, table_kind="view"))  # a view has no heap blocks to slice
    plan = plan_query(
        "SELECT e.name FROM pg.filing_log l JOIN my.insured i ON i.credit_code = l.credit_code "
        "JOIN pg.enterprise e ON e.credit_code = l.credit_code",
        view,
    )
    assert all(f.parts == 1 for f in plan.fragments)


def test_a_subquery_grouped_by_the_join_key_gets_the_keys_of_its_query(view):
    # Decorrelated, the subquery is grouped by credit_code and joined on it: only the
    # groups of the enterprises kept are needed, so their keys filter its scan too.
    plan = plan_query(
        "SELECT e.name, i.headcount FROM pg.enterprise e JOIN my.insured i "
        "ON i.credit_code = e.credit_code WHERE e.capital > 1000000 AND i.headcount = "
        "(SELECT max(i2.headcount) FROM my.insured i2 WHERE i2.credit_code = e.credit_code)",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    reads = [f for f in plan.fragments if f.source == "my"]
    assert len(reads) == 2
    for read in reads:
        assert [(d.column.split(".")[-1], d.from_fragment) for d in read.dynamic_filters] == [
            ("credit_code", pg.id)
        ]


def test_a_cte_of_one_filtered_table_is_read_by_each_reader(view):
    plan = plan_query(
        "WITH ins AS (SELECT credit_code, headcount FROM my.insured WHERE headcount > 5) "
        "SELECT e.name FROM pg.enterprise e JOIN ins ON ins.credit_code = e.credit_code "
        "WHERE e.capital > 1000000 AND ins.headcount = "
        "(SELECT max(headcount) FROM ins i2 WHERE i2.credit_code = e.credit_code)",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    reads = [f for f in plan.fragments if f.source == "my"]
    assert len(reads) == 2
    for read in reads:
        assert "`headcount` > 5" in (read.sql() or "")
        assert [d.from_fragment for d in read.dynamic_filters] == [pg.id]


def test_mysql_does_not_join_a_large_table_itself(view):
    # MariaDB joins by one index lookup per row of the large side: the large table is
    # fetched apart, restricted to the small side's keys, and joined locally.
    view.add(
        table(
            "my",
            "mysql",
            "hrss",
            "unit",
            500,
            unit_id="int64",
            credit_code="string",
            unit_kind="string",
        )
    )
    view.add(table("my", "mysql", "hrss", "branch", 900, unit_id="int64", city="string"))
    plan = plan_query(
        "SELECT i.month FROM my.insured i JOIN my.unit u ON u.unit_id = i.headcount "
        "JOIN pg.district d ON d.district_code = u.unit_kind WHERE d.name LIKE '鼓楼%'",
        view,
    )
    insured = next(f for f in plan.fragments if "my.hrss.insured" in f.tables)
    assert insured.tables == ["my.hrss.insured"]
    assert [d.column for d in insured.dynamic_filters] == ["i.headcount"]
    plan = plan_query(
        "SELECT b.city FROM my.branch b JOIN my.unit u ON u.unit_id = b.unit_id "
        "JOIN pg.district d ON d.district_code = u.unit_kind",
        view,
    )
    joined = next(f for f in plan.fragments if f.source == "my")
    assert sorted(joined.tables) == ["my.hrss.branch", "my.hrss.unit"] and "join" in joined.pushed


def test_a_cte_read_on_the_null_supplying_side_keeps_its_filter_inside(view):
    # Put back as the table, its filter would land in the WHERE and drop the rows the
    # RIGHT JOIN supplies with nulls.
    plan = plan_query(
        "WITH ins AS (SELECT credit_code, headcount FROM my.insured WHERE headcount > 5) "
        "SELECT e.name, ins.headcount FROM ins RIGHT JOIN pg.enterprise e "
        "ON e.credit_code = ins.credit_code",
        view,
    )
    residual = plan.residual_sql or ""
    assert "RIGHT JOIN" in residual and "WHERE" not in residual.split("RIGHT JOIN")[-1]


def test_a_grouped_cte_read_twice_keeps_every_group(view):
    # The join needs the groups of the enterprises kept; the count needs them all.
    plan = plan_query(
        "WITH t AS (SELECT credit_code, max(headcount) AS m FROM my.insured GROUP BY credit_code) "
        "SELECT e.name, t.m, (SELECT count(*) FROM t) AS n FROM pg.enterprise e "
        "JOIN t ON t.credit_code = e.credit_code WHERE e.capital > 1000000",
        view,
    )
    insured = [f for f in plan.fragments if f.source == "my"]
    assert insured and all(not f.dynamic_filters for f in insured)


@pytest.mark.parametrize("distinct, filtered", [(20, False), (5_000, True)])
def test_keys_for_every_value_of_the_column_are_not_sent(view, distinct, filtered):
    # About 20 towns kept: their keys name every value of a column with 20 distinct values.
    from dataclasses import replace

    from guajie.federation import ColumnInfo

    big = view.get("pg.public.enterprise")
    columns = tuple(
        ColumnInfo(c.name, c.arrow_type, distinct_count=distinct if c.name == "name" else None)
        for c in big.columns
    )
    view.add(replace(big, columns=columns))
    view.add(table("lite", "sqlite", "main", "town", 200, town="string", label="string"))
    plan = plan_query(
        "SELECT e.credit_code, t.label FROM pg.enterprise e JOIN lite.town t ON t.town = e.name "
        "WHERE t.label LIKE 'a%'",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    assert bool(pg.dynamic_filters) is filtered


def test_a_whole_tables_keys_are_not_sent(view):
    # Every recipient's key: they would remove only the rows that match no recipient.
    sql = (
        "SELECT e.name, r.name AS person FROM pg.enterprise e "
        "JOIN lite.recipient r ON r.person_id = e.credit_code"
    )
    whole = plan_query(sql, view)
    assert not any(f.dynamic_filters for f in whole.fragments if f.source == "pg")
    filtered = plan_query(sql + " WHERE r.birth < DATE '1940-01-01'", view)
    pg = next(f for f in filtered.fragments if f.source == "pg")
    assert [d.column for d in pg.dynamic_filters] == ["e.credit_code"]


def test_a_left_joins_on_filter_runs_once_in_its_source(view):
    plan = plan_query(
        "SELECT r.name, e.name AS enterprise FROM lite.recipient r "
        "LEFT JOIN pg.enterprise e ON e.credit_code = r.person_id AND e.capital > 1000",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    assert '"e"."capital" > 1000' in (pg.sql() or "") and '"capital"' not in pg.output_types
    residual = plan.residual_sql or ""
    assert "LEFT JOIN" in residual and "capital" not in residual
    # MariaDB compares strings without case: its superset is checked again locally.
    plan = plan_query(
        "SELECT r.name, i.headcount FROM lite.recipient r "
        "LEFT JOIN my.insured i ON i.credit_code = r.person_id AND i.credit_code = 'x'",
        view,
    )
    assert "= 'x'" in (plan.residual_sql or "")


def test_a_column_only_a_filter_reads_is_not_fetched(view):
    # sqlglot puts the ON filter into a CTE of the null-supplying table, which then no
    # longer needs to select the column its own filter reads.
    plan = plan_query(
        "SELECT r.name, count(e.credit_code) AS n FROM lite.recipient r "
        "LEFT JOIN pg.enterprise e ON e.credit_code = r.person_id "
        "AND e.name NOT LIKE '%清算%' GROUP BY r.name",
        view,
    )
    pg = next(f for f in plan.fragments if f.source == "pg")
    assert "NOT" in (pg.sql() or "") and "name" not in pg.output_types, plan.explain()


@pytest.mark.parametrize("condition, sent", [("e.capital > 1000", False), ("e.name = 'x'", True)])
def test_sqlite_gets_keys_only_for_a_small_share_of_its_rows(view, condition, sent):
    # A local file scans fast and checks a long IN list row by row: about 30,000 keys
    # for 100,000 rows cost more than they save, 10,000 do not.
    view.add(table("lite", "sqlite", "main", "permit", 100_000, holder="string", sort="string"))
    plan = plan_query(
        "SELECT p.sort FROM lite.permit p JOIN pg.enterprise e ON e.credit_code = p.holder "
        f"WHERE {condition}",
        view,
    )
    lite = next(f for f in plan.fragments if f.source == "lite")
    assert bool(lite.dynamic_filters) is sent, plan.explain()


def test_a_trino_function_sqlglot_does_not_model_is_never_pushed(view):
    # No source is known to mean url_extract_host: the local engine computes it.
    plan = plan_query(
        "SELECT url_extract_host(name) AS host FROM pg.enterprise WHERE capital > 10", view
    )
    (fragment,) = plan.fragments
    assert "url_extract_host" not in (fragment.sql() or "").lower()
    assert "capital" in (fragment.sql() or "")  # the filter still goes to the source
    assert "url_extract_host" in (plan.residual_sql or "").lower()


def test_fragments_name_the_columns_the_catalog_declares_not_null():
    """A fetch may take another way for columns that never hold NULL (PostgreSQL packs
    them): table and same-source join fragments list them; computed columns are not."""
    v = CatalogView(source_kinds={"pg": "postgresql", "files": "file"})
    for name, rows in (("orders", 1_500_000), ("customer", 150_000)):
        columns = (
            ColumnInfo(f"{name[0]}_key", "int64", nullable=False),
            ColumnInfo(f"{name[0]}_day", "date32[day]", nullable=False),
            ColumnInfo(f"{name[0]}_note", "string"),
        )
        v.add(
            TableInfo(
                source="pg",
                schema="public",
                name=name,
                kind="postgresql",
                row_count=rows,
                columns=columns,
            )
        )
    v.add(table("files", "file", "default", "items", 6_000_000, i_key="int64", qty="int32"))
    plan = plan_query(
        "SELECT o_key, o_day, o_note, sum(qty) FROM pg.orders JOIN files.items ON i_key = o_key "
        "GROUP BY o_key, o_day, o_note",
        v,
    )
    (orders,) = [f for f in plan.fragments if f.source == "pg"]
    assert orders.not_null == ["o_day", "o_key"]
    plan = plan_query(
        "SELECT o_key, c_day, o_note, c_note, qty FROM pg.orders JOIN pg.customer "
        "ON c_key = o_key JOIN files.items ON i_key = o_key",
        v,
    )
    (joined,) = [f for f in plan.fragments if f.source == "pg"]
    assert "join" in joined.pushed
    assert sorted(joined.not_null) == ["customer__c_day", "orders__o_key"]
