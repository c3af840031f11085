"""The fixed calendar of the sample city.

Every department reports over the same window so monthly facts line up across sources: 24
reporting months of social insurance and tax (2022-07 .. 2024-06), a registry snapshot taken
after the June 2024 tax filings were in, and two weeks of parking events in June 2024.
The window does not depend on the seed or the scale, so tests and scenarios can name months.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

FIRST_MONTH = date(2022, 7, 1)
MONTH_COUNT = 24
REGISTRY_AS_OF = date(2024, 7, 15)
EVENT_FIRST_DAY = date(2024, 6, 1)
EVENT_DAY_COUNT = 14


def add_months(day: date, months: int) -> date:
    """First day of the month ``months`` after the month of ``day``."""
    total = day.year * 12 + day.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def month_index(day: date) -> int:
    """Position of ``day``'s month in the reporting window (negative before it)."""
    return (day.year - FIRST_MONTH.year) * 12 + day.month - FIRST_MONTH.month


def month_label(day: date) -> str:
    """The 'YYYY-MM' spelling used for the tax partition directories."""
    return f"{day.year:04d}-{day.month:02d}"


MONTHS: tuple[date, ...] = tuple(add_months(FIRST_MONTH, i) for i in range(MONTH_COUNT))
MONTH_LABELS: tuple[str, ...] = tuple(month_label(m) for m in MONTHS)
EVENT_DAYS: tuple[date, ...] = tuple(
    EVENT_FIRST_DAY + timedelta(days=i) for i in range(EVENT_DAY_COUNT)
)
EVENTS_END = datetime.combine(EVENT_DAYS[-1] + timedelta(days=1), datetime.min.time())
