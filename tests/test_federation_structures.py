"""Random subqueries, set operations, windows and CTEs over the sample city give the
reference engine's answer.

The third generator beside ``test_federation_properties`` (joins, grouping, filters) and
``test_federation_expressions`` (scalar functions): it writes the shapes a scenario uses to
combine two departments' data — ``IN`` / ``NOT IN`` / ``EXISTS`` subqueries (NULLs
included), ``UNION`` / ``EXCEPT`` / ``INTERSECT``, window functions, a grouped CTE joined
back, a scalar subquery — over the pairs of datasets that share a key. Each runs through
guajie and, transpiled from Trino, on the reference DuckDB holding the same data.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import test_federation_properties as props

embedded = props.embedded
on_servers = props.on_servers
reference = props.reference
city_columns = props.city_columns
Ref = props.Ref


def _cols(columns: dict[str, list[props.ColumnSpec]], table: str, alias: str) -> list[Ref]:
    return [Ref(alias, c) for c in columns[table] if c.filterable]


def _maybe_where(draw: st.DrawFn, refs: list[Ref], joiner: str = "WHERE") -> str:
    return f" {joiner} {draw(props.conditions(refs))}" if draw(st.booleans()) else ""


@st.composite
def structure_queries(draw: st.DrawFn, columns: dict[str, list[props.ColumnSpec]]) -> str:
    join = draw(st.sampled_from(props.JOINS))
    a_refs = _cols(columns, join.left, "a")
    b_refs = _cols(columns, join.right, "b")
    lk, rk = f'a."{join.left_column}"', f'b."{join.right_column}"'
    picked = draw(st.lists(st.sampled_from(a_refs), min_size=1, max_size=3, unique=True))
    selects = ", ".join(f"{r.sql} AS {r.out}" for r in picked)
    form = draw(st.sampled_from(["in", "exists", "setop", "window", "cte", "scalar"]))
    if form == "in":
        negate = draw(st.sampled_from(["", "NOT "]))
        sub = f"SELECT {rk} FROM {join.right} AS b{_maybe_where(draw, b_refs)}"
        return f"SELECT {selects} FROM {join.left} AS a WHERE {lk} {negate}IN ({sub})"
    if form == "exists":
        negate = draw(st.sampled_from(["", "NOT "]))
        extra = _maybe_where(draw, b_refs, "AND")
        sub = f"SELECT 1 FROM {join.right} AS b WHERE {rk} = {lk}{extra}"
        return f"SELECT {selects} FROM {join.left} AS a WHERE {negate}EXISTS ({sub})"
    if form == "setop":
        op = draw(st.sampled_from(["UNION", "UNION ALL", "EXCEPT", "INTERSECT"]))
        left = f"SELECT {lk} AS k FROM {join.left} AS a{_maybe_where(draw, a_refs)}"
        right = f"SELECT {rk} AS k FROM {join.right} AS b{_maybe_where(draw, b_refs)}"
        return f"{left} {op} {right}"
    if form == "window":
        part = draw(st.sampled_from(a_refs))
        numeric = [r for r in a_refs if r.column.numeric]
        order = draw(st.sampled_from(a_refs))
        functions = ["count(*)", f"count({order.sql})"]
        functions += [f"rank() OVER (PARTITION BY {part.sql} ORDER BY {order.sql})"]
        if numeric:
            functions += [f"sum({draw(st.sampled_from(numeric)).sql})"]
            functions += [f"max({draw(st.sampled_from(numeric)).sql})"]
        fn = draw(st.sampled_from(functions))
        window = fn if " OVER " in fn else f"{fn} OVER (PARTITION BY {part.sql})"
        where = _maybe_where(draw, a_refs)
        return f"SELECT {selects}, {window} AS w FROM {join.left} AS a{where}"
    if form == "cte":
        numeric = [r for r in b_refs if r.column.numeric]
        total = f", sum({draw(st.sampled_from(numeric)).sql}) AS s" if numeric else ""
        side = draw(st.sampled_from(["JOIN", "LEFT JOIN"]))
        cte = (
            f"WITH g AS (SELECT {rk} AS k, count(*) AS n{total} FROM {join.right} AS b"
            f"{_maybe_where(draw, b_refs)} GROUP BY {rk})"
        )
        tail = f" FROM {join.left} AS a {side} g ON {lk} = g.k"
        return f"{cte} SELECT {selects}, g.n{', g.s' if total else ''}{tail}"
    numeric = [r for r in a_refs if r.column.numeric]
    if not numeric:
        return f"SELECT {selects} FROM {join.left} AS a WHERE {lk} IS NOT NULL"
    value = draw(st.sampled_from(numeric))
    # Trino rounds avg() of a decimal to its scale, which the reference engine does not: a
    # value equal to the rounded average would compare differently (pinned in test_trino).
    fn = draw(st.sampled_from(["min", "max"] + (["avg"] if value.column.kind != "decimal" else [])))
    sub = f"SELECT {fn}({value.sql.replace('a.', 'x.', 1)}) FROM {join.left} AS x"
    return f"SELECT {selects} FROM {join.left} AS a WHERE {value.sql} >= ({sub})"


@settings(max_examples=60, **props.COMMON)
@given(data=st.data())
def test_random_structures_match_the_reference_embedded(embedded, reference, city_columns, data):
    props.check_sql(embedded, reference, data.draw(structure_queries(city_columns), label="query"))


@pytest.mark.servers
@settings(max_examples=30, **props.COMMON)
@given(data=st.data())
def test_random_structures_match_the_reference_on_servers(
    on_servers, reference, city_columns, data
):
    props.check_sql(
        on_servers, reference, data.draw(structure_queries(city_columns), label="query")
    )
