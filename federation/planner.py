"""Planning: a bound, optimized query -> fragments each source runs, and a local residual.

The rules, in order:

1. A scope (a SELECT, a set operation, a CTE or subquery body) whose tables all live in one
   SQL source, which that source can run with the query's meaning, is pushed whole: joins,
   aggregates, ORDER BY and LIMIT included. The largest such scopes win.
2. Otherwise each table becomes a scan fragment carrying the columns the query needs and the
   filters on that table alone that its source can apply. Inner-joined tables of one SQL
   source that join each other are fetched as one joined fragment.
3. Where an inner equi-join pairs a small fragment with a much larger one, the larger one
   gets a dynamic filter: at run time it is restricted to the keys the small side returned.

Pushed filters are re-applied locally, so a source that returns a superset (a
case-insensitive collation, say) never changes the answer. Planning touches no source.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, build_scope

from guajie.catalog.lru import LruCache

from .catalog_view import CatalogView, ColumnInfo, TableInfo, sqlglot_schema
from .decimals import exact_type
from .dialects import SourceDialect, dialect_for
from .errors import QueryError
from .estimates import ColumnLookup, selectivity
from .frontend import checked_tree, optimize_checked, parse_and_bind
from .plan import DynamicFilter, Fragment, Plan
from .policy import Policy
from .scan_filters import arrow_filter_supported

# A dynamic filter pays when the small side is at most this many keys and this many times
# smaller than the side it filters: sending a key costs far less than fetching a row.
DYNAMIC_FILTER_MAX_KEYS = 1_000_000  # capped by what each source takes (dialects)
DYNAMIC_FILTER_MAX_FILE_KEYS = 1_000_000
DYNAMIC_FILTER_RATIO = 2
# A second filter on a fragment: only from a side expected to keep at most this share of
# its rows.
DYNAMIC_FILTER_MAX_KEPT = 0.5
# A side that itself waits for keys sends its own only to fragments at least this large.
DYNAMIC_FILTER_CHAIN_MIN_ROWS = 50_000
# Beyond this many keys a SQL source gets them as an array it scans its table against,
# not as lookups: a fragment waiting on a chain for that many keys also has an
# alternative that fetches it at once, moving more rows but waiting for nothing.
CHAINED_KEYS_MAX_LOOKUPS = 5_000


def plan_query(
    sql: str,
    view: CatalogView,
    *,
    dialect: str = "trino",
    policy: Policy | None = None,
    shared: bool = False,
) -> Plan:
    """Plan ``sql`` against the catalog snapshot ``view`` under ``policy``; touches no source.

    ``shared`` hands out the cached plan itself, for callers that only read it (the
    executor): its SQL texts are then generated once, not on every run.

    >>> plan = plan_query("SELECT 1", CatalogView())  # doctest: +SKIP
    """
    tree, tables = parse_and_bind(sql, view, dialect)
    ordered = sorted(tables, key=lambda t: t.qualified_name)
    # A policy refuses here (grant_for raises) before any cached plan is looked at, so an
    # approval that lapsed since the plan was cached still stops the query.
    key = (sql, dialect, tuple(ordered), _policy_key(policy, ordered))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _plan(tree, tables, view, dialect, policy)
        _PLANS.put(key, plan)
    return plan if shared else plan.copy()


# A SQL fragment over a table of at least this many rows is fetched as this many slices
# at once, where the source can slice it (PostgreSQL: heap block ranges). A single
# connection's scan or join runs on one server process; slices run on several.
SLICED_FETCH_MIN_ROWS = 500_000
SLICED_FETCH_PARTS = 2


def _slice_large_fetch(fragment: Fragment, tables: dict[tuple[str, str, str], TableInfo]) -> None:
    """Mark a plain scan or inner join over a large table to be fetched in slices."""
    query = fragment.query
    if not isinstance(query, exp.Select) or fragment.dialect is None:
        return
    if any(query.args.get(k) for k in ("group", "having", "distinct", "order", "limit", "offset")):
        return
    if query.args.get("with") or query.args.get("with_"):
        return
    if query.find(exp.AggFunc, exp.Window, exp.Subquery, exp.Exists, exp.SetOperation):
        return
    if not all(_is_inner(j) for j in query.args.get("joins") or []):
        return
    dialect = dialect_for(fragment.kind)
    candidates = []
    for table in query.find_all(exp.Table):
        info = tables.get((fragment.source, table.db, table.name))
        if info is None or info.row_count is None:
            return
        if info.table_kind in ("table", "materialized_view"):
            candidates.append((info.row_count, table.alias_or_name, info))
    if not candidates or dialect is None:
        return
    _rows, alias, info = max(candidates, key=lambda c: c[0])
    if _sliceable(info, dialect, alias):
        fragment.parts = SLICED_FETCH_PARTS
        fragment.part_table = (alias, info.schema, info.name)


def _sliceable(info: TableInfo, dialect: SourceDialect, alias: str) -> bool:
    """Whether the table is large enough to fetch in slices, and its source can slice it."""
    return (
        (info.row_count or 0) >= SLICED_FETCH_MIN_ROWS
        and info.table_kind in ("table", "materialized_view")
        and dialect.part_condition(alias, info.schema, info.name, 0, SLICED_FETCH_PARTS) is not None
    )


# Plans are pure: the same SQL over the same catalog entries under the same grants plans
# the same way, so the optimizer's work is done once per (query, datasets, grants).
_PLANS: LruCache[tuple[object, ...], Plan] = LruCache(256)


def _policy_key(policy: Policy | None, tables: list[TableInfo]) -> tuple[object, ...] | None:
    if policy is None:
        return None
    grants = []
    for info in tables:
        grant = policy.grant_for(info)
        grants.append((tuple(sorted(grant.columns.items())), grant.row_filter))
    return (policy.subject, policy.min_group_size, tuple(grants))


def _plan(
    tree: exp.Expr,
    tables: list[TableInfo],
    view: CatalogView,
    dialect: str,
    policy: Policy | None = None,
) -> Plan:
    tree = checked_tree(tree, dialect, tables, policy)
    optimized = optimize_checked(tree.copy(), dialect, tables, policy, keep_exists=True)
    _inline_table_ctes(optimized)
    planner = _Planner(view, optimized)
    if len({t.source for t in tables}) == 1 and dialect_for(tables[0].kind) is not None:
        # One SQL source reads it all: it gets the query with its subqueries as written,
        # which its own optimizer plans better than their decorrelated joins.
        whole = _Planner(view, _optimized_keeping_subqueries(tree, tables, dialect))
        whole.run()
        if whole.root_pushed:
            planner = whole
    untouched = optimized.copy()  # the planner rewrites the tree it plans into the residual
    if not planner.root_pushed:
        planner.run()
    plan = _finished_plan(planner, optimized, tables)
    chained = [c.tables for c in planner.chained_scans]
    if planner.root_pushed and _worth_pulling(plan, tables):
        pulled = _Planner(view, untouched, pull=True)
        summary = "the tables fetched apart ({}) and combined locally"
    elif chained:
        pulled = _Planner(view, untouched, unchained=True)
        summary = "{} fetched at once, not after the keys other fragments find"
    else:
        return plan
    try:
        pulled.run()
    except QueryError:
        return plan
    plan.pulled = _finished_plan(pulled, untouched, tables)
    # Named: every fetch of a plan pulled apart (it has no chains), or the unchained ones.
    named = [
        f for f in plan.pulled.fragments if not f.is_local and (not chained or f.tables in chained)
    ]
    plan.pulled_summary = summary.format(", ".join(f"{f.id} {', '.join(f.tables)}" for f in named))
    return plan


def _finished_plan(planner: _Planner, optimized: exp.Query, tables: list[TableInfo]) -> Plan:
    residual = None if planner.root_pushed else optimized
    if residual is not None:
        by_name = {(t.source, t.schema, t.name): t for t in tables}
        for fragment in planner.fragments:
            _slice_large_fetch(fragment, by_name)
    return Plan(
        sql=optimized.sql(dialect="trino"),
        fragments=planner.fragments,
        residual=residual,
        output_columns=[s.alias_or_name for s in optimized.selects],
        datasets=sorted(t.qualified_name for t in tables),
    )


def _worth_pulling(plan: Plan, tables: list[TableInfo]) -> bool:
    """Whether a query pushed whole into one source could run faster with its tables
    fetched in slices and combined locally: it joins or aggregates a table large enough
    to slice, in a source that slices."""
    (fragment,) = plan.fragments
    dialect = dialect_for(fragment.kind)
    if (
        dialect is None
        or fragment.query is None
        or not ({"join", "aggregate"} & set(fragment.pushed))
    ):
        return False
    return any(_sliceable(t, dialect, t.name) for t in tables)


def _optimized_keeping_subqueries(
    tree: exp.Expr, tables: list[TableInfo], dialect: str
) -> exp.Query:
    from sqlglot.optimizer import RULES, optimize
    from sqlglot.optimizer.unnest_subqueries import unnest_subqueries

    rules = [r for r in RULES if r is not unnest_subqueries]
    schema = sqlglot_schema(tables)
    return optimize(tree.copy(), schema=schema, dialect=dialect, rules=rules)  # type: ignore[arg-type,return-value]


@dataclass
class _Relation:
    alias: str
    table: exp.Table
    info: TableInfo
    null_supplying: bool


class _Planner:
    def __init__(
        self, view: CatalogView, tree: exp.Query, *, pull: bool = False, unchained: bool = False
    ) -> None:
        self.view = view
        self.tree = tree
        # Pulling: no scope is pushed whole and no source joins its own tables; each
        # table is fetched with its own filters and combined locally.
        self.pull = pull
        # Unchained: no SQL fragment waits on a chain for more keys than it can look up.
        self.unchained = unchained
        self.chained_scans: list[Fragment] = []  # fragments that wait so, when not unchained
        self.fragments: list[Fragment] = []
        self.root_pushed = False
        self._ids = itertools.count(1)
        self._base_rows: dict[str, int] = {}  # rows before the fragment's own filters
        self._pending: dict[str, Fragment] = {}  # candidate local fragments
        # joined candidates: the FROM items they replace and their columns' names
        self._joined: dict[str, tuple[list[tuple[str, exp.Expr]], dict[str, str]]] = {}
        self._pushed_ctes: dict[int, exp.CTE] = {}

    # -- scopes ------------------------------------------------------------------------
    def run(self) -> None:
        root = build_scope(self.tree)
        if root is None:
            raise QueryError("Cannot analyse the query's structure.")
        self._sources_cache: dict[int, set[str] | None] = {}
        self._visit(root, is_root=True)

    def _info(self, table: exp.Table) -> TableInfo:
        info = self.view.get(f"{table.catalog}.{table.db}.{table.name}")
        assert info is not None, table.sql()
        return info

    def _sources(self, scope: Scope) -> set[str] | None:
        """Catalog sources a scope reads, through every nested scope; None if unknowable."""
        key = id(scope)
        if key in self._sources_cache:
            return self._sources_cache[key]
        found: set[str] = set()
        for _node, source in scope.selected_sources.values():
            if isinstance(source, exp.Table):
                found.add(self._info(source).source)
            elif isinstance(source, Scope):
                inner = self._sources(source)
                if inner is None:
                    self._sources_cache[key] = None
                    return None
                found |= inner
        for child in _children(scope):
            inner = self._sources(child)
            if inner is None:
                self._sources_cache[key] = None
                return None
            found |= inner
        self._sources_cache[key] = found
        return found

    def _visit(self, scope: Scope, is_root: bool = False) -> None:
        if self._try_push_scope(scope, is_root):
            return
        for child in _children(scope):
            self._visit(child)
        for cte_scope in scope.cte_scopes:
            self._visit(cte_scope)
        if isinstance(scope.expression, exp.Select):
            self._split_select(scope)

    def _try_push_scope(self, scope: Scope, is_root: bool) -> bool:
        if self.pull:
            return False
        sources = self._sources(scope)
        if not sources or len(sources) != 1:
            return False
        (source,) = sources
        dialect = dialect_for(self.view.source_kinds.get(source, ""))
        if dialect is None or scope.external_columns:
            return False
        tables = [self._info(t) for t in _scope_tables(scope, self._pushed_ctes)]
        query = self._scope_query(scope)
        if query is None or dialect.rejects(query):
            return False
        if _has_joins(query) and not dialect.joins:
            return False
        fragment = self._new_fragment(source, dialect, query, pushed=_pushed_kinds(query))
        fragment.tables = sorted({t.qualified_name for t in tables})
        fragment.output_types = _output_types(query)
        fragment.estimated_rows = self._estimate_scope(query, tables)
        if is_root:
            self.root_pushed = True  # the root's own WITH travels with it
        else:
            if scope.is_cte and isinstance(scope.expression.parent, exp.CTE):
                # Other CTEs of the same source that read this one carry it as written.
                self._pushed_ctes[id(scope)] = scope.expression.parent.copy()
            _replace_with_relation(scope, fragment)
        return True

    def _scope_query(self, scope: Scope) -> exp.Query | None:
        """The scope's query, standalone: the CTEs it reads attached, names made local."""
        query = scope.expression.copy()
        needed = _referenced_ctes(scope, self._pushed_ctes)
        if needed and not (scope.is_root and scope.cte_scopes):
            # A nested scope reading CTEs carries their definitions; the root has its own WITH.
            with_ = exp.With(expressions=[c.copy() for c in needed])
            query.set("with_" if "with_" in query.arg_types else "with", with_)
        for table in query.find_all(exp.Table):
            if table.catalog:
                table.set("catalog", None)
        return query  # type: ignore[return-value]

    # -- splitting a mixed SELECT --------------------------------------------------------
    def _split_select(self, scope: Scope) -> None:
        select: exp.Select = scope.expression  # type: ignore[assignment]
        _inner_where_null_rejected(select)
        relations = self._relations(scope)
        if not relations:
            return
        joins = select.args.get("joins") or []
        inner_only = all(not r.null_supplying for r in relations) and all(
            _is_inner(j) for j in joins
        )
        # Inner joins followed only by LEFT JOINs: the inner part can be planned like an
        # inner-only SELECT (its ON conditions mean the same in WHERE), the LEFT JOINs stay.
        inner_part = inner_only or (
            all(
                _is_inner(j) or (j.side == "LEFT" and (j.kind or "OUTER") == "OUTER") for j in joins
            )
            and not any(j.args.get("using") for j in joins)
        )
        inner_relations = [r for r in relations if not r.null_supplying] if inner_part else []
        if inner_only:
            _move_join_conditions_to_where(select)
        elif inner_part:
            _move_join_conditions_to_where(select, inner_only=True)
        # Analysis works on detached copies: the tree itself is rewritten as fragments form.
        _factor_ors(select)
        conjuncts = [c.copy() for c in _conjuncts(select.args.get("where"))]
        conjuncts += _implied_by_ors(conjuncts, {r.alias for r in inner_relations})
        groups = self._join_groups(inner_relations, conjuncts)
        grouped = {r.alias for g in groups for r in g}
        exact = [i for g in groups for i in self._exact_in_group(g, conjuncts)]
        # A table fetched alone from a SQL source computes its own WHERE conditions too.
        in_where = conjuncts[: len(_conjuncts(select.args.get("where")))]
        exact += [
            i
            for r in relations
            if r.alias not in grouped and not r.null_supplying and dialect_for(r.info.kind)
            for i in self._exact_in_group([r], in_where)
        ]
        if exact:
            # Conditions a fragment computes exactly need no second look, and the columns
            # only they use need not be fetched.
            _drop_conjuncts(select, set(exact))
        needed = _needed_columns(scope) if not exact else _needed_in(select)
        by_alias: dict[str, tuple[Fragment, dict[str, str]]] = {}

        for group in groups:
            fragment, names = self._group_fragment(group, conjuncts, needed)
            group_alias = f"_g{fragment.id[1:]}"
            for r in group:
                by_alias[r.alias] = (fragment, names)
            _replace_group(
                select, [(r.alias, r.table) for r in group], fragment, group_alias, names
            )

        for r in relations:
            if r.alias in grouped:
                continue
            own = [c for c in conjuncts if _aliases(c) == {r.alias} and not r.null_supplying]
            own += _on_conjuncts_for(select, r)
            fragment = self._table_fragment(r, needed.get(r.alias, set()), own, scope)
            by_alias[r.alias] = (fragment, {c: c for c in needed.get(r.alias, set())})
            r.table.replace(
                exp.Table(
                    this=exp.to_identifier(fragment.relation),
                    alias=exp.TableAlias(this=exp.to_identifier(r.alias)),
                )
            )

        if inner_part:
            inner = {r.alias for r in inner_relations}
            keyed = {a: v for a, v in by_alias.items() if a in inner}
            pending = self._derived_relations(select, keyed, conjuncts)
            self._dynamic_filters(conjuncts, keyed, targets=inner)
            self._keys_into_derived(select, conjuncts, keyed)
            self._adopt_local(pending, select)

    def _derived_relations(
        self,
        select: exp.Select,
        by_alias: dict[str, tuple[Fragment, dict[str, str]]],
        conjuncts: list[exp.Expr],
    ) -> dict[str, tuple[Fragment, exp.Query | None]]:
        """CTEs and derived tables this SELECT joins, as sources of join keys: one that only
        reads a fragment is that fragment; one computed over fragments becomes a candidate
        local fragment, kept only if its keys filter another fragment."""
        relations = {f.relation: f for f in self.fragments}
        items = _inner_items(select)
        pending: dict[str, tuple[Fragment, exp.Query | None]] = {}
        computable: dict[str, tuple[exp.Expr, list[exp.CTE], exp.Select]] = {}
        for item in items:
            if isinstance(item, exp.Table) and not item.catalog:
                body = _cte_body(select, item.name)
            elif isinstance(item, exp.Subquery) and isinstance(item.this, exp.Query):
                body = item.this
            else:
                continue
            alias = item.alias_or_name
            if not isinstance(body, exp.Select) or alias in by_alias:
                continue
            if _volatile(body):
                continue  # computed twice, it could differ from the residual's
            ctes = _local_ctes(select, body, relations)
            if ctes is not None:
                computable[alias] = (item, ctes, body)
            read = [t for t in body.find_all(exp.Table)]
            if not read or any(t.catalog or t.name not in relations for t in read):
                continue
            inputs = [relations[t.name] for t in read]
            from_item = body.args.get("from_") or body.args.get("from")
            if (
                len(read) == 1
                and isinstance(body.selects[0], exp.Star)
                and from_item is not None
                and from_item.this is read[0]
                and not body.args.get("where")
            ):
                by_alias[alias] = (inputs[0], {})  # the fragment's rows as they are
                continue
            fragment = Fragment(
                id=f"pending:{alias}",
                source="local",
                kind="local",
                tables=[],
                local_query=body,
                inputs=sorted({f.id for f in inputs}),
                estimated_rows=_estimate_local(body, inputs),
            )
            pending[fragment.id] = (fragment, body)
            known = [f.estimated_rows for f in inputs if f.estimated_rows is not None]
            if known:
                self._base_rows[fragment.id] = max(known)
            by_alias[alias] = (fragment, {})
        joined = self._joined_derived(select, computable, conjuncts, relations)
        if joined is not None:
            fragment, names = joined
            for alias in computable:
                pending.pop(f"pending:{alias}", None)
                by_alias[alias] = (fragment, names)
            pending[fragment.id] = (fragment, None)
            members = [(alias, item) for alias, (item, _, _) in computable.items()]
            self._joined[fragment.id] = (members, names)
        self._pending = {fid: f for fid, (f, _) in pending.items()}
        return pending

    def _joined_derived(
        self,
        select: exp.Select,
        computable: dict[str, tuple[exp.Expr, list[exp.CTE], exp.Select]],
        conjuncts: list[exp.Expr],
        relations: dict[str, Fragment],
    ) -> tuple[Fragment, dict[str, str]] | None:
        """CTEs and derived tables that this SELECT joins with each other (a maximum and
        the rows that reach it, say): their join, computed locally, sends fewer keys than
        any of them alone, and the residual reads it instead of joining them again."""
        aliases = set(computable)
        among = [c for c in conjuncts if len(_aliases(c)) > 1 and _aliases(c) <= aliases]
        if len(aliases) < 2 or not among:
            return None
        names: dict[str, str] = {}
        selects = []
        used = [exp.column(c, table=a) for a, cols in _needed_in(select).items() for c in cols]
        for c in [*conjuncts, *used]:
            for col in c.find_all(exp.Column):
                key = f"{col.table}.{col.name}"
                if col.table in aliases and key not in names:
                    names[key] = f"{col.table}__{col.name}"
                    selects.append(
                        exp.alias_(
                            exp.column(col.name, table=col.table, quoted=True),
                            names[key],
                            quoted=True,
                        )
                    )
        order = list(computable)
        query = exp.select(*selects).from_(computable[order[0]][0].copy())
        for alias in order[1:]:
            query = query.join(computable[alias][0].copy(), join_type="CROSS")
        query = query.where(exp.and_(*[c.copy() for c in among]))
        seen: set[str] = set()
        for alias in order:
            item, ctes, body = computable[alias]
            own = [body.parent] if isinstance(item, exp.Table) else []
            for cte in [*ctes, *own]:
                if not isinstance(cte, exp.CTE):
                    return None
                if cte.alias_or_name not in seen:
                    seen.add(cte.alias_or_name)
                    query = query.with_(cte.alias_or_name, as_=cte.this.copy())
        inputs = sorted(
            {relations[t.name].id for t in query.find_all(exp.Table) if t.name in relations}
        )
        if not inputs or _volatile(query):
            return None
        by_id = {f.id: f for f in self.fragments}
        known = [r for i in inputs if (r := by_id[i].estimated_rows) is not None]
        # Joined on equal values, the smallest of them bounds the result.
        joined_rows = []
        for alias in {a for c in among for a in _aliases(c)}:
            body = computable[alias][2]
            read = [relations[t.name] for t in body.find_all(exp.Table) if t.name in relations]
            estimate = _estimate_local(body, read or [by_id[i] for i in inputs])
            if estimate is not None:
                joined_rows.append(estimate)
        fragment = Fragment(
            id="pending:" + "+".join(order),
            source="local",
            kind="local",
            tables=[],
            local_query=query,
            inputs=inputs,
            estimated_rows=min(joined_rows) if joined_rows else None,
        )
        if known:
            self._base_rows[fragment.id] = max(known)
        return fragment, names

    def _adopt_local(
        self, pending: dict[str, tuple[Fragment, exp.Query | None]], select: exp.Select
    ) -> None:
        """Candidate local fragments whose keys filter a source become fragments; the
        residual then reads their rows instead of computing them again."""
        for pid, (fragment, body) in pending.items():
            users = [d for f in self.fragments for d in f.dynamic_filters if d.from_fragment == pid]
            if not users:
                continue
            fragment.id = f"f{next(self._ids)}"
            for d in users:
                d.from_fragment = fragment.id
            self.fragments.append(fragment)
            if body is None:
                members, names = self._joined.pop(pid)
                _replace_group(select, members, fragment, f"_g{fragment.id[1:]}", names)
                continue
            fragment.local_query = body.copy()
            body.replace(
                exp.select(exp.Star()).from_(exp.Table(this=exp.to_identifier(fragment.relation)))
            )
        self._pending = {}

    def _exact_in_group(self, group: list[_Relation], conjuncts: list[exp.Expr]) -> list[int]:
        dialect = dialect_for(group[0].info.kind)
        assert dialect is not None
        aliases = {r.alias for r in group}
        return [
            i
            for i, c in enumerate(conjuncts)
            if _aliases(c)
            and _aliases(c) <= aliases
            and not c.find(exp.Subquery)
            and not dialect.rejects(c)
        ]

    def _relations(self, scope: Scope) -> list[_Relation]:
        select: exp.Select = scope.expression  # type: ignore[assignment]
        out: list[_Relation] = []
        from_ = select.args.get("from_") or select.args.get("from")
        joins = select.args.get("joins") or []
        order = [from_.this if from_ else None] + [j.this for j in joins]
        sides = [None] + [j.side for j in joins]
        for i, (node, side) in enumerate(zip(order, sides, strict=True)):
            if not isinstance(node, exp.Table) or not node.catalog:
                continue
            alias = node.alias_or_name
            later = [s for s in sides[i + 1 :] if s]
            null_supplying = side in ("LEFT", "FULL") or any(s in ("RIGHT", "FULL") for s in later)
            if i == 0:
                null_supplying = any(s in ("RIGHT", "FULL") for s in sides[1:])
            out.append(_Relation(alias, node, self._info(node), null_supplying))
        return out

    def _join_groups(
        self, relations: list[_Relation], conjuncts: list[exp.Expr]
    ) -> list[list[_Relation]]:
        by_source: dict[str, list[_Relation]] = {}
        for r in relations if not self.pull else []:
            dialect = dialect_for(r.info.kind)
            if dialect is None or not dialect.joins:
                continue
            limit, rows = dialect.max_join_rows, r.info.row_count
            if limit is not None and rows is not None:
                own = [c for c in conjuncts if _aliases(c) == {r.alias}]
                if rows * selectivity(own, _columns_of(r)) > limit:
                    continue  # fetched apart, with the keys of the others as a filter
            by_source.setdefault(r.info.source, []).append(r)
        groups: list[list[_Relation]] = []
        for members in by_source.values():
            if len(members) < 2:
                continue
            dialect = dialect_for(members[0].info.kind)
            assert dialect is not None
            aliases = {r.alias for r in members}
            parent = {a: a for a in aliases}
            for c in conjuncts:
                if (
                    isinstance(c, exp.EQ)
                    and isinstance(c.left, exp.Column)
                    and isinstance(c.right, exp.Column)
                ):
                    pair = {c.left.table, c.right.table}
                    if len(pair) == 2 and pair <= aliases and not dialect.rejects(c):
                        a, b = pair
                        parent[_find(parent, a)] = _find(parent, b)
            components: dict[str, list[_Relation]] = {}
            for r in members:
                components.setdefault(_find(parent, r.alias), []).append(r)
            groups.extend(g for g in components.values() if len(g) > 1)
        return groups

    def _group_fragment(
        self, group: list[_Relation], conjuncts: list[exp.Expr], needed: dict[str, set[str]]
    ) -> tuple[Fragment, dict[str, str]]:
        dialect = dialect_for(group[0].info.kind)
        assert dialect is not None
        aliases = {r.alias for r in group}
        names: dict[str, str] = {}
        selects = []
        for r in group:
            for col in sorted(needed.get(r.alias, set())):
                out = f"{r.alias}__{col}"
                names[f"{r.alias}.{col}"] = out
                selects.append(
                    exp.alias_(exp.column(col, table=r.alias, quoted=True), out, quoted=True)
                )
        if not selects:
            selects = [exp.alias_(exp.Literal.number(1), "__one", quoted=True)]
        query = exp.select(*selects)
        first, *rest = group
        query = query.from_(_source_table(first))
        for r in rest:
            query = query.join(_source_table(r), join_type="CROSS")
        pushed = [
            c
            for c in conjuncts
            if _aliases(c)
            and _aliases(c) <= aliases
            and not c.find(exp.Subquery)
            and not dialect.rejects(c, filter_only=True)
        ]
        if pushed:
            query = query.where(exp.and_(*[c.copy() for c in pushed]))
        query = dialect.prepare(query)  # type: ignore[assignment]
        fragment = self._new_fragment(group[0].info.source, dialect, query, pushed=["join"])
        fragment.tables = [r.info.qualified_name for r in group]
        fragment.output_types = {
            names[f"{r.alias}.{c}"]: info_col.arrow_type
            for r in group
            for c in needed.get(r.alias, set())
            if (info_col := r.info.column(c)) is not None
        }
        # Inner joins only: a NOT NULL column stays so in the group's rows.
        fragment.not_null = sorted(
            names[f"{r.alias}.{c}"]
            for r in group
            for c in needed.get(r.alias, set())
            if (info_col := r.info.column(c)) is not None and not info_col.nullable
        )
        rows = [r.info.row_count for r in group if r.info.row_count is not None]
        # Join conditions pair rows rather than drop them: only the other filters count.
        filters = [c for c in pushed if not _is_column_equality(c)]
        fragment.estimated_rows = (
            int(max(rows) * selectivity(filters, _columns_of(*group))) if rows else None
        )
        if rows:
            self._base_rows[fragment.id] = fragment.table_rows = max(rows)
        return fragment, names

    def _table_fragment(
        self, r: _Relation, columns: set[str], conjuncts: list[exp.Expr], scope: Scope
    ) -> Fragment:
        info = r.info
        dialect = dialect_for(info.kind)
        cols = sorted(columns)
        if dialect is None:
            pushed = [c for c in conjuncts if arrow_filter_supported(c)]
            in_place = [c for c in conjuncts if c not in pushed and _runs_in_place(c)]
            fragment = Fragment(
                id=f"f{next(self._ids)}",
                source=info.source,
                kind=info.kind,
                tables=[info.qualified_name],
                location=info.location,
                format=info.format,
                partitioning=list(info.partitioning),
                columns=cols,
                predicates=[_strip_table(c.copy()) for c in pushed],
                local_predicates=[_strip_table(c.copy()) for c in in_place],
            )
            pushed = pushed + in_place
            fragment.limit = _pushable_limit(scope, len(fragment.predicates) == len(conjuncts))
            if pushed:
                fragment.pushed.append("filter")
            self.fragments.append(fragment)
        else:
            pushed = [
                c
                for c in conjuncts
                if not c.find(exp.Subquery) and not dialect.rejects(c, filter_only=True)
            ]
            selects: list[exp.Expr] = [exp.column(c, table=r.alias, quoted=True) for c in cols] or [
                exp.alias_(exp.Literal.number(1), "__one", quoted=True)
            ]
            query = exp.select(*selects).from_(_source_table(r))
            if pushed:
                query = query.where(exp.and_(*[c.copy() for c in pushed]))
            query = dialect.prepare(query)  # type: ignore[assignment]
            fragment = self._new_fragment(
                info.source, dialect, query, pushed=["filter"] if pushed else []
            )
            fragment.tables = [info.qualified_name]
        fragment.output_types = {
            c: col.arrow_type for c in cols if (col := info.column(c)) is not None
        }
        fragment.not_null = [c for c in cols if (col := info.column(c)) and not col.nullable]
        if info.row_count is not None:
            fragment.estimated_rows = int(info.row_count * selectivity(pushed, _columns_of(r)))
            self._base_rows[fragment.id] = fragment.table_rows = info.row_count
        return fragment

    def _dynamic_filters(
        self,
        conjuncts: list[exp.Expr],
        by_alias: dict[str, tuple[Fragment, dict[str, str]]],
        targets: set[str],
    ) -> None:
        """Small sides send their join keys to sides several times larger (the tables of
        ``targets``).

        Smallest first, and a filtered side counts as smaller for the joins after it: the
        fragments it filters keep about the share of their rows that its own filters kept,
        so keys flow down chains (part -> lineitem -> orders)."""
        # Equal columns form classes (a = b and b = c: a = c), so keys also reach fragments
        # joined only through a third one.
        columns: dict[str, exp.Column] = {}
        parent: dict[str, str] = {}
        for c in conjuncts:
            if (
                isinstance(c, exp.EQ)
                and isinstance(c.left, exp.Column)
                and isinstance(c.right, exp.Column)
                and c.left.table in by_alias
                and c.right.table in by_alias
            ):
                keys = []
                for col in (c.left, c.right):
                    key = f"{col.table}.{col.name}"
                    columns.setdefault(key, col)
                    parent.setdefault(key, key)
                    keys.append(key)
                parent[_find(parent, keys[0])] = _find(parent, keys[1])
        classes: dict[str, list[str]] = {}
        for key in columns:
            classes.setdefault(_find(parent, key), []).append(key)
        edges = []
        for members in classes.values():
            for a, b in itertools.permutations(sorted(members), 2):
                one, other = by_alias[columns[a].table], by_alias[columns[b].table]
                # CTEs and derived tables send keys; only catalog tables receive them.
                if one[0] is not other[0] and columns[b].table in targets:
                    edges.append((one, columns[a], other, columns[b]))
        added = True
        while added:
            added = False
            edges.sort(key=lambda e: e[0][0].estimated_rows or 0)
            for (small, s_names), s_col, (big, b_names), b_col in edges:
                if small.estimated_rows is None or big.estimated_rows is None or big.is_local:
                    continue
                if (
                    small.estimated_rows > self._max_keys(big)
                    or small.estimated_rows * DYNAMIC_FILTER_RATIO > big.estimated_rows
                ):
                    continue
                from_column = s_names.get(f"{s_col.table}.{s_col.name}", s_col.name)
                target = b_col.name if big.query is None else f"{b_col.table}.{b_col.name}"
                if small.dynamic_filters and (
                    big.estimated_rows < DYNAMIC_FILTER_CHAIN_MIN_ROWS or big.dynamic_filters
                ):
                    # Waiting on a chain costs more than fetching a small table, or than
                    # what a second filter would remove.
                    continue
                chained = (
                    bool(small.dynamic_filters)
                    and big.query is not None
                    and small.estimated_rows > CHAINED_KEYS_MAX_LOOKUPS
                )
                if chained and self.unchained:
                    continue
                share = self._max_key_share(big)
                if (
                    share
                    and big.table_rows
                    and not small.is_local
                    and small.estimated_rows > share * big.table_rows
                ):
                    continue  # the source would filter at more cost than it saves
                if any(d.column == target for d in big.dynamic_filters):
                    continue  # a smaller side already restricts this column
                distinct = self._distinct_values(big, b_col)
                if distinct is not None and small.estimated_rows >= distinct:
                    continue  # keys for every value the column has: nothing to remove
                base = self._base_rows.get(small.id)
                kept = small.estimated_rows / base if base else None
                if kept is not None and kept >= 1 and not small.dynamic_filters:
                    continue  # a whole table's keys remove only rows that match nothing
                if kept is not None and kept > DYNAMIC_FILTER_MAX_KEPT and big.dynamic_filters:
                    continue  # keys of most of a table, after a sharper filter: little to gain
                if self._waits_on(small, big):
                    continue  # never make fragments wait on each other
                arrow_type = big.output_types.get(
                    b_names.get(f"{b_col.table}.{b_col.name}", b_col.name), ""
                )
                big.dynamic_filters.append(DynamicFilter(target, small.id, from_column, arrow_type))
                if chained:
                    self.chained_scans.append(big)
                if kept is not None:
                    big.estimated_rows = max(1, int(big.estimated_rows * kept))
                added = True
                break

    def _keys_into_derived(
        self,
        select: exp.Select,
        conjuncts: list[exp.Expr],
        by_alias: dict[str, tuple[Fragment, dict[str, str]]],
    ) -> None:
        """A CTE or derived table joined on one of its GROUP BY keys (a decorrelated
        subquery: the cheapest supply cost per part) needs only the groups of the keys the
        other side has: those keys filter the fragment the key column comes from."""
        fragments = {f.id: f for f in self.fragments}
        relations = {f.relation: f for f in self.fragments}
        items = _inner_items(select)
        bodies: dict[str, exp.Select] = {}
        for item in items:
            if isinstance(item, exp.Table) and not item.catalog:
                # A CTE read elsewhere too needs its other groups there.
                readers = [t for t in self.tree.find_all(exp.Table) if t.name == item.name]
                if sum(1 for t in readers if not t.db) != 1:
                    continue
                body = _cte_body(select, item.name)
            elif isinstance(item, exp.Subquery):
                body = item.this
            else:
                continue
            if isinstance(body, exp.Select) and _filters_by_key(body):
                bodies[item.alias_or_name] = body
        for c in conjuncts:
            if not (isinstance(c, exp.EQ) and isinstance(c.left, exp.Column)):
                continue
            if not isinstance(c.right, exp.Column):
                continue
            for derived, other in ((c.left, c.right), (c.right, c.left)):
                body = bodies.get(derived.table)
                if body is None or other.table not in by_alias:
                    continue
                small, names = by_alias[other.table]
                if small.id not in fragments or small.estimated_rows is None:
                    continue
                found = _key_source(body, derived.name, relations)
                if found is None:
                    continue
                big, target, output = found
                if big is small or small.estimated_rows > self._max_keys(big):
                    continue
                if (
                    big.estimated_rows is not None
                    and small.estimated_rows * DYNAMIC_FILTER_RATIO > big.estimated_rows
                ):
                    continue
                if any(d.column == target for d in big.dynamic_filters):
                    continue
                if self._waits_on(small, big):
                    continue
                from_column = names.get(f"{other.table}.{other.name}", other.name)
                arrow_type = big.output_types.get(output, "")
                big.dynamic_filters.append(DynamicFilter(target, small.id, from_column, arrow_type))

    def _distinct_values(self, fragment: Fragment, column: exp.Column) -> int | None:
        """The crawled number of distinct values of ``column`` (alias.name as the query
        names it) in the table ``fragment`` reads it from, where known."""
        if fragment.query is None:
            info = self.view.get(fragment.tables[0]) if len(fragment.tables) == 1 else None
        else:
            table = next(
                (t for t in fragment.query.find_all(exp.Table) if t.alias_or_name == column.table),
                None,
            )
            info = self.view.get(f"{fragment.source}.{table.db}.{table.name}") if table else None
        found = info.column(column.name) if info else None
        return found.distinct_count if found else None

    def _max_key_share(self, fragment: Fragment) -> float | None:
        dialect = dialect_for(fragment.kind) if fragment.query is not None else None
        return dialect.max_key_share if dialect else None

    def _max_keys(self, fragment: Fragment) -> int:
        if fragment.query is None:
            return DYNAMIC_FILTER_MAX_FILE_KEYS
        dialect = dialect_for(fragment.kind)
        return min(DYNAMIC_FILTER_MAX_KEYS, dialect.max_filter_keys) if dialect else 0

    def _waits_on(self, fragment: Fragment, other: Fragment) -> bool:
        """Whether ``fragment`` waits, directly or through others, on ``other``'s keys or
        rows."""
        by_id = {f.id: f for f in self.fragments} | self._pending
        stack, seen = [fragment], set()
        while stack:
            f = stack.pop()
            if f.id == other.id:
                return True
            if f.id in seen:
                continue
            seen.add(f.id)
            stack.extend(by_id[d.from_fragment] for d in f.dynamic_filters)
            stack.extend(by_id[i] for i in f.inputs if i in by_id)  # a local fragment's
        return False

    # -- helpers -------------------------------------------------------------------------
    def _new_fragment(
        self, source: str, dialect: SourceDialect, query: exp.Query, pushed: list[str]
    ) -> Fragment:
        fragment = Fragment(
            id=f"f{next(self._ids)}",
            source=source,
            kind=self.view.source_kinds[source],
            tables=[],
            query=dialect.prepare(query),  # type: ignore[arg-type]
            dialect=dialect.sqlglot_dialect,
            pushed=pushed,
        )
        self.fragments.append(fragment)
        return fragment

    def _estimate_scope(self, query: exp.Query, tables: list[TableInfo]) -> int | None:
        if isinstance(query, exp.Select) and query.args.get("limit") is not None:
            limit = query.args["limit"].expression
            if isinstance(limit, exp.Literal) and limit.is_int:
                return int(limit.this)
        if (
            isinstance(query, exp.Select)
            and query.args.get("group") is None
            and any(isinstance(s.unalias(), exp.AggFunc) for s in query.selects)
        ):
            return 1
        rows = [t.row_count for t in tables if t.row_count is not None]
        return max(rows) if rows else None


# -- tree helpers ----------------------------------------------------------------------------


def _filters_by_key(body: exp.Select) -> bool:
    """Whether keeping only some values of a projected GROUP BY column (or of any column,
    without aggregates) keeps exactly the rows of those values."""
    if any(body.args.get(k) for k in ("limit", "offset")) or body.find(exp.Window):
        return False
    aggregates = any(e.find(exp.AggFunc) for e in body.expressions)
    return not aggregates or body.args.get("group") is not None


def _key_source(
    body: exp.Select, name: str, relations: dict[str, Fragment]
) -> tuple[Fragment, str, str] | None:
    """The fragment a projected key column of ``body`` comes from: (fragment, the column
    as its dynamic filter names it, the column's output name), or None."""
    projection = next((e for e in body.expressions if e.alias_or_name == name), None)
    if projection is None:
        return None
    column = projection.this if isinstance(projection, exp.Alias) else projection
    if not isinstance(column, exp.Column) or not column.table:
        return None
    group = body.args.get("group")
    if group is not None and not any(g == column for g in group.expressions):
        return None
    for item in _inner_items(body):
        if not isinstance(item, exp.Table) or item.alias_or_name != column.table:
            continue
        fragment = relations.get(item.name)
        if fragment is None or fragment.is_local:
            return None
        if fragment.query is None:
            return fragment, column.name, column.name
        selected = next((e for e in fragment.query.selects if e.alias_or_name == column.name), None)
        source = selected.this if isinstance(selected, exp.Alias) else selected
        if not isinstance(source, exp.Column):
            return None
        return fragment, f"{source.table}.{source.name}", column.name
    return None


def _inner_items(select: exp.Select) -> list[exp.Expr]:
    """The FROM item and the inner-joined items of ``select``."""
    from_ = select.args.get("from_") or select.args.get("from")
    joined = [j.this for j in select.args.get("joins") or [] if _is_inner(j)]
    return ([from_.this] if from_ is not None else []) + joined


def _inline_table_ctes(tree: exp.Expr) -> None:
    """Put back the tables sqlglot's optimizer gathered into CTEs of one filtered table
    because two scopes read them alike (a correlated subquery and its outer query): each
    reader then gets its own fragment, with the filters and join keys of its own scope,
    instead of one shared fragment of the whole table."""
    for cte in list(tree.find_all(exp.CTE)):
        body = cte.this
        if not _plain_table_select(body):
            continue
        table = body.args["from_"].this if "from_" in body.args else body.args["from"].this
        where = body.args.get("where")
        readers = [
            t
            for t in tree.find_all(exp.Table)
            if not t.db and t.name == cte.alias_or_name and t is not table
        ]
        if not readers or not all(_inner_reader(t) for t in readers):
            continue
        for reader in readers:
            alias = reader.alias_or_name
            select = reader.find_ancestor(exp.Select)
            if where is not None and select is not None:
                condition = where.this.copy()
                for column in condition.find_all(exp.Column):
                    column.set("table", exp.to_identifier(alias, quoted=True))
                select.where(condition, copy=False)
            replacement = table.copy()
            replacement.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
            reader.replace(replacement)
        with_ = cte.parent
        cte.pop()
        if isinstance(with_, exp.With) and not with_.expressions:
            with_.pop()


def _plain_table_select(body: exp.Expr) -> bool:
    """``SELECT t.a AS a, ... FROM <catalog table> AS t [WHERE <on t alone>]``."""
    if not isinstance(body, exp.Select) or body.args.get("joins"):
        return False
    from_ = body.args.get("from_") or body.args.get("from")
    table = from_.this if from_ is not None else None
    if not isinstance(table, exp.Table) or not table.catalog:
        return False
    if any(body.args.get(k) for k in ("group", "having", "distinct", "order", "limit", "offset")):
        return False
    alias = table.alias_or_name
    for select in body.expressions:
        column = select.this if isinstance(select, exp.Alias) else select
        if not isinstance(column, exp.Column) or column.name != select.alias_or_name:
            return False
    where = body.args.get("where")
    if where is not None and (
        where.find(exp.Subquery, exp.AggFunc, exp.Window) or _aliases(where) != {alias}
    ):
        return False
    return not _volatile(body)


def _inner_reader(table: exp.Table) -> bool:
    """Whether ``table`` is read in a FROM or an inner join, where a filter on it means
    the same in the WHERE."""
    parent = table.parent
    if isinstance(parent, exp.From):
        # The FROM item supplies nulls to a RIGHT or FULL join that follows it.
        select = parent.parent
        joins = select.args.get("joins") or [] if isinstance(select, exp.Select) else []
        return all(j.side not in ("RIGHT", "FULL") for j in joins)
    return isinstance(parent, exp.Join) and _is_inner(parent)


def _cte_body(select: exp.Select, name: str) -> exp.Expr | None:
    node: exp.Expr | None = select
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if with_ is not None:
            for cte in with_.expressions:
                if cte.alias_or_name == name:
                    return cte.this
        node = node.parent
    return None


def _volatile(node: exp.Expr) -> bool:
    return (
        node.find(
            exp.Rand, exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentTime, exp.CurrentDatetime
        )
        is not None
    )


def _local_ctes(
    select: exp.Select, body: exp.Expr, relations: dict[str, Fragment]
) -> list[exp.CTE] | None:
    """The CTEs ``body`` reads (those they read first), if everything it reads in the end
    is a fragment; None otherwise."""
    found: list[exp.CTE] = []

    def visit(node: exp.Expr, depth: int) -> bool:
        for table in node.find_all(exp.Table):
            if table.catalog or depth > 8:
                return False
            if table.name in relations:
                continue
            inner = _cte_body(select, table.name)
            if inner is None or not visit(inner, depth + 1):
                return False
            cte = inner.parent
            if isinstance(cte, exp.CTE) and all(c is not cte for c in found):
                found.append(cte)
        return True

    return found if visit(body, 0) else None


def _estimate_local(body: exp.Select, inputs: list[Fragment]) -> int | None:
    rows = [f.estimated_rows for f in inputs]
    if not rows or any(r is None for r in rows):
        return None
    if body.args.get("group") is None and any(
        isinstance(s.unalias(), exp.AggFunc) for s in body.selects
    ):
        return 1
    filters = [c for c in _conjuncts(body.args.get("where")) if not _is_column_equality(c)]
    estimate = max(r for r in rows if r is not None) * selectivity(filters)
    if body.args.get("having") is not None:
        estimate *= 0.1
    return max(1, int(estimate))


def _or_branches(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Paren):
        return _or_branches(node.this)
    if isinstance(node, exp.Or):
        return _or_branches(node.left) + _or_branches(node.right)
    return [node]


def _factor_ors(select: exp.Select) -> None:
    """(a AND x) OR (a AND y) -> a AND (x OR y): a join condition repeated in every branch
    becomes a join condition. Repeated conjuncts are dropped."""
    where = select.args.get("where")
    if where is None:
        return
    conjuncts: list[exp.Expr] = []
    for c in _conjuncts(where):
        if not any(c == d for d in conjuncts):
            conjuncts.append(c)
    changed = len(conjuncts) < len(_conjuncts(where))
    out: list[exp.Expr] = []
    for c in conjuncts:
        branches = [_split_and(b) for b in _or_branches(c)]
        if len(branches) < 2:
            out.append(c)
            continue
        common = [t for t in branches[0] if all(any(t == u for u in b) for b in branches[1:])]
        if not common:
            out.append(c)
            continue
        changed = True
        out.extend(t.copy() for t in common)
        rests = [[t for t in b if not any(t == u for u in common)] for b in branches]
        if all(rests):
            out.append(
                exp.paren(
                    exp.or_(*[exp.paren(exp.and_(*[t.copy() for t in r])) for r in rests]),
                    copy=False,
                )
            )
    if changed:
        select.set("where", exp.Where(this=exp.and_(*out, copy=False)))


def _implied_by_ors(conjuncts: list[exp.Expr], aliases: set[str]) -> list[exp.Expr]:
    """For an OR whose every branch filters a table on its own, the OR of those filters:
    implied by the condition, so the table's source may apply it (the residual still
    applies the whole condition)."""
    implied: list[exp.Expr] = []
    for c in conjuncts:
        branches = [_split_and(b) for b in _or_branches(c)]
        if len(branches) < 2:
            continue
        for alias in sorted(aliases):
            own = [
                [t for t in b if _aliases(t) == {alias} and not t.find(exp.Subquery)]
                for b in branches
            ]
            if all(own):
                implied.append(
                    exp.paren(
                        exp.or_(*[exp.paren(exp.and_(*[t.copy() for t in o])) for o in own]),
                        copy=False,
                    )
                )
    return implied


def _inner_where_null_rejected(select: exp.Select) -> None:
    """LEFT JOINs whose joined side the WHERE clause requires to be present are inner
    joins (decorrelated IN and EXISTS subqueries come out this way): said so, their keys
    can filter the other sources."""
    joins = select.args.get("joins") or []
    if any(j.args.get("using") for j in joins):
        return
    rejected = set()
    for c in _conjuncts(select.args.get("where")):
        operand = None
        if isinstance(c, exp.Not) and isinstance(c.this, exp.Is):
            if isinstance(c.this.expression, exp.Null):
                operand = c.this.this
        elif isinstance(c, (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
            for side in (c.left, c.right):
                if isinstance(side, exp.Column):
                    rejected.add(side.table)
        if isinstance(operand, exp.Column):
            rejected.add(operand.table)
    for join in joins:
        if (
            join.side == "LEFT"
            and (join.kind or "OUTER") == "OUTER"
            and join.this.alias_or_name in rejected
        ):
            join.set("side", None)
            join.set("kind", None)


def _is_column_equality(node: exp.Expr) -> bool:
    return (
        isinstance(node, exp.EQ)
        and isinstance(node.left, exp.Column)
        and isinstance(node.right, exp.Column)
        and node.left.table != node.right.table
    )


def _runs_in_place(node: exp.Expr) -> bool:
    """A filter the local engine may apply while it reads the files: deterministic, and
    about the row alone."""
    return not node.find(exp.Subquery, exp.AggFunc, exp.Window, exp.Rand)


def _find(parent: dict[str, str], a: str) -> str:
    while parent[a] != a:
        a = parent[a]
    return a


def _children(scope: Scope) -> list[Scope]:
    return [
        *scope.set_operation_scopes,
        *scope.subquery_scopes,
        *scope.derived_table_scopes,
        *scope.udtf_scopes,
    ]


def _referenced_ctes(scope: Scope, pushed: dict[int, exp.CTE] | None = None) -> list[exp.CTE]:
    """The CTEs a scope reads, those they read first. ``pushed``: CTEs already sent to a
    source as fragments, by scope, as they were written."""
    found: list[exp.CTE] = []
    seen: set[int] = set()

    def visit(s: Scope) -> None:
        for _node, source in s.selected_sources.values():
            if isinstance(source, Scope) and source.is_cte:
                cte = (pushed or {}).get(id(source)) or source.expression.parent
                if isinstance(cte, exp.CTE) and id(cte) not in seen:
                    visit(source)
                    seen.add(id(cte))
                    found.append(cte)
        for child in _children(s):
            visit(child)

    visit(scope)
    return found


def _scope_tables(scope: Scope, pushed: dict[int, exp.CTE] | None = None) -> list[exp.Table]:
    tables = [t for t in scope.expression.find_all(exp.Table) if t.catalog]
    for cte in _referenced_ctes(scope, pushed):
        tables.extend(t for t in cte.find_all(exp.Table) if t.catalog)
    return tables


def _replace_with_relation(scope: Scope, fragment: Fragment) -> None:
    replacement = exp.select(exp.Star()).from_(exp.Table(this=exp.to_identifier(fragment.relation)))
    scope.expression.replace(replacement)


def _has_joins(query: exp.Expr) -> bool:
    return any(True for _ in query.find_all(exp.Join))


def _pushed_kinds(query: exp.Expr) -> list[str]:
    kinds = []
    if _has_joins(query):
        kinds.append("join")
    if any(True for _ in query.find_all(exp.AggFunc)):
        kinds.append("aggregate")
    if query.find(exp.Where):
        kinds.append("filter")
    if query.find(exp.Order):
        kinds.append("order")
    if query.find(exp.Limit):
        kinds.append("limit")
    return kinds or ["scan"]


def _is_inner(join: exp.Join) -> bool:
    return not join.side and (join.kind or "INNER").upper() in ("INNER", "CROSS", "")


def _move_join_conditions_to_where(select: exp.Select, inner_only: bool = False) -> None:
    """ON conditions of inner joins into WHERE (``inner_only``: LEFT JOINs keep theirs)."""
    joins = select.args.get("joins") or []
    if any(j.args.get("using") for j in joins):
        return  # USING keeps its meaning only in place; leave this SELECT as written
    moved = []
    for join in joins:
        if inner_only and not _is_inner(join):
            continue
        on = join.args.get("on")
        if on is not None:
            moved.append(on.pop())
            join.set("on", None)
        join.set("kind", "CROSS")
    if moved:
        select.where(exp.and_(*moved), copy=False)


def _conjuncts(where: exp.Where | None) -> list[exp.Expr]:
    return _split_and(where.this) if where is not None else []


def _split_and(node: exp.Expr) -> list[exp.Expr]:
    if isinstance(node, exp.Paren):
        return _split_and(node.this)
    if isinstance(node, exp.And):
        return _split_and(node.left) + _split_and(node.right)
    return [node]


def _aliases(node: exp.Expr) -> set[str]:
    return {c.table for c in node.find_all(exp.Column)}


def _drop_conjuncts(select: exp.Select, drop: set[int]) -> None:
    kept = [c for i, c in enumerate(_conjuncts(select.args.get("where"))) if i not in drop]
    select.set("where", exp.Where(this=exp.and_(*kept, copy=False)) if kept else None)


def _needed_in(select: exp.Select) -> dict[str, set[str]]:
    """Columns per alias that the SELECT (as rewritten so far) and its nested queries use."""
    needed: dict[str, set[str]] = {}
    parts = [v for k, v in select.args.items() if k not in ("with", "with_")]
    for part in parts:
        for item in part if isinstance(part, list) else [part]:
            if isinstance(item, exp.Expr):
                for c in item.find_all(exp.Column):
                    if c.table:
                        needed.setdefault(c.table, set()).add(c.name)
    return needed


def _needed_columns(scope: Scope) -> dict[str, set[str]]:
    needed: dict[str, set[str]] = {}
    columns = list(scope.columns)
    stack = list(_children(scope))
    while stack:
        child = stack.pop()
        columns.extend(child.external_columns)
        stack.extend(_children(child))
    for c in columns:
        if c.table:
            needed.setdefault(c.table, set()).add(c.name)
    return needed


def _on_conjuncts_for(select: exp.Select, r: _Relation) -> list[exp.Expr]:
    """ON conditions that filter only ``r`` where it is the null-supplying side of a LEFT
    JOIN: applying them before the join means the same."""
    for join in select.args.get("joins") or []:
        if join.this is r.table and join.side == "LEFT" and join.args.get("on") is not None:
            return [p for p in _split_and(join.args["on"]) if _aliases(p) == {r.alias}]
    return []


def _source_table(r: _Relation) -> exp.Table:
    return exp.Table(
        this=exp.to_identifier(r.info.name, quoted=True),
        db=exp.to_identifier(r.info.schema, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier(r.alias, quoted=True)),
    )


def _strip_table(node: exp.Expr) -> exp.Expr:
    for col in node.find_all(exp.Column):
        col.set("table", None)
    return node


def _replace_group(
    select: exp.Select,
    members: list[tuple[str, exp.Expr]],
    fragment: Fragment,
    group_alias: str,
    names: dict[str, str],
) -> None:
    """Replace the FROM/JOIN items ``members`` (alias, item) of ``select`` by the one
    relation of ``fragment``, whose columns ``names`` maps from ``alias.column``."""
    aliases = {alias for alias, _ in members}
    (_, first), *rest = members
    rest_items = [item for _, item in rest]
    first.replace(
        exp.Table(
            this=exp.to_identifier(fragment.relation),
            alias=exp.TableAlias(this=exp.to_identifier(group_alias)),
        )
    )
    joins = select.args.get("joins") or []
    select.set("joins", [j for j in joins if not any(j.this is r for r in rest_items)] or None)
    # Columns of this SELECT and of subqueries nested in it; the root's CTE bodies have
    # their own tables, even when their aliases happen to match.
    parts = [v for k, v in select.args.items() if k not in ("with", "with_")]
    nested = (
        n
        for part in parts
        for item in (part if isinstance(part, list) else [part])
        if isinstance(item, exp.Expr)
        for n in item.find_all(exp.Column)
    )
    for column in list(nested):
        if column.table in aliases:
            key = f"{column.table}.{column.name}"
            if key in names:
                column.replace(exp.column(names[key], table=group_alias, quoted=True))
    # If the FROM item was dropped as a non-first member, promote the first join.
    from_ = select.args.get("from_") or select.args.get("from")
    if from_ is not None and any(from_.this is r for r in rest_items):
        remaining = select.args.get("joins") or []
        if remaining:
            head = remaining.pop(0)
            from_.set("this", head.this)
            select.set("joins", remaining or None)


def _pushable_limit(scope: Scope, all_filters_pushed: bool) -> int | None:
    select = scope.expression
    if not all_filters_pushed or not isinstance(select, exp.Select):
        return None
    if (
        select.args.get("joins")
        or select.args.get("group")
        or select.args.get("order")
        or select.args.get("distinct")
        or select.args.get("having")
    ):
        return None
    if any(isinstance(s.unalias(), exp.AggFunc) or s.find(exp.Window) for s in select.selects):
        return None
    limit = select.args.get("limit")
    if limit is None or select.args.get("offset") is not None:
        return None
    value = limit.expression
    return int(value.this) if isinstance(value, exp.Literal) and value.is_int else None


def _columns_of(*relations: _Relation) -> ColumnLookup:
    """Crawled statistics of the columns of ``relations``, by the query's alias."""
    by_alias = {r.alias: r.info for r in relations}
    only = relations[0].info if len(relations) == 1 else None

    def column_of(column: exp.Column) -> ColumnInfo | None:
        info = by_alias.get(column.table, only)
        return info.column(column.name) if info is not None else None

    return column_of


_ARROW_FOR_SQL = {
    exp.DataType.Type.INT: "int32",
    exp.DataType.Type.BIGINT: "int64",
    exp.DataType.Type.SMALLINT: "int16",
    exp.DataType.Type.TINYINT: "int8",
    exp.DataType.Type.DOUBLE: "double",
    exp.DataType.Type.FLOAT: "float",
    exp.DataType.Type.VARCHAR: "string",
    exp.DataType.Type.CHAR: "string",
    exp.DataType.Type.TEXT: "string",
    exp.DataType.Type.DATE: "date32[day]",
    exp.DataType.Type.TIMESTAMP: "timestamp[us]",
    exp.DataType.Type.BOOLEAN: "bool",
}


_DATE_PARTS = (
    exp.Year,
    exp.Quarter,
    exp.Month,
    exp.Week,
    exp.WeekOfYear,
    exp.YearOfWeek,
    exp.Day,
    exp.DayOfMonth,
    exp.DayOfWeek,
    exp.DayOfWeekIso,
    exp.DayOfYear,
    exp.Hour,
    exp.Minute,
    exp.Second,
    exp.Extract,
)


def _output_types(query: exp.Query) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in query.selects:
        t = s.type
        if t is None:
            continue
        value = s.unalias()
        if (
            t.this in exp.DataType.INTEGER_TYPES
            and not isinstance(value, exp.Cast | exp.TryCast)
            and value.find(*_DATE_PARTS) is not None
        ):
            # Trino's date parts are BIGINT, and so is what is computed from them (min, +);
            # sqlglot guesses narrower types (year() TINYINT).
            out[s.alias_or_name] = "int64"
            continue
        exact = exact_type(value)
        if exact is not None and exact.decimal:
            # Trino's decimal rules (sqlglot types a decimal quotient as a double).
            out[s.alias_or_name] = f"decimal128({exact.precision}, {exact.scale})"
            continue
        if t.this == exp.DataType.Type.DECIMAL:
            params = [p.name for p in t.expressions]
            if len(params) == 2 and all(p.isdigit() for p in params):
                out[s.alias_or_name] = f"decimal128({params[0]}, {params[1]})"
            continue
        if t.this in _ARROW_FOR_SQL:
            out[s.alias_or_name] = _ARROW_FOR_SQL[t.this]
    return out
