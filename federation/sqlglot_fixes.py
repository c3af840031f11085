"""Corrections to sqlglot behaviour that would change a query's answer.

Each one is applied once, when the federation package is imported, and is pinned by a test
in ``tests/test_sqlglot_fixes.py`` that fails without it.
"""

from __future__ import annotations

import functools

from sqlglot import exp
from sqlglot.optimizer.simplify import Simplifier, extract_date

_STRICT = (exp.LT, exp.GT)


def _bound(node: exp.Expr) -> object:
    """A comparison's constant as a value that compares like the constant (None if unknown)."""
    if node.is_number:
        return node.to_py()
    if node.is_string:
        return node.name
    return extract_date(node)


def _same_bound_one_strict(left: exp.Expr, right: exp.Expr) -> tuple[exp.Expr, exp.Expr] | None:
    """``(strict, inclusive)`` when ``left`` and ``right`` bound the same expression from the
    same side by the same value, one with ``<``/``>`` and the other with ``<=``/``>=``."""
    same_side = (isinstance(left, Simplifier.LT_LTE) and isinstance(right, Simplifier.LT_LTE)) or (
        isinstance(left, Simplifier.GT_GTE) and isinstance(right, Simplifier.GT_GTE)
    )
    if not same_side or type(left) is type(right):
        return None
    if left.this == right.this:
        shared, low, high = left.this, left.expression, right.expression
    elif left.expression == right.expression:
        shared, low, high = left.expression, left.this, right.this
    else:
        return None
    if shared.find(*Simplifier.NONDETERMINISTIC) or shared.is_number or shared.is_string:
        return None
    if low != high:
        value = _bound(low)
        if value is None or value != _bound(high):
            return None
    return (left, right) if isinstance(left, _STRICT) else (right, left)


def _fix_equal_bounds_of_mixed_strictness() -> None:
    """sqlglot 30.30 merges ``x >= 5 OR x > 5`` into whichever operand came second, so
    ``x >= 5 OR x > 5`` became ``x > 5`` and the rows where x = 5 were lost (and ``x > 5 AND
    x >= 5`` became ``x >= 5``). The order of the operands depends on how identifiers are
    quoted, so the wrong answer came from some spellings of a query only. With equal bounds
    OR keeps the inclusive comparison and AND the strict one."""
    original = Simplifier._simplify_comparison
    if getattr(original, "guajie_fixed", False):
        return

    @functools.wraps(original)
    def simplify_comparison(self, expression, left, right, or_=False):  # type: ignore[no-untyped-def]
        pair = _same_bound_one_strict(left, right)
        if pair is not None:
            strict, inclusive = pair
            return inclusive if or_ else strict
        return original(self, expression, left, right, or_)

    simplify_comparison.guajie_fixed = True  # type: ignore[attr-defined]
    Simplifier._simplify_comparison = simplify_comparison  # type: ignore[method-assign]


def apply() -> None:
    _fix_equal_bounds_of_mixed_strictness()
