"""Toner forecasts for a batch of devices, in a fixed number of statements whatever the batch:
the devices with their site's time zone and their model's meters, their current toner levels,
their cartridge replacements, and the recent readings of the meters toner prints on. The
arithmetic is `forecasting`'s; this module only gathers its inputs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from forecasting.demand import needs
from forecasting.toner import Replacement, TonerForecast, meter_for, toner_forecast
from forecasting.usage import Reading
from models import (
    CartridgeReplacement,
    Consumable,
    Device,
    MeterReading,
    ProductModelMeter,
    Site,
    TonerLevel,
)
from models.enums import ConsumableKind, MeterType, TonerLevelState

# How far back readings are read for the usage rate: long enough for three monthly readings,
# short enough to follow a device's current use.
HISTORY_DAYS = 120
TONER_METERS = (
    MeterType.TOTAL,
    MeterType.BLACK,
    MeterType.COLOUR,
    MeterType.LARGE_BLACK,
    MeterType.LARGE_COLOUR,
)


@dataclass(frozen=True)
class DeviceForecasts:
    """A device's toner forecasts by consumable id, the site's today, and the day (site time)
    each level was reported."""

    today: date
    by_consumable: dict[int, TonerForecast]
    consumables: dict[int, Consumable]
    reported_on: dict[int, date]


async def toner_forecasts(
    session: AsyncSession, device_ids: Sequence[int], *, at_report: bool = False
) -> dict[int, DeviceForecasts]:
    """Forecasts of every toner the devices report a level of (four statements): from the
    site's today, or with `at_report` as made on the day each level was reported (what the
    device's last report was told; the silent-device pass counts it down itself)."""
    if not device_ids:
        return {}
    keys = sorted(set(device_ids))
    zones: dict[int, str] = {}
    meters: dict[int, set[str]] = defaultdict(set)
    stmt = (
        select(Device.id, Site.time_zone, ProductModelMeter.meter)
        .join(Site, Site.id == Device.site_id)
        .outerjoin(ProductModelMeter, ProductModelMeter.product_model_id == Device.product_model_id)
        .where(Device.id.in_(keys))
    )
    for device_id, zone, meter in (await session.execute(stmt)).tuples():
        zones[device_id] = zone
        if meter is not None:
            meters[device_id].add(MeterType(meter).value)
    today = {d: clock.today_in(zone) for d, zone in zones.items()}

    levels: dict[int, list[tuple[TonerLevel, Consumable]]] = defaultdict(list)
    level_rows = await session.execute(
        select(TonerLevel, Consumable)
        .join(Consumable, Consumable.id == TonerLevel.consumable_id)
        .where(TonerLevel.device_id.in_(keys), Consumable.kind == ConsumableKind.TONER)
    )
    for level, consumable in level_rows.tuples():
        levels[level.device_id].append((level, consumable))

    replacements: dict[tuple[int, int], list[Replacement]] = defaultdict(list)
    replacement_rows = await session.scalars(
        select(CartridgeReplacement)
        .where(CartridgeReplacement.device_id.in_(keys))
        .order_by(CartridgeReplacement.replaced_at, CartridgeReplacement.id)
    )
    for r in replacement_rows:
        replacements[(r.device_id, r.consumable_id)].append(
            Replacement(r.from_percent, r.to_percent, r.meter_value)
        )

    # The readings of the HISTORY_DAYS before the forecasts' day (at_report: the device's
    # oldest level), and any since.
    start = dict(today)
    if at_report:
        for device_id, found_levels in levels.items():
            start[device_id] = min(
                [start[device_id]]
                + [clock.today_in(zones[device_id], lv.reported_at) for lv, _ in found_levels]
            )
    since = min(start.values(), default=clock.utc_today()) - timedelta(days=HISTORY_DAYS)
    readings: dict[tuple[int, str], list[Reading]] = defaultdict(list)
    reading_rows = await session.execute(
        select(
            MeterReading.device_id,
            MeterReading.meter,
            MeterReading.reading_date,
            MeterReading.value,
        ).where(
            MeterReading.device_id.in_(keys),
            MeterReading.meter.in_(TONER_METERS),
            MeterReading.reading_date >= since,
        )
    )
    for device_id, meter, day, value in reading_rows.tuples():
        if day >= start[device_id] - timedelta(days=HISTORY_DAYS):
            readings[(device_id, MeterType(meter).value)].append(Reading(day, value))

    result: dict[int, DeviceForecasts] = {}
    for device_id in keys:
        if device_id not in zones:
            continue
        found: dict[int, TonerForecast] = {}
        consumables: dict[int, Consumable] = {}
        reported_on: dict[int, date] = {}
        for level, consumable in levels.get(device_id, []):
            consumables[consumable.id] = consumable
            level_on = clock.today_in(zones[device_id], level.reported_at)
            reported_on[consumable.id] = level_on
            found[consumable.id] = consumable_forecast(
                level,
                consumable,
                meters[device_id],
                readings,
                replacements.get((device_id, consumable.id), []),
                level_on if at_report else today[device_id],
                level_on,
            )
        result[device_id] = DeviceForecasts(today[device_id], found, consumables, reported_on)
    return result


def consumable_forecast(
    level: TonerLevel,
    consumable: Consumable,
    meters: set[str],
    readings: dict[tuple[int, str], list[Reading]],
    replacements: list[Replacement],
    today: date,
    level_on: date,
) -> TonerForecast:
    colour = consumable.colour.value if consumable.colour is not None else "BLACK"
    meter = meter_for(colour, meters)
    percent = level.percent if level.state is TonerLevelState.MEASURED else None
    series = readings.get((level.device_id, meter), []) if meter is not None else []
    return toner_forecast(
        percent=percent,
        level_on=level_on,
        readings=series,
        replacements=replacements,
        rated=consumable.rated_yield_pages,
        today=today,
        has_meter=meter is not None,
    )


@dataclass(frozen=True)
class ConsumableDemand:
    """What the devices a stock location supplies will need of one consumable in a horizon."""

    consumable: Consumable
    cartridges_needed: int
    devices_in_need: int
    devices_without_forecast: int
    on_hand: int
    on_order: int
    runs_out_on: date | None


def projected_demand(
    horizon: int,
    devices: Sequence[DeviceForecasts],
    stock: dict[int, tuple[int, Consumable]],
    on_order: dict[int, int],
) -> list[ConsumableDemand]:
    """Per consumable (the location's stock levels and every toner its devices report), by
    SKU: the cartridges needed within `horizon` days and the day the stock on hand runs out."""
    need_dates: dict[int, list[date]] = defaultdict(list)
    in_need: dict[int, int] = defaultdict(int)
    unknown: dict[int, int] = defaultdict(int)
    consumables = {c.id: c for _, c in stock.values()}
    for device in devices:
        for consumable_id, found in device.by_consumable.items():
            consumables[consumable_id] = device.consumables[consumable_id]
            if (
                found.days_to_empty is None
                or found.effective_yield is None
                or not found.pages_per_day
            ):
                unknown[consumable_id] += 1
                continue
            days = needs(found.days_to_empty, found.effective_yield / found.pages_per_day, horizon)
            if days:
                in_need[consumable_id] += 1
            need_dates[consumable_id] += [device.today + timedelta(days=d) for d in days]
    result = []
    for consumable_id, consumable in sorted(consumables.items(), key=lambda c: c[1].sku):
        on_hand = stock[consumable_id][0] if consumable_id in stock else 0
        dates = sorted(need_dates.get(consumable_id, []))
        result.append(
            ConsumableDemand(
                consumable=consumable,
                cartridges_needed=len(dates),
                devices_in_need=in_need.get(consumable_id, 0),
                devices_without_forecast=unknown.get(consumable_id, 0),
                on_hand=on_hand,
                on_order=on_order.get(consumable_id, 0),
                runs_out_on=dates[on_hand] if len(dates) > on_hand else None,
            )
        )
    return result
