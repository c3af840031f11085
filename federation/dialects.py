"""What each kind of source can run with the meaning the query gives it.

A source dialect is a small class: the sqlglot dialect to write fragments in, a table of
expression types it must never run, and checks for constructs whose meaning differs in that
source (collations, loose types). Differences between engines live here, not in the planner.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import ClassVar

from sqlglot import exp
from sqlglot.errors import ErrorLevel, UnsupportedError

from .decimals import (
    decimal_quotient,
    duckdb_decimal_quotient,
    exact_type,
    rounded_to_trino_scale,
)

_STRING_TYPES = {
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.CHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.NVARCHAR,
    exp.DataType.Type.NCHAR,
}
_FLOATING = (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ)
_ORDERING = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
_DECIMAL = (exp.DataType.Type.DECIMAL,)


def _typed(node: exp.Expr, types: Collection[object]) -> bool:
    """Whether the optimizer typed ``node`` as one of ``types``."""
    return node.type is not None and node.type.this in types


def transform_bottom_up(tree: exp.Expr, rewrite: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    """A copy of ``tree`` with ``rewrite`` applied to every node, children before their
    parent: a rewrite that wraps or replaces a node leaves its operands rewritten too (sqlglot's
    ``transform`` does not descend into a replacement). A replacement keeps the node's type."""
    root = tree.copy()
    for node in reversed(list(root.walk(bfs=False))):
        parent, key, index = node.parent, node.arg_key, node.index
        new = rewrite(node)
        if new is node:
            continue
        if new.type is None and node.type is not None:
            new.type = node.type
        if node is root:
            root = new
        elif parent is not None and key is not None:
            parent.set(key, new, index)
    return root


def is_string(node: exp.Expr) -> bool:
    return _typed(node, _STRING_TYPES)


def _string_operands(node: exp.Expr) -> bool:
    return any(is_string(a) for a in node.iter_expressions())


class SourceDialect:
    """A source that runs SQL. Subclasses list what differs."""

    name: ClassVar[str]
    sqlglot_dialect: ClassVar[str]
    # Expression types this source cannot run, or runs with another meaning.
    unsupported: ClassVar[tuple[type[exp.Expr], ...]] = ()
    joins: ClassVar[bool] = True
    # A table expected to keep more rows than this (after its own filters) is not joined
    # inside the source: the source's joins cost more per row than fetching the rows.
    max_join_rows: ClassVar[int | None] = None
    aggregates: ClassVar[bool] = True
    # How many join keys a dynamic filter may send (as a list of literals).
    max_filter_keys: ClassVar[int] = 100_000
    # Whether prepare() rounds a division or average of decimals to Trino's scale.
    rounds_decimal_quotients: ClassVar[bool] = False
    max_key_share: ClassVar[float | None] = None

    def why_not(self, node: exp.Expr) -> str | None:
        """Why this single node may not be pushed, or None when it may."""
        if isinstance(node, self.unsupported):
            return f"{self.name} has no exact equivalent of {node.key.upper()}"
        if isinstance(node, exp.Trim):
            # Trino trims whitespace (tabs, line breaks); sources trim spaces, and MySQL's
            # TRIM(x FROM s) removes a string, not a set of characters.
            return f"{self.name} trims other characters than Trino"
        if isinstance(node, exp.Format):
            return f"{self.name}'s format() is not Trino's (Java's %-specifiers)"
        if not self.rounds_decimal_quotients and decimal_quotient(node) is not None:
            return f"{self.name} divides decimals to another scale than Trino"
        if isinstance(node, exp.Substring) and node.args.get("start") == exp.Literal.number(0):
            return f"{self.name} may read position 0 as 1"
        if isinstance(node, exp.Round) and _typed(node.this, _FLOATING):
            return f"{self.name} rounds the binary value of a double"
        if (
            isinstance(node, exp.Cast | exp.TryCast)
            and node.to.this in exp.DataType.INTEGER_TYPES
            and _typed(node.this, _FLOATING)
        ):
            return f"{self.name} may round a double's halves to even when casting it"
        return None

    def why_not_filter(self, node: exp.Expr) -> str | None:
        """Like :meth:`why_not`, for a filter that the local engine also re-applies.

        A filter that returns a superset of the exact rows is still safe to push then.
        """
        return self.why_not(node)

    def rejects(self, tree: exp.Expr, *, filter_only: bool = False) -> str | None:
        check = self.why_not_filter if filter_only else self.why_not
        for node in tree.walk():
            if isinstance(node, exp.Anonymous):
                # A Trino function sqlglot does not model: no source is known to mean it.
                return f"{node.this}() has no known equivalent in {self.name}"
            reason = check(node)
            if reason:
                return reason
        try:
            tree.sql(dialect=self.sqlglot_dialect, unsupported_level=ErrorLevel.RAISE)
        except UnsupportedError as exc:
            return f"{self.name} cannot express it ({exc})"
        return None

    def prepare(self, tree: exp.Expr) -> exp.Expr:
        """Rewrite a fragment so the source computes exactly what the query means."""
        return tree

    def part_condition(
        self, alias: str, schema: str, table: str, part: int, parts: int
    ) -> exp.Expr | None:
        """A condition on ``alias`` that keeps part ``part`` of ``parts`` disjoint slices
        of the table, which together hold every row; None where the source has none."""
        return None


class PostgresDialect(SourceDialect):
    name = "postgresql"
    sqlglot_dialect = "postgres"
    # Integer keys go as one array constant, which PostgreSQL looks up in a hash table.
    max_filter_keys = 1_000_000
    # It looks every row of its scan up in that array: with keys for more than this share
    # of the table, fetching the rows costs less on a fast link than filtering them.
    max_key_share: ClassVar[float | None] = 0.15
    # Trino's date_diff counts whole units elapsed; computed locally the same way everywhere.
    unsupported = (exp.DateDiff,)
    # Its numeric quotients carry at least 16 significant digits: rounded to Trino's scale.
    rounds_decimal_quotients = True

    def why_not(self, node: exp.Expr) -> str | None:
        if isinstance(node, exp.Ordered) and is_string(node.this):
            select = node.find_ancestor(exp.Select)
            if select is not None and select.args.get("distinct"):
                # COLLATE "C" on the key would take it out of the DISTINCT select list.
                return "PostgreSQL cannot order a DISTINCT query by code point in place"
        return super().why_not(node)

    def prepare(self, tree: exp.Expr) -> exp.Expr:
        # String order depends on the database collation; the query means code-point order.
        def collate(node: exp.Expr) -> exp.Expr:
            rounded = rounded_to_trino_scale(node)
            if rounded is not None:
                return rounded
            if isinstance(node, exp.TimestampTrunc | exp.DateTrunc) and _typed(
                node.this, (exp.DataType.Type.DATE,)
            ):
                # PostgreSQL truncates a date as a timestamp with time zone; Trino gives a date.
                return exp.cast(node, exp.DataType.build("DATE"))
            if isinstance(node, exp.Ordered) and is_string(node.this):
                order_key = _unalias_order_key(node)
                if order_key is not None:
                    node.set("this", _c_collation(order_key))
            elif isinstance(node, (*_ORDERING, exp.Max, exp.Min)):
                for arg, child in list(node.args.items()):
                    if (
                        isinstance(child, exp.Expr)
                        and is_string(child)
                        and not isinstance(child, exp.Literal)
                    ):
                        node.set(arg, _c_collation(child))
            return node

        return transform_bottom_up(tree, collate)

    def part_condition(
        self, alias: str, schema: str, table: str, part: int, parts: int
    ) -> exp.Expr | None:
        return _postgres_part_condition(alias, schema, table, part, parts)


def _postgres_part_condition(
    alias: str, schema: str, table: str, part: int, parts: int
) -> exp.Expr | None:
    # Heap block ranges (TID Range Scans, PostgreSQL 14+): each connection reads only its
    # own blocks, so a large scan or join runs on several server processes at once.
    ctid = exp.column("ctid", table=alias, quoted=True)
    terms: list[exp.Expr] = []
    if part > 0:
        terms.append(exp.GTE(this=ctid, expression=_block_bound(schema, table, part, parts)))
    if part < parts - 1:
        terms.append(
            exp.LT(this=ctid.copy(), expression=_block_bound(schema, table, part + 1, parts))
        )
    return exp.and_(*terms) if terms else None


def _block_bound(schema: str, table: str, part: int, parts: int) -> exp.Expr:
    """The first heap block of slice ``part``, from the table's page count as of its last
    VACUUM/ANALYZE: a stale count only unbalances the slices, the last one is open-ended."""
    name = exp.Literal.string(
        f'"{schema.replace(chr(34), chr(34) * 2)}"."{table.replace(chr(34), chr(34) * 2)}"'
    )
    pages = exp.cast(exp.column("relpages", table="c"), exp.DataType.build("BIGINT"))
    block = exp.Div(
        this=exp.Mul(this=pages, expression=exp.Literal.number(part)),
        expression=exp.Literal.number(parts),
        typed=True,  # integer division
    )
    tid = exp.Cast(
        this=exp.Anonymous(this="FORMAT", expressions=[exp.Literal.string("(%s,0)"), block]),
        to=exp.DataType.build("tid", dialect="postgres", udt=True),
    )
    lookup = (
        exp.select(tid)
        .from_(exp.table_("pg_class", db="pg_catalog", alias="c"))
        .where(
            exp.EQ(
                this=exp.column("oid", table="c"),
                expression=exp.cast(
                    name, exp.DataType.build("regclass", dialect="postgres", udt=True)
                ),
            )
        )
    )
    return exp.Subquery(this=lookup)


def _unalias_order_key(ordered: exp.Ordered) -> exp.Expr | None:
    """PostgreSQL accepts COLLATE on an expression, not on an output column's name: an
    ORDER BY naming a projection gets that projection's expression instead."""
    key = ordered.this
    if not isinstance(key, exp.Column) or key.table:
        return key
    select = ordered.find_ancestor(exp.Select, exp.SetOperation)
    if not isinstance(select, exp.Select):
        return None
    for projection in select.selects:
        if isinstance(projection, exp.Alias) and projection.alias == key.name:
            found = projection.this.copy()
            found.type = projection.type
            return found
    return key


def _c_collation(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Collate):
        return node
    wrapped = exp.Collate(this=node.copy(), expression=exp.Identifier(this="C", quoted=True))
    wrapped.type = node.type
    return wrapped


class MySQLDialect(SourceDialect):
    """MySQL and MariaDB. Their default collations compare strings case-insensitively and
    ignore trailing spaces, so string comparison, grouping, ordering and joining are not
    pushed; an equality, IN or LIKE filter may be, because the local engine re-applies it to
    the superset the source returns."""

    name = "mysql"
    sqlglot_dialect = "mysql"
    unsupported = (exp.DateDiff,)
    # Their joins are nested loops of index lookups, one per row of the larger side
    # (MariaDB 10.11 has no hash join by default): slower than fetching that side with the
    # other side's keys as a filter and joining locally.
    max_join_rows = 100_000

    def why_not(self, node: exp.Expr) -> str | None:
        if isinstance(
            node, (*_COMPARISONS, exp.Between, exp.In, exp.Like, exp.ILike)
        ) and _string_operands(node):
            return "MySQL compares strings case-insensitively and ignores trailing spaces"
        if isinstance(node, exp.Group | exp.Distinct | exp.Order) and any(
            is_string(e) for e in node.expressions
        ):
            return "MySQL groups and orders strings case-insensitively"
        if isinstance(node, exp.Ordered) and is_string(node.this):
            return "MySQL orders strings case-insensitively"
        if isinstance(node, exp.Max | exp.Min | exp.Count) and any(
            is_string(e) for e in node.iter_expressions()
        ):
            return "MySQL compares strings case-insensitively"
        if isinstance(node, exp.Window):
            return "window semantics are checked locally"
        if isinstance(node, exp.Avg | exp.Div):
            return "MySQL keeps only four extra decimal places in averages and divisions"
        return super().why_not(node)

    def why_not_filter(self, node: exp.Expr) -> str | None:
        if isinstance(node, exp.EQ | exp.In | exp.Like) and _string_operands(node):
            return None  # superset; re-checked locally
        return self.why_not(node)


_SQLITE_FUNCTIONS: tuple[type[exp.Expr], ...] = (
    exp.And,  # sqlglot models AND/OR as functions too
    exp.Or,
    exp.Collate,
    exp.Case,
    exp.If,
    exp.Coalesce,
    exp.Nullif,
    exp.Cast,
    exp.Count,
    exp.Sum,
    exp.Avg,
    exp.Max,
    exp.Min,
    exp.Abs,
    exp.Round,
    exp.Length,
    exp.Lower,
    exp.Upper,
    exp.Substring,
    exp.Trim,
    exp.StrPosition,
    exp.Replace,
    exp.Concat,
    exp.Exists,
)


class SQLiteDialect(SourceDialect):
    """SQLite: loose types, LIKE ignores ASCII case, no EXTRACT or interval arithmetic."""

    name = "sqlite"
    sqlglot_dialect = "sqlite"
    # A local file: scanning it is cheap, and it checks a long IN list row by row against
    # a temporary index. Keys pay only when they leave few rows.
    max_key_share: ClassVar[float | None] = 0.15
    unsupported = (
        exp.Extract,
        exp.Interval,
        exp.DateAdd,
        exp.DateSub,
        exp.DateDiff,
        exp.ILike,
        exp.RegexpLike,
        exp.StrToDate,
        exp.TimeToStr,
        exp.DateTrunc,
        exp.Window,
        exp.Cast,
        exp.TryCast,
    )

    def why_not(self, node: exp.Expr) -> str | None:
        if isinstance(node, exp.Cast) and _is_date_literal(node):
            return None  # DATE('2024-06-01') is ISO text, as SQLite stores dates
        if isinstance(node, exp.Func) and not isinstance(node, _SQLITE_FUNCTIONS):
            # SQLite's core has few functions (no reverse, regexp, split_part, array_agg,
            # hashing): only the ones it is known to have are sent.
            return f"SQLite has no {node.sql_name()}"
        if isinstance(node, exp.Like):
            return "SQLite's LIKE ignores ASCII case"
        if isinstance(node, exp.Div):
            return "SQLite divides by its own type rules"
        if isinstance(node, exp.Mod) and not all(
            _typed(a, exp.DataType.INTEGER_TYPES) for a in (node.this, node.expression)
        ):
            return "SQLite's % drops the fractions of its operands"
        if isinstance(node, exp.Upper | exp.Lower):
            return "SQLite changes the case of ASCII letters only"
        if isinstance(node, exp.Round):
            # Decimals are binary doubles in SQLite: 34.55 is 34.5499..., rounded to 34.5.
            return "SQLite rounds the binary value of a decimal"
        # 624.16 - 524.16 is 99.99999999999994 in doubles: it passes "< 100". A sum that is
        # only returned is exact once cast back to its scale; compared, it is not.
        if (
            isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Sum)
            and any(_typed(a, _DECIMAL) for a in node.iter_expressions())
            and not (isinstance(node, exp.Sum) and _only_returned(node))
        ):
            return "SQLite computes decimals as binary doubles"
        return super().why_not(node)

    def why_not_filter(self, node: exp.Expr) -> str | None:
        if isinstance(node, exp.Like):
            return None  # case-insensitive matches are a superset; re-checked locally
        return self.why_not(node)


def _only_returned(node: exp.Expr) -> bool:
    """Whether ``node`` is a whole item of a select list, not compared, computed on or
    ordered by."""
    alias = node.parent
    if not (
        isinstance(alias, exp.Alias)
        and alias.arg_key == "expressions"
        and isinstance(alias.parent, exp.Select)
    ):
        return False
    order = alias.parent.args.get("order")
    return order is None or not any(
        c.name == alias.alias and not c.table for c in order.find_all(exp.Column)
    )


def _is_date_literal(node: exp.Cast) -> bool:
    return (
        isinstance(node.this, exp.Literal)
        and node.this.is_string
        and node.to.this == exp.DataType.Type.DATE
    )


class DuckDBDialect(SourceDialect):
    name = "duckdb"
    sqlglot_dialect = "duckdb"
    unsupported = (exp.DateDiff,)  # DuckDB's date_diff counts boundaries, Trino's whole units


DIALECTS: dict[str, SourceDialect] = {
    "postgresql": PostgresDialect(),
    "mysql": MySQLDialect(),
    "sqlite": SQLiteDialect(),
    "duckdb": DuckDBDialect(),
}


def dialect_for(kind: str) -> SourceDialect | None:
    """The SQL dialect of a source kind; None for sources that run no SQL (files)."""
    return DIALECTS.get(kind)


# -- the local engine ------------------------------------------------------------------

# What Trino's trim() removes: Java's whitespace (tabs, line breaks, the ideographic space),
# not the no-break spaces. DuckDB's TRIM without characters removes other ones.
_TRINO_WHITESPACE = "".join(
    chr(c)
    for c in (
        *range(0x09, 0x0E),
        *range(0x1C, 0x21),
        0x1680,
        *range(0x2000, 0x2007),
        *range(0x2008, 0x200B),
        0x2028,
        0x2029,
        0x205F,
        0x3000,
    )
)


def trino_meaning_in_duckdb(node: exp.Expr) -> exp.Expr:
    """``node`` rewritten for the local engine (DuckDB) to compute what Trino would: a
    transform of the residual's tree (see ``plan.local_sql``)."""
    quotient = duckdb_decimal_quotient(node)
    if quotient is not None:
        return quotient
    if isinstance(node, exp.Sign):
        sign = exact_type(node)
        if sign is not None and sign.decimal:
            return exp.Cast(this=node, to=sign.sql_type())  # Trino: a decimal(1,0)
    if isinstance(node, exp.Div) and all(
        _typed(a, exp.DataType.INTEGER_TYPES) for a in (node.this, node.expression)
    ):
        # Trino divides integers as integers (truncating; a zero divisor fails). sqlglot
        # writes it for DuckDB as a double division truncated, which loses digits past 2^53
        # and turns a zero divisor into a cast error.
        return exp.IntDiv(this=node.this, expression=node.expression)
    if isinstance(node, exp.Trim) and node.args.get("expression") is None:
        node.set("expression", exp.Literal.string(_TRINO_WHITESPACE))
        return node
    if (
        isinstance(node, exp.Cast | exp.TryCast)
        and node.to.this in exp.DataType.INTEGER_TYPES
        and _typed(node.this, (*_FLOATING, exp.DataType.Type.DECIMAL))
    ):
        # Trino rounds to the nearest integer, halves away from zero; DuckDB's cast of
        # a double rounds halves to even (2.5 -> 2).
        node.set("this", exp.Round(this=node.this))
        return node
    if isinstance(node, exp.Round) and _typed(node.this, _FLOATING):
        places = node.args.get("decimals")
        if isinstance(places, exp.Literal) and places.is_int and int(places.name) > 0:
            # Trino scales, rounds halves away from zero and scales back (34.55 -> 34.6);
            # DuckDB rounds the double's exact binary value (34.5499... -> 34.5).
            factor = exp.Literal.number(10 ** int(places.name))
            scaled = exp.Round(this=exp.Mul(this=exp.paren(node.this), expression=factor))
            return exp.Div(this=scaled, expression=factor.copy())
        return node
    if isinstance(node, exp.TimestampTrunc | exp.DateTrunc | exp.DateAdd) and _typed(
        node.this, (exp.DataType.Type.DATE,)
    ):
        return exp.cast(node, exp.DataType.build("DATE"))  # DuckDB gives a timestamp
    if isinstance(node, exp.Format):
        # Trino's format() takes Java's %-specifiers; DuckDB's FORMAT takes {}.
        return exp.Anonymous(this="PRINTF", expressions=[node.this, *node.expressions])
    if isinstance(node, exp.Substring):
        start = node.args.get("start")
        if isinstance(start, exp.Literal) and start.name == "0":
            # Trino: nothing starts at position 0 (DuckDB reads it as 1).
            node.set("start", exp.Literal.number(1))
            node.set("length", exp.Literal.number(0))
    if isinstance(node, exp.DateDiff):
        # Trino counts whole units elapsed; DuckDB's date_diff counts unit boundaries
        # crossed, its date_sub counts whole units.
        unit = node.args.get("unit")
        name = unit.name.upper() if unit is not None else "DAY"
        return exp.Anonymous(
            this="DATE_SUB",
            expressions=[exp.Literal.string(name), node.expression, node.this],
        )
    return node
