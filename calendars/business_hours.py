"""The business-hours calendar behind ticket response times (pure functions, no database).

Business time is real elapsed time inside the contract's coverage window (e.g. Mon-Fri
08:30-17:30) on the local days of the device's site, minus that country's public holidays and
minus the spans a ticket spent ON_HOLD. Windows are built per local day in the site's IANA time
zone and turned into UTC instants, so daylight-saving changes and servers in other time zones
cannot shift them. A local time that does not exist or exists twice on a DST change day is
read the way `zoneinfo` reads it with `fold=0`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

# How far ahead we look for an opening before deciding a calendar never opens.
MAX_DAYS_AHEAD = 3 * 366

# Share of the response time left under which a ticket is AT_RISK.
AT_RISK_SHARE = 0.25


class SlaState(enum.StrEnum):
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    BREACHED = "BREACHED"
    MET = "MET"


class NeverOpen(ValueError):
    """The calendar has no business time in the next MAX_DAYS_AHEAD days."""


@lru_cache(maxsize=64)
def _country_holidays(country: str | None, subdivision: str | None) -> holidays.HolidayBase | None:
    if not country:
        return None
    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:  # a country the package does not know: no public holidays
        return None


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class Coverage:
    """When the response clock runs: coverage hours on ISO weekdays, local to `time_zone`,
    minus the public holidays of `country` (ISO 3166-1 alpha-2)."""

    start: time
    end: time
    weekdays: frozenset[int]
    time_zone: str
    country: str | None = None
    subdivision: str | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("coverage must end after it starts")
        if not self.weekdays or not self.weekdays <= {1, 2, 3, 4, 5, 6, 7}:
            raise ValueError("coverage weekdays must be ISO weekdays 1-7")
        _zone(self.time_zone)  # an unknown zone fails here, not in the middle of a sum

    @classmethod
    def of(
        cls,
        *,
        start: time,
        end: time,
        days: str | Iterable[int],
        time_zone: str,
        country: str | None,
    ) -> Coverage:
        return cls(start, end, frozenset(int(d) for d in days), time_zone, country)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.time_zone)

    def is_working_day(self, day: date) -> bool:
        if day.isoweekday() not in self.weekdays:
            return False
        calendar = _country_holidays(self.country, self.subdivision)
        return calendar is None or day not in calendar

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's business window as UTC instants, or None on a non-working day."""
        if not self.is_working_day(day):
            return None
        zone = self.zone
        opens = datetime.combine(day, self.start, tzinfo=zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=zone).astimezone(UTC)
        return opens, closes

    def windows_from(self, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Business windows that end after `instant`, in order (the first one may have
        started before it)."""
        day = _aware(instant).astimezone(self.zone).date() - timedelta(days=1)
        for offset in range(MAX_DAYS_AHEAD):
            window = self.window(day + timedelta(days=offset))
            if window is not None and window[1] > instant:
                yield window
        raise NeverOpen("no business hours in the coming years")


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime given to the business-hours calendar")
    return instant


def _merged(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted((s, e) for s, e in spans if e > s):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _pieces(
    coverage: Coverage, start: datetime, holds: Sequence[tuple[datetime, datetime]]
) -> Iterator[tuple[datetime, datetime]]:
    """Business time after `start` as ordered (from, to) pieces, holds cut out."""
    blocked = _merged(holds)
    for opens, closes in coverage.windows_from(start):
        cursor = max(opens, start)
        for hold_start, hold_end in blocked:
            if hold_end <= cursor or hold_start >= closes:
                continue
            if hold_start > cursor:
                yield cursor, hold_start
            cursor = max(cursor, hold_end)
            if cursor >= closes:
                break
        if cursor < closes:
            yield cursor, closes


def add_business_time(
    start: datetime,
    duration: timedelta,
    coverage: Coverage,
    holds: Sequence[tuple[datetime, datetime]] = (),
) -> datetime:
    """The instant at which `duration` of business time has run from `start` (a start outside
    business hours counts from the next opening). A zero duration gives that opening."""
    start = _aware(start).astimezone(UTC)
    if duration < timedelta(0):
        raise ValueError("duration must not be negative")
    remaining = duration
    for piece_start, piece_end in _pieces(coverage, start, holds):
        length = piece_end - piece_start
        if remaining <= length:
            return piece_start + remaining
        remaining -= length
    raise NeverOpen("no business hours in the coming years")  # pragma: no cover


def next_opening(instant: datetime, coverage: Coverage) -> datetime:
    """`instant` itself when inside business hours, else the next opening."""
    return add_business_time(instant, timedelta(0), coverage)


def business_time_between(
    start: datetime,
    end: datetime,
    coverage: Coverage,
    holds: Sequence[tuple[datetime, datetime]] = (),
) -> timedelta:
    """Business time elapsed from `start` to `end` (zero when `end` is not after `start`)."""
    start = _aware(start).astimezone(UTC)
    end = _aware(end).astimezone(UTC)
    total = timedelta(0)
    if end <= start:
        return total
    for piece_start, piece_end in _pieces(coverage, start, holds):
        if piece_start >= end:
            break
        total += min(piece_end, end) - piece_start
    return total


@dataclass(frozen=True)
class ResponseClock:
    """What a ticket stores about its response clock."""

    due_at: datetime
    at_risk_at: datetime


def response_clock(
    created_at: datetime,
    response_time: timedelta,
    coverage: Coverage,
    on_hold: timedelta = timedelta(0),
) -> ResponseClock:
    """Due instant and the instant after which less than AT_RISK_SHARE of the response time is
    left; business time spent ON_HOLD (`on_hold`) pushes both back."""
    used_before_risk = response_time * (1 - AT_RISK_SHARE)
    return ResponseClock(
        due_at=add_business_time(created_at, response_time + on_hold, coverage),
        at_risk_at=add_business_time(created_at, used_before_risk + on_hold, coverage),
    )


def sla_state(
    *,
    due_at: datetime,
    at_risk_at: datetime | None,
    responded_at: datetime | None,
    clock_at: datetime,
) -> SlaState:
    """MET / BREACHED once answered; otherwise where the clock stands at `clock_at` (now, or
    the instant the ticket went ON_HOLD, since the clock stops then)."""
    if responded_at is not None:
        return SlaState.MET if responded_at <= due_at else SlaState.BREACHED
    if clock_at >= due_at:
        return SlaState.BREACHED
    if at_risk_at is not None and clock_at >= at_risk_at:
        return SlaState.AT_RISK
    return SlaState.ON_TRACK


# --- what a ticket stores ------------------------------------------------------------------

# Keys of a ticket's `details` that hold the response clock's bookkeeping.
AT_RISK_KEY = "slaAtRiskAt"
ON_HOLD_SINCE_KEY = "onHoldSince"
FROZEN_STATE_KEY = "slaFrozen"


def stamp(instant: datetime) -> str:
    """Instants kept in JSON as sortable UTC text (so SQL can compare them as strings)."""
    return _aware(instant).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def unstamp(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# Keys of a ticket's `details` naming the calendar its clock runs on (`Ticket.serviceCalendar`).
CLOCK_TIME_ZONE_KEY = "clockTimeZone"
CLOCK_COUNTRY_KEY = "clockCountry"
CLOCK_SITE_KEY = "clockSiteId"


@dataclass(frozen=True)
class Calendar:
    """A ticket's coverage and response time, and the site whose calendar it is (None: an
    account without sites, on UTC)."""

    coverage: Coverage
    response_time: timedelta
    site_id: int | None = None

    def details(self) -> dict[str, Any]:
        """What a ticket keeps of it, so the API shows the calendar its clock ran on even if
        the device moves or the account gains sites later."""
        return {
            CLOCK_TIME_ZONE_KEY: self.coverage.time_zone,
            CLOCK_COUNTRY_KEY: self.coverage.country,
            CLOCK_SITE_KEY: self.site_id,
        }


def clock_columns(
    calendar: Calendar | None, created_at: datetime, responded_at: datetime | None
) -> dict[str, Any]:
    """Response-clock columns of a ticket created at `created_at` (used for demo data)."""
    if calendar is None:
        return {"response_due_at": None, "first_responded_at": responded_at, "details": {}}
    clock = response_clock(created_at, calendar.response_time, calendar.coverage)
    return {
        "response_due_at": clock.due_at,
        "first_responded_at": responded_at,
        "details": {AT_RISK_KEY: stamp(clock.at_risk_at), **calendar.details()},
    }
