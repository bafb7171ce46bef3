"""Backtest of the toner forecasts, the just-in-time replenishment and the reading-anomaly
detector on the large demo fleet (or any database holding toner history).

    DATABASE_URL=sqlite+aiosqlite:////tmp/large.sqlite3 python bench/forecast.py [--devices N]
        [--anomaly-devices M] [--usage independent|office]

Migrates and seeds the large fleet (`seed-demo --scale large [--usage ...]`) when the database
is empty.
Everything runs in-process on what the database holds, through the same `forecasting`
functions the API calls (resolvers/forecasts.py gathers the same inputs):

- Forecast error: for every e-Maintenance device, toner and cartridge that ran out on day E,
  the forecast made on day D = E - h (h = 7, 14, 30) from what was known by then (readings of
  the toner's meter up to D, the last level reported by D, the cartridges replaced before D) is
  compared with h: absolute percentage error |forecast - h| / h, and whether E fell within the
  80 % interval. Beside it two oracles that know the device's true rate (over its whole
  history) and the cartridge's true pages: one also knows the pages left on D (what is left is
  the usage noise of the days ahead), the other the pages left when the level was last reported
  (what the forecast sees).
- Just-in-time replenishment: each toner's history replayed event by event (level reports and
  replacements in time order) through `forecasting.replenishment`, the rule
  `reportTonerLevels` applies: orders raised when none is open, delivered lead time days later,
  the oldest one not yet used fitted at each replacement; a stock-out when it has not arrived
  (or none was raised), with its cause (a planted silent gap or runaway week, a cartridge
  shorter than the lead time with nothing ordered before it, or an order raised too late).
  Replayed twice: from reports only, then with the silent-device pass too (daily, for a device
  whose last report is overdue: `is_silent`, `silent_order_quantity`, what
  resolvers/silent_replenishment.py decides with), then with the silent pass and a rule that
  reacts to a runaway in progress (bench/runaway.py: the days left at the rate the levels show
  when they fall much faster than the forecast's; measured, not what the API does). The rule
  before (each cartridge on its own, one order) is replayed beside them.
- Anomalies: every reading day of the first devices (and every planted one among them) flagged
  again with `forecasting.meters.reading_flags` (the usual rate from the three whole months
  before, as the rollup gives it); compared with the anomalies the demo planted (stored flags):
  recall and false-alarm rate per device and reading day."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import ensure_loaded  # noqa: E402
from bench.runaway import runaway_order_days  # noqa: E402
from demo.usage import USAGE_GENERATORS  # noqa: E402
from forecasting.meters import FLAG_BITS, Flag, reading_flags  # noqa: E402
from forecasting.replenishment import (  # noqa: E402
    CADENCE_REPORTS,
    LEDGER_DAYS,
    MAX_CADENCE_DAYS,
    cartridges_in_hand,
    is_silent,
    order_quantity,
    reporting_cadence,
    silent_order_quantity,
)
from forecasting.toner import Replacement, days_to_print, meter_for, toner_forecast  # noqa: E402
from forecasting.usage import OFFICE_WEEK, Reading, usage_rate, week_weight  # noqa: E402
from models import (  # noqa: E402
    CartridgeReplacement,
    Consumable,
    Device,
    MeterReading,
    ProductModel,
    ProductModelMeter,
    TonerLevelReport,
    product_model_consumables,
)
from models.enums import ConsumableKind, TonerLevelState  # noqa: E402
from models.session import create_engine  # noqa: E402
from resolvers.forecasts import HISTORY_DAYS  # noqa: E402
from settings import Settings  # noqa: E402

HORIZONS = (7, 14, 30)
MIN_HISTORY_DAYS = 30
THRESHOLD_PERCENT = 15
PLANNING = ((5, 3), (5, 10))  # (lead time, safety days)
STALE_DAYS = Settings.stale_device_days
# The previous rule's cap on the days since the previous report added to its window.
MAX_REPORT_GAP_DAYS = 14


@dataclass
class Series:
    readings: list[Reading] = field(default_factory=list)
    days: list[date] = field(default_factory=list)

    def up_to(self, day: date) -> list[Reading]:
        end = bisect.bisect_right(self.days, day)
        start = bisect.bisect_left(self.days, day - timedelta(days=HISTORY_DAYS))
        return self.readings[start:end]


@dataclass
class TonerHistory:
    rated: int
    meter: str
    threshold: int = THRESHOLD_PERCENT
    reports: list[tuple[date, int | None]] = field(default_factory=list)
    replacements: list[tuple[date, Replacement]] = field(default_factory=list)
    # when each report and replacement was made (the replay's order of events)
    report_times: list[datetime] = field(default_factory=list)
    replacement_times: list[datetime] = field(default_factory=list)


def _forecast(series: Series, toner: TonerHistory, day: date) -> Any:
    """The forecast on `day` from what was known by then (None without a measured level)."""
    level = None
    for report_day, percent in reversed(toner.reports):
        if report_day <= day:
            level = (report_day, percent)
            break
    if level is None or level[1] is None:
        return None
    return toner_forecast(
        percent=level[1],
        level_on=level[0],
        readings=series.up_to(day),
        replacements=[r for d, r in toner.replacements if d <= day],
        rated=toner.rated,
        today=day,
    )


async def load(settings: Settings, devices: int) -> tuple[dict[Any, Any], ...]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            ids_stmt = (
                select(Device.id, Device.product_model_id)
                .where(Device.e_maintenance.is_(True))
                .order_by(Device.id)
            )
            if devices:
                ids_stmt = ids_stmt.limit(devices)
            fleet = dict((await conn.execute(ids_stmt)).tuples().all())
            meters: dict[int, set[str]] = defaultdict(set)
            for model, meter in (
                await conn.execute(
                    select(ProductModelMeter.product_model_id, ProductModelMeter.meter)
                )
            ).tuples():
                meters[model].add(str(meter.value if hasattr(meter, "value") else meter))
            toners: dict[int, list[tuple[int, str, int, int]]] = defaultdict(list)
            for model, consumable, colour, rated, threshold in (
                await conn.execute(
                    select(
                        product_model_consumables.c.product_model_id,
                        Consumable.id,
                        Consumable.colour,
                        Consumable.rated_yield_pages,
                        Consumable.reorder_threshold_percent,
                    )
                    .join(Consumable, Consumable.id == product_model_consumables.c.consumable_id)
                    .where(Consumable.kind == ConsumableKind.TONER)
                )
            ).tuples():
                meter = meter_for(colour.value, meters[model])
                if meter is not None and rated:
                    toners[model].append((consumable, meter, rated, threshold))
            histories: dict[tuple[int, int], TonerHistory] = {}
            for device, model in fleet.items():
                for consumable, meter, rated, threshold in toners[model]:
                    histories[(device, consumable)] = TonerHistory(rated, meter, threshold)
            series: dict[tuple[int, str], Series] = defaultdict(Series)
            spikes: dict[int, set[date]] = defaultdict(set)
            chunk = sorted(fleet)
            for start in range(0, len(chunk), 500):
                part = chunk[start : start + 500]
                for device, meter, day, value, flags in (
                    await conn.execute(
                        select(
                            MeterReading.device_id,
                            MeterReading.meter,
                            MeterReading.reading_date,
                            MeterReading.value,
                            MeterReading.flags,
                        )
                        .where(MeterReading.device_id.in_(part))
                        .order_by(
                            MeterReading.device_id, MeterReading.meter, MeterReading.reading_date
                        )
                    )
                ).tuples():
                    s = series[(device, meter.value)]
                    s.readings.append(Reading(day, value))
                    s.days.append(day)
                    if flags & FLAG_BITS[Flag.SPIKE]:
                        spikes[device].add(day)
                for device, consumable, at, percent, state in (
                    await conn.execute(
                        select(
                            TonerLevelReport.device_id,
                            TonerLevelReport.consumable_id,
                            TonerLevelReport.reported_at,
                            TonerLevelReport.percent,
                            TonerLevelReport.state,
                        )
                        .where(TonerLevelReport.device_id.in_(part))
                        .order_by(TonerLevelReport.reported_at, TonerLevelReport.id)
                    )
                ).tuples():
                    history = histories.get((device, consumable))
                    if history is not None:
                        measured = state is TonerLevelState.MEASURED
                        history.reports.append((at.date(), percent if measured else None))
                        history.report_times.append(at)
                for device, consumable, at, before, after, value in (
                    await conn.execute(
                        select(
                            CartridgeReplacement.device_id,
                            CartridgeReplacement.consumable_id,
                            CartridgeReplacement.replaced_at,
                            CartridgeReplacement.from_percent,
                            CartridgeReplacement.to_percent,
                            CartridgeReplacement.meter_value,
                        )
                        .where(CartridgeReplacement.device_id.in_(part))
                        .order_by(CartridgeReplacement.replaced_at, CartridgeReplacement.id)
                    )
                ).tuples():
                    history = histories.get((device, consumable))
                    if history is not None:
                        history.replacements.append((at.date(), Replacement(before, after, value)))
                        history.replacement_times.append(at)
            max_pages = dict(
                (await conn.execute(select(ProductModel.id, ProductModel.max_pages_per_day)))
                .tuples()
                .all()
            )
            first_id = await conn.scalar(select(Device.id).order_by(Device.id).limit(1))
    finally:
        await engine.dispose()
    extra = {"max_pages": max_pages, "fleet": fleet, "first_id": first_id, "spikes": spikes}
    return histories, series, extra


def _spread_counter(s: Series, day: date) -> float | None:
    """The counter at the end of `day`, the pages between the readings around it spread by the
    office week (as the demo prints them)."""
    i = bisect.bisect_left(s.days, day)
    if i < len(s.days) and s.days[i] == day:
        return float(s.readings[i].value)
    if i == 0 or i == len(s.days):
        return None
    a, b = s.readings[i - 1], s.readings[i]
    share = week_weight(OFFICE_WEEK, a.day, day) / week_weight(OFFICE_WEEK, a.day, b.day)
    return a.value + (b.value - a.value) * share


def backtest(histories: dict[Any, TonerHistory], series: dict[Any, Series]) -> dict[int, Any]:
    """Forecast errors per horizon, beside two oracles that know the device's true usage rate
    (its rate over the whole history, future included) and the cartridge's true pages (the
    counter the day it ran out): `oracle` also knows the pages left on the day of the forecast
    (only the pages still to be printed are uncertain: the usage noise itself); `oracle_seen`
    knows the pages left on the day of the last level report, as the forecast does, and
    carries them to the day of the forecast at the true rate."""
    errors: dict[int, list[float]] = {h: [] for h in HORIZONS}
    oracle: dict[int, list[float]] = {h: [] for h in HORIZONS}
    oracle_seen: dict[int, list[float]] = {h: [] for h in HORIZONS}
    covered: dict[int, list[bool]] = {h: [] for h in HORIZONS}
    missing: dict[int, int] = {h: 0 for h in HORIZONS}
    for (device, _), toner in histories.items():
        s = series.get((device, toner.meter))
        if s is None or not s.readings:
            continue
        first = s.readings[0].day
        true_rate = usage_rate(s.readings, recent=False)
        starts = [toner.reports[0][0]] if toner.reports else []
        starts += [d for d, _ in toner.replacements]
        for start, (empty_on, ended) in zip(starts, toner.replacements, strict=False):
            for h in HORIZONS:
                day = empty_on - timedelta(days=h)
                if day < start or (day - first).days < MIN_HISTORY_DAYS:
                    continue
                found = _forecast(s, toner, day)
                if found is None or found.reason is not None:
                    missing[h] += 1
                    continue
                errors[h].append(abs(found.days_to_empty - h) / h)
                covered[h].append(found.low_days <= h <= found.high_days)
                now = _spread_counter(s, day)
                level_day = max(d for d, _ in toner.reports if d <= day)
                then = _spread_counter(s, level_day)
                if true_rate is None or ended.meter_value is None or now is None or then is None:
                    continue
                known = ended.meter_value - then - true_rate.pages_between(level_day, day)
                oracle[h].append(
                    abs(days_to_print(true_rate, ended.meter_value - now, day) - h) / h
                )
                oracle_seen[h].append(abs(days_to_print(true_rate, known, day) - h) / h)
    return {
        h: {
            "n": len(errors[h]),
            "mape": 100 * statistics.fmean(errors[h]) if errors[h] else float("nan"),
            "median_ape": 100 * statistics.median(errors[h]) if errors[h] else float("nan"),
            "coverage": 100 * statistics.fmean(covered[h]) if covered[h] else float("nan"),
            "no_forecast": missing[h],
            "oracle": 100 * statistics.fmean(oracle[h]) if oracle[h] else float("nan"),
            "oracle_seen": 100 * statistics.fmean(oracle_seen[h])
            if oracle_seen[h]
            else float("nan"),
        }
        for h in HORIZONS
    }


@dataclass
class Replay:
    cartridges: int = 0  # replacements of cartridges started with >= 30 days of history
    outs: int = 0  # of which the cartridge fitted had not arrived (or was never ordered)
    # why, one cause each: "silent" (the device went more than 14 days without reporting in the
    # last lead + safety + 14 days: a planted gap), "spiked" (a planted runaway week in its life
    # or the week after), "short" (lasted less than the lead time and nothing was ordered before
    # it was fitted), "late" (the rest: ordered, too late)
    causes: Counter[str] = field(default_factory=Counter)
    orders: int = 0  # orders raised over the whole replay
    pass_orders: int = 0  # of which by the silent-device pass
    ordered: int = 0  # cartridges they asked for
    fitted: int = 0  # cartridges fitted from an order that had arrived
    shelf_days: int = 0  # days those waited between arrival and fitting
    left_over: int = 0  # cartridges in hand at the end of the history
    # reports at which the runaway rule ordered on an earlier day than the forecast, and of
    # those, how many with no planted runaway week within 7 days (false alarms)
    runaway_reports: int = 0
    runaway_unplanted: int = 0
    details: list[Any] = field(default_factory=list)  # each stock-out's (toner, day, order)


def _silent(report_days: list[date], day: date, quiet: int) -> bool:
    """Whether the device went more than MAX_CADENCE_DAYS without reporting during the `quiet`
    days before `day`."""
    before = [d for d in report_days if d < day] + [day]
    if len(before) < 2 or (day - before[0]).days <= quiet:
        return True
    since = day - timedelta(days=quiet)
    return any((b - a).days > MAX_CADENCE_DAYS for a, b in itertools.pairwise(before) if b > since)


def _cause(
    report_days: list[date],
    spikes: set[date],
    start: date,
    day: date,
    lead: int,
    safety: int,
    ordered_before: bool,
) -> str:
    """Why the cartridge fitted on `start` that ran out on `day` was not there in time (see
    Replay.causes)."""
    if _silent(report_days, day, lead + safety + MAX_CADENCE_DAYS):
        return "silent"
    # a runaway week (closed by the flagged reading) in its life, or just before or after it
    if any(start - timedelta(days=7) <= d <= day + timedelta(days=7) for d in spikes):
        return "spiked"
    if (day - start).days < lead and not ordered_before:
        return "short"
    return "late"


def replenishment(
    histories: dict[Any, TonerHistory],
    series: dict[Any, Series],
    spikes: dict[int, set[date]],
    lead: int,
    safety: int,
    *,
    silent_pass: bool = False,
    runaway: bool = False,
) -> Replay:
    """Each toner's history replayed event by event through `forecasting.replenishment` (what
    `reportTonerLevels` decides with): at each report the cartridges in hand (orders less
    replacements in the last LEDGER_DAYS), the device's reporting cadence (its report days so
    far) and the forecast give the quantity to order; an order can only be raised when none is
    open (the unique index), and is delivered lead time days later. At each replacement the
    oldest order not yet used provides the cartridge: a stock-out when there is none or it has
    not arrived by then.

    With `silent_pass`, the silent-device pass (resolvers/silent_replenishment.py) also runs
    every day at midnight UTC: when the last report measured the level and is overdue
    (`is_silent`), the forecast made at that report, counted down to the day
    (`silent_order_quantity`), against the cartridges in hand as of that report.

    With `runaway`, each report orders on `bench.runaway.runaway_order_days` (the days
    left at the rate the measured levels of the cadence's window show, when they fall
    RUNAWAY_FACTOR times faster than the forecast's) instead of the forecast's early end."""
    result = Replay()
    ledger = timedelta(days=LEDGER_DAYS)
    for (device, consumable), toner in histories.items():
        s = series.get((device, toner.meter))
        if s is None or not s.readings or not toner.reports:
            continue
        first = s.readings[0].day
        events = sorted(
            [(at, 0, i) for i, at in enumerate(toner.replacement_times)]
            + [(at, 1, i) for i, at in enumerate(toner.report_times)]
        )
        orders: list[list[Any]] = []  # [created, quantity, arrives on, not yet fitted]
        fitted_at: list[datetime] = []
        report_days: list[date] = []
        start = toner.reports[0][0]
        threshold = toner.threshold
        # the last report when it measured the level: when, the level, its forecast
        last: tuple[datetime, int, Any] | None = None
        previous_at = events[0][0]
        for at, kind, i in events:
            if silent_pass and last is not None:
                cadence = reporting_cadence(report_days)
                for now in _midnights(previous_at, at):
                    if not is_silent(last[0], now, cadence) or any(
                        o[2] > now.date() for o in orders
                    ):
                        continue
                    since = last[0] - ledger
                    found = last[2]
                    quantity = silent_order_quantity(
                        order_days=found.order_days if found is not None else None,
                        order_cycle_days=found.order_cycle_days if found is not None else None,
                        reported_on=last[0].date(),
                        today=now.date(),
                        at_threshold=last[1] <= threshold,
                        lead_days=lead,
                        safety_days=safety,
                        in_hand=cartridges_in_hand(
                            [(o[0], o[1]) for o in orders if o[0] >= since],
                            [r for r in fitted_at if r >= since],
                        ),
                    )
                    if quantity:
                        orders.append([now, quantity, now.date() + timedelta(days=lead), quantity])
                        result.orders += 1
                        result.ordered += quantity
                        result.pass_orders += 1
            previous_at = at
            day = at.date()
            if kind == 0:
                source = next((o for o in orders if o[3] > 0), None)
                if source is not None:
                    source[3] -= 1
                if (start - first).days >= MIN_HISTORY_DAYS:
                    result.cartridges += 1
                    if source is None or source[2] > day:
                        result.outs += 1
                        ordered_before = source is not None and source[0].date() < start
                        cause = _cause(
                            report_days, spikes[device], start, day, lead, safety, ordered_before
                        )
                        result.causes[cause] += 1
                        result.details.append(((device, consumable), start, day, source, cause))
                    else:
                        result.fitted += 1
                        result.shelf_days += (day - source[2]).days
                start = day
                fitted_at.append(at)
                continue
            report_days.append(day)
            percent = toner.reports[i][1]
            if percent is None:
                last = None
                continue
            since = at - ledger
            in_hand = cartridges_in_hand(
                [(o[0], o[1]) for o in orders if o[0] >= since],
                [r for r in fitted_at if r >= since],
            )
            found = _forecast(s, toner, day)
            ok = found is not None and found.reason is None
            last = (at, percent, found if ok else None)
            order_days = found.order_days if ok else None
            if runaway and ok:
                window = at - timedelta(days=CADENCE_REPORTS * MAX_CADENCE_DAYS)
                levels = [
                    (t, p)
                    for t, (_, p) in zip(
                        toner.report_times[: i + 1], toner.reports[: i + 1], strict=True
                    )
                    if p is not None and t >= window
                ]
                earlier = runaway_order_days(
                    percent=percent,
                    levels=levels,
                    order_days=order_days,
                    pages_per_day=found.pages_per_day,
                    effective_yield=found.effective_yield,
                )
                if earlier is not None and order_days is not None and earlier < order_days:
                    result.runaway_reports += 1
                    near = timedelta(days=7)
                    if not any(day - near <= d <= day + near for d in spikes[device]):
                        result.runaway_unplanted += 1
                order_days = earlier
            quantity = order_quantity(
                order_days=order_days,
                order_cycle_days=found.order_cycle_days if ok else None,
                at_threshold=percent <= threshold,
                lead_days=lead,
                safety_days=safety,
                cadence_days=reporting_cadence(report_days),
                in_hand=in_hand,
            )
            if quantity and not any(o[2] > day for o in orders):
                orders.append([at, quantity, day + timedelta(days=lead), quantity])
                result.orders += 1
                result.ordered += quantity
        result.left_over += sum(o[3] for o in orders)
    return result


def _midnights(after: datetime, before: datetime) -> list[datetime]:
    """The midnights (UTC) strictly between two instants: when the replayed pass runs."""
    found = []
    day = datetime.combine(after.date() + timedelta(days=1), datetime.min.time(), after.tzinfo)
    while day < before:
        found.append(day)
        day += timedelta(days=1)
    return found


def replenishment_previous(
    histories: dict[Any, TonerHistory],
    series: dict[Any, Series],
    spikes: dict[int, set[date]],
    lead: int,
    safety: int,
) -> tuple[int, int, Counter[str]]:
    """The rule before issue 16's follow-up, for comparison (no longer what the API does): each
    cartridge on its own, one order at the first report where the level is at or under the
    threshold or the early end of the 80 % interval falls within lead time + safety days + the
    days since the previous report. (cartridges replayed, stock-outs, their causes as in
    Replay.causes and "wait_days": ten times the mean days a cartridge that arrived in time
    waited for the one in the device to run out) for cartridges started with >= 30 days of
    history."""
    replayed = outs = 0
    causes: Counter[str] = Counter()
    waits: list[int] = []
    for (device, _), toner in histories.items():
        s = series.get((device, toner.meter))
        if s is None or not s.readings or not toner.reports:
            continue
        first = s.readings[0].day
        starts = [toner.reports[0][0]] + [d for d, _ in toner.replacements]
        for start, (empty_on, _) in zip(starts, toner.replacements, strict=False):
            if (start - first).days < MIN_HISTORY_DAYS:
                continue
            replayed += 1
            ordered_on = None
            previous_report: date | None = None
            for report_day, percent in toner.reports:
                gap = (report_day - previous_report).days if previous_report else 0
                previous_report = report_day
                if report_day < start or report_day >= empty_on or percent is None:
                    continue
                if percent <= THRESHOLD_PERCENT:
                    ordered_on = report_day
                    break
                found = _forecast(s, toner, report_day)
                if (
                    found is not None
                    and found.low_days is not None
                    and (found.low_days <= lead + safety + min(gap, MAX_REPORT_GAP_DAYS))
                ):
                    ordered_on = report_day
                    break
            if ordered_on is None or ordered_on + timedelta(days=lead) > empty_on:
                outs += 1
                days = [d for d, _ in toner.reports]
                causes[_cause(days, spikes[device], start, empty_on, lead, safety, False)] += 1
            else:
                waits.append((empty_on - ordered_on - timedelta(days=lead)).days)
    causes["wait_days"] = round(statistics.fmean(waits) * 10) if waits else 0
    return replayed, outs, causes


def _counter_at(readings: list[Reading], days: list[date], day: date) -> float | None:
    """The counter on `day`, linear between the readings around it (as the rollup spreads)."""
    i = bisect.bisect_left(days, day)
    if i < len(days) and days[i] == day:
        return float(readings[i].value)
    if i == 0 or i == len(days):
        return None
    a, b = readings[i - 1], readings[i]
    if b.value < a.value:
        return None
    share = (day - a.day).days / (b.day - a.day).days
    return a.value + (b.value - a.value) * share


def _month_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


async def anomalies(settings: Settings, devices: int, max_pages: dict[int, int]) -> dict[str, Any]:
    """Recall and false alarms per (device, reading day) on the first `devices` devices."""
    engine = create_engine(settings)
    truth: dict[tuple[int, date], set[str]] = defaultdict(set)
    found: dict[tuple[int, date], set[str]] = defaultdict(set)
    try:
        async with engine.connect() as conn:
            fleet = (
                (
                    await conn.execute(
                        select(Device.id, Device.product_model_id)
                        .order_by(Device.id)
                        .limit(devices)
                    )
                )
                .tuples()
                .all()
            )
            ids = [d for d, _ in fleet]
            model_of = dict(fleet)
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                per_meter: dict[tuple[int, str], list[tuple[date, int, int]]] = defaultdict(list)
                for device, meter, day, value, flags in (
                    await conn.execute(
                        select(
                            MeterReading.device_id,
                            MeterReading.meter,
                            MeterReading.reading_date,
                            MeterReading.value,
                            MeterReading.flags,
                        )
                        .where(MeterReading.device_id.in_(part))
                        .order_by(
                            MeterReading.device_id, MeterReading.meter, MeterReading.reading_date
                        )
                    )
                ).tuples():
                    per_meter[(device, meter.value)].append((day, value, flags))
                for (device, _), rows in per_meter.items():
                    readings = [Reading(d, v) for d, v, _ in rows]
                    days = [d for d, _, _ in rows]
                    for i, (day, value, flags) in enumerate(rows):
                        key = (device, day)
                        truth[key] |= {f.value for f, bit in FLAG_BITS.items() if flags & bit}
                        if i == 0:
                            found.setdefault(key, set())
                            continue
                        # the months before the interval the reading closes (as the API)
                        month = rows[i - 1][0].replace(day=1)
                        since = _month_back(rows[i - 1][0], 3)
                        a = _counter_at(readings, days, since)
                        b = _counter_at(readings, days, month)
                        usual = (
                            (b - a) / (month - since).days
                            if a is not None and b is not None
                            else None
                        )
                        flagged = reading_flags(
                            previous=(rows[i - 1][0], rows[i - 1][1]),
                            day=day,
                            value=value,
                            usual_pages_per_day=usual,
                            max_pages_per_day=max_pages[model_of[device]],
                            stale_after_days=STALE_DAYS,
                        )
                        found[key] |= {f.value for f in flagged}
    finally:
        await engine.dispose()
    result: dict[str, Any] = {"reading_days": len(found)}
    for flag in (Flag.SPIKE.value, Flag.STALE_DEVICE.value):
        planted = {k for k, v in truth.items() if flag in v}
        detected = {k for k, v in found.items() if flag in v}
        negatives = len(found) - len(planted)
        result[flag] = {
            "planted": len(planted),
            "recall": 100 * len(planted & detected) / len(planted) if planted else float("nan"),
            "false_alarms": len(detected - planted),
            "false_alarm_rate": 100 * len(detected - planted) / negatives if negatives else 0.0,
        }
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--devices", type=int, default=2000, help="e-Maintenance devices replayed (0: all)"
    )
    parser.add_argument(
        "--anomaly-devices", type=int, default=5000, help="devices whose readings are re-flagged"
    )
    parser.add_argument(
        "--usage",
        choices=USAGE_GENERATORS,
        default="independent",
        help="generator of the pages printed (demo/usage.py), when the database is seeded here",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    await ensure_loaded(settings, usage=args.usage)
    started = time.perf_counter()
    histories, series, extra = await load(settings, args.devices)
    print(
        f"loaded {len(extra['fleet'])} e-Maintenance devices, {len(histories)} toners, "
        f"{sum(len(t.reports) for t in histories.values())} level reports, "
        f"{sum(len(t.replacements) for t in histories.values())} replacements "
        f"in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    for h, figures in backtest(histories, series).items():
        print(
            f"horizon {h:>2} days: {figures['n']} forecasts, MAPE {figures['mape']:.1f} %, "
            f"median APE {figures['median_ape']:.1f} %, 80 % interval coverage "
            f"{figures['coverage']:.1f} %, no forecast {figures['no_forecast']}; oracle MAPE "
            f"{figures['oracle']:.1f} % (pages left today known), {figures['oracle_seen']:.1f} % "
            f"(pages left at the last level report known)"
        )
    print(f"  (backtest in {time.perf_counter() - started:.1f} s)")
    for lead, safety in PLANNING:
        started = time.perf_counter()
        replayed, outs, causes = replenishment_previous(
            histories, series, extra["spikes"], lead, safety
        )
        print(
            f"previous rule, lead {lead} + safety {safety} days: {replayed} cartridges, "
            f"{outs} stock-outs ({100 * outs / max(replayed, 1):.2f} %), of which "
            f"{causes['silent']} silent, {causes['spiked']} spiked, {causes['short']} short, "
            f"{causes['late']} late; a delivered cartridge waited {causes['wait_days'] / 10:.1f} "
            f"days on average, in {time.perf_counter() - started:.1f} s"
        )
        for silent_pass, runaway in ((False, False), (True, False), (True, True)):
            started = time.perf_counter()
            r = replenishment(
                histories,
                series,
                extra["spikes"],
                lead,
                safety,
                silent_pass=silent_pass,
                runaway=runaway,
            )
            rule = "just in time + silent pass" if silent_pass else "just in time (reports only)"
            if runaway:
                rule += f" + runaway rule ({r.runaway_reports} reports ordered on the observed "
                rule += f"rate, {r.runaway_unplanted} with no planted runaway week within 7 days)"
            print(
                f"{rule}, lead {lead} + safety {safety} days: {r.cartridges} cartridges, "
                f"{r.outs} stock-outs ({100 * r.outs / max(r.cartridges, 1):.2f} %), of which "
                f"{r.causes['silent']} on a device silent > 14 days before (planted gap), "
                f"{r.causes['spiked']} in or just before a planted runaway week, "
                f"{r.causes['short']} lasting less than the lead time with nothing ordered "
                f"before it was fitted, {r.causes['late']} ordered too late; "
                f"{r.orders} orders for {r.ordered} cartridges ({r.pass_orders} orders by the "
                f"silent pass), a delivered cartridge waited "
                f"{r.shelf_days / max(r.fitted, 1):.2f} days on average ({r.shelf_days} days in "
                f"all, {r.fitted} fitted in time), {r.left_over} in hand at the end, in "
                f"{time.perf_counter() - started:.1f} s"
            )
    started = time.perf_counter()
    result = await anomalies(settings, args.anomaly_devices, extra["max_pages"])
    print(f"anomalies on {result['reading_days']} device reading days:")
    for flag in (Flag.SPIKE.value, Flag.STALE_DEVICE.value):
        r = result[flag]
        print(
            f"  {flag}: {r['planted']} planted, recall {r['recall']:.1f} %, "
            f"{r['false_alarms']} false alarms ({r['false_alarm_rate']:.3f} %)"
        )
    print(f"  (in {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    asyncio.run(main())
