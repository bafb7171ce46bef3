"""Meter-reading intelligence: flags on a new reading (a spike, the end of a long silence, an
estimate) and the billing estimate of a counter on a day without a reading."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from forecasting.usage import Z80, Reading, usage_rate, week_weight

# A reading is a spike when its pages per day exceed this many times the device's usual rate...
SPIKE_FACTOR = 3.0
# ... and are at least this many pages (a quiet printer doubling its few pages is no spike) ...
SPIKE_MIN_PAGES = 500
# ... or when they reach what the model can print in a day, every day (beyond it a submission
# is refused: READING_IMPLAUSIBLE).
SPIKE_CAPACITY_SHARE = 1.0


class Flag(enum.StrEnum):
    SPIKE = "SPIKE"
    STALE_DEVICE = "STALE_DEVICE"
    ESTIMATED = "ESTIMATED"


# Stored as bits of one integer column, so that a filter is one test in SQL.
FLAG_BITS: dict[Flag, int] = {Flag.SPIKE: 1, Flag.STALE_DEVICE: 2, Flag.ESTIMATED: 4}


def flags_to_bits(flags: set[Flag] | frozenset[Flag]) -> int:
    return sum(FLAG_BITS[f] for f in flags)


def bits_to_flags(bits: int) -> list[Flag]:
    return [f for f, bit in FLAG_BITS.items() if bits & bit]


def reading_flags(
    *,
    previous: tuple[date, int] | None,
    day: date,
    value: int,
    usual_pages_per_day: float | None,
    max_pages_per_day: int,
    stale_after_days: int,
    estimated: bool = False,
) -> set[Flag]:
    """The flags of a reading of `value` on `day`, after the reading `previous` (day, value) of
    the same meter: SPIKE when its pages per day are far above the device's usual rate (or near
    the model's capacity), STALE_DEVICE when the meter went unread for more than
    `stale_after_days` days before it, ESTIMATED when the submitter says it is an estimate."""
    flags: set[Flag] = {Flag.ESTIMATED} if estimated else set()
    if previous is None:
        return flags
    days = (day - previous[0]).days
    if days <= 0:
        return flags
    if days > stale_after_days:
        flags.add(Flag.STALE_DEVICE)
    pages = value - previous[1]
    if pages <= 0:
        return flags
    per_day = pages / days
    near_capacity = per_day >= SPIKE_CAPACITY_SHARE * max_pages_per_day
    far_above = (
        usual_pages_per_day is not None
        and pages >= SPIKE_MIN_PAGES
        and per_day > SPIKE_FACTOR * max(usual_pages_per_day, 1.0)
    )
    if near_capacity or far_above:
        flags.add(Flag.SPIKE)
    return flags


class Basis(enum.StrEnum):
    READ = "READ"  # a reading exists that day
    INTERPOLATED = "INTERPOLATED"  # between two readings
    EXTRAPOLATED = "EXTRAPOLATED"  # after the last reading, from the usage trend


@dataclass(frozen=True)
class Estimate:
    value: int
    low: int
    high: int
    basis: Basis


def estimate_on(readings: Sequence[Reading], on: date) -> Estimate | None:
    """The counter on day `on`: the reading of that day; between two readings, the pages spread
    over the days between them by the usage rate's week (bounds: the two readings); after the
    last reading, the trend carried on (80 % bounds, never below the last reading). None before
    the first reading or without a trend."""
    ordered = sorted(readings, key=lambda r: r.day)
    if not ordered or on < ordered[0].day:
        return None
    for r in ordered:
        if r.day == on:
            return Estimate(r.value, r.value, r.value, Basis.READ)
    before = max((r for r in ordered if r.day < on), key=lambda r: r.day)
    after = min((r for r in ordered if r.day > on), key=lambda r: r.day, default=None)
    usage = usage_rate(ordered)
    if after is not None and after.value >= before.value:
        week = usage.week if usage is not None else (1.0,) * 7
        total = week_weight(week, before.day, after.day)
        share = week_weight(week, before.day, on) / total if total > 0 else 0.0
        value = before.value + round((after.value - before.value) * share)
        return Estimate(value, before.value, after.value, Basis.INTERPOLATED)
    if usage is None:
        return None
    expected = usage.pages_between(before.day, on)
    sigma = usage.horizon_spread((on - before.day).days)
    low = before.value + math.floor(expected * math.exp(-Z80 * sigma))
    high = before.value + math.ceil(expected * math.exp(Z80 * sigma))
    return Estimate(before.value + round(expected), low, high, Basis.EXTRAPOLATED)
