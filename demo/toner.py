"""A year of toner levels consistent with the seeded meter readings: each e-Maintenance
device's toners run down with the pages counted on the meter they print on, at a coverage of
the device's own (its cartridges give 70 % to 125 % of the rated yield), a cartridge is replaced
the day it runs out (the device reports the new one at 100 %, the replacement is recorded with
the counter that day) and the device reports its levels on every reading day.

Planted anomalies (listed in `PLANTED` for the benchmark): a week of runaway printing (SPIKE),
a device left unread for three months (STALE_DEVICE), a device whose levels turn "unknown"."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from forecasting.usage import OFFICE_WEEK
from models.enums import TonerLevelState

# Which devices (by position in the fleet) carry which anomaly.
SPIKE_EVERY, SPIKE_AT = 50, 17
STALE_EVERY, STALE_AT = 50, 29
UNKNOWN_EVERY, UNKNOWN_AT = 50, 41
SPIKE_FACTOR = 8  # pages of the runaway week against a usual one
STALE_GAP_DAYS = 90  # readings skipped


def has_spike(position: int) -> bool:
    return position % SPIKE_EVERY == SPIKE_AT


def has_gap(position: int) -> bool:
    return position % STALE_EVERY == STALE_AT


def has_unknown_levels(position: int) -> bool:
    return position % UNKNOWN_EVERY == UNKNOWN_AT


@dataclass(frozen=True)
class Toner:
    consumable_id: int
    rated_yield: int
    meter: str  # the meter its pages are counted on


@dataclass
class TonerHistory:
    reports: list[dict[str, Any]] = field(default_factory=list)
    replacements: list[dict[str, Any]] = field(default_factory=list)
    current: list[dict[str, Any]] = field(default_factory=list)


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def daily_pages(points: list[tuple[date, int]]) -> list[tuple[date, float, float]]:
    """(day, pages that day, counter at the end of the day) from the first reading on: each
    interval's pages spread over its days by the office week."""
    days: list[tuple[date, float, float]] = []
    for (d0, v0), (d1, v1) in itertools.pairwise(points):
        span = [d0 + timedelta(days=k) for k in range(1, (d1 - d0).days + 1)]
        weights = [OFFICE_WEEK[d.weekday()] for d in span]
        total = sum(weights) or 1.0
        counter = float(v0)
        for d, w in zip(span, weights, strict=True):
            pages = (v1 - v0) * w / total
            counter += pages
            days.append((d, pages, counter))
    return days


def simulate(
    device_id: int,
    toner: Toner,
    points: list[tuple[date, int]],
    *,
    unknown_from: date | None,
    now: datetime,
) -> TonerHistory:
    """The level history of one toner of one device over its readings `points`."""
    history = TonerHistory()
    if len(points) < 2:
        return history
    rng = random.Random(device_id * 7919 + toner.consumable_id)
    coverage = rng.uniform(0.7, 1.25)

    def cartridge() -> float:
        return toner.rated_yield * coverage * rng.uniform(0.95, 1.05)

    size = cartridge()
    left = size * rng.uniform(0.3, 1.0)
    reading_days = {d for d, _ in points}
    last_percent: int | None = None
    last: dict[str, Any] | None = None

    def report(day: date, hour: int, percent: int | None) -> None:
        nonlocal last, last_percent
        state = TonerLevelState.MEASURED
        if unknown_from is not None and day >= unknown_from and percent is not None:
            state, percent = TonerLevelState.UNKNOWN, None
        row = {
            "device_id": device_id,
            "consumable_id": toner.consumable_id,
            "reported_at": min(_at(day, hour), now),
            "percent": percent,
            "state": state,
        }
        history.reports.append(row)
        last = row
        if percent is not None:
            last_percent = percent

    report(points[0][0], 18, round(100 * left / size))
    for day, pages, counter in daily_pages(points):
        left -= pages
        if left <= 0:
            # Replaced the day it ran out; the new cartridge is reported at once.
            history.replacements.append(
                {
                    "device_id": device_id,
                    "consumable_id": toner.consumable_id,
                    "replaced_at": min(_at(day, 12), now),
                    "from_percent": last_percent if last_percent is not None else 0,
                    "to_percent": 100,
                    "meter": toner.meter,
                    "meter_value": round(counter),
                    "meter_date": day,
                }
            )
            size = cartridge()
            left += size
            report(day, 12, 100)
        if day in reading_days:
            report(day, 18, max(0, min(100, round(100 * left / size))))
    if last is not None:
        history.current.append(
            {
                "device_id": device_id,
                "consumable_id": toner.consumable_id,
                "percent": last["percent"],
                "state": last["state"],
                "reported_at": last["reported_at"],
            }
        )
    return history
