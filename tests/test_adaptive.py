"""Some queries have a pulled alternative; runs choose between them.

Pushing joins and aggregates moves the fewest bytes; fetching the tables in slices and
combining them locally can be faster on a fast link. Likewise keys sent down a chain of
fragments move the fewest bytes, while fetching the last fragment at once waits for
nothing. The planner makes both plans and the executor picks by measured runs and the
measured link (answers: tests/test_federation_tpch).
"""

from __future__ import annotations

import pytest

from guajie.federation import CatalogView, Plan, plan_query
from guajie.federation.adaptive import RECHECK_AFTER, LinkRates, PlanChoices
from tests.test_planner import table

SQL = (
    "SELECT e.district_code, count(*) AS n FROM pg.enterprise e "
    "JOIN pg.filing f ON f.credit_code = e.credit_code GROUP BY e.district_code"
)


@pytest.fixture
def view() -> CatalogView:
    """The same two tables in PostgreSQL (which can be read in slices) and MariaDB."""
    v = CatalogView(source_kinds={"pg": "postgresql", "my": "mysql"})
    for source, kind, schema in (("pg", "postgresql", "public"), ("my", "mysql", "hrss")):
        v.add(
            table(
                source,
                kind,
                schema,
                "enterprise",
                50_000,
                credit_code="string",
                district_code="string",
            )
        )
        v.add(table(source, kind, schema, "filing", 2_000_000, credit_code="string", tax="double"))
    return v


def test_a_pushed_aggregate_over_a_large_table_has_a_pulled_alternative(view):
    plan = plan_query(SQL, view)
    assert plan.residual is None and plan.pulled is not None
    pulled = plan.pulled
    assert sorted(t for f in pulled.fragments for t in f.tables) == [
        "pg.public.enterprise",
        "pg.public.filing",
    ]
    assert "GROUP BY" in (pulled.residual_sql or "")
    (large,) = [f for f in pulled.fragments if f.tables == ["pg.public.filing"]]
    assert large.parts > 1  # fetched in slices
    assert "Alternative: the tables fetched apart" in plan.explain()
    assert plan.to_dict()["pulled"]["residual"]


def test_no_alternative_where_pulling_cannot_be_faster(view):
    # Small tables, or a source that cannot be read in slices (MariaDB).
    small = plan_query(SQL.replace("pg.filing", "pg.enterprise"), view)
    assert small.pulled is None
    mysql = plan_query(SQL.replace("pg.", "my."), view)
    assert mysql.pulled is None
    scan = plan_query("SELECT credit_code FROM pg.filing WHERE tax > 10", view)
    assert scan.pulled is None


def fast_link() -> LinkRates:
    links = LinkRates()
    links.observe("pg", 500_000_000, 1.0)
    return links


def measured(plan: Plan, pushed: float, *pulled: float) -> PlanChoices:
    """Choices over a fast link after one pushed run and the pulled runs given."""
    choices = PlanChoices(fast_link())
    choices.record(plan, plan, pushed)
    for seconds in pulled:
        choices.record(plan, plan.pulled, seconds)
    return choices


def test_the_pushed_plan_runs_first_and_the_pulled_one_only_where_affordable(view):
    plan = plan_query(SQL, view)
    assert plan.pulled is not None
    choices = PlanChoices(LinkRates())
    assert choices.choose(plan) is plan
    choices.record(plan, plan, 2.0)
    assert choices.choose(plan) is plan  # the link was never measured: it may be slow
    choices.links.observe("pg", 100_000, 10.0)  # too small to tell
    assert choices.choose(plan) is plan
    choices.links.observe("pg", 10_000_000, 10.0)  # 1 MB/s: moving the rows takes long
    assert choices.choose(plan) is plan

    assert measured(plan, 2.0).choose(plan) is plan.pulled


def test_the_faster_variant_wins_after_both_ran(view):
    plan = plan_query(SQL, view)
    choices = measured(plan, 2.0, 1.2)
    assert choices.choose(plan) is plan.pulled  # a second look before comparing
    choices.record(plan, plan.pulled, 1.0)
    assert choices.choose(plan) is plan.pulled
    assert measured(plan, 1.0, 1.5, 1.4).choose(plan) is plan
    far = measured(plan, 1.0, 5.0)
    assert far.choose(plan) is plan  # far slower at once: no second look soon
    for _ in range(RECHECK_AFTER):
        far.record(plan, plan, 1.0)
    assert far.choose(plan) is plan.pulled


def test_the_other_variant_is_measured_again_now_and_then(view):
    plan = plan_query(SQL, view)
    choices = measured(plan, 1.0)
    for _ in range(RECHECK_AFTER):
        assert choices.choose(plan) is plan.pulled
        choices.record(plan, plan.pulled, 0.5)
    assert choices.choose(plan) is plan  # measured again...
    choices.record(plan, plan, 0.2)  # ...and now faster: the load has changed
    assert choices.choose(plan) is plan


def test_copies_of_a_plan_share_its_measurements(view):
    plan = plan_query(SQL, view)
    copy = plan_query(SQL, view)
    assert copy is not plan
    assert measured(plan, 2.0).choose(copy) is copy.pulled


CHAIN = (
    "SELECT count(*) AS n FROM lite.nation n JOIN my.supplier s ON s.s_nationkey = n.n_nationkey "
    "JOIN files.lineitem l ON l.l_suppkey = s.s_suppkey "
    "JOIN pg.orders o ON o.o_orderkey = l.l_orderkey "
    "WHERE n.n_name = 'SAUDI ARABIA' AND o.o_status = 'F'"
)


def chain_view(lineitems: int, suppliers: int = 100_000) -> CatalogView:
    """Nation -> supplier -> lineitem -> orders, each waiting for the keys of the one before."""
    v = CatalogView(
        source_kinds={"pg": "postgresql", "my": "mysql", "lite": "sqlite", "files": "file"}
    )
    v.add(table("lite", "sqlite", "main", "nation", 25, n_nationkey="int64", n_name="string"))
    v.add(
        table("my", "mysql", "shop", "supplier", suppliers, s_suppkey="int64", s_nationkey="int64")
    )
    v.add(
        table(
            "files", "file", "default", "lineitem", lineitems, l_orderkey="int64", l_suppkey="int64"
        )
    )
    v.add(
        table(
            "pg",
            "postgresql",
            "public",
            "orders",
            15_000_000,
            o_orderkey="int64",
            o_status="string",
        )
    )
    return v


def test_a_sql_fragment_waiting_on_a_chain_for_many_keys_has_an_alternative():
    plan = plan_query(CHAIN, chain_view(6_000_000))
    (orders,) = [f for f in plan.fragments if f.source == "pg"]
    (lineitem,) = [f for f in plan.fragments if f.source == "files"]
    assert [d.from_fragment for d in orders.dynamic_filters] == [lineitem.id]
    assert lineitem.dynamic_filters and (lineitem.estimated_rows or 0) > 5_000
    assert plan.pulled is not None
    (unchained,) = [f for f in plan.pulled.fragments if f.source == "pg"]
    assert not unchained.dynamic_filters and unchained.sql() == orders.sql()
    # everything else waits as before: only the chained fetch changes
    others = lambda p: [(f.sql(), f.dynamic_filters) for f in p.fragments if f.source != "pg"]  # noqa: E731
    assert others(plan.pulled) == others(plan)
    summary = f"{unchained.id} pg.public.orders fetched at once, not after the keys"
    assert summary in plan.pulled_summary
    assert f"Alternative: {summary}" in plan.explain()
    assert plan.to_dict()["pulled"]["summary"] == plan.pulled_summary


def test_few_chained_keys_have_no_alternative():
    # 50,000 line items of 8% of suppliers: about 4,000 keys, which PostgreSQL looks up.
    plan = plan_query(CHAIN, chain_view(50_000, suppliers=10_000))
    (lineitem,) = [f for f in plan.fragments if f.source == "files"]
    assert lineitem.dynamic_filters
    (orders,) = [f for f in plan.fragments if f.source == "pg"]
    assert [d.from_fragment for d in orders.dynamic_filters] == [lineitem.id]
    assert plan.pulled is None


def test_only_the_fetches_the_alternative_changes_need_a_measured_link():
    # SQLite and MariaDB answer both plans alike and were never measured.
    plan = plan_query(CHAIN, chain_view(6_000_000))
    assert set(plan.pulled.estimated_bytes_by_source(unlike=plan)) == {"pg"}
    assert measured(plan, 2.0).choose(plan) is plan.pulled
    slow = PlanChoices(LinkRates())
    slow.links.observe("pg", 10_000_000, 10.0)
    slow.record(plan, plan, 2.0)
    assert slow.choose(plan) is plan
