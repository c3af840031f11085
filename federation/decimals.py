"""Trino's exact numerics: the decimal type of an expression, and division and average
computed to that type.

In Trino ``DECIMAL '80.75' / 3`` is ``26.92``, a ``decimal(4,2)``, and ``avg`` of a
``decimal(15,2)`` is a ``decimal(15,2)``: the quotient is rounded half away from zero to the
larger of the operands' scales. DuckDB divides decimals as doubles (26.916666...), and each
source has a rule of its own (PostgreSQL keeps at least 16 digits, MySQL four more than the
dividend). The local engine computes the quotient in 128-bit integers instead, and a pushed
division or average is rounded by the source to Trino's scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

MAX_PRECISION = 38
_EXACT = "trino_exact_type"  # meta key: the type of an expression this module rewrote
_INTEGER_PRECISION = {
    exp.DataType.Type.TINYINT: 3,
    exp.DataType.Type.SMALLINT: 5,
    exp.DataType.Type.INT: 10,
    exp.DataType.Type.BIGINT: 19,
}


@dataclass(frozen=True)
class Exact:
    """An exact numeric type as Trino types it: a decimal, or an integer (scale 0)."""

    precision: int
    scale: int
    decimal: bool = True

    def sql_type(self) -> exp.DataType:
        return _decimal(self.precision, self.scale)


def _literal(node: exp.Literal) -> Exact | None:
    text = node.name.lstrip("+-")
    if "." not in text and text.isdigit():
        return Exact(10 if int(text) < 2**31 else 19, 0, decimal=False)
    return _digits(text)


def _digits(text: str) -> Exact | None:
    """The decimal type of a number written out: 80.75 is a decimal(4,2), 0.05 one (2,2)."""
    text = text.strip().lstrip("+-")
    whole, _, fraction = text.partition(".")
    if not (whole + fraction).isdigit():
        return None  # 2.5e0 is a double
    digits = len(whole.lstrip("0")) + len(fraction)
    return Exact(max(digits, 1), len(fraction))


def _of_type(t: exp.DataType | None, unparameterized: Exact | None = None) -> Exact | None:
    if t is None:
        return None
    if t.this in _INTEGER_PRECISION:
        return Exact(_INTEGER_PRECISION[t.this], 0, decimal=False)
    if t.this == exp.DataType.Type.DECIMAL:
        params = [p.name for p in t.expressions]
        if not all(p.isdigit() for p in params):
            return None
        if len(params) == 2:
            return Exact(int(params[0]), int(params[1]))
        if len(params) == 1:
            return Exact(int(params[0]), 0)
        return unparameterized
    return None


def _declared(node: exp.Expr) -> Exact | None:
    """What the optimizer typed ``node`` as, where that is an exact numeric."""
    return _of_type(node.type)


def exact_type(node: exp.Expr) -> Exact | None:
    """``node``'s type under Trino's rules for exact numerics; None for anything else (a
    double, a string, or an expression whose type is not worked out here)."""
    rewritten = node.meta.get(_EXACT) if node.meta else None
    if rewritten is not None:
        return rewritten
    if isinstance(node, exp.Paren | exp.Neg | exp.Abs | exp.Max | exp.Min):
        return exact_type(node.this)
    if isinstance(node, exp.Window):
        return exact_type(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        return _literal(node)
    if isinstance(node, exp.Cast | exp.TryCast):
        if (
            isinstance(node.this, exp.Literal)
            and node.this.is_string
            and node.to.this == exp.DataType.Type.DECIMAL
            and not node.to.expressions
        ):
            # DECIMAL '80.75' (sqlglot reads it as a cast) is typed by its digits.
            return _digits(node.this.name)
        # CAST(x AS DECIMAL) is a decimal(38,0) in Trino.
        return _of_type(node.to, unparameterized=Exact(MAX_PRECISION, 0))
    if isinstance(node, exp.Sum):
        arg = exact_type(_argument(node))
        if arg is None:
            return None
        return Exact(MAX_PRECISION, arg.scale) if arg.decimal else Exact(19, 0, decimal=False)
    if isinstance(node, exp.Avg):
        arg = exact_type(_argument(node))
        return arg if arg and arg.decimal else None
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        left, right = exact_type(node.this), exact_type(node.expression)
        if left is None or right is None:
            return None
        if not (left.decimal or right.decimal):
            return _declared(node)
        return _arithmetic(node, left, right)
    if isinstance(node, exp.Case | exp.If | exp.Coalesce):
        return _common(node)
    if isinstance(node, exp.Sign):
        arg = exact_type(node.this)
        return Exact(1, 0) if arg is not None and arg.decimal else _declared(node)
    if isinstance(node, exp.Column | exp.Count):
        return _declared(node)
    return None


def _common(node: exp.Case | exp.If | exp.Coalesce) -> Exact | None:
    """The type every branch's value is coerced to: Trino's common supertype."""
    if isinstance(node, exp.Case):
        values = [i.args.get("true") for i in node.args.get("ifs") or []]
        values.append(node.args.get("default"))
    elif isinstance(node, exp.If):
        values = [node.args.get("true"), node.args.get("false")]
    else:
        values = [node.this, *node.expressions]
    types = [exact_type(v) for v in values if v is not None and not isinstance(v, exp.Null)]
    if not types or any(t is None for t in types):
        return None
    known = [t for t in types if t is not None]
    if not any(t.decimal for t in known):
        return _declared(node)
    scale = max(t.scale for t in known)
    whole = max(t.precision - t.scale for t in known)
    return Exact(min(MAX_PRECISION, whole + scale), scale)


def _argument(node: exp.AggFunc) -> exp.Expr:
    arg = node.this
    return arg.expressions[0] if isinstance(arg, exp.Distinct) else arg


def _arithmetic(node: exp.Expr, left: Exact, right: Exact) -> Exact:
    (p1, s1), (p2, s2) = (left.precision, left.scale), (right.precision, right.scale)
    if isinstance(node, exp.Mul):
        return Exact(min(MAX_PRECISION, p1 + p2), s1 + s2)
    scale = max(s1, s2)
    if isinstance(node, exp.Div):
        return Exact(min(MAX_PRECISION, p1 + s2 + max(0, s2 - s1)), scale)
    return Exact(min(MAX_PRECISION, 1 + scale + max(p1 - s1, p2 - s2)), scale)


def decimal_quotient(node: exp.Expr) -> Exact | None:
    """The type of a division or average that Trino computes as a decimal, else None."""
    if isinstance(node, exp.Avg):
        return exact_type(node)  # only an average of decimals has an exact type
    if isinstance(node, exp.Div):
        left, right = exact_type(node.this), exact_type(node.expression)
        if left and right and (left.decimal or right.decimal):
            return _arithmetic(node, left, right)
    return None


def _quotient(node: exp.Expr) -> tuple[exp.Expr, Exact] | None:
    """The division or average of decimals ``node`` computes, with its type. An average over
    a window is rewritten as the window (the average inside it is left alone)."""
    if isinstance(node, exp.Avg) and isinstance(node.parent, exp.Window):
        return None
    inner = node.this if isinstance(node, exp.Window) and isinstance(node.this, exp.Avg) else node
    result = decimal_quotient(inner)
    return None if result is None else (inner, result)


# -- the local engine (DuckDB) -----------------------------------------------------------


def _number(value: int) -> exp.Expr:
    return exp.Literal.number(str(value))


def _unscaled(value: exp.Expr, scale: int) -> exp.Expr:
    """An exact numeric of scale ``scale`` as the integer of its digits (HUGEINT)."""
    if not scale:
        return exp.cast(value, exp.DataType.build("HUGEINT"))
    # Widened first: DuckDB sizes a product by its operands' declared precisions.
    # (exp.cast would keep a cast to a narrower decimal as it is.)
    wide = exp.Cast(this=value, to=_decimal(MAX_PRECISION, scale))
    return exp.cast(
        exp.Mul(this=wide, expression=_number(10**scale)), exp.DataType.build("HUGEINT")
    )


def _rounded_quotient(dividend: exp.Expr, divisor: exp.Expr, shift: int, result: Exact) -> exp.Expr:
    """round_half_up(dividend * 10^shift / divisor) / 10^scale as ``result``, both operands
    integers. Integer division truncates toward zero, so the quotient with one digit more
    holds the digit that decides the rounding, which DuckDB's decimal ROUND then does half
    away from zero, exactly. A division by zero fails, as in Trino (DuckDB's integer division
    does); a NULL operand gives NULL. The dividend times 10^(shift+1) must fit 128 bits, or
    DuckDB reports an overflow: Trino, which divides in 256 bits, answers some of those."""
    extra = exp.IntDiv(
        this=exp.Mul(this=dividend, expression=_number(10 ** (shift + 1))), expression=divisor
    )
    tenths = exp.Mul(
        this=exp.Cast(this=extra, to=_decimal(MAX_PRECISION, 0)),
        expression=exp.Literal.number("0." + "0" * result.scale + "1"),
    )
    rounded = exp.Round(this=tenths, decimals=_number(result.scale))
    quotient = exp.Cast(this=rounded, to=result.sql_type())
    quotient.type = result.sql_type()
    quotient.meta[_EXACT] = result
    return quotient


def _decimal(precision: int, scale: int) -> exp.DataType:
    return exp.DataType.build(f"DECIMAL({precision}, {scale})")


def duckdb_decimal_quotient(node: exp.Expr) -> exp.Expr | None:
    """``node`` (a division or average of decimals, or a window over such an average)
    computed exactly with Trino's scale and rounding; None when it is not one."""
    found = _quotient(node)
    if found is None:
        return None
    inner, result = found
    if isinstance(inner, exp.Avg):
        total, count = _sum_and_count(inner)
        if inner is not node:  # each over the average's window
            total, count = _over(node, total), _over(node, count)
        return _rounded_quotient(_unscaled(total, result.scale), count, 0, result)
    left, right = exact_type(inner.this), exact_type(inner.expression)
    assert left is not None and right is not None
    shift = result.scale - left.scale + right.scale
    return _rounded_quotient(
        _unscaled(inner.this, left.scale), _unscaled(inner.expression, right.scale), shift, result
    )


def _sum_and_count(node: exp.Avg) -> tuple[exp.Expr, exp.Expr]:
    return exp.Sum(this=node.this.copy()), exp.Count(this=node.this.copy())


def _over(window: exp.Expr, aggregate: exp.Expr) -> exp.Expr:
    over = window.copy()
    over.set("this", aggregate)
    return over


# -- a source that divides exactly enough (PostgreSQL's numeric) ------------------------


def rounded_to_trino_scale(node: exp.Expr) -> exp.Expr | None:
    """``node`` rounded half away from zero to Trino's scale and cast to its type, for a
    source whose decimal quotient carries more digits than that scale."""
    found = _quotient(node)
    if found is None:
        return None
    rounded = exp.Round(this=node, decimals=_number(found[1].scale))
    return exp.Cast(this=rounded, to=found[1].sql_type())
