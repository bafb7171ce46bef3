"""When a toner cartridge runs out: pages left from the level and the yield this device really
gets from a cartridge, days left from its usage rate (forecasting.usage), with an 80 % interval.

Cartridge replacements are read from the level history (a level that jumps up); the pages
between two replacements, against the share of the cartridge used, are what one cartridge gave
this device. The effective yield starts at the consumable's rated yield (ISO/IEC 19752 / 19798,
measured at 5 % coverage) and moves towards what the device's own cartridges gave."""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from forecasting.usage import Z80, Reading, UsageRate, usage_rate

# A level this many points above the last measured one is a new cartridge.
REPLACEMENT_JUMP = 30
# A cartridge must have been used this much (in percent) for its pages to teach the yield.
MIN_USED_PERCENT = 40
# Relative uncertainty of a rated yield for one device (its coverage is not ISO's 5 %).
RATED_YIELD_SPREAD = 0.25
# Points of the cartridge in the device used before its own pages teach the yield.
MIN_CURRENT_USED = 15
# How many cartridges' worth of trust the rated yield gets against the device's own.
RATED_YIELD_WEIGHT = 0.25
# Forecasts beyond this many days are capped (an idle device).
MAX_DAYS = 3650
# z of the quantile replenishment orders on (forecasting.replenishment): the early end of the
# 80 % interval, a one-in-ten chance of running out sooner.
ORDER_Z = Z80


class Method(enum.StrEnum):
    RATED_YIELD = "RATED_YIELD"  # the consumable's rated yield, no cartridge of this device yet
    LEARNED_YIELD = "LEARNED_YIELD"  # the rated yield corrected by this device's cartridges
    OBSERVED_YIELD = "OBSERVED_YIELD"  # no rated yield: this device's cartridges only


class Reason(enum.StrEnum):
    LEVEL_NOT_MEASURED = "LEVEL_NOT_MEASURED"  # the device reports "unknown" or "some remaining"
    NOT_ENOUGH_READINGS = "NOT_ENOUGH_READINGS"  # fewer than two readings of the meter in order
    NO_METER = "NO_METER"  # the model has no meter counting this toner's pages
    NO_YIELD = "NO_YIELD"  # no rated yield and no past cartridge of this device
    NO_USAGE = "NO_USAGE"  # the meter has not moved: nothing is being printed


def meter_for(colour: str, meters: Collection[str]) -> str | None:
    """The meter counting the pages a toner of `colour` prints on: black toner on the black
    meter, colour toners on the colour meter (their large-format twins when the model has no
    other), the total meter when the model counts nothing finer."""
    wanted = ("BLACK", "LARGE_BLACK") if colour == "BLACK" else ("COLOUR", "LARGE_COLOUR")
    for meter in (*wanted, "TOTAL"):
        if meter in meters:
            return meter
    return None


def is_replacement(previous_percent: int | None, percent: int) -> bool:
    """Whether a measured level, after the last measured one, means a new cartridge."""
    return previous_percent is not None and percent - previous_percent >= REPLACEMENT_JUMP


@dataclass(frozen=True)
class Replacement:
    """A cartridge change: the old cartridge's last level, the new one's first, and the
    meter's counter by then (None when unknown)."""

    from_percent: int
    to_percent: int
    meter_value: int | None


def cartridge_yields(replacements: Sequence[Replacement]) -> list[float]:
    """Pages per whole cartridge, one figure per cartridge that lived between two replacements
    (in time order) and was used enough; a counter that went down (reset) teaches nothing.

    A cartridge is taken to be used to its end (printers run their toner out): between the two
    counters it went from its first level to empty, and its successor from full to its own
    first level (zero when the replacement was reported at once)."""
    found: list[float] = []
    for fitted, removed in itertools.pairwise(replacements):
        if fitted.meter_value is None or removed.meter_value is None:
            continue
        pages = removed.meter_value - fitted.meter_value
        used = fitted.to_percent + 100 - removed.to_percent
        if pages <= 0 or used < MIN_USED_PERCENT:
            continue
        found.append(pages * 100 / used)
    return found


@dataclass(frozen=True)
class Yield:
    pages: float  # pages a full cartridge gives this device
    spread: float  # relative standard deviation
    method: Method


def current_cartridge_yield(
    fitted: Replacement | None, usage: UsageRate | None, percent: int | None, level_on: date
) -> tuple[float, float] | None:
    """What the cartridge in the device is giving so far: (pages per whole cartridge, the share
    of it used), from the counter when it was fitted, the counter now (the last reading carried
    to the day of the level by the usage rate) and the level; None until MIN_CURRENT_USED
    points are used."""
    if fitted is None or fitted.meter_value is None or usage is None or percent is None:
        return None
    used = fitted.to_percent - percent
    if used < MIN_CURRENT_USED:
        return None
    last = usage.last_reading
    if level_on >= last.day:
        counter = last.value + usage.pages_between(last.day, level_on)
    else:
        counter = last.value - usage.pages_between(level_on, last.day)
    pages = counter - fitted.meter_value
    if pages <= 0:
        return None
    return pages * 100 / used, used / 100


def effective_yield(
    rated: int | None,
    observed: Sequence[float],
    current: tuple[float, float] | None = None,
) -> Yield | None:
    """The rated yield, pulled towards the device's own cartridges as they come in (a mean in
    which the rating counts as RATED_YIELD_WEIGHT cartridges, and the cartridge in the device
    as the share of it used); None with neither."""
    if not observed and current is None:
        if rated is None or rated <= 0:
            return None
        return Yield(float(rated), RATED_YIELD_SPREAD, Method.RATED_YIELD)
    weights = [1.0] * len(observed) + ([current[1]] if current is not None else [])
    values = [*observed] + ([current[0]] if current is not None else [])
    n = sum(weights)
    mean_observed = sum(v * w for v, w in zip(values, weights, strict=True)) / n
    if len(values) >= 2 and n > 1:
        variance = sum(w * (y - mean_observed) ** 2 for y, w in zip(values, weights, strict=True))
        between = math.sqrt(variance / (n - 1 if n > 1 else 1)) / mean_observed
    else:
        between = RATED_YIELD_SPREAD
    if rated is None or rated <= 0:
        return Yield(mean_observed, between / math.sqrt(n) + 0.05, Method.OBSERVED_YIELD)
    pages = (RATED_YIELD_WEIGHT * rated + mean_observed * n) / (RATED_YIELD_WEIGHT + n)
    spread = min(RATED_YIELD_SPREAD, between) / math.sqrt(1 + n) + 0.05
    return Yield(pages, spread, Method.LEARNED_YIELD)


@dataclass(frozen=True)
class TonerForecast:
    """Either `reason` (why there is no forecast) or every figure."""

    reason: Reason | None = None
    pages_per_day: float | None = None
    pages_left: float | None = None
    days_to_empty: int | None = None
    empty_on: date | None = None
    low_days: int | None = None
    high_days: int | None = None
    low: date | None = None
    high: date | None = None
    confidence: float | None = None
    method: Method | None = None
    effective_yield: float | None = None
    # What replenishment orders on: days until empty, and days a full cartridge lasts, at the
    # early quantile ORDER_Z.
    order_days: int | None = None
    order_cycle_days: float | None = None


def days_to_print(usage: UsageRate, pages: float, today: date) -> int:
    """Whole days from `today` until `pages` more pages are printed at the usage rate (0 when
    nothing is left; MAX_DAYS at most)."""
    if pages <= 0:
        return 0
    week_pages = usage.rate * sum(usage.week)
    if week_pages <= 0:
        return MAX_DAYS
    weeks = int(pages // week_pages)
    if weeks * 7 >= MAX_DAYS:
        return MAX_DAYS
    remaining = pages - weeks * week_pages
    days = weeks * 7
    day = today + timedelta(days=days)
    while remaining > 1e-6 * pages and days < MAX_DAYS:
        day += timedelta(days=1)
        days += 1
        remaining -= usage.rate * usage.week[day.weekday()]
    return min(days, MAX_DAYS)


def forecast(
    *,
    percent: int | None,
    usage: UsageRate | None,
    yield_: Yield | None,
    today: date,
    has_meter: bool = True,
    level_on: date | None = None,
) -> TonerForecast:
    """The exhaustion forecast of a cartridge at `percent` (None: not measured) as reported on
    `level_on` (default: today): the pages expected since then are already gone."""
    if percent is None:
        return TonerForecast(reason=Reason.LEVEL_NOT_MEASURED)
    if not has_meter:
        return TonerForecast(reason=Reason.NO_METER)
    if usage is None:
        return TonerForecast(reason=Reason.NOT_ENOUGH_READINGS)
    if yield_ is None:
        return TonerForecast(reason=Reason.NO_YIELD)
    if usage.rate <= 0:
        return TonerForecast(reason=Reason.NO_USAGE)
    pages_left = max(percent, 0) / 100 * yield_.pages
    if level_on is not None and level_on < today:
        pages_left = max(pages_left - usage.pages_between(level_on, today), 0.0)
    days = days_to_print(usage, pages_left, today)
    sigma = math.sqrt(usage.horizon_spread(max(days, 1)) ** 2 + yield_.spread**2)
    low_days = days_to_print(usage, pages_left * math.exp(-Z80 * sigma), today)
    high_days = days_to_print(usage, pages_left * math.exp(Z80 * sigma), today)
    # 1 for a tight interval, towards 0 as the interval grows to several times the forecast.
    confidence = round(1 / (1 + 2 * sigma * Z80), 2)
    order_days = days_to_print(usage, pages_left * math.exp(-ORDER_Z * sigma), today)
    cycle = yield_.pages / usage.pages_per_day
    cycle_sigma = math.sqrt(usage.horizon_spread(max(cycle, 1)) ** 2 + yield_.spread**2)
    order_cycle_days = min(cycle * math.exp(-ORDER_Z * cycle_sigma), float(MAX_DAYS))
    return TonerForecast(
        pages_per_day=usage.pages_per_day,
        pages_left=pages_left,
        days_to_empty=days,
        empty_on=today + timedelta(days=days),
        low_days=low_days,
        high_days=high_days,
        low=today + timedelta(days=low_days),
        high=today + timedelta(days=high_days),
        confidence=confidence,
        method=yield_.method,
        effective_yield=yield_.pages,
        order_days=order_days,
        order_cycle_days=order_cycle_days,
    )


def toner_forecast(
    *,
    percent: int | None,
    level_on: date,
    readings: Sequence[Reading],
    replacements: Sequence[Replacement],
    rated: int | None,
    today: date,
    has_meter: bool = True,
) -> TonerForecast:
    """The whole forecast from what is known on `today`: the level (None: not measured) and
    the day it was reported, the readings of the toner's meter, the cartridge replacements in
    time order and the rated yield."""
    usage = usage_rate(readings)
    current = current_cartridge_yield(
        replacements[-1] if replacements else None, usage, percent, level_on
    )
    return forecast(
        percent=percent,
        usage=usage,
        yield_=effective_yield(rated, cartridge_yields(replacements), current),
        today=today,
        has_meter=has_meter,
        level_on=level_on,
    )
