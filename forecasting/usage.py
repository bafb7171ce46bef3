"""Pages per day from a meter's readings: weekday-aware, robust to gaps, outliers and counter
resets.

A reading is a counter value on a day. Between two readings the pages are spread over the days
after the first up to the second, each day weighted by its weekday (offices print little at the
weekend); the usage rate is pages per weight unit, so a forecast over whole weeks does not depend
on the weights and a forecast over a few days follows the office week. Each interval gives one
rate; the device's rate is their mean weighted by the interval's weight, and by its recency
(halving about every RECENCY_DAYS x ln 2 days: an office's printing drifts, so the last weeks
say more about the next ones), with the lowest and highest fifth of the weight left out (an
outlier does not count, a long gap between readings counts as much as the days it covers; the
median with fewer than five intervals), and their spread says how far the future may stray
from it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

# Default weekday weights, Monday first: an office fleet prints mostly on working days.
OFFICE_WEEK: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0, 0.15, 0.15)
# Relative spread assumed when too few intervals show their own (fewer than MIN_SPREAD_SAMPLES).
DEFAULT_SPREAD = 0.35
MIN_SPREAD_SAMPLES = 3
# Each interval's weight in the rate is multiplied by exp(-days from its end to the last
# reading / RECENCY_DAYS). Backtest (bench/README.md, issue 16): MAPE at 14 days 23.1 -> 20.7 %
# on a demo whose weekly pages drift (`seed-demo --usage office`), 21.5 -> 22.1 % on one whose
# intervals are drawn independently; 28 days: 19.9 and 23.4 %.
RECENCY_DAYS = 56.0
# Intervals needed for a trimmed mean (fewer: the median).
MIN_TRIMMED_SAMPLES = 5
# One-day intervals needed per weekday before the device's own week replaces the office week.
MIN_DAILY_SAMPLES = 3
# z of the 10th and 90th percentiles of a normal distribution: an 80 % interval.
Z80 = 1.2815515655446004


@dataclass(frozen=True)
class Reading:
    day: date
    value: int


@dataclass(frozen=True)
class Interval:
    start: date  # the earlier reading's day (its pages are printed after it)
    end: date
    pages: int
    weight: float  # sum of the weekday weights of the days start+1 .. end

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class UsageRate:
    """Pages per weight unit (`rate`), the weekday weights it goes with, its relative spread
    between intervals, the number of intervals and their mean length in days."""

    rate: float
    week: tuple[float, ...]
    spread: float
    samples: int
    mean_interval_days: float
    last_reading: Reading

    @property
    def pages_per_day(self) -> float:
        """Mean pages per calendar day over a week."""
        return self.rate * sum(self.week) / 7

    def pages_between(self, start: date, end: date) -> float:
        """Expected pages printed after `start` up to and including `end`."""
        return self.rate * week_weight(self.week, start, end)

    def horizon_spread(self, days: float) -> float:
        """Relative standard deviation of the mean rate over the next `days` days: the spread
        between intervals averages out over a longer horizon, the uncertainty of the rate itself
        (a median of `samples` intervals) does not."""
        span = max(self.mean_interval_days, 1.0)
        future = self.spread * math.sqrt(span / max(days, span))
        estimate = self.spread / math.sqrt(max(self.samples, 1))
        return math.sqrt(future * future + estimate * estimate)


def week_weight(week: Sequence[float], start: date, end: date) -> float:
    """Sum of the weekday weights of the days after `start` up to and including `end`."""
    days = (end - start).days
    if days <= 0:
        return 0.0
    full, rest = divmod(days, 7)
    total = full * sum(week)
    first = (start + timedelta(days=1)).weekday()
    for k in range(rest):
        total += week[(first + k) % 7]
    return total


def intervals(readings: Sequence[Reading], week: Sequence[float]) -> list[Interval]:
    """Consecutive pairs of readings by day, with their pages. A counter that went down (a
    reset or a replaced board) breaks the chain there: that interval is left out."""
    ordered = sorted(readings, key=lambda r: r.day)
    found: list[Interval] = []
    for before, after in itertools.pairwise(ordered):
        if after.day <= before.day or after.value < before.value:
            continue
        weight = week_weight(week, before.day, after.day)
        if weight <= 0:
            continue
        found.append(Interval(before.day, after.day, after.value - before.value, weight))
    return found


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    """The value below which half the total weight lies (the lower one on a tie)."""
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(w for _, w in pairs)
    if total <= 0:
        return pairs[len(pairs) // 2][0]
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= total / 2:
            return value
    return pairs[-1][0]


def trimmed_mean(values: Sequence[float], weights: Sequence[float], trim: float = 0.2) -> float:
    """The weighted mean of the values between the `trim` and 1 - `trim` quantiles of the
    weight (a few outliers at either end do not count; the rest is averaged, which follows the
    centre more closely than the median)."""
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(w for _, w in pairs)
    if total <= 0:
        return weighted_median(values, weights)
    low, high = trim * total, (1 - trim) * total
    running = kept_weight = kept = 0.0
    for value, weight in pairs:
        start, end = running, running + weight
        running = end
        share = max(0.0, min(end, high) - max(start, low))
        kept += value * share
        kept_weight += share
    return kept / kept_weight if kept_weight > 0 else weighted_median(values, weights)


def device_week(readings: Sequence[Reading]) -> tuple[float, ...]:
    """The device's own week when it is read daily often enough (median pages per weekday,
    scaled to a mean of 1); the office week otherwise."""
    per_weekday: list[list[int]] = [[] for _ in range(7)]
    for interval in intervals(readings, (1.0,) * 7):
        if interval.days == 1:
            per_weekday[interval.end.weekday()].append(interval.pages)
    if any(len(samples) < MIN_DAILY_SAMPLES for samples in per_weekday):
        return OFFICE_WEEK
    medians = [sorted(s)[len(s) // 2] for s in per_weekday]
    mean = sum(medians) / 7
    if mean <= 0:
        return OFFICE_WEEK
    # A weekday never printed on keeps a small weight, so that no day is impossible.
    return tuple(max(m / mean, 0.02) for m in medians)


def usage_rate(readings: Sequence[Reading], *, recent: bool = True) -> UsageRate | None:
    """The usage rate of one meter from its readings; None with fewer than two readings in
    order (one reading says nothing about a rate). `recent=False`: every interval by its weight
    alone, however old (the device's long-run rate)."""
    if not readings:
        return None
    week = device_week(readings)
    found = intervals(readings, week)
    if not found:
        return None
    rates = [i.pages / i.weight for i in found]
    weights = [i.weight for i in found]
    last_day = max(i.end for i in found)
    by_age = [
        w * math.exp(-(last_day - i.end).days / RECENCY_DAYS) if recent else w
        for i, w in zip(found, weights, strict=True)
    ]
    rate = (
        trimmed_mean(rates, by_age)
        if len(found) >= MIN_TRIMMED_SAMPLES
        else weighted_median(rates, by_age)
    )
    if len(found) >= MIN_SPREAD_SAMPLES and rate > 0:
        deviations = [abs(r / rate - 1) for r in rates]
        spread = min(max(1.4826 * weighted_median(deviations, weights), 0.05), 1.5)
    else:
        spread = DEFAULT_SPREAD
    last = max(readings, key=lambda r: r.day)
    return UsageRate(
        rate=rate,
        week=week,
        spread=spread,
        samples=len(found),
        mean_interval_days=sum(i.days for i in found) / len(found),
        last_reading=last,
    )
