"""A runaway in progress, seen in a device's toner levels: a rule measured by bench/forecast.py
and not wired into the API (bench/README.md, issue 16: in the backtest it prevents 1 of the 51
stock-outs that come with a planted runaway week, because the demo's weekly reports show a
runaway only once it is over or once the cartridge has run out).

The forecast's usage rate is a trimmed mean that deliberately leaves a runaway week out
(forecasting.usage), so while one lasts it overestimates the days to empty. When the levels a
device reports fall much faster than the forecast's rate, the rule orders on the rate they show
instead (`runaway_order_days`, in place of `TonerForecast.order_days` in
`forecasting.replenishment.order_quantity`).

The observed rate is taken over the span from the latest measured level back to the latest one
at least MIN_SPAN_DAYS before it (a level is a whole percent: over a few hours it says little).
A level that jumps up by REPLACEMENT_JUMP is a new cartridge: the old one is taken to have been
used to its end (as `forecasting.toner.cartridge_yields` takes it) and the new one counted
from full; a smaller rise (a re-seated cartridge, a sensor's noise) counts as nothing used."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from forecasting.toner import is_replacement

# The levels must fall this many times faster than the forecast's rate (as SPIKE_FACTOR for a
# reading): a weekly report's usual noise (+-50 % per interval in the demo) stays well under.
RUNAWAY_FACTOR = 3.0
# The shortest span an observed rate is taken over.
MIN_SPAN_DAYS = 1.0
# ... and the fewest points it must have used (one or two points are a rounding's worth).
MIN_POINTS_USED = 5


def points_used(levels: Sequence[tuple[datetime, int]]) -> int:
    """Percent points of toner used along measured levels in time order: each fall, and at a
    new cartridge the old one's last level (used to its end) and the new one's distance from
    full."""
    used = 0
    for (_, before), (_, after) in itertools.pairwise(levels):
        if is_replacement(before, after):
            used += max(before, 0) + 100 - after
        else:
            used += max(before - after, 0)
    return used


def observed_rate(levels: Sequence[tuple[datetime, int]]) -> float | None:
    """Percent points per day used from the latest measured level (when, percent; any order)
    back to the latest one at least MIN_SPAN_DAYS before it; None without such a span or with
    fewer than MIN_POINTS_USED points used over it."""
    ordered = sorted(levels)
    if len(ordered) < 2:
        return None
    last_at = ordered[-1][0]
    cutoff = last_at - timedelta(days=MIN_SPAN_DAYS)
    start = max((i for i, (at, _) in enumerate(ordered) if at <= cutoff), default=None)
    if start is None:
        return None
    span = ordered[start:]
    used = points_used(span)
    days = (last_at - span[0][0]) / timedelta(days=1)
    if used < MIN_POINTS_USED or days <= 0:
        return None
    return used / days


def runaway_order_days(
    *,
    percent: int,
    levels: Sequence[tuple[datetime, int]],
    order_days: int | None,
    pages_per_day: float | None,
    effective_yield: float | None,
) -> int | None:
    """The early end replenishment orders on (`forecasting.replenishment.order_quantity`'s
    `order_days`): the forecast's (`order_days`, from its `pages_per_day` and the cartridge's
    `effective_yield`), or sooner when the measured `levels` (ending with the current
    `percent`) fall RUNAWAY_FACTOR times faster than that rate: the whole days left at the
    rate they show. None without a forecast."""
    if order_days is None or pages_per_day is None or not effective_yield:
        return order_days
    rate = observed_rate(levels)
    forecast_rate = 100 * pages_per_day / effective_yield
    if rate is None or rate <= RUNAWAY_FACTOR * max(forecast_rate, 0.0):
        return order_days
    return min(order_days, math.floor(max(percent, 0) / rate))
