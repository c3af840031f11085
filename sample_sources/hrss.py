"""人社 (human resources & social security): monthly social insurance contributions.

One row per paying unit per month. Micro firms often pay nothing, deregistered firms stop,
new firms start the month after founding, and a few months are missing (断缴 or late
declarations), so the table is a realistic, gappy panel rather than a full grid. Public
institutions (事业单位) pay here too, which is why not every code joins to the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from random import Random

from .organizations import Enterprise, Institution
from .plan import CityPlan
from .sampling import lognormal
from .schema import SOCIAL_INSURANCE, Columns
from .timeline import MONTHS

# Contribution rates, employer + employee, as applied in 福州.
PENSION_RATE = 0.24
MEDICAL_RATE = 0.095
UNEMPLOYMENT_RATE = 0.01
# Contribution base floor and ceiling per social insurance year (July to June).
_BASE_LIMITS = {2022: (3_900, 19_500), 2023: (4_100, 20_500), 2024: (4_300, 21_500)}
# Headcount by calendar month: the Spring Festival dip in February.
_SEASON = dict(enumerate((1.0, 0.96, 1.01, 1.0, 1.0, 1.0, 1.01, 1.0, 1.0, 0.99, 1.0, 1.0), start=1))


def _append_panel(
    cols: Columns,
    rng: Random,
    code: str,
    employees: float,
    wage: float,
    first: int,
    last: int,
    arrears_rate: float,
    winding_down: bool,
) -> None:
    headcount = employees * (0.85 + 0.25 * rng.random())
    for m in range(max(0, first), last + 1):
        headcount *= lognormal(rng, 0.002, 0.04)
        if winding_down and last - m < 3:
            headcount *= 0.8
        if rng.random() < 0.02:
            continue  # missing month: not declared or suspended
        month = MONTHS[m]
        insured = max(1, round(headcount * _SEASON[month.month]))
        fund_year = month.year if month.month >= 7 else month.year - 1
        low, high = _BASE_LIMITS[fund_year]
        growth = 1.04 ** (fund_year - 2022)
        base = round(min(high, max(low, wage * growth)))
        payroll = insured * base  # whole yuan, so cents below are exact
        cols["credit_code"].append(code)
        cols["month"].append(month)
        cols["headcount"].append(insured)
        cols["pension_contribution"].append(round(payroll * PENSION_RATE * 100))
        cols["medical_contribution"].append(round(payroll * MEDICAL_RATE * 100))
        cols["unemployment_contribution"].append(round(payroll * UNEMPLOYMENT_RATE * 100))
        cols["arrears"].append(rng.random() < arrears_rate)


def social_insurance_columns(
    plan: CityPlan,
    block: int,
    enterprises: Sequence[Enterprise],
    institutions: Sequence[Institution],
) -> Columns:
    rng = plan.rng("hrss", block)
    cols = SOCIAL_INSURANCE.empty_columns()
    for e in enterprises:
        if not e.insured:
            continue
        arrears_rate = 0.12 if e.rating in ("C", "D") else 0.015
        _append_panel(
            cols,
            rng,
            e.hrss_code,
            e.employees,
            e.industry.wage * e.wage_factor,
            e.first_month + 1,
            e.last_month,
            arrears_rate,
            e.deregistered_on is not None,
        )
    for inst in institutions:
        _append_panel(
            cols, rng, inst.credit_code, inst.employees, 8_500, 0, len(MONTHS) - 1, 0.0, False
        )
    return cols
