"""The latent population every department observes: enterprises, their legal
representatives, and the public institutions that pay social insurance.

Departments never invent enterprises of their own; they render these profiles into their own
tables (registry rows, monthly contributions, tax filings, parking-lot operators), which is
what makes ``credit_code`` and ID numbers join across sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from random import Random

from .geography import DISTRICTS, District
from .identifiers import CreditCodes, id_number
from .industries import INDUSTRY_MIX, Industry
from .names import company_name, person_name
from .plan import CityPlan
from .sampling import Weighted, chance, lognormal, pick
from .timeline import MONTH_COUNT, REGISTRY_AS_OF, month_index

ACTIVE_STATUSES = ("存续", "在业")
_NEW_CODE_SINCE = date(2015, 10, 1)
_FOUNDING_YEARS: Weighted[int] = Weighted(
    list(range(1993, 2025)),
    [1.13 ** min(y - 1993, 28) * (0.55 if y == 2024 else 1.0) for y in range(1993, 2025)],
)
_CAPITAL_WAN: Weighted[int] = Weighted.of(
    [
        (3, 2),
        (5, 4),
        (10, 10),
        (20, 6),
        (30, 6),
        (50, 12),
        (100, 20),
        (200, 10),
        (300, 8),
        (500, 10),
        (1000, 7),
        (2000, 3),
        (3000, 2),
        (5000, 1.5),
        (10000, 0.8),
        (20000, 0.3),
    ]
)
_BASE_RATING: Weighted[str] = Weighted.of([("A", 12), ("B", 58), ("M", 17), ("C", 8), ("D", 5)])
_DISTRICT_MIX: Weighted[District] = Weighted(DISTRICTS, [d.enterprise_weight for d in DISTRICTS])


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    male: bool
    birth_date: date
    id_number: str

    @property
    def gender(self) -> str:
        return "男" if self.male else "女"


@dataclass(frozen=True, slots=True)
class Enterprise:
    """One registered enterprise and the traits its department records derive from."""

    index: int
    credit_code: str
    name: str  # as registered, sometimes with a stray trailing space
    district: District
    district_label: str  # the district name as the registry stored it
    industry: Industry
    founded_on: date
    status: str
    deregistered_on: date | None
    capital_cents: int  # registered capital in 万元, times 100
    legal_rep: Person
    employees: int
    insured: bool  # pays social insurance at all (many micro firms do not)
    shell: bool  # files zero returns every month
    productivity: float
    wage_factor: float
    rating: str  # usual annual tax credit rating
    hrss_code: str  # how the social insurance system spelled the credit code

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def first_month(self) -> int:
        """Window index of the first month the enterprise existed (may be negative)."""
        return month_index(self.founded_on)

    @property
    def last_month(self) -> int:
        """Window index of the last full month of operation."""
        if self.deregistered_on is None:
            return MONTH_COUNT - 1
        return min(MONTH_COUNT - 1, month_index(self.deregistered_on) - 1)


@dataclass(frozen=True, slots=True)
class Institution:
    """A 事业单位 that pays social insurance but is not in the market registry."""

    credit_code: str
    district: District
    employees: int


@lru_cache(maxsize=8)
def credit_codes(seed: int) -> CreditCodes:
    return CreditCodes(seed)


def _random_date(rng: Random, start: date, end: date) -> date:
    span = (end - start).days
    return start + timedelta(days=int(rng.random() * (span + 1))) if span > 0 else start


def _founding_date(rng: Random) -> date:
    year = _FOUNDING_YEARS.pick(rng)
    return _random_date(rng, date(year, 1, 1), min(date(year, 12, 31), REGISTRY_AS_OF))


def _status(rng: Random, founded: date) -> tuple[str, date | None]:
    age_years = (REGISTRY_AS_OF - founded).days / 365.25
    if rng.random() < 0.8 + 0.15 * max(0.0, 1 - age_years / 3):
        return ("存续" if chance(rng, 0.84) else "在业"), None
    r = rng.random()
    status = "注销" if r < 0.6 else "吊销" if r < 0.9 else "迁出"
    earliest = founded + timedelta(days=90)
    if earliest >= REGISTRY_AS_OF:
        return status, REGISTRY_AS_OF
    span = (REGISTRY_AS_OF - earliest).days
    return status, earliest + timedelta(days=int(span * rng.random() ** 0.5))


def legal_rep(rng: Random, district: District, founded: date) -> Person:
    """A legal representative aged at least 18 at founding, born 1950-2000."""
    male = chance(rng, 0.76)
    latest = date(min(2000, founded.year - 18), 12, 31)
    birth = _random_date(rng, date(1950, 1, 1), latest)
    return Person(person_name(rng, male), male, birth, id_number(rng, district.code, birth, male))


def enterprises(plan: CityPlan, block: int) -> list[Enterprise]:
    """Block ``block`` of the registry, always the same for the same seed."""
    rng = plan.rng("enterprise", block)
    codes = credit_codes(plan.seed)
    out: list[Enterprise] = []
    for index in plan.enterprise_range(block):
        district = _DISTRICT_MIX.pick(rng)
        industry = INDUSTRY_MIX.pick(rng)
        founded = _founding_date(rng)
        status, deregistered = _status(rng, founded)
        shell = chance(rng, 0.05)
        employees = (
            1 if shell else max(1, round(industry.employees_median * lognormal(rng, -0.3, 1.15)))
        )
        insured = not shell and chance(rng, 0.85 if employees < 5 else 0.98)
        wan = _CAPITAL_WAN.pick(rng) * (10 if employees > 200 else 1)
        capital_cents = wan * 100 if chance(rng, 0.9) else int(wan * 100 * (0.5 + rng.random()))
        rep = pick(rng, out).legal_rep if out and chance(rng, 0.03) else None
        if rep is None or rep.birth_date.year > founded.year - 18:
            rep = legal_rep(rng, district, founded)  # else: one person heads several companies
        name = company_name(rng, district, industry.phrases, big=wan >= 1000)
        if chance(rng, 0.005):
            name += " "
        code = codes.enterprise(index, district.code, new_style=founded >= _NEW_CODE_SINCE)
        r = rng.random()
        if r < 0.006 and code[8:10] == "MA":
            hrss_code = code.lower()
        elif r < 0.01:
            hrss_code = code + " "
        else:
            hrss_code = code
        rating = "D" if shell and chance(rng, 0.5) else _BASE_RATING.pick(rng)
        out.append(
            Enterprise(
                index=index,
                credit_code=code,
                name=name,
                district=district,
                district_label=district.name + " " if chance(rng, 0.004) else district.name,
                industry=industry,
                founded_on=founded,
                status=status,
                deregistered_on=deregistered,
                capital_cents=capital_cents,
                legal_rep=rep,
                employees=employees,
                insured=insured,
                shell=shell,
                productivity=lognormal(rng, 0, 0.5),
                wage_factor=lognormal(rng, 0, 0.25),
                rating=rating,
                hrss_code=hrss_code,
            )
        )
    return out


def institutions(plan: CityPlan, block: int) -> list[Institution]:
    """Public institutions of block ``block``: about 3 per 100 enterprises."""
    rng = plan.rng("institution", block)
    codes = credit_codes(plan.seed)
    span = plan.enterprise_range(block)
    count = max(1, round(len(span) * 0.03))
    out: list[Institution] = []
    for j in range(count):
        district = _DISTRICT_MIX.pick(rng)
        code = codes.institution(block * 100 + j, district.code)
        out.append(Institution(code, district, 20 + int(lognormal(rng, 4, 0.8))))
    return out
