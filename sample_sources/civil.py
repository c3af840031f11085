"""民政 (civil affairs): the roster of social assistance and allowance recipients.

About 3% of recipients are legal representatives of registered enterprises (same ID number),
the classic cross-check of 政策直达 and assistance audits. Phones and bank cards are
sometimes missing and a few names carry a trailing space, as in real rosters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from random import Random

from .geography import DISTRICT_BY_CODE, DISTRICTS, OTHER_FUJIAN_AREAS, District
from .identifiers import bank_card, id_number, mobile_number
from .names import home_address, person_name
from .organizations import Enterprise, Person
from .plan import CityPlan
from .sampling import Weighted, chance, pick
from .schema import SUBSIDY_RECIPIENT, Columns

SUBSIDY_TYPES = ("低保", "特困", "临时救助", "残疾人补贴", "高龄津贴")
_TYPE_MIX: Weighted[str] = Weighted(SUBSIDY_TYPES, [45, 8, 12, 17, 18])
_LEGAL_REP_TYPE_MIX: Weighted[str] = Weighted(("低保", "临时救助", "残疾人补贴"), [50, 30, 20])
_BIRTH_YEARS = {
    "低保": (1935, 2005),
    "特困": (1930, 1975),
    "临时救助": (1945, 2005),
    "残疾人补贴": (1940, 2006),
    "高龄津贴": (1922, 1943),
}
_DISTRICT_MIX: Weighted[District] = Weighted(DISTRICTS, [d.recipient_weight for d in DISTRICTS])
_ROSTER_DATE = date(2024, 6, 30)
DIBAO_STANDARD = 880  # yuan per person per month
LEGAL_REP_SHARE = 0.03


def _years_later(day: date, years: int) -> date:
    return date(day.year + years, day.month, min(day.day, 28))


def _between(rng: Random, start: date, end: date) -> date:
    span = (end - start).days
    return start + timedelta(days=int(rng.random() * span)) if span > 0 else end


def _monthly_cents(rng: Random, subsidy: str, birth: date) -> int:
    if subsidy == "低保":
        return (200 + int(rng.random() * (DIBAO_STANDARD - 199))) * 100
    if subsidy == "特困":
        return (round(DIBAO_STANDARD * 1.3) + pick(rng, (0, 0, 200, 600))) * 100
    if subsidy == "临时救助":
        return (5 + int(rng.random() * 46)) * 10_000
    if subsidy == "残疾人补贴":
        return pick(rng, (80, 100, 120, 150, 200)) * 100
    age = _ROSTER_DATE.year - birth.year
    return (500 if age >= 100 else 300 if age >= 90 else 100) * 100


def _new_person(rng: Random, subsidy: str, district: District, seen: set[str]) -> Person:
    male = chance(rng, 0.42 if subsidy == "高龄津贴" else 0.5)
    low, high = _BIRTH_YEARS[subsidy]
    birth = _between(rng, date(low, 1, 1), date(high, 12, 31))
    area = district.code if chance(rng, 0.88) else pick(rng, OTHER_FUJIAN_AREAS)
    pid = id_number(rng, area, birth, male)
    while pid in seen:
        pid = id_number(rng, area, birth, male)
    return Person(person_name(rng, male), male, birth, pid)


def recipient_columns(
    plan: CityPlan, block: int, enterprises: Sequence[Enterprise], seen: set[str]
) -> Columns:
    """Recipients of one block; ``seen`` carries issued ID numbers across blocks (primary key)."""
    rng = plan.rng("civil", block)
    cols = SUBSIDY_RECIPIENT.empty_columns()
    for _ in plan.recipient_range(block):
        person: Person | None = None
        if enterprises and rng.random() < LEGAL_REP_SHARE:
            rep = pick(rng, enterprises).legal_rep
            if rep.id_number not in seen:
                person = rep
        if person is not None:
            subsidy = _LEGAL_REP_TYPE_MIX.pick(rng)
            district = DISTRICT_BY_CODE.get(person.id_number[:6]) or _DISTRICT_MIX.pick(rng)
        else:
            subsidy = _TYPE_MIX.pick(rng)
            district = _DISTRICT_MIX.pick(rng)
            person = _new_person(rng, subsidy, district, seen)
        seen.add(person.id_number)
        if subsidy == "高龄津贴":
            start = _between(
                rng, max(_years_later(person.birth_date, 80), date(2012, 1, 1)), _ROSTER_DATE
            )
        else:
            earliest = max(_years_later(person.birth_date, 18), date(2010, 1, 1))
            start = _between(rng, earliest, _ROSTER_DATE)
        name = person.name + " " if chance(rng, 0.008) else person.name
        phone_missing = 0.3 if subsidy == "高龄津贴" else 0.08
        cols["person_id"].append(person.id_number)
        cols["name"].append(name)
        cols["gender"].append(person.gender)
        cols["birth_date"].append(person.birth_date)
        cols["phone"].append(None if chance(rng, phone_missing) else mobile_number(rng))
        cols["address"].append(home_address(rng, district))
        cols["district_code"].append(district.code)
        cols["subsidy_type"].append(subsidy)
        cols["monthly_amount"].append(_monthly_cents(rng, subsidy, person.birth_date))
        cols["start_date"].append(start)
        cols["bank_card"].append(None if chance(rng, 0.015) else bank_card(rng))
    return cols
