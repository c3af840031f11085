"""How many rows filters keep, from the catalog's crawled column statistics.

Equality keeps one distinct value's share; a range on a column whose crawled minimum and
maximum are known keeps the share of that span it covers (both bounds on one column count
once, as one interval); anything else gets a fixed guess.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlglot import exp

from .catalog_view import ColumnInfo

ColumnLookup = Callable[[exp.Column], ColumnInfo | None]

EQUALITY_GUESS = 0.1
LIKE_GUESS = 0.1
OTHER_GUESS = 0.3
IN_SHARE_PER_VALUE = 0.05
MIN_SELECTIVITY = 1e-6

_LOWER: dict[type[exp.Expr], bool] = {exp.GT: True, exp.GTE: True, exp.LT: False, exp.LTE: False}


def selectivity(conjuncts: list[exp.Expr], column_of: ColumnLookup | None = None) -> float:
    """The share of rows that all of ``conjuncts`` keep (each a condition of a WHERE)."""
    s, rest = _ranges(conjuncts, column_of)
    for c in rest:
        if isinstance(c, exp.EQ):
            info = _column_info(c, column_of)
            s *= 1 / info.distinct_count if info and info.distinct_count else EQUALITY_GUESS
        elif isinstance(c, exp.In):
            s *= min(1.0, IN_SHARE_PER_VALUE * len(c.expressions or [1]))
        elif isinstance(c, exp.Like):
            s *= 1 - LIKE_GUESS if c.args.get("negate") else LIKE_GUESS
        elif isinstance(c, exp.Not) and not isinstance(c.this, exp.Is):
            s *= max(0.0, 1 - selectivity([c.this], column_of))
        else:
            s *= OTHER_GUESS
    return max(s, MIN_SELECTIVITY)


def _ranges(
    conjuncts: list[exp.Expr], column_of: ColumnLookup | None
) -> tuple[float, list[exp.Expr]]:
    """The share kept by range conditions on columns of known span, and the other
    conditions."""
    bounds: dict[str, list[float | None]] = {}  # column -> [low, high, min, max]
    rest = []
    for c in conjuncts:
        found = _range(c, column_of)
        if found is None:
            rest.append(c)
            continue
        key, low, high, lo_span, hi_span = found
        b = bounds.setdefault(key, [None, None, lo_span, hi_span])
        if low is not None:
            b[0] = low if b[0] is None else max(b[0], low)
        if high is not None:
            b[1] = high if b[1] is None else min(b[1], high)
    s = 1.0
    for first, last, smallest, largest in bounds.values():
        assert smallest is not None and largest is not None
        start = smallest if first is None else max(first, smallest)
        end = largest if last is None else min(last, largest)
        s *= max(0.0, end - start) / (largest - smallest)
    return s, rest


def _range(
    c: exp.Expr, column_of: ColumnLookup | None
) -> tuple[str, float | None, float | None, float, float] | None:
    """(column, low, high, its minimum, its maximum) for a range condition on a column
    whose crawled span is known, as numbers."""
    if column_of is None:
        return None
    if isinstance(c, exp.Between) and isinstance(c.this, exp.Column):
        column, low, high = c.this, _number(c.args.get("low")), _number(c.args.get("high"))
        if low is None or high is None:
            return None
    elif type(c) in _LOWER:
        left, right = c.args.get("this"), c.args.get("expression")
        is_lower = _LOWER[type(c)]
        if isinstance(left, exp.Column):
            column, value = left, _number(right)
        elif isinstance(right, exp.Column):
            column, value, is_lower = right, _number(left), not is_lower
        else:
            return None
        if value is None:
            return None
        low, high = (value, None) if is_lower else (None, value)
    else:
        return None
    info = column_of(column)
    if info is None or info.min is None or info.max is None:
        return None
    lo_span, hi_span = _number(info.min), _number(info.max)
    if lo_span is None or hi_span is None or hi_span <= lo_span:
        return None
    return f"{column.table}.{column.name}", low, high, lo_span, hi_span


def _number(value: object) -> float | None:
    """A literal, a cast date literal, or a crawled minimum or maximum, as a number that
    orders like the value (dates as day numbers)."""
    if isinstance(value, exp.Cast):
        value = value.this
    if isinstance(value, exp.Literal):
        value = value.this
    if not isinstance(value, str):
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return float(dt.date.fromisoformat(value[:10]).toordinal())
    except ValueError:
        return None


def _column_info(c: exp.Expr, column_of: ColumnLookup | None) -> ColumnInfo | None:
    col = c.find(exp.Column)
    return column_of(col) if column_of is not None and col is not None else None
