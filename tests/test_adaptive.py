"""A query one source could answer whole has a pulled alternative; runs choose between them.

Pushing joins and aggregates moves the fewest bytes; fetching the tables in slices and
combining them locally can be faster on a fast link. The planner makes both plans and the
executor picks by measured runs and the measured link (answers: tests/test_federation_tpch).
"""

from __future__ import annotations

import pytest

from guajie.federation import CatalogView, plan_query
from guajie.federation.adaptive import RECHECK_AFTER, LinkRates, PlanChoices
from tests.test_planner import table

SQL = (
    "SELECT e.district_code, count(*) AS n FROM pg.enterprise e "
    "JOIN pg.filing f ON f.credit_code = e.credit_code GROUP BY e.district_code"
)


@pytest.fixture
def view() -> CatalogView:
    v = CatalogView(source_kinds={"pg": "postgresql", "my": "mysql"})
    v.add(
        table(
            "pg",
            "postgresql",
            "public",
            "enterprise",
            50_000,
            credit_code="string",
            district_code="string",
        )
    )
    v.add(
        table("pg", "postgresql", "public", "filing", 2_000_000, credit_code="string", tax="double")
    )
    v.add(
        table(
            "my",
            "mysql",
            "hrss",
            "enterprise",
            50_000,
            credit_code="string",
            district_code="string",
        )
    )
    v.add(table("my", "mysql", "hrss", "filing", 2_000_000, credit_code="string", tax="double"))
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

    fast = PlanChoices(fast_link())
    fast.record(plan, plan, 2.0)
    assert fast.choose(plan) is plan.pulled


def test_the_faster_variant_wins_after_both_ran(view):
    plan = plan_query(SQL, view)
    choices = PlanChoices(fast_link())
    choices.record(plan, plan, 2.0)
    choices.record(plan, plan.pulled, 1.2)
    assert choices.choose(plan) is plan.pulled  # a second look before comparing
    choices.record(plan, plan.pulled, 1.0)
    assert choices.choose(plan) is plan.pulled
    slower = PlanChoices(fast_link())
    slower.record(plan, plan, 1.0)
    slower.record(plan, plan.pulled, 1.5)
    slower.record(plan, plan.pulled, 1.4)
    assert slower.choose(plan) is plan
    far = PlanChoices(fast_link())
    far.record(plan, plan, 1.0)
    far.record(plan, plan.pulled, 5.0)
    assert far.choose(plan) is plan  # far slower at once: no second look soon
    for _ in range(RECHECK_AFTER):
        far.record(plan, plan, 1.0)
    assert far.choose(plan) is plan.pulled


def test_the_other_variant_is_measured_again_now_and_then(view):
    plan = plan_query(SQL, view)
    choices = PlanChoices(fast_link())
    choices.record(plan, plan, 1.0)
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
    choices = PlanChoices(fast_link())
    choices.record(plan, plan, 2.0)
    assert choices.choose(copy) is copy.pulled
