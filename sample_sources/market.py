"""市场监管 (market regulation): the enterprise registry and the district dimension."""

from __future__ import annotations

from collections.abc import Sequence

from .geography import DISTRICTS
from .organizations import Enterprise
from .schema import DISTRICT, ENTERPRISE, Columns


def district_columns() -> Columns:
    cols = DISTRICT.empty_columns()
    for d in DISTRICTS:
        cols["district_code"].append(d.code)
        cols["name"].append(d.name)
        cols["population"].append(d.population)
    return cols


def enterprise_columns(enterprises: Sequence[Enterprise]) -> Columns:
    cols = ENTERPRISE.empty_columns()
    for e in enterprises:
        cols["credit_code"].append(e.credit_code)
        cols["name"].append(e.name)
        cols["legal_rep_name"].append(e.legal_rep.name)
        cols["legal_rep_id_number"].append(e.legal_rep.id_number)
        cols["industry"].append(e.industry.name)
        cols["registered_capital"].append(e.capital_cents)
        cols["district"].append(e.district_label)
        cols["district_code"].append(e.district.code)
        cols["founded_on"].append(e.founded_on)
        cols["status"].append(e.status)
        cols["deregistered_on"].append(e.deregistered_on)
    return cols
