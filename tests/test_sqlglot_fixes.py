"""sqlglot's simplifier keeps a condition's meaning where 30.30 did not (see
``federation/sqlglot_fixes.py``). Each condition and its simplified form are evaluated by
DuckDB over values below, at and above the bound, and NULL."""

from __future__ import annotations

import itertools

import duckdb
import pytest
import sqlglot
from sqlglot.optimizer.simplify import simplify

import guajie.federation  # noqa: F401  (applies the fixes)

_BOUNDS = [("x", "5"), ('"x"', "5"), ("x", "DATE '2024-03-01'"), ('"x"', "'m'")]
_VALUES = {
    "5": ["4", "5", "6", "NULL"],
    "DATE '2024-03-01'": ["DATE '2024-02-29'", "DATE '2024-03-01'", "DATE '2024-03-02'", "NULL"],
    "'m'": ["'l'", "'m'", "'n'", "NULL"],
}


def _conditions() -> list[tuple[str, str]]:
    out = []
    for (column, bound), (op1, op2), connector in itertools.product(
        _BOUNDS, [("<", "<="), (">", ">="), ("<=", "<"), (">=", ">")], ["OR", "AND"]
    ):
        out.append((f"{column} {op1} {bound} {connector} {column} {op2} {bound}", bound))
        out.append((f"{bound} {op1} {column} {connector} {bound} {op2} {column}", bound))
    for column in ("x", '"x"'):
        out.append((f"NOT {column} < 5 OR NOT {column} BETWEEN 5 AND 5", "5"))
        out.append((f"{column} >= 5 OR ({column} < 5 OR {column} > 5)", "5"))
        out.append((f"{column} > 5 AND y AND {column} >= 5", "5"))
    return out


@pytest.mark.parametrize(("condition", "bound"), _conditions())
def test_simplified_conditions_keep_their_meaning(condition, bound):
    simplified = simplify(sqlglot.parse_one(condition)).sql()
    con = duckdb.connect()
    for value, y in itertools.product(_VALUES[bound], ["TRUE", "FALSE", "NULL"]):
        row = con.execute(
            f"SELECT ({condition}) IS NOT DISTINCT FROM ({simplified}) "
            f"FROM (SELECT {value} AS x, {y} AS y)"
        ).fetchone()
        assert row == (True,), f"{condition} -> {simplified} differs at x = {value}"
