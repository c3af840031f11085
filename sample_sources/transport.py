"""交通 (transport): public parking lots and two weeks of entry/exit events.

Many lots are run by registered enterprises (their credit code joins to the registry), some
by public institutions, the rest directly by the government (no operator code). Events come
from a fixed vehicle population in which regulars park often, so plate numbers repeat the
way they do in real ANPR data; cars still inside at extract time have no exit time or fee.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .geography import DISTRICTS, District
from .identifiers import plate_number
from .names import street_address
from .organizations import Enterprise, Institution
from .plan import CityPlan
from .sampling import Weighted, count_around, lognormal, pick
from .schema import PARKING_EVENTS, PARKING_LOTS, Columns
from .timeline import EVENT_DAYS, EVENTS_END

_DISTRICT_MIX: Weighted[District] = Weighted(DISTRICTS, [d.lot_weight for d in DISTRICTS])
_KINDS: Weighted[tuple[str, int, int]] = Weighted.of(
    [
        (("公共停车场", 60, 400), 30),
        (("地下停车场", 150, 1200), 25),
        (("立体停车库", 80, 300), 10),
        (("道路停车泊位", 15, 80), 20),
        (("P+R停车场", 200, 800), 5),
    ]
)
_RATES = {1: (5, 6, 8, 10), 2: (3, 4, 5, 6), 3: (2, 3)}
# Relative number of cars entering per hour of the day (morning and evening peaks).
_HOURLY_ENTRIES = (
    "0.2 0.1 0.1 0.1 0.1 0.3 0.8 2.5 4.0 3.5 3.0 2.8 "  # 00:00-11:59
    "2.5 2.6 2.8 2.8 2.6 2.8 3.5 3.2 2.5 1.6 0.9 0.5"  # 12:00-23:59
)
_HOURS: Weighted[int] = Weighted(range(24), [float(w) for w in _HOURLY_ENTRIES.split()])
_POPULARITY_SIGMA = 0.6


@dataclass(frozen=True, slots=True)
class Lot:
    number: int
    lot_id: str
    name: str
    district: District
    address: str
    capacity: int
    lat: float
    lon: float
    operator_credit_code: str | None
    rate_cents: int
    free_minutes: int
    popularity: float


def parking_lots(
    plan: CityPlan,
    block: int,
    enterprises: Sequence[Enterprise],
    institutions: Sequence[Institution],
) -> list[Lot]:
    rng = plan.rng("lots", block)
    operators = [e for e in enterprises if e.active and e.industry.code in "LKG"] or [
        e for e in enterprises if e.active
    ]
    used_names: dict[str, int] = {}
    lots: list[Lot] = []
    for number in plan.lot_range(block):
        district = _DISTRICT_MIX.pick(rng)
        kind, low, high = _KINDS.pick(rng)
        place = pick(rng, district.roads if kind == "道路停车泊位" else district.landmarks)
        seen = used_names.get(place + kind, 0)
        used_names[place + kind] = seen + 1
        name = f"{place}{kind}" if not seen else f"{place}{seen + 1}号{kind}"
        r = rng.random()
        if r < 0.55 and operators:
            operator: str | None = pick(rng, operators).credit_code
        elif r < 0.7 and institutions:
            operator = pick(rng, institutions).credit_code
        else:
            operator = None
        rate = pick(rng, _RATES[district.rate_tier]) + (2 if kind == "道路停车泊位" else 0)
        lots.append(
            Lot(
                number=number,
                lot_id=f"P{number + 1:07d}",
                name=name,
                district=district,
                address=street_address(rng, district),
                capacity=low + int(rng.random() * (high - low)),
                lat=round(district.lat + rng.uniform(-0.03, 0.03), 6),
                lon=round(district.lon + rng.uniform(-0.03, 0.03), 6),
                operator_credit_code=operator,
                rate_cents=rate * 100,
                free_minutes=30 if rng.random() < 0.2 else 15,
                popularity=lognormal(rng, 0, _POPULARITY_SIGMA),
            )
        )
    # Popularity averages exactly 1 within a block, so event totals track the plan at any scale.
    total = sum(lot.popularity for lot in lots)
    return [replace(lot, popularity=lot.popularity * len(lots) / total) for lot in lots]


def lot_columns(lots: Sequence[Lot]) -> Columns:
    cols = PARKING_LOTS.empty_columns()
    for lot in lots:
        cols["lot_id"].append(lot.lot_id)
        cols["name"].append(lot.name)
        cols["district_code"].append(lot.district.code)
        cols["address"].append(lot.address)
        cols["capacity"].append(lot.capacity)
        cols["lat"].append(lot.lat)
        cols["lon"].append(lot.lon)
        cols["operator_credit_code"].append(lot.operator_credit_code)
        cols["hourly_rate"].append(lot.rate_cents)
    return cols


def _fee_cents(lot: Lot, seconds: int) -> int:
    """Hourly charging after the free period, capped at eight hours' worth per day."""
    if seconds <= lot.free_minutes * 60:
        return 0
    days, hours = divmod(math.ceil(seconds / 3600), 24)
    cap = lot.rate_cents * 8
    return days * cap + min(hours * lot.rate_cents, cap)


def event_columns(plan: CityPlan, block: int, lots: Sequence[Lot]) -> Iterator[tuple[str, Columns]]:
    """Events of one block's lots, one chunk per day ('YYYY-MM-DD', columns), time-ordered."""
    rng = plan.rng("events", block)
    per_lot_day = plan.events / (plan.lots * len(EVENT_DAYS))
    vehicles = max(200, plan.events // 6)
    for day in EVENT_DAYS:
        midnight = datetime(day.year, day.month, day.day)
        id_prefix = f"E{day:%Y%m%d}"
        weekend = day.weekday() >= 5
        rows: list[tuple[datetime, str, str, str | None, datetime | None, int | None]] = []
        for lot in lots:
            mean = per_lot_day * lot.popularity * (1.25 if weekend else 0.9)
            for seq in range(count_around(rng, mean)):
                hour = _HOURS.pick(rng)
                entered = midnight + timedelta(seconds=hour * 3600 + int(rng.random() * 3600))
                minutes = min(4320.0, max(2.0, lognormal(rng, 4.3, 0.95)))
                if hour >= 18 and rng.random() < 0.3:
                    minutes += 480 + rng.random() * 240
                seconds = int(minutes * 60)
                leaves = entered + timedelta(seconds=seconds)
                # still inside when the data was extracted, or the exit was never recorded
                missing = leaves >= EVENTS_END or rng.random() < 0.003
                exited = None if missing else leaves
                vehicle = int(vehicles * rng.random() ** 2)
                plate = None if rng.random() < 0.004 else plate_number(plan.seed, vehicle)
                rows.append(
                    (
                        entered,
                        f"{id_prefix}{lot.number + 1:07d}{seq + 1:05d}",
                        lot.lot_id,
                        plate,
                        exited,
                        None if exited is None else _fee_cents(lot, seconds),
                    )
                )
        rows.sort(key=lambda row: (row[0], row[1]))
        cols = PARKING_EVENTS.empty_columns()
        for entered, event_id, lot_id, plate, exited, fee in rows:
            cols["event_id"].append(event_id)
            cols["lot_id"].append(lot_id)
            cols["plate_number"].append(plate)
            cols["entered_at"].append(entered)
            cols["exited_at"].append(exited)
            cols["fee"].append(fee)
        yield day.isoformat(), cols
