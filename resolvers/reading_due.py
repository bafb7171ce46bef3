"""Which devices are due a meter reading: those with no reading since the 1st of the month at
their site (the period turns at each site's midnight, not at UTC's), for one device and as a
SQL filter."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import ColumnElement, Date, case, literal, select

from core import clock
from models import Device, MeterReading, Site
from models.enums import MeterType


def first_of_month(time_zone: str, at: datetime | None = None) -> date:
    """The first day of the current reading period (the month) at a site in `time_zone`."""
    return clock.today_in(time_zone, at).replace(day=1)


def is_reading_due(
    latest: list[tuple[MeterType, MeterReading | None]], time_zone: str | None
) -> bool:
    """Whether a device whose latest reading per meter is `latest` still owes this period's."""
    since = first_of_month(time_zone or "UTC")
    return not any(r is not None and r.reading_date >= since for _, r in latest)


def _period_start_by_zone() -> tuple[date, dict[date, list[str]]]:
    """The 1st of the current month in every time zone, grouped: (the most common date, the
    other dates with their zones). Away from a month boundary all zones agree. Computed once
    per quarter of an hour (every zone's offset is a multiple of 15 minutes)."""
    now = clock.now()
    return _period_start_by_zone_at(
        now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    )


@lru_cache(maxsize=2)
def _period_start_by_zone_at(quarter: datetime) -> tuple[date, dict[date, list[str]]]:
    groups: dict[date, list[str]] = defaultdict(list)
    for name in sorted(available_timezones()):
        groups[first_of_month(name, quarter)].append(name)
    common = max(groups, key=lambda d: len(groups[d]))
    return common, {d: zones for d, zones in groups.items() if d != common}


def reading_due_clause(due: bool) -> ColumnElement[bool]:
    """Devices with (or without) a reading since the 1st of the month in their site's time
    zone. Correlated to `Device`; the date is a constant except on the few hours around a month
    boundary, where it depends on the site's zone (a CASE on sites.time_zone)."""
    common, others = _period_start_by_zone()
    since: Any = literal(common, Date)
    if others:
        site_zone = (
            select(Site.time_zone)
            .where(Site.id == Device.site_id)
            .correlate_except(Site)
            .scalar_subquery()
        )
        since = case(
            *[(site_zone.in_(zones), literal(d, Date)) for d, zones in others.items()],
            else_=literal(common, Date),
        )
    recent = (
        select(MeterReading.id)
        .where(MeterReading.device_id == Device.id, MeterReading.reading_date >= since)
        .correlate_except(MeterReading)
        .exists()
    )
    return ~recent if due else recent
