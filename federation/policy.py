"""Access policy applied in planning: data lists, masks, row filters, aggregate-only columns.

A policy is applied to the bound tree before anything else looks at it, so both engines
run the same rewritten query and never the user's text. Each table reference becomes a
subquery that first keeps the rows the row filter allows (on raw values) and then exposes
only the granted columns, masked ones already masked::

    FROM civil.residents AS r
    -> FROM (SELECT r.district, <mask>(r.id_number) AS id_number
             FROM civil.residents AS r WHERE <row filter>) AS r

Every later use of a masked column — output, WHERE, JOIN, GROUP BY, functions, windows —
sees the masked value; columns not granted do not exist for the query; ``SELECT *``
expands to the granted columns. An aggregate-only column may appear only as the bare
argument of SUM, AVG or COUNT, and groups smaller than the policy's minimum are dropped.

Masks are constant patterns that keep a prefix and a suffix (an ID number keeps its first
6 and last 4 characters); they cannot be reversed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from .catalog_view import TableInfo
from .errors import PolicyError

POLICY_META = "guajie_policy"
EXPLICIT_META = "guajie_explicit"


class Access(StrEnum):
    RAW = "raw"
    MASKED = "masked"
    AGGREGATE = "aggregate"


@dataclass(frozen=True)
class MaskRule:
    """Keep ``keep_first`` and ``keep_last`` characters, put ``fill`` between them.

    Values no longer than what would be kept become ``fill`` alone, so a short value is
    never shown whole.
    """

    keep_first: int = 0
    keep_last: int = 0
    fill: str = "****"

    def __post_init__(self) -> None:
        if self.keep_first < 0 or self.keep_last < 0:
            raise ValueError("keep_first and keep_last must be 0 or more")
        if not self.fill:
            raise ValueError("fill must not be empty: a mask has to hide something")


# Per kind of personal information (catalog.models.PIKind); the workspace may override.
DEFAULT_MASKS: dict[str, MaskRule] = {
    "id_number": MaskRule(6, 4, "********"),
    "phone": MaskRule(3, 4, "****"),
    "name": MaskRule(1, 0, "**"),
    "address": MaskRule(6, 0, "****"),
    "bank_card": MaskRule(6, 4, "******"),
    "email": MaskRule(1, 0, "***"),
    "plate_number": MaskRule(2, 0, "***"),
    "birth_date": MaskRule(4, 0, "-**-**"),
}
FALLBACK_MASK = MaskRule(0, 0, "****")


@dataclass(frozen=True)
class ColumnGrant:
    access: Access
    mask: MaskRule | None = None


@dataclass(frozen=True)
class TableGrant:
    """What a policy lets a query see of one dataset."""

    columns: dict[str, ColumnGrant]
    row_filter: str | None = None

    def unrestricted(self, info: TableInfo) -> bool:
        return (
            self.row_filter is None
            and len(self.columns) == len(info.columns)
            and all(g.access is Access.RAW for g in self.columns.values())
        )


@dataclass
class Policy:
    """Who is asking (``subject``, e.g. "scenario 政策直达") and what each dataset grants.

    ``grant`` raises :class:`PolicyError` for a dataset the subject may not read.
    """

    subject: str
    grant: Callable[[TableInfo], TableGrant]
    min_group_size: int = 5
    _cache: dict[str, TableGrant] = field(default_factory=dict, repr=False)

    def grant_for(self, info: TableInfo) -> TableGrant:
        if info.qualified_name not in self._cache:
            self._cache[info.qualified_name] = self.grant(info)
        return self._cache[info.qualified_name]


# -- masks ------------------------------------------------------------------------------


def mask_expression(value: exp.Expr, rule: MaskRule, sql_type: str) -> exp.Expr:
    """SQL computing the masked text of ``value`` (NULL stays NULL)."""
    text: exp.Expr = value
    if sql_type != "VARCHAR":
        text = exp.cast(value.copy(), "VARCHAR")
    kept = rule.keep_first + rule.keep_last
    parts: list[exp.Expr] = []
    if rule.keep_first:
        parts.append(
            exp.Substring(
                this=text.copy(),
                start=exp.Literal.number(1),
                length=exp.Literal.number(rule.keep_first),
            )
        )
    parts.append(exp.Literal.string(rule.fill))
    if rule.keep_last:
        start = exp.Add(
            this=exp.Sub(
                this=exp.Length(this=text.copy()), expression=exp.Literal.number(rule.keep_last)
            ),
            expression=exp.Literal.number(1),
        )
        parts.append(exp.Substring(this=text.copy(), start=start))
    masked: exp.Expr = parts[0]
    for part in parts[1:]:
        masked = exp.DPipe(this=masked, expression=part, safe=True)
    case = exp.Case()
    case = case.when(exp.Is(this=value.copy(), expression=exp.Null()), exp.Null())
    if kept:
        case = case.when(
            exp.GT(this=exp.Length(this=text.copy()), expression=exp.Literal.number(kept)), masked
        )
    return case.else_(exp.Literal.string(rule.fill))


# -- the rewrite at the scan ------------------------------------------------------------


def mark_explicit_columns(tree: exp.Expr) -> None:
    """Tag the columns the user wrote, so star expansion's columns can be told apart."""
    for column in tree.find_all(exp.Column):
        column.meta[EXPLICIT_META] = True


def apply_policy(tree: exp.Expr, tables: Iterable[TableInfo], policy: Policy) -> None:
    """Replace every reference to a restricted dataset by its policy subquery, in place."""
    by_name = {t.qualified_name: t for t in tables}
    for table in list(tree.find_all(exp.Table)):
        if not table.args.get("catalog"):
            continue  # a CTE reference
        qualified = ".".join(p.name for p in table.parts).lower()
        info = by_name.get(qualified)
        if info is None:
            continue
        grant = policy.grant_for(info)
        if grant.unrestricted(info):
            continue
        table.replace(_policy_subquery(table, info, grant, policy))


def _policy_subquery(
    table: exp.Table, info: TableInfo, grant: TableGrant, policy: Policy
) -> exp.Subquery:
    alias = table.alias
    projections: list[exp.Expr] = []
    aggregate_only: set[str] = set()
    for column in info.columns:
        granted = grant.columns.get(column.name)
        if granted is None:
            continue
        ref = exp.column(column.name, table=alias, quoted=True)
        value: exp.Expr = ref
        if granted.access is Access.MASKED:
            value = mask_expression(ref, granted.mask or FALLBACK_MASK, column.sql_type)
        elif granted.access is Access.AGGREGATE:
            aggregate_only.add(column.name.lower())
        projections.append(exp.alias_(value, column.name, quoted=True))
    if not projections:
        raise PolicyError(
            f"{policy.subject} is granted no column of {info.qualified_name}.",
            "Grant the columns it needs in its data list.",
        )
    inner = table.copy()
    select = exp.select(*projections).from_(inner)
    if grant.row_filter:
        select = select.where(_row_filter(grant.row_filter, alias, info, policy))
    subquery = exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias)))
    select.meta[POLICY_META] = {"dataset": info.qualified_name, "aggregate_only": aggregate_only}
    return subquery


def _row_filter(text: str, alias: str, info: TableInfo, policy: Policy) -> exp.Expr:
    try:
        condition = sqlglot.parse_one(text, read="trino")
    except ParseError as exc:
        raise PolicyError(
            f"The row filter of {policy.subject} on {info.qualified_name} does not parse: {exc}",
            "Fix the row_filter in the manifest and apply it again.",
        ) from None
    names = {c.name.lower() for c in info.columns}
    for column in condition.find_all(exp.Column):
        if column.name.lower() not in names:
            raise PolicyError(
                f"The row filter of {policy.subject} on {info.qualified_name} names "
                f"'{column.name}', which the dataset does not have.",
                "Fix the row_filter in the manifest and apply it again.",
            )
        column.set("table", exp.to_identifier(alias))
    if any(isinstance(n, (exp.Select, exp.Subquery)) for n in condition.walk()):
        raise PolicyError(
            f"The row filter of {policy.subject} on {info.qualified_name} contains a subquery.",
            "A row filter is a condition on the dataset's own columns.",
        )
    return condition


# -- aggregate-only columns, on the qualified tree -------------------------------------

_AGGREGATES = (exp.Sum, exp.Avg, exp.Count)


def enforce_aggregate_only(qualified: exp.Query, policy: Policy) -> bool:
    """Check every use of an aggregate-only column; drop those that star expansion added;
    suppress small groups. Returns False when the tree has no such column."""
    restricted: dict[str, set[str]] = {}
    for select in qualified.find_all(exp.Select):
        meta = select.meta.get(POLICY_META)
        if meta and meta["aggregate_only"] and isinstance(select.parent, exp.Subquery):
            alias = select.parent.alias_or_name.lower()
            restricted.setdefault(alias, set()).update(meta["aggregate_only"])
    if not restricted:
        return False
    aggregating: list[exp.Select] = []
    for column in list(qualified.find_all(exp.Column)):
        if column.name.lower() not in restricted.get(column.table.lower(), set()):
            continue
        scope_select = column.find_ancestor(exp.Select)
        if scope_select is not None and POLICY_META in scope_select.meta:
            continue  # the policy subquery's own projection or row filter
        if not column.meta.get(EXPLICIT_META):
            projection = column.parent if isinstance(column.parent, exp.Alias) else column
            if isinstance(projection.parent, exp.Select) and projection.arg_key == "expressions":
                projection.pop()
                continue
        aggregate = column.parent
        if (
            isinstance(aggregate, _AGGREGATES)
            and aggregate.this is column
            and not isinstance(aggregate.parent, exp.Window)
        ):
            owner = aggregate.find_ancestor(exp.Select)
            if owner is not None and not any(owner is s for s in aggregating):
                aggregating.append(owner)
            continue
        raise PolicyError(
            f"Column '{column.name}' is aggregate-only for {policy.subject}: it may appear only "
            "as the bare argument of SUM, AVG or COUNT.",
            f"Write e.g. SUM({column.name}) with GROUP BY over other columns; windows, "
            "DISTINCT, expressions and filters on it are not allowed.",
        )
    for select in qualified.find_all(exp.Select):
        if not select.expressions:
            raise PolicyError(
                f"The query selects only aggregate-only columns of {policy.subject} without "
                "aggregating them.",
                "Aggregate them with SUM, AVG or COUNT.",
            )
    for select in aggregating:
        minimum = exp.GTE(
            this=exp.Count(this=exp.Star()), expression=exp.Literal.number(policy.min_group_size)
        )
        having = select.args.get("having")
        condition = exp.and_(having.this, minimum) if having is not None else minimum
        select.set("having", exp.Having(this=condition))
    return True
