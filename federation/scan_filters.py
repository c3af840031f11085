"""Filters pushed into file scans: sqlglot predicates -> pyarrow dataset expressions.

pyarrow.dataset uses these for partition pruning and Parquet row-group statistics. Only
column-versus-constant predicates convert; the rest stays local (and every pushed filter is
re-applied locally anyway).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlglot import exp

_COMPARE = {
    exp.EQ: "__eq__",
    exp.NEQ: "__ne__",
    exp.GT: "__gt__",
    exp.GTE: "__ge__",
    exp.LT: "__lt__",
    exp.LTE: "__le__",
}
_FLIP = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
}


class Unsupported(Exception):
    pass


def literal_value(node: exp.Expr) -> Any:
    """The Python value of a constant expression, or raise Unsupported."""
    if isinstance(node, exp.Paren):
        return literal_value(node.this)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        text = node.this
        return int(text) if text.lstrip("-").isdigit() else Decimal(text)
    if isinstance(node, exp.Neg):
        return -literal_value(node.this)
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        target = node.to.this
        text = node.this.this
        if target == exp.DataType.Type.DATE:
            return dt.date.fromisoformat(text)
        if target in (exp.DataType.Type.TIMESTAMP, exp.DataType.Type.DATETIME):
            return dt.datetime.fromisoformat(text)
        if target in (exp.DataType.Type.VARCHAR, exp.DataType.Type.TEXT, exp.DataType.Type.CHAR):
            return text
    raise Unsupported(node.sql())


def _column(node: exp.Expr) -> str | None:
    return node.name if isinstance(node, exp.Column) else None


def arrow_filter_supported(node: exp.Expr) -> bool:
    try:
        _convert(node, None)
    except Unsupported:
        return False
    return True


def to_arrow_expression(predicates: list[exp.Expr], types: dict[str, Any]) -> Any:
    """AND of ``predicates`` as a ``pyarrow.compute.Expression``; ``types`` maps column
    names to pyarrow types so constants take the column's type."""
    result = None
    for p in predicates:
        e = _convert(p, types)
        result = e if result is None else result & e
    return result


def _scalar(value: Any, column: str, types: dict[str, Any] | None) -> Any:
    if types is None:
        return value
    import pyarrow as pa

    t = types.get(column)
    if t is None:
        return value
    if pa.types.is_floating(t) and isinstance(value, Decimal):
        return float(value)  # the column's own precision, as the query's engine compares
    if pa.types.is_decimal(t) and isinstance(value, int | float | Decimal):
        return pa.scalar(Decimal(str(value)), type=pa.decimal128(38, max(t.scale, _scale(value))))
    if pa.types.is_date(t) and isinstance(value, str):
        return dt.date.fromisoformat(value)
    if (
        pa.types.is_timestamp(t)
        and isinstance(value, dt.date)
        and not isinstance(value, dt.datetime)
    ):
        return dt.datetime.combine(value, dt.time())
    if (pa.types.is_string(t) or pa.types.is_large_string(t)) and not isinstance(value, str):
        raise Unsupported(f"{column} compared with a non-string")
    if (pa.types.is_integer(t) or pa.types.is_floating(t)) and isinstance(value, str):
        raise Unsupported(f"{column} compared with a string")
    return value


def _scale(value: Any) -> int:
    if isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        return -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return 0


def _convert(node: exp.Expr, types: dict[str, Any] | None, negated: bool = False) -> Any:
    """``negated`` says the result will be inverted by an enclosing NOT: the few kernels that
    answer false instead of SQL's unknown for NULL must then keep NULL rows out."""
    import pyarrow.compute as pc

    if isinstance(node, exp.Paren):
        return _convert(node.this, types, negated)
    if isinstance(node, exp.And):
        return _convert(node.left, types, negated) & _convert(node.right, types, negated)
    if isinstance(node, exp.Or):
        return _convert(node.left, types, negated) | _convert(node.right, types, negated)
    if isinstance(node, exp.Not):
        return ~_convert(node.this, types, not negated)
    if isinstance(node, exp.Binary) and type(node) in _COMPARE:
        left, right, kind = node.left, node.right, type(node)
        if _column(left) is None and _column(right) is not None:
            left, right, kind = right, left, _FLIP[kind]
        name = _column(left)
        if name is None:
            raise Unsupported(node.sql())
        value = _scalar(literal_value(right), name, types)
        return getattr(pc.field(name), _COMPARE[kind])(value)
    if isinstance(node, exp.Between):
        name = _column(node.this)
        if name is None:
            raise Unsupported(node.sql())
        low = _scalar(literal_value(node.args["low"]), name, types)
        high = _scalar(literal_value(node.args["high"]), name, types)
        return (pc.field(name) >= low) & (pc.field(name) <= high)
    if isinstance(node, exp.In):
        name = _column(node.this)
        if name is None or node.args.get("query") is not None:
            raise Unsupported(node.sql())
        values = [_scalar(literal_value(v), name, types) for v in node.expressions]
        if types is not None and any(hasattr(v, "as_py") for v in values):
            values = [v.as_py() if hasattr(v, "as_py") else v for v in values]
        member = pc.field(name).isin(values)  # false, not unknown, for NULL
        return member | pc.field(name).is_null() if negated else member
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        name = _column(node.this)
        if name is None:
            raise Unsupported(node.sql())
        return pc.field(name).is_null()
    raise Unsupported(node.sql())
