"""Just-in-time replenishment: how many cartridges to order for one device's consumable when it
reports its level, or when it has gone silent. `reportTonerLevels` (resolvers/toner.py), the
silent-device pass (resolvers/silent_replenishment.py) and the backtest's replay
(bench/forecast.py) all decide with `order_quantity`.

- The need: the cartridges the device will start within the order window (lead time + safety
  days + the device's reporting cadence, since its next report may come that late): the
  cartridge in it when it runs out (the forecast's early end, `TonerForecast.order_days`), then
  one every early cartridge life (`TonerForecast.order_cycle_days`); at least one when the level
  is at or under the consumable's threshold.
- In hand: the cartridges already ordered for this device and consumable and not yet fitted
  (orders not cancelled, less the replacements recorded since; a cartridge that runs out before
  its order is delivered is fitted from that order when it comes).
- Ordered: nothing while the need is in hand; else enough to cover the need until an order
  raised at the next chance could arrive (window + lead time: one open order at a time, so the
  next one can only be raised once this one is delivered). A cartridge lasting less than the
  lead time is thus ordered while its predecessor is still in the device.
- Silent devices (`is_silent`, `silent_order_quantity`): a report plans for the next one to come
  within the device's cadence. When it has not come by then, the periodic pass takes over: the
  forecast made at the last report, its early end counted down by the days since, ordered on
  with lead time + safety days + the pass's own interval (PASS_DAYS: its next chance) as the
  window, against the cartridges in hand as of that report (orders since count, no replacement
  is known: the needs since the report count too)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from forecasting.demand import needs

# Report days looked at for a device's cadence, and the longest gap counted.
CADENCE_REPORTS = 5
MAX_CADENCE_DAYS = 14
# Orders and replacements older than this are not counted in hand: an order whose cartridge
# was fitted without the level showing it (a replacement not recognised) stops holding back
# new orders after this many days.
LEDGER_DAYS = 90
# The silent-device pass runs at least once a day: an order it does not raise now it can raise
# at most this many days later.
PASS_DAYS = 1
# A device silent longer than this is taken to be gone (off the network, switched off, taken
# away unrecorded): the pass stops ordering for it on a forecast older than the readings a
# forecast is made from (resolvers.forecasts.HISTORY_DAYS); its stale-device flag is for people.
MAX_SILENT_DAYS = 120


def reporting_cadence(report_days: Sequence[date]) -> int:
    """The longest gap in days between the last CADENCE_REPORTS distinct report days (the wait
    for the device's next report), MAX_CADENCE_DAYS at most; 0 with fewer than two."""
    days = sorted(set(report_days))[-CADENCE_REPORTS:]
    gaps = [(b - a).days for a, b in itertools.pairwise(days)]
    return min(max(gaps, default=0), MAX_CADENCE_DAYS)


def cartridges_in_hand(
    orders: Sequence[tuple[datetime, int]], replacements: Sequence[datetime]
) -> int:
    """Cartridges ordered (orders not cancelled: when, how many) and not yet fitted
    (replacements: when), from the events in time order; a replacement with none in hand was
    fitted from elsewhere."""
    events = sorted([(at, 1, q) for at, q in orders] + [(at, 0, 0) for at in replacements])
    held = 0
    for _, is_order, quantity in events:
        held = held + quantity if is_order else max(held - 1, 0)
    return held


def order_quantity(
    *,
    order_days: int | None,
    order_cycle_days: float | None,
    at_threshold: bool,
    lead_days: int,
    safety_days: int,
    cadence_days: int,
    in_hand: int,
) -> int:
    """Cartridges to order now (0: none), from the forecast's early end and early cartridge
    life (None: no forecast), whether the level is at or under the threshold, the stock
    location's lead time and safety days, the device's reporting cadence and the cartridges
    in hand."""
    window = lead_days + safety_days + cadence_days
    due: list[int] = []
    if order_days is not None and order_cycle_days is not None:
        due = needs(order_days, order_cycle_days, window)
    wanted = max(len(due), 1 if at_threshold else 0)
    if wanted <= in_hand:
        return 0
    if order_days is not None and order_cycle_days is not None:
        wanted = max(wanted, len(needs(order_days, order_cycle_days, window + lead_days)))
    return wanted - in_hand


def is_silent(last_report: datetime, now: datetime, cadence_days: int) -> bool:
    """Whether the report a device's last one planned for is overdue: more than its cadence
    (at least a day) has passed since, and at most MAX_SILENT_DAYS. Elapsed time, not calendar
    days: no time zone, day boundary or clock change moves it, and a report a few minutes late
    can only let the pass raise an order that report would have raised (the same forecast, a
    narrower window)."""
    elapsed = now - last_report
    return timedelta(days=max(cadence_days, 1)) < elapsed <= timedelta(days=MAX_SILENT_DAYS)


def projected_order_days(order_days: int | None, reported_on: date, today: date) -> int | None:
    """The early end of the forecast made on `reported_on`, counted from `today`: negative once
    passed (the cartridges needed since are counted as needs, against the cartridges in hand as
    of that report: a silent device reports no replacement)."""
    if order_days is None:
        return None
    return order_days - (today - reported_on).days


def silent_order_quantity(
    *,
    order_days: int | None,
    order_cycle_days: float | None,
    reported_on: date,
    today: date,
    at_threshold: bool,
    lead_days: int,
    safety_days: int,
    in_hand: int,
) -> int:
    """Cartridges to order now for a silent device (0: none): `order_quantity` on the forecast
    made on the day of its last report (its early end and early cartridge life; None: no
    forecast) projected to `today`, whether that last level was at or under the threshold,
    with the pass's next chance (PASS_DAYS) in place of the reporting cadence."""
    return order_quantity(
        order_days=projected_order_days(order_days, reported_on, today),
        order_cycle_days=order_cycle_days,
        at_threshold=at_threshold,
        lead_days=lead_days,
        safety_days=safety_days,
        cadence_days=PASS_DAYS,
        in_hand=in_hand,
    )
