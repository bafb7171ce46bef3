"""Loaders for meter readings: the latest reading per meter, readings by id, submitter names."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import aliased

from forecasting.meters import Estimate, estimate_on
from forecasting.usage import Reading
from models import ApiClient, Device, MeterReading, ProductModelMeter, User
from models.enums import MeterType
from models.session import execute_core
from resolvers.loaders.base import ContextLoader

METER_ORDER = {meter: position for position, meter in enumerate(MeterType)}


def latest_readings_statement(device_ids: Sequence[int]) -> Any:
    """One row per (device, meter of its model), with that meter's newest reading or NULLs:
    `(device_id, meter, MeterReading or None)`.

    The newest date comes from `max(reading_date)` for one (device_id, meter) pair, which both
    databases answer from the unique index (device_id, meter, reading_date) with a seek to its
    last entry; the join back to the row is a second seek on the same index. Never a scan."""
    return _latest_readings(
        MeterReading, MeterReading, [Device.id, ProductModelMeter.meter, MeterReading], device_ids
    )


def _latest_readings(target: Any, reading: Any, selected: list[Any], device_ids: Any) -> Any:
    """The statement selecting `selected`, joined to `target` (the entity, or its table for
    plain rows) whose columns are attributes of `reading`."""
    newest = aliased(MeterReading, name="newest")
    newest_date = (
        select(func.max(newest.reading_date))
        .where(newest.device_id == Device.id, newest.meter == ProductModelMeter.meter)
        .scalar_subquery()
    )
    return (
        select(*selected)
        .join(ProductModelMeter, ProductModelMeter.product_model_id == Device.product_model_id)
        .outerjoin(
            target,
            and_(
                reading.device_id == Device.id,
                reading.meter == ProductModelMeter.meter,
                reading.reading_date == newest_date,
            ),
        )
        .where(Device.id.in_(device_ids))
    )


_readings = MeterReading.__table__
# The loader's statement, built once: plain rows (the reading's columns after the device id and
# the meter, labelled apart), no ORM objects to build for a page of ~300 readings; the ids are
# one expanding parameter, so the compiled form is cached whatever the page.
_LATEST_ROWS = _latest_readings(
    _readings,
    _readings.c,
    [
        Device.id.label("latest_device_id"),
        ProductModelMeter.meter.label("latest_meter"),
        *_readings.c,
    ],
    bindparam("device_ids", expanding=True),
)


class LatestReadingsByDeviceIdLoader(ContextLoader):
    """Per device: `[(meter, newest reading or None)]` for every meter of its model, in the
    vocabulary's meter order. One statement per batch. The device itself was already found
    through the scope, so no scope clause is needed here."""

    async def batch_load_fn(
        self, keys: Sequence[int]
    ) -> list[list[tuple[MeterType, MeterReading | None]]]:
        groups: dict[int, list[tuple[MeterType, Any]]] = defaultdict(list)
        result = await execute_core(self.context.session, _LATEST_ROWS, {"device_ids": list(keys)})
        for row in result.all():
            # a row has the reading's columns by name, as a MeterReading has its attributes
            reading = row if row.id is not None else None
            groups[row.latest_device_id].append((MeterType(row.latest_meter), reading))
        for readings in groups.values():
            readings.sort(key=lambda pair: METER_ORDER[pair[0]])
        return [groups.get(key, []) for key in keys]


class MeterReadingByIdLoader(ContextLoader):
    """`(reading, device)` by reading id, only for devices in the viewer's scope."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[tuple[MeterReading, Device] | None]:
        scope = await self.context.scope()
        stmt = (
            select(MeterReading, Device)
            .join(Device, Device.id == MeterReading.device_id)
            .where(MeterReading.id.in_(keys), scope.devices_clause())
        )
        found = {
            reading.id: (reading, device)
            for reading, device in await self.context.session.execute(stmt)
        }
        return [found.get(key) for key in keys]


class SubmitterNameByUserIdLoader(ContextLoader):
    """The display name of the person who submitted a reading (names only, nothing else)."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[str | None]:
        rows = await self.context.session.execute(
            select(User.id, User.name).where(User.id.in_(keys))
        )
        names = dict(rows.tuples().all())
        return [names.get(key) for key in keys]


class SubmitterNameByClientIdLoader(ContextLoader):
    """The name of the machine client (e-Maintenance integration) that reported a reading."""

    async def batch_load_fn(self, keys: Sequence[int]) -> list[str | None]:
        rows = await self.context.session.execute(
            select(ApiClient.id, ApiClient.name).where(ApiClient.id.in_(keys))
        )
        names = dict(rows.tuples().all())
        return [names.get(key) for key in keys]


# How far around the day asked readings are read for an estimate.
ESTIMATE_WINDOW_DAYS = 120


class EstimatedReadingsByDeviceIdLoader(ContextLoader):
    """Per (device id, day): `[(meter, Estimate)]` for the meters of its model that have one, in
    the vocabulary's meter order. One statement per batch (the readings of every device asked,
    from ESTIMATE_WINDOW_DAYS before the earliest day to that many after the latest). The device
    itself was already found through the scope."""

    async def batch_load_fn(
        self, keys: Sequence[tuple[int, date]]
    ) -> list[list[tuple[MeterType, Estimate]]]:
        devices = sorted({device_id for device_id, _ in keys})
        window = timedelta(days=ESTIMATE_WINDOW_DAYS)
        start = min(day for _, day in keys) - window
        end = max(day for _, day in keys) + window
        series: dict[tuple[int, MeterType], list[Reading]] = defaultdict(list)
        stmt = select(
            MeterReading.device_id,
            MeterReading.meter,
            MeterReading.reading_date,
            MeterReading.value,
        ).where(
            MeterReading.device_id.in_(devices),
            MeterReading.reading_date.between(start, end),
        )
        for device_id, meter, day, value in (await self.context.session.execute(stmt)).tuples():
            series[(device_id, MeterType(meter))].append(Reading(day, value))
        result: list[list[tuple[MeterType, Estimate]]] = []
        for device_id, day in keys:
            found: list[tuple[MeterType, Estimate]] = []
            for meter in MeterType:
                readings = [
                    r
                    for r in series.get((device_id, meter), [])
                    if abs((r.day - day).days) <= ESTIMATE_WINDOW_DAYS
                ]
                estimate = estimate_on(readings, day)
                if estimate is not None:
                    found.append((meter, estimate))
            result.append(found)
        return result
