"""Trino's exact numerics (``federation/decimals.py``): result types, and quotients the
local engine computes, checked against Python's ``decimal`` rounding half away from zero."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

import duckdb
import pytest
import sqlglot
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from guajie.federation.decimals import Exact, decimal_quotient, exact_type
from guajie.federation.dialects import transform_bottom_up, trino_meaning_in_duckdb


def _expr(sql: str) -> sqlglot.exp.Expr:
    return sqlglot.parse_one(f"SELECT {sql}", read="trino").selects[0]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # Types as this Trino reports them with typeof().
        ("DECIMAL '80.75' / 3", Exact(4, 2)),
        ("DECIMAL '80.75' / DECIMAL '3.0000'", Exact(10, 4)),
        ("3 / DECIMAL '7.00'", Exact(14, 2)),
        ("CAST(3 AS BIGINT) / DECIMAL '7.00'", Exact(23, 2)),
        ("DECIMAL '1' / DECIMAL '0.003'", Exact(7, 3)),
        ("100.00 * DECIMAL '5.1234' / DECIMAL '7.1234'", Exact(14, 6)),
        ("CAST(1 AS DECIMAL(38,10)) / CAST(3 AS DECIMAL(38,10))", Exact(38, 10)),
        ("DECIMAL '1.5' * DECIMAL '1.25'", Exact(5, 3)),
        ("2 * 1.5", Exact(12, 1)),
        ("DECIMAL '0.05'", Exact(2, 2)),
        ("avg(CAST(x AS DECIMAL(15,2)))", Exact(15, 2)),
        ("sum(CAST(x AS DECIMAL(15,2)))", Exact(38, 2)),
        # A CASE is typed as the common supertype of its branches (TPC-H Q14's promo share).
        ("CASE WHEN y THEN CAST(x AS DECIMAL(15,2)) ELSE 0 END", Exact(15, 2)),
        ("coalesce(CAST(x AS DECIMAL(15,4)), DECIMAL '12345678901234.5')", Exact(18, 4)),
        (
            "100.00 * sum(CASE WHEN y THEN CAST(x AS DECIMAL(15,2)) * (1 - CAST(z AS "
            "DECIMAL(15,2))) ELSE 0 END) / sum(CAST(x AS DECIMAL(15,2)))",
            Exact(38, 6),
        ),
    ],
)
def test_exact_types_are_trinos(sql, expected):
    assert exact_type(_expr(sql)) == expected


@pytest.mark.parametrize("sql", ["DECIMAL '80.75' / 3e0", "7 / 2", "avg(CAST(x AS INTEGER))"])
def test_only_decimal_quotients_are_decimal_quotients(sql):
    assert decimal_quotient(_expr(sql)) is None


def _decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    return st.decimals(
        min_value=-(10 ** (precision - scale)) + 1,
        max_value=10 ** (precision - scale) - 1,
        places=scale,
        allow_nan=False,
        allow_infinity=False,
    )


@st.composite
def quotients(draw: st.DrawFn) -> tuple[str, Decimal, Decimal, int, int]:
    p1, p2 = draw(st.integers(1, 18)), draw(st.integers(1, 18))
    s1, s2 = draw(st.integers(0, p1)), draw(st.integers(0, p2))
    a = draw(_decimals(p1, s1))
    b = draw(_decimals(p2, s2).filter(lambda v: v != 0))
    sql = f"CAST('{a}' AS DECIMAL({p1},{s1})) / CAST('{b}' AS DECIMAL({p2},{s2}))"
    return sql, a, b, s1, s2


@settings(max_examples=300, deadline=None)
@given(quotients())
def test_local_quotients_round_half_away_from_zero(case):
    sql, a, b, s1, s2 = case
    scale = max(s1, s2)
    with localcontext() as ctx:
        ctx.prec = 80
        expected = (a / b).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    assume(abs(expected) < Decimal(10) ** (38 - scale))  # else Trino fails: decimal overflow
    # 128-bit integers hold the dividend scaled to the quotient's digits, or DuckDB reports
    # an overflow (Trino computes these with 256 bits).
    assume(abs(a) * Decimal(10) ** (scale + s2 + 1) < Decimal(2) ** 126)
    local = transform_bottom_up(_expr(sql), trino_meaning_in_duckdb).sql(dialect="duckdb")
    [(got,)] = duckdb.sql(f"SELECT {local}").fetchall()
    assert got == expected, (sql, local)


def test_a_local_division_by_zero_fails_and_null_stays_null():
    def local(sql: str) -> str:
        return transform_bottom_up(_expr(sql), trino_meaning_in_duckdb).sql(dialect="duckdb")

    with pytest.raises(duckdb.Error, match="Division by zero"):
        duckdb.sql(f"SELECT {local('DECIMAL ' + repr('1.50') + ' / 0')}").fetchall()
    assert duckdb.sql(f"SELECT {local('CAST(NULL AS DECIMAL(5,2)) / 0')}").fetchall() == [(None,)]


def test_averages_local_and_over_windows_round_half_away_from_zero():
    rows = [("a", "1.15"), ("a", "1.20"), ("b", "-1.15"), ("b", "-1.20"), ("c", None)]
    values = ", ".join(f"('{g}', {'NULL' if d is None else repr(d)})" for g, d in rows)
    sql = (
        "SELECT g, avg(CAST(d AS DECIMAL(15,2))) OVER (PARTITION BY g) AS w "
        f"FROM (VALUES {values}) AS v(g, d)"
    )
    tree = sqlglot.parse_one(sql, read="trino")
    local = transform_bottom_up(tree, trino_meaning_in_duckdb).sql(dialect="duckdb")
    got = sorted(duckdb.sql(local).fetchall())
    assert got == [
        ("a", Decimal("1.18")),
        ("a", Decimal("1.18")),
        ("b", Decimal("-1.18")),
        ("b", Decimal("-1.18")),
        ("c", None),
    ]


def test_postgresql_rounds_an_average_over_a_window_with_its_window():
    from guajie.federation.dialects import dialect_for

    sql = "SELECT avg(CAST(d AS DECIMAL(15,2))) OVER (PARTITION BY g) AS w FROM t"
    tree = sqlglot.parse_one(sql, read="trino")
    pushed = dialect_for("postgresql").prepare(tree).sql(dialect="postgres")
    assert "ROUND(CAST(AVG(CAST(d AS DECIMAL(15, 2))) OVER (PARTITION BY g) AS DECIMAL), 2)" in (
        pushed
    ), pushed
