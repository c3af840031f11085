"""Row estimates from crawled statistics: what the planner sizes fragments and keys by."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot
from sqlglot import exp

from guajie.federation import ColumnInfo
from guajie.federation.estimates import EQUALITY_GUESS, OTHER_GUESS, selectivity

COLUMNS = {
    "shipped": ColumnInfo("shipped", "date32[day]", min="1992-01-02", max="1998-12-01"),
    "qty": ColumnInfo("qty", "decimal128(15, 2)", min="1.00", max="50.00", distinct_count=50),
    "mode": ColumnInfo("mode", "string", min="AIR", max="TRUCK", distinct_count=7),
    "note": ColumnInfo("note", "string"),
}


def conjuncts(where: str) -> list[exp.Expr]:
    tree = sqlglot.parse_one(f"SELECT 1 FROM t WHERE {where}", read="trino")
    condition = tree.args["where"].this
    return list(condition.flatten()) if isinstance(condition, exp.And) else [condition]


def estimate(where: str) -> float:
    return selectivity(conjuncts(where), lambda column: COLUMNS.get(column.name))


def days(start: str, end: str) -> int:
    return (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days


SPAN = days("1992-01-02", "1998-12-01")


@pytest.mark.parametrize(
    "where, expected",
    [
        # Both bounds on one column: one interval, a year of the span.
        (
            "shipped >= DATE '1995-01-01' AND shipped < DATE '1996-01-01'",
            days("1995-01-01", "1996-01-01") / SPAN,
        ),
        ("shipped BETWEEN DATE '1995-01-01' AND DATE '1996-01-01'", 365 / SPAN),
        ("DATE '1998-01-01' < shipped", days("1998-01-01", "1998-12-01") / SPAN),
        ("qty < 25.5", (25.5 - 1) / 49),
        ("qty > 100", 0.0 + 1e-6),  # nothing of the span: the floor
        ("shipped < DATE '2030-01-01'", 1.0),  # all of it
        ("qty = 3", 1 / 50),
        ("mode > 'M'", OTHER_GUESS),  # text spans are not measured
        ("note < 'x' AND note > 'a'", OTHER_GUESS**2),  # no span crawled
        ("note = 'x'", EQUALITY_GUESS),
        ("note NOT LIKE '%x%'", 0.9),
        ("qty < 25.5 AND mode = 'AIR'", (24.5 / 49) / 7),
    ],
)
def test_selectivity(where, expected):
    assert estimate(where) == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_without_statistics_every_range_is_a_guess():
    assert selectivity(conjuncts("qty < 25 AND qty > 5")) == pytest.approx(OTHER_GUESS**2)
