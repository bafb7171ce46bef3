"""The one clock of the app, the demo data and the tests: every reading of the current time goes
through here (tests freeze it with time-machine, see tests/conftest.py).

An instant is always aware and in UTC. A calendar date only exists in a place: `today_in(zone)`
is the date at a site, not the server's date (a UTC date is still yesterday in Martinique and
already tomorrow in Tokyo for hours every day)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def now() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


def timestamp() -> float:
    """The current instant in seconds since the epoch (JWT claims, expiry checks, headers)."""
    return time.time()


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    """The named IANA zone; UTC for a name this system does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def today_in(where: str | tzinfo, at: datetime | None = None) -> date:
    """The calendar date in a time zone (a name or a tzinfo), now or at the instant `at`."""
    tz = zone(where) if isinstance(where, str) else where
    return (at or now()).astimezone(tz).date()


def utc_today() -> date:
    """The UTC date: for what is not tied to a place (demo data, ticket years)."""
    return now().date()
