"""How many pages a demo device prints between two readings, by one of two generators:

- `independent` (the default): each interval between readings prints the device's mean daily
  rate times its days times a uniform draw in [0.5, 1.5], independently of the interval before.
  Two weeks of pages then stray by a mean 17 % from the device's rate: more than an office
  prints from one fortnight to the next.
- `office`: the device's weekly level drifts slowly (each week 1 + 0.85 x last week's deviation
  + a normal step of 0.10: about +-19 % around its rate, lasting weeks: a project, a team
  away), each week +-15 % on its own (uniform), the days from 24 December to 1 January at 20 %
  and August at 60 % (holidays).

Both keep the same long-run rate per device up to the holidays; the benchmark of the toner
forecasts (bench/forecast.py) reports its figures and an oracle under each."""

from __future__ import annotations

import random
from datetime import date, timedelta

USAGE_GENERATORS = ("independent", "office")

PERSISTENCE = 0.85  # share of last week's deviation kept
LEVEL_STEP = 0.10  # standard deviation of the weekly step of the level
WEEK_NOISE = 0.15  # each week's own deviation, uniform in +-
LEVEL_BOUNDS = (0.3, 2.0)


def holiday_share(day: date) -> float:
    """The share of a usual day's pages printed on `day`."""
    if (day.month == 12 and day.day >= 24) or (day.month == 1 and day.day == 1):
        return 0.2
    if day.month == 8:
        return 0.6
    return 1.0


class OfficeUsage:
    """The `office` generator for one device (its own random stream)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.level = 1.0 + self.rng.gauss(0, LEVEL_STEP / (1 - PERSISTENCE**2) ** 0.5)
        self.week: date | None = None
        self.noise = 1.0

    def day_factor(self, day: date) -> float:
        monday = day - timedelta(days=day.weekday())
        if monday != self.week:
            self.week = monday
            step = self.rng.gauss(0, LEVEL_STEP)
            low, high = LEVEL_BOUNDS
            self.level = min(max(1 + PERSISTENCE * (self.level - 1) + step, low), high)
            self.noise = self.rng.uniform(1 - WEEK_NOISE, 1 + WEEK_NOISE)
        return self.level * self.noise * holiday_share(day)

    def factor(self, start: date, end: date) -> float:
        """The mean factor of the days after `start` up to `end` (1 for an empty interval)."""
        days = (end - start).days
        if days <= 0:
            return 1.0
        return sum(self.day_factor(start + timedelta(days=k)) for k in range(1, days + 1)) / days
