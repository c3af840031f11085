"""Column-level lineage of one query, in OpenLineage's vocabulary.

The query goes through the same front end as the planner (parse, bind to catalog datasets,
qualify, expand stars, optimize), so every name is the one the engine uses. sqlglot's
:func:`~sqlglot.lineage.lineage` then traces each output column down to the catalog
columns it comes from, and each step is classified by how the column is used:

* ``DIRECT`` — the value flows into the output column: ``IDENTITY`` (a plain copy),
  ``TRANSFORMATION`` (an expression of it) or ``AGGREGATION`` (an aggregate of it).
  ``masking`` is true when the step hides the values: counting, summing, averaging, hashing.
* ``INDIRECT`` — the column decides which rows or values appear without flowing into the
  output: ``CONDITIONAL`` (a CASE/IF condition), ``WINDOW`` (PARTITION BY/ORDER BY of a
  window), ``FILTER`` (WHERE, HAVING, QUALIFY, an aggregate's FILTER, a subquery predicate),
  ``JOIN`` (ON/USING), ``GROUP_BY`` and ``SORT``.

Conditions and window keys belong to one output column; filters, joins, grouping and
sorting affect the whole output and are listed at dataset level, as OpenLineage's
``columnLineage`` facet has it.

>>> from guajie.federation import CatalogView, ColumnInfo, TableInfo
>>> view = CatalogView(source_kinds={"hr": "sqlite"})
>>> view.add(TableInfo("hr", "main", "staff", "sqlite",
...     (ColumnInfo("name", "string"), ColumnInfo("pay", "int64"), ColumnInfo("dept", "string"))))
>>> found = analyze("SELECT dept, sum(pay) AS total FROM hr.staff WHERE name <> '' GROUP BY dept", view)
>>> [(f.column, f.transformation.subtype) for f in found.columns["total"]]
[('pay', 'AGGREGATION')]
>>> sorted({(f.column, f.transformation.subtype) for f in found.dataset})
[('dept', 'GROUP_BY'), ('name', 'FILTER')]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage, to_node
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope, find_all_in_scope, traverse_scope
from sqlglot.schema import Schema, ensure_schema

from guajie.catalog.lru import LruCache
from guajie.federation.catalog_view import CatalogView, TableInfo, sqlglot_schema
from guajie.federation.frontend import bind_tables, optimize_tree, parse_read_only

log = logging.getLogger("guajie.lineage")

DIRECT, INDIRECT = "DIRECT", "INDIRECT"
IDENTITY, TRANSFORMATION, AGGREGATION = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
FILTER, JOIN, GROUP_BY, SORT, WINDOW, CONDITIONAL = (
    "FILTER",
    "JOIN",
    "GROUP_BY",
    "SORT",
    "WINDOW",
    "CONDITIONAL",
)

#: Aggregates whose result reveals no single input value. Any other aggregate (MIN, MAX,
#: ANY_VALUE, ARRAY_AGG, LISTAGG, FIRST_VALUE, ...) can return an input value as it was.
MASKING_AGGREGATES: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in (
        "Count",
        "CountIf",
        "Sum",
        "Avg",
        "Stddev",
        "StddevPop",
        "StddevSamp",
        "Variance",
        "VariancePop",
        "ApproxDistinct",
        "Corr",
        "CovarPop",
        "CovarSamp",
        "BitwiseAndAgg",
        "BitwiseOrAgg",
        "BitwiseXorAgg",
        "LogicalAnd",
        "LogicalOr",
    )
    if hasattr(exp, name)
)

#: Functions whose result hides the value (pseudonymised: still personal information).
HASHES: tuple[type[exp.Expr], ...] = tuple(
    getattr(exp, name)
    for name in ("MD5", "MD5Digest", "SHA", "SHA2", "SHA1Digest")
    if hasattr(exp, name)
)

_DIRECT_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}

#: Clauses of a SELECT whose columns affect the whole output, and how.
_CLAUSES = (
    ("where", FILTER),
    ("having", FILTER),
    ("qualify", FILTER),
    ("group", GROUP_BY),
    ("order", SORT),
)


@dataclass(frozen=True, order=True)
class Transformation:
    """One way an input column reaches an output (OpenLineage's transformation object)."""

    type: str
    subtype: str
    masking: bool = False

    @property
    def carries_values(self) -> bool:
        """Whether input values can appear in the output as they were or recognisably.

        True for copies, transformations (hashes included: a pseudonym is still personal
        information) and value-preserving aggregates such as MIN and MAX; false for
        COUNT, SUM, AVG and for every indirect use.
        """
        return self.type == DIRECT and not (self.subtype == AGGREGATION and self.masking)

    def then(self, inner: Transformation) -> Transformation:
        """This step applied on top of ``inner`` (the step nearer the input)."""
        if self.type == INDIRECT:
            return self
        if inner.type == INDIRECT:
            return inner
        subtype = max(self.subtype, inner.subtype, key=_DIRECT_RANK.__getitem__)
        return Transformation(DIRECT, subtype, self.masking or inner.masking)

    def to_openlineage(self) -> dict[str, object]:
        return {"type": self.type, "subtype": self.subtype, "masking": self.masking}


IDENTITY_STEP = Transformation(DIRECT, IDENTITY)


@dataclass(frozen=True, order=True)
class InputField:
    dataset: str  # qualified name: source.schema.table
    column: str
    transformation: Transformation


@dataclass
class QueryLineage:
    """What a query reads and how each output column derives from it."""

    sql: str  # the normalized query, in Trino's dialect
    inputs: list[str]  # qualified names of every dataset read
    output_columns: list[str]
    columns: dict[str, list[InputField]] = field(default_factory=dict)
    dataset: list[InputField] = field(default_factory=list)  # whole-output (indirect) lineage

    def copy(self) -> QueryLineage:
        """A copy whose lists and mappings are its own (the fields themselves are frozen)."""
        return QueryLineage(
            sql=self.sql,
            inputs=list(self.inputs),
            output_columns=list(self.output_columns),
            columns={name: list(fields) for name, fields in self.columns.items()},
            dataset=list(self.dataset),
        )

    def fields(self) -> Iterator[tuple[str | None, InputField]]:
        """Every lineage edge: (output column or None for whole-dataset, input field)."""
        for name in self.output_columns:
            for f in self.columns.get(name, []):
                yield name, f
        for f in self.dataset:
            yield None, f

    def input_columns(self) -> dict[tuple[str, str], InputUse]:
        """Each input column read, with how it was used and whether its values flow out."""
        uses: dict[tuple[str, str], InputUse] = {}
        for _, f in self.fields():
            use = uses.setdefault((f.dataset, f.column), InputUse())
            use.subtypes.add(f.transformation.subtype)
            use.exposed = use.exposed or f.transformation.carries_values
        return uses

    def sources_of(self, column: str) -> list[InputField]:
        return self.columns.get(column, [])


@dataclass
class InputUse:
    subtypes: set[str] = field(default_factory=set)
    exposed: bool = False

    @property
    def how(self) -> str:
        order = [IDENTITY, TRANSFORMATION, AGGREGATION, CONDITIONAL, WINDOW, FILTER, JOIN]
        order += [GROUP_BY, SORT]
        return ",".join(sorted(self.subtypes, key=lambda s: order.index(s) if s in order else 99))


def analyze(sql: str, view: CatalogView, *, dialect: str = "trino") -> QueryLineage:
    """Column-level lineage of ``sql`` against the catalog view ``view`` (no source touched)."""
    tree = parse_read_only(sql, dialect)
    tables = bind_tables(tree, view)
    key = (sql, dialect, tuple(sorted(tables, key=lambda t: t.qualified_name)))
    found = _ANALYZED.get(key)
    if found is None:
        found = _traced_or_inputs(optimize_tree(tree, view, dialect, tables), tables)
        _ANALYZED.put(key, found)
    return found.copy()


# Lineage depends only on the query and the catalog entries it reads, as plans do, so a
# query run again (a scenario, a dashboard) is traced once, not on every run.
_ANALYZED: LruCache[tuple[object, ...], QueryLineage] = LruCache(256)


def _traced_or_inputs(optimized: exp.Query, tables: list[TableInfo]) -> QueryLineage:
    try:
        return lineage_of(optimized, tables)
    except SqlglotError as exc:
        # A construct sqlglot cannot trace must not stop the query: record what it reads.
        log.warning("guajie: no column lineage for this query (%s)", exc)
        return QueryLineage(
            sql=optimized.sql(dialect="trino"),
            inputs=sorted({t.qualified_name for t in tables}),
            output_columns=[s.alias_or_name for s in optimized.selects],
        )


def lineage_of(optimized: exp.Query, tables: list[TableInfo]) -> QueryLineage:
    """Lineage of an already bound and optimized tree reading ``tables`` (see :func:`analyze`)."""
    mapping: dict[str, Any] = dict(sqlglot_schema(tables))
    schema = ensure_schema(mapping)
    inputs = sorted({t.qualified_name for t in tables})
    root = build_scope(optimized)
    assert root is not None
    names = [s.alias_or_name for s in optimized.selects]
    result = QueryLineage(sql=optimized.sql(dialect="trino"), inputs=inputs, output_columns=names)
    nodes = lineage(None, optimized, schema, scope=root, copy=False, trim_selects=False)
    memo = _Memo()
    for name in names:
        found = _trace(nodes[name], memo.traced) if name in nodes else {}
        result.columns[name] = sorted(
            InputField(ds, col, t) for (ds, col), steps in found.items() for t in steps
        )
    result.dataset = sorted(set(_whole_output(optimized, schema, memo)))
    return result


# -- output columns ---------------------------------------------------------------------

_Traced = dict[int, dict[tuple[str, str], set["Transformation"]]]


@dataclass
class _Memo:
    """What one analysis computes once: traced nodes, and the nodes of columns by scope."""

    traced: _Traced = field(default_factory=dict)
    nodes: dict[tuple[str, int], Node] = field(default_factory=dict)


def _trace(node: Node, memo: _Traced) -> dict[tuple[str, str], set[Transformation]]:
    """Input columns under ``node`` and the transformations that bring each one here."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = {}  # a cycle (never produced by sqlglot, but cheap to guard) ends here
    found: dict[tuple[str, str], set[Transformation]] = {}
    if isinstance(node.expression, exp.Table):
        column = _leaf_column(node)
        if column is not None:
            found[(_qualified(node.expression), column)] = {IDENTITY_STEP}
        memo[key] = found
        return found
    for child in node.downstream:
        steps = _steps(node, child)
        for input_key, inner in _trace(child, memo).items():
            into = found.setdefault(input_key, set())
            for step in steps:
                into.update(step.then(t) for t in inner)
    memo[key] = found
    return found


def _steps(node: Node, child: Node) -> set[Transformation]:
    """How ``node``'s expression uses the column ``child`` stands for."""
    if isinstance(node.source, exp.SetOperation) or isinstance(node.expression, exp.Star):
        return {IDENTITY_STEP}
    refs = [c for c in node.expression.find_all(exp.Column) if child.name in _names(c)]
    if not refs:
        return {Transformation(DIRECT, TRANSFORMATION)}
    root = node.expression.this if isinstance(node.expression, exp.Alias) else node.expression
    return {_classify(ref, root) for ref in refs}


def _classify(column: exp.Column, root: exp.Expr) -> Transformation:
    """How one reference to a column inside a projection contributes to it."""
    aggregate: exp.Expr | None = None
    hashed = False
    node: exp.Expr = column
    while node is not root and node.parent is not None:
        parent = node.parent
        arg = node.arg_key
        if isinstance(parent, exp.If) and arg == "this":
            return Transformation(INDIRECT, CONDITIONAL)
        if isinstance(parent, exp.Window) and arg in ("partition_by", "order"):
            return Transformation(INDIRECT, WINDOW)
        if isinstance(parent, exp.Filter) and arg == "expression":
            return Transformation(INDIRECT, FILTER)
        if isinstance(parent, exp.Ordered | exp.Order) and isinstance(
            _window_of(parent), exp.Window
        ):
            return Transformation(INDIRECT, WINDOW)
        if isinstance(parent, exp.AggFunc) and aggregate is None:
            aggregate = parent
        if isinstance(parent, HASHES):
            hashed = True
        node = parent
    if aggregate is not None:
        return Transformation(
            DIRECT, AGGREGATION, isinstance(aggregate, MASKING_AGGREGATES) or hashed
        )
    if column is root:
        return IDENTITY_STEP
    return Transformation(DIRECT, TRANSFORMATION, hashed)


def _window_of(node: exp.Expr) -> exp.Expr | None:
    while node is not None and isinstance(node, exp.Ordered | exp.Order):
        node = node.parent  # type: ignore[assignment]
    return node


def _names(column: exp.Column) -> set[str]:
    """The names sqlglot's lineage gives the node a column reference leads to."""
    names = {column.sql(comments=False), column.name}
    if column.table:
        names.add(f"{column.table}.{column.name}")
    return names


def _leaf_column(node: Node) -> str | None:
    parsed = exp.maybe_parse(node.name, into=exp.Column)
    return parsed.name if isinstance(parsed, exp.Column) and parsed.name else None


def _qualified(table: exp.Table) -> str:
    return ".".join(p for p in (table.catalog, table.db, table.name) if p)


# -- whole-output lineage ---------------------------------------------------------------


def _whole_output(tree: exp.Query, schema: Schema, memo: _Memo) -> Iterator[InputField]:
    """Columns that decide which rows appear: filters, joins, grouping, sorting."""
    for scope in traverse_scope(tree):
        select = scope.expression
        if scope.scope_type == ScopeType.SUBQUERY:
            how = _subquery_role(select)
            if how is not None:
                for projection in select.selects if isinstance(select, exp.Query) else []:
                    for column in find_all_in_scope(projection, exp.Column):
                        yield from _inputs(column, scope, schema, how, memo)
        if not isinstance(select, exp.Select):
            continue
        for arg, how in _CLAUSES:
            clause = select.args.get(arg)
            if clause is not None:
                for column in find_all_in_scope(clause, exp.Column):
                    yield from _inputs(column, scope, schema, how, memo)
        for join in select.args.get("joins") or []:
            condition = join.args.get("on")
            if condition is None:
                continue
            # The optimizer moves single-table predicates into ON: a conjunct that
            # compares columns of two relations joins them; any other one filters.
            conjuncts = condition.flatten() if isinstance(condition, exp.And) else [condition]
            for conjunct in conjuncts:
                columns = list(find_all_in_scope(conjunct, exp.Column))
                how = JOIN if len({c.table for c in columns}) > 1 else FILTER
                for column in columns:
                    yield from _inputs(column, scope, schema, how, memo)


def _subquery_role(query: exp.Expr) -> str | None:
    """FILTER or JOIN when a subquery sits in a predicate; None when it is a projection."""
    node = query.parent
    while node is not None:
        if isinstance(node, exp.Where | exp.Having | exp.Qualify):
            return FILTER
        if isinstance(node, exp.Join):
            return JOIN
        if isinstance(node, exp.Select):
            return None
        node = node.parent
    return None


def _inputs(
    column: exp.Column, scope: Scope, schema: Schema, how: str, memo: _Memo
) -> Iterator[InputField]:
    step = Transformation(INDIRECT, how)
    for dataset, name in _resolve(column, scope, schema, memo, depth=0):
        yield InputField(dataset, name, step)


def _resolve(
    column: exp.Column, scope: Scope, schema: Schema, memo: _Memo, depth: int
) -> Iterable[tuple[str, str]]:
    """The catalog columns a column reference in ``scope`` stands for."""
    if depth > 32:
        return []
    source = scope.sources.get(column.table) if column.table else None
    if isinstance(source, exp.Table):
        return [(_qualified(source), column.name)]
    if isinstance(source, Scope):
        key = (column.name, id(source))
        if key not in memo.nodes:
            memo.nodes[key] = to_node(
                column.name, source, dialect=None, schema=schema, trim_selects=False
            )
        return list(_trace(memo.nodes[key], memo.traced))
    if not column.table and isinstance(scope.expression, exp.Select):
        # An output alias (ORDER BY n): the columns of the projection it names.
        for projection in scope.expression.selects:
            if projection.alias_or_name == column.name and projection is not column:
                found: list[tuple[str, str]] = []
                for inner in find_all_in_scope(projection, exp.Column):
                    if inner is not column:
                        found.extend(_resolve(inner, scope, schema, memo, depth + 1))
                return found
    return []
