"""From SQL text to a qualified, optimized tree bound to catalog datasets.

Only one read-only query is accepted; every relation must be a catalog dataset (or a CTE
of the query). Errors say where and suggest the nearest name.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer import RULES, optimize
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.pushdown_projections import pushdown_projections
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.unnest_subqueries import unnest_subqueries

from guajie.catalog.errors import did_you_mean
from guajie.catalog.lru import LruCache

from .catalog_view import CatalogView, TableInfo, sqlglot_schema
from .errors import PolicyError, QueryError, QuerySyntaxError, ReadOnlyError
from .policy import Access, Policy, apply_policy, enforce_aggregate_only, mark_explicit_columns
from .validate import validate

_QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery)


def parse_read_only(sql: str, dialect: str = "trino") -> exp.Query:
    """The one read-only query ``sql`` holds, parsed in ``dialect`` (a tree of its own)."""
    parsed = _PARSED.get((sql, dialect))
    if parsed is None:
        parsed = _parse_read_only(sql, dialect)
        _PARSED.put((sql, dialect), parsed)
    return parsed.copy()


# A query run again (a dashboard, a scenario) is parsed once: callers get copies to change.
_PARSED: LruCache[tuple[str, str], exp.Query] = LruCache(256)


def _parse_read_only(sql: str, dialect: str) -> exp.Query:
    try:
        Dialect.get_or_raise(dialect)
    except ValueError:
        raise QueryError(
            f"Unknown SQL dialect '{dialect}'.",
            did_you_mean(dialect, list(Dialect.classes))
            or "Use trino (the default), postgres, mysql, duckdb, sqlite, spark, ...",
        ) from None
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        description = re.sub(
            r"<Token token_type: [^,]+, text: (.*?), line: .*?>",
            r"'\1'",
            first.get("description") or str(exc),
        )
        raise QuerySyntaxError(
            description,
            first.get("line"),
            first.get("col"),
            first.get("highlight"),
        ) from None
    except TokenError as exc:
        raise _token_error(sql, str(exc)) from None
    if not statements:
        raise ReadOnlyError("The query is empty.", "Write one SELECT statement.")
    if len(statements) > 1:
        raise ReadOnlyError(
            f"Got {len(statements)} statements; guajie runs exactly one read-only query.",
            "Send one SELECT (WITH and UNION/INTERSECT/EXCEPT are fine) per call.",
        )
    (tree,) = statements
    if not isinstance(tree, _QUERY_TYPES):
        kind = tree.key.upper()
        if isinstance(tree, exp.Command):
            kind = str(tree.this).upper()
        raise ReadOnlyError(
            f"Only read-only queries are allowed; this is {kind}.",
            "guajie never writes to departmental sources; write a SELECT instead "
            "(results go back into the pool with --into).",
        )
    for node in tree.walk():
        if isinstance(node, exp.Lock):
            raise ReadOnlyError(
                "SELECT ... FOR UPDATE/SHARE locks rows and is not allowed.",
                "Remove the locking clause; guajie only reads.",
            )
        if isinstance(node, exp.Into):
            raise ReadOnlyError(
                "SELECT ... INTO writes a table and is not allowed.",
                "Use `guajie query ... --into NAME` to write results back.",
            )
    return tree  # type: ignore[return-value]


def _token_error(sql: str, message: str) -> QuerySyntaxError:
    """The tokenizer reports no position; an unclosed quote is the usual cause, so point at
    the last quote that opens a string."""
    for quote, what in (("'", "string"), ('"', "quoted identifier")):
        if sql.count(quote) % 2:
            offset = sql.rfind(quote)
            line = sql.count("\n", 0, offset) + 1
            column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
            return QuerySyntaxError(f"unterminated {what}", line, column, sql[offset : offset + 12])
    return QuerySyntaxError(message)


def bind_tables(tree: exp.Expr, view: CatalogView) -> list[TableInfo]:
    """Rewrite every table reference to its canonical ``source.schema.table`` name."""
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    bound: dict[str, TableInfo] = {}
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            raise QueryError(
                f"'{table.sql()}' is not a catalog dataset: table functions and file paths "
                "cannot be queried directly.",
                "Register the data as a source (`guajie source add`) and query it by name.",
            )
        if table.args.get("version") is not None:
            raise QueryError("Time travel (FOR VERSION/TIMESTAMP AS OF) is not supported.")
        parts = [p.name for p in table.parts]
        if len(parts) == 1 and parts[0].lower() in cte_names:
            continue
        info = resolve_name(parts, view)
        bound[info.qualified_name] = info
        alias = table.alias or info.name
        new = exp.Table(
            this=exp.to_identifier(info.name),
            db=exp.to_identifier(info.schema),
            catalog=exp.to_identifier(info.source),
            alias=exp.TableAlias(this=exp.to_identifier(alias)),
        )
        if table.args.get("sample") is not None:
            new.set("sample", table.args["sample"])
        table.replace(new)
    return list(bound.values())


def resolve_name(parts: list[str], view: CatalogView) -> TableInfo:
    lowered = [p.lower() for p in parts]
    written = ".".join(parts)
    if len(lowered) == 3:
        info = view.get(".".join(lowered))
        if info:
            return info
    elif len(lowered) == 2:
        source, name = lowered
        matches = [view.get(f"{source}.{schema}.{name}") for schema in view.schemas_of(source)]
        found = [m for m in matches if m is not None]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise QueryError(
                f"Table '{written}' is ambiguous: source '{source}' has it in several schemas "
                f"({', '.join(sorted(f.qualified_name for f in found))}).",
                "Write source.schema.table.",
            )
    elif len(lowered) == 1:
        found = [
            info
            for qn in view.names()
            if qn.rsplit(".", 1)[-1].lower() == lowered[0] and (info := view.get(qn)) is not None
        ]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise QueryError(
                f"Table '{written}' is ambiguous: "
                f"{', '.join(sorted(f.qualified_name for f in found))}.",
                "Write source.schema.table.",
            )
    else:
        raise QueryError(
            f"'{written}' has too many parts for a table name.", "Write source.schema.table."
        )
    if lowered[0] not in view.source_kinds and len(lowered) > 1:
        hint = (
            did_you_mean(lowered[0], view.source_kinds) or "List sources with `guajie source list`."
        )
        raise QueryError(f"Unknown source '{parts[0]}' in table name '{written}'.", hint)
    names = view.names()
    short = {qn.rsplit(".", 1)[-1]: qn for qn in names}
    hint = did_you_mean(".".join(lowered), names)
    if not hint and (close := did_you_mean(lowered[-1], short)):
        hint = close
    raise QueryError(
        f"Unknown table '{written}'.",
        hint or "List datasets with `guajie catalog list`, or crawl the source first.",
    )


def bound_query(
    sql: str, view: CatalogView, dialect: str = "trino", policy: Policy | None = None
) -> tuple[exp.Query, list[TableInfo]]:
    """Parse, bind, apply ``policy`` and optimize: the tree both engines run.

    Touches no source; every refusal (not read-only, unknown name, not granted) happens here.
    """
    tree, tables = parse_and_bind(sql, view, dialect)
    return optimize_tree(tree, view, dialect, tables, policy), tables


def parse_and_bind(sql: str, view: CatalogView, dialect: str) -> tuple[exp.Query, list[TableInfo]]:
    """One read-only query with every table bound to a catalog dataset (at least one)."""
    tree = parse_read_only(sql, dialect)
    tables = bind_tables(tree, view)
    if not tables:
        raise QueryError(
            "The query reads no dataset.",
            "Name at least one catalog dataset, e.g. FROM source.schema.table.",
        )
    return tree, tables


def checked_tree(
    tree: exp.Expr, dialect: str, tables: list[TableInfo], policy: Policy | None = None
) -> exp.Expr:
    """``tree`` with ``policy`` applied, checked as Trino would check it; the tree every
    later step (optimizer, planner) starts from. Raises on any refusal."""
    schema = sqlglot_schema(tables)
    if policy is not None:
        mark_explicit_columns(tree)
        apply_policy(tree, tables, policy)
    try:
        # Trino's semantic checks run on the qualified tree as written, before the optimizer
        # adds implicit casts that would hide a string compared with a date.
        checked = qualify(tree.copy(), schema=schema, dialect=dialect)  # type: ignore[arg-type]
        if policy is not None and enforce_aggregate_only(checked, policy):  # type: ignore[arg-type]
            tree = checked
            checked = qualify(tree.copy(), schema=schema, dialect=dialect)  # type: ignore[arg-type]
        annotate_types(checked, schema=schema, dialect=dialect)  # type: ignore[arg-type]
        validate(checked)
    except OptimizeError as exc:
        raise _column_error(str(exc), tables, policy) from None
    return tree


def optimize_tree(
    tree: exp.Expr,
    view: CatalogView,
    dialect: str,
    tables: list[TableInfo],
    policy: Policy | None = None,
) -> exp.Query:
    """:func:`checked_tree`, then sqlglot's optimizer over it."""
    return optimize_checked(checked_tree(tree, dialect, tables, policy), dialect, tables, policy)


def optimize_checked(
    tree: exp.Expr,
    dialect: str,
    tables: list[TableInfo],
    policy: Policy | None = None,
    *,
    keep_exists: bool = False,
) -> exp.Query:
    """sqlglot's optimizer over a checked tree. ``keep_exists`` leaves EXISTS subqueries as
    written: a local engine runs them as semi- and anti-joins, where sqlglot's decorrelated
    form (array aggregates and list filters for a correlated ``<>``) is far slower."""
    rules = tuple(
        _unnest_keeping_exists if keep_exists and rule is unnest_subqueries else rule
        for rule in RULES
    )
    # Predicates pushed into a CTE after projections were pruned can leave it selecting
    # columns that only its own filter reads; a second pruning drops them.
    rules += (pushdown_projections,)
    try:
        optimized = optimize(tree, schema=sqlglot_schema(tables), dialect=dialect, rules=rules)  # type: ignore[arg-type]
    except OptimizeError as exc:
        raise _column_error(str(exc), tables, policy) from None
    return optimized  # type: ignore[return-value]


def _unnest_keeping_exists(expression: exp.Expr) -> exp.Expr:
    """sqlglot's ``unnest_subqueries`` with every EXISTS predicate set aside meanwhile."""
    kept: dict[str, exp.Exists] = {}
    for node in list(expression.find_all(exp.Exists)):
        if node.find_ancestor(exp.Exists) is None:
            _select_one(node.this)
            name = f"__guajie_exists_{len(kept)}"
            kept[name] = node
            node.replace(exp.Anonymous(this=name))
    expression = unnest_subqueries(expression)
    for marker in list(expression.find_all(exp.Anonymous)):
        original = kept.get(marker.name)
        if original is not None:
            marker.replace(original)
    return expression


def _select_one(query: exp.Expr) -> None:
    """An EXISTS body's select list means nothing unless it makes the query an aggregate:
    ``SELECT 1`` keeps the columns it names from being fetched."""
    if (
        isinstance(query, exp.Select)
        and not query.args.get("group")
        and not query.args.get("having")
        and not query.args.get("distinct")
        and not any(e.find(exp.AggFunc, exp.Window) for e in query.expressions)
    ):
        query.set("expressions", [exp.alias_(exp.Literal.number(1), "_one")])


def _hidden_columns(tables: list[TableInfo], policy: Policy) -> dict[str, set[str]]:
    """Columns each dataset has but the policy does not grant, by lower-case name."""
    hidden: dict[str, set[str]] = {}
    for info in tables:
        granted = {name.lower() for name in policy.grant_for(info).columns}
        missing = {c.name.lower() for c in info.columns} - granted
        if missing:
            hidden[info.qualified_name] = missing
    return hidden


def _column_error(
    message: str, tables: list[TableInfo], policy: Policy | None = None
) -> QueryError:
    hidden = _hidden_columns(tables, policy) if policy is not None else {}
    columns = sorted(
        {
            c.name
            for t in tables
            for c in t.columns
            if c.name.lower() not in hidden.get(t.qualified_name, ())
        }
    )
    m = re.search(r"Column '([^']+)' could not be resolved", message) or re.search(
        r"Unknown column: (\S+)", message
    )
    if m:
        name = m.group(1).split(".")[-1].strip('"')
        if policy is not None and any(
            g.access is Access.AGGREGATE and n.lower() == name.lower()
            for t in tables
            for n, g in policy.grant_for(t).columns.items()
        ):
            return PolicyError(
                f"Column '{name}' is aggregate-only for {policy.subject}: it is not passed on "
                "by SELECT *, subqueries or CTEs.",
                f"Aggregate it where the dataset is read, e.g. SUM({name}).",
            )
        holders_hidden = sorted(q for q, names in hidden.items() if name.lower() in names)
        if holders_hidden and policy is not None:
            return PolicyError(
                f"Column '{name}' of {', '.join(holders_hidden)} is not granted to "
                f"{policy.subject}.",
                "Ask for it in the scenario's data list (guajie scenario apply), or leave it out.",
            )
        holders = sorted(t.qualified_name for t in tables if t.column(name) is not None)
        if len(holders) > 1:
            return QueryError(
                f"Column '{name}' is ambiguous: {' and '.join(holders)} both have it.",
                f"Qualify it with its table or alias, e.g. t.{name}.",
            )
        return QueryError(
            f"Unknown column '{name}'.",
            did_you_mean(name, columns)
            or f"Columns of the tables in this query: {', '.join(columns[:40])}.",
        )
    if "ambiguous" in message.lower():
        return QueryError(
            f"{message.rstrip('.')}.", "Qualify the column with its table or alias, e.g. t.column."
        )
    return QueryError(f"Cannot plan the query: {message}")
