"""Semantic checks Trino makes before running a query, made here on the qualified tree so
that every engine refuses the same queries with the same clear message, before any source
is read."""

from __future__ import annotations

import functools
from pathlib import Path

from sqlglot import exp

from guajie.catalog.errors import did_you_mean

from .errors import QueryError

T = exp.DataType.Type
_STRING = {T.VARCHAR, T.CHAR, T.TEXT, T.NVARCHAR, T.NCHAR}
_NUMBER = {
    T.TINYINT,
    T.SMALLINT,
    T.INT,
    T.BIGINT,
    T.DECIMAL,
    T.DOUBLE,
    T.FLOAT,
    T.UTINYINT,
    T.USMALLINT,
    T.UINT,
    T.UBIGINT,
}
_TEMPORAL = {T.DATE, T.TIMESTAMP, T.TIMESTAMPTZ, T.DATETIME, T.TIME}
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def _plain(node: exp.Expr) -> str:
    """SQL for messages, without the quoting the qualifier added."""
    copy = node.copy()
    for ident in copy.find_all(exp.Identifier):
        ident.set("quoted", False)
    return copy.sql("trino")


def _kind(node: exp.Expr) -> str | None:
    t = node.type
    if t is None:
        return None
    if t.this in _STRING:
        return "string"
    if t.this in _NUMBER:
        return "number"
    if t.this in _TEMPORAL:
        return "date/time"
    return None


def _compatible(left: exp.Expr, right: exp.Expr) -> bool:
    lk, rk = _kind(left), _kind(right)
    if lk is None or rk is None or lk == rk:
        return True
    # A string constant next to a date reads as that date (DATE '2024-06-01' shorthand).
    pair = {lk, rk}
    if pair == {"string", "date/time"}:
        literal = left if lk == "string" else right
        return isinstance(literal, exp.Literal)
    return False


def _mismatch(left: exp.Expr, right: exp.Expr, what: str) -> QueryError:
    def show(node: exp.Expr) -> str:
        return f"{_plain(node)} ({node.type.sql('trino') if node.type else '?'})"

    return QueryError(
        f"{what} compares {show(left)} with {show(right)}: a {_kind(left)} cannot be compared "
        f"with a {_kind(right)}.",
        "CAST one side to the other's type, e.g. CAST(x AS VARCHAR) or CAST(x AS DATE).",
    )


def validate(tree: exp.Expr) -> None:
    for node in tree.walk():
        if isinstance(node, _COMPARISONS):
            if not _compatible(node.left, node.right):
                raise _mismatch(node.left, node.right, _where(node))
        elif isinstance(node, exp.In):
            _check_in(node)
        elif isinstance(node, exp.Sum | exp.Avg):
            arg = node.this
            if _kind(arg) in ("string", "date/time"):
                raise QueryError(
                    f"{node.key.upper()} needs numbers, but {_plain(arg)} is a {_kind(arg)}.",
                    "Aggregate a numeric column, or CAST it first.",
                )
        elif isinstance(node, exp.Limit | exp.Offset):
            _check_count(node)
        elif isinstance(node, exp.Select):
            _check_grouping(node)
        elif isinstance(node, exp.Anonymous):
            _refuse_unknown_function(node)


def _refuse_unknown_function(node: exp.Anonymous) -> None:
    # A function that is not Trino's would be sent to a source as written, where the name
    # may do something else entirely (MariaDB's GET_LOCK, SLEEP, LOAD_FILE): refused, as
    # Trino refuses a function it has not registered. Trino's own functions that sqlglot
    # does not model pass, and are never pushed to a source (see dialects).
    name = str(node.this).lower()
    known = trino_functions()
    if name in known:
        return
    raise QueryError(
        f"Unknown function {node.this}().",
        did_you_mean(name, sorted(known))
        or "Use Trino's SQL functions; a source's own functions cannot be called by name.",
    )


@functools.cache
def trino_functions() -> frozenset[str]:
    """The names of the functions Trino registers (a list kept beside this module)."""
    text = (Path(__file__).parent / "trino_functions.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def _where(node: exp.Expr) -> str:
    parent = node.parent
    while parent is not None and isinstance(parent, exp.And | exp.Or | exp.Paren | exp.Not):
        parent = parent.parent
    return "A join condition" if isinstance(parent, exp.Join) else "The query"


def _check_in(node: exp.In) -> None:
    subquery = node.args.get("query")
    if subquery is not None:
        query = subquery.this if isinstance(subquery, exp.Subquery) else subquery
        selects = getattr(query, "selects", [])
        if len(selects) == 1 and not _compatible(node.this, selects[0]):
            raise _mismatch(node.this, selects[0].unalias(), "IN (subquery)")
        return
    for value in node.expressions:
        if not _compatible(node.this, value):
            raise _mismatch(node.this, value, "IN")


def _check_count(node: exp.Limit | exp.Offset) -> None:
    value = node.expression
    if isinstance(value, exp.Neg) or (
        isinstance(value, exp.Literal) and not value.is_string and value.this.startswith("-")
    ):
        raise QueryError(
            f"{node.key.upper()} must be a non-negative integer, got {value.sql('trino')}."
        )


def _check_grouping(select: exp.Select) -> None:
    group = select.args.get("group")
    projections = select.selects
    # Aggregates of a scalar subquery belong to that subquery, not to this SELECT.
    aggregated = any(
        not agg.find_ancestor(exp.Window) and agg.find_ancestor(exp.Select) is select
        for p in projections
        for agg in p.find_all(exp.AggFunc)
    )
    if group is None and not aggregated:
        return
    keys = {g.sql() for g in (group.expressions if group else [])}
    for projection in projections:
        for column in projection.find_all(exp.Column):
            if _covered(column, keys, projection):
                continue
            raise QueryError(
                f"Column {_plain(column)} must appear in GROUP BY or be used in an "
                "aggregate function.",
                f"Add it to GROUP BY, or wrap it, e.g. max({_plain(column)}).",
            )


def _covered(column: exp.Column, keys: set[str], top: exp.Expr) -> bool:
    node: exp.Expr | None = column
    while node is not None:
        if isinstance(node, exp.AggFunc | exp.Window | exp.Subquery) or node.sql() in keys:
            return True
        if node is top:
            return False
        node = node.parent
    return False
