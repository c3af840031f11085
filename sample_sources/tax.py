"""税务 (tax): monthly filing summaries per enterprise.

Amounts follow current small-business rules closely enough for policy scenarios to behave:
small-scale taxpayers under 10万/month pay no VAT and 1% above it, general taxpayers pay an
industry-typical VAT burden, corporate income tax is prepaid in quarter-end months (5% for
small low-profit enterprises, else 25%), and surcharges (城建税及教育费附加) are in the total.
Shell companies file zero returns; a few filings are late or missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from random import Random

from .organizations import Enterprise
from .plan import CityPlan
from .sampling import lognormal
from .schema import TAX_FILINGS, Columns
from .timeline import MONTH_LABELS, MONTHS, add_months

RATINGS = ("A", "B", "M", "C", "D")
# Revenue by calendar month: Spring Festival slump, year-end peak.
_SEASON = dict(enumerate((1.1, 0.75, 1.0, 0.95, 1.0, 1.05, 0.95, 0.95, 1.05, 0.95, 1.05, 1.25), 1))
_QUARTER_END = (3, 6, 9, 12)
SMALL_SCALE_EXEMPT_CENTS = 100_000 * 100  # 月销售额10万元以下免征增值税
GENERAL_TAXPAYER_CENTS = 5_000_000 * 100  # 年应税销售额500万元以上为一般纳税人


def _ratings(rng: Random, e: Enterprise) -> dict[int, str]:
    """Credit rating per calendar year: M while new, occasionally up- or downgraded."""
    out: dict[int, str] = {}
    for year in sorted({m.year for m in MONTHS}):
        if e.founded_on > date(year - 1, 1, 1):
            out[year] = "M"
        elif rng.random() < 0.1:
            step = 1 if rng.random() < 0.5 else -1
            out[year] = RATINGS[min(len(RATINGS) - 1, max(0, RATINGS.index(e.rating) + step))]
        else:
            out[year] = e.rating
    return out


def _filing_date(rng: Random, period: date, rating: str) -> date:
    due = add_months(period, 1)
    late = rng.random() < (0.15 if rating in ("C", "D") else 0.02)
    day = 16 + int(rng.random() * 13) if late else 1 + int(15 * rng.random() ** 0.6)
    return due.replace(day=day)


def tax_columns(
    plan: CityPlan, block: int, enterprises: Sequence[Enterprise]
) -> dict[str, Columns]:
    """Filings of one block, keyed by the 'YYYY-MM' tax period (the partition value)."""
    rng = plan.rng("tax", block)
    by_month = {label: TAX_FILINGS.empty_columns() for label in MONTH_LABELS}
    for e in enterprises:
        first, last = max(0, e.first_month), e.last_month
        if first > last:
            continue
        ratings = _ratings(rng, e)
        typical_cents = e.employees * e.industry.revenue_per_head * e.productivity * 100
        general = typical_cents * 12 > GENERAL_TAXPAYER_CENTS or e.employees > 50
        for m in range(first, last + 1):
            if rng.random() < 0.015:
                continue  # not filed (yet)
            period = MONTHS[m]
            rating = ratings[period.year]
            if e.shell or rng.random() < 0.04:
                revenue = 0  # zero return (零申报)
            else:
                noise = lognormal(rng, 0, 0.25)
                revenue = round(typical_cents * _SEASON[period.month] * noise)
            if general:
                vat = round(revenue * e.industry.vat_burden * lognormal(rng, 0, 0.3))
                surcharge = round(vat * 0.12)
            else:
                vat = round(revenue * 0.01) if revenue > SMALL_SCALE_EXEMPT_CENTS else 0
                surcharge = round(vat * 0.06)  # 六税两费 halved for small-scale taxpayers
            income_tax = 0
            if period.month in _QUARTER_END and revenue and rng.random() > 0.25:
                profit = revenue * 3 * e.industry.margin * lognormal(rng, 0, 0.5)
                small_profit = e.employees <= 300 and profit * 4 <= 300_000_000
                income_tax = round(profit * (0.05 if small_profit else 0.25))
            cols = by_month[MONTH_LABELS[m]]
            cols["credit_code"].append(e.credit_code)
            cols["vat_amount"].append(vat)
            cols["income_tax_amount"].append(income_tax)
            cols["total_tax"].append(vat + income_tax + surcharge)
            cols["revenue"].append(revenue)
            cols["filing_date"].append(_filing_date(rng, period, rating))
            cols["credit_rating"].append(rating)
            cols["month"].append(MONTH_LABELS[m])
    return by_month
